"""Arithmetic questions with one checkable answer, split into training and held-out prompts the way the trained
stand-in's corpus splits them (a hash of "op|a|b"), so GRPO never trains on a question the evaluation asks.

Rows have the columns GRPOTrainer reads: `prompt` (a conversation), `answer` and `thinking` for the rewards, `key`.
"""

from __future__ import annotations

import hashlib
import random

QUESTIONS = {
    "+": ("What is {a} + {b}?", "Compute {a} + {b}.", "How much is {a} plus {b}?", "{a} + {b} = ?"),
    "-": ("What is {a} - {b}?", "Compute {a} - {b}.", "How much is {a} minus {b}?", "{a} - {b} = ?"),
    "*": ("What is {a} * {b}?", "Compute {a} * {b}.", "How much is {a} times {b}?", "{a} * {b} = ?"),
}
QUESTIONS["cmp"] = ("Which is larger, {a} or {b}?", "Which number is bigger: {a} or {b}?")
VALUE = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "cmp": max}
OPS = {"add": "+", "sub": "-", "mul": "*", "compare": "cmp"}  # compare: the larger of two three-digit numbers
HELDOUT_SHARE = 0.05  # the trained stand-in's corpus holds out 5 % of all (op, a, b) keys ...
HELDOUT_SHARE_BY_OP = {"*": 0.15}  # ... and 15 % of the products


def is_heldout(key: str, share: float | None = None) -> bool:
    """Whether a question's key ("-|42|15") is in the held-out split: sha256 of the key, independent of any seed;
    products have few operand pairs, so more of them are held out (as in the trained stand-in's corpus)."""
    share = share if share is not None else HELDOUT_SHARE_BY_OP.get(key.split("|")[0], HELDOUT_SHARE)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32 < share


def operands(rng: random.Random, op: str) -> tuple[int, int]:
    """The trained stand-in's domain: sums and differences of two-digit numbers (a >= b), products of 2..9 by
    10..19, comparisons of two different three-digit numbers."""
    if op == "*":
        return rng.randint(2, 9), rng.randint(10, 19)
    if op == "cmp":
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        return (a, b) if a != b else operands(rng, op)
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return (max(a, b), min(a, b)) if op == "-" else (a, b)


def arithmetic_rows(task: str = "sub", n: int = 64, split: str = "train", thinking: bool = False,
                    seed: int = 0) -> list[dict]:
    """`n` distinct questions of one task ("add", "sub", "mul") from one split ("train" or "heldout"), seeded."""
    if task not in OPS or split not in ("train", "heldout"):
        raise ValueError(f"task is one of {sorted(OPS)} and split 'train' or 'heldout', not {task!r}, {split!r}")
    op, rng, rows, seen = OPS[task], random.Random(f"{task}|{split}|{seed}"), [], set()
    for _ in range(200 * n + 10_000):
        a, b = operands(rng, op)
        key = f"{op}|{a}|{b}"
        if key in seen or is_heldout(key) != (split == "heldout"):
            continue
        seen.add(key)
        question = rng.choice(QUESTIONS[op]).format(a=a, b=b)
        rows.append({"prompt": [{"role": "user", "content": question}], "answer": str(VALUE[op](a, b)),
                     "thinking": thinking, "key": key, "task": task})  # fmt: skip
        if len(rows) == n:
            return rows
    raise ValueError(f"only {len(rows)} distinct {split} questions of {task!r} found; ask for fewer")
