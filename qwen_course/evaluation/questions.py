"""The course's own question set for the harness: arithmetic and Qwen-family facts from the catalog, seeded.

This is the one place the evaluated questions come from. The trained stand-in of issue 20 learns arithmetic and
catalog facts; when it ships, its held-out questions replace `course_questions` (same fields: question, answer,
choices, label), so the harness measures what that model was trained to do on questions it never saw.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

# (kind, question template, how to read the answer from a catalog checkpoint)
FACTS = (
    ("layers", "How many layers does {name} have?", lambda c: c.text_config["num_hidden_layers"]),
    ("kv-heads", "How many key/value heads does {name} have?", lambda c: c.text_config["num_key_value_heads"]),
    ("hidden", "What is the hidden size of {name}?", lambda c: c.text_config["hidden_size"]),
    ("context", "What is the longest context {name} supports, in tokens?", lambda c: c.max_context),
)
OPERATIONS = (("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b))


def _choices(answer: int, others: list[int], rng: random.Random) -> tuple[list[str], int]:
    """The right answer among three distinct wrong ones, shuffled; returns (choices, index of the right one)."""
    wrong = [o for o in dict.fromkeys(others) if o != answer]
    for step in (1, -1, 2, 10, -10, 3):  # near misses when the pool is short
        if len(wrong) >= 3:
            break
        if answer + step not in wrong and answer + step != answer:
            wrong.append(answer + step)
    options = [answer] + rng.sample(wrong, 3)
    rng.shuffle(options)
    return [str(o) for o in options], options.index(answer)


def arithmetic(n: int, rng: random.Random) -> list[dict]:
    """`n` questions like "What is 17 + 25?" (products of small numbers only)."""
    rows = []
    for i in range(n):
        symbol, op = OPERATIONS[i % len(OPERATIONS)]
        a, b = (rng.randint(2, 12), rng.randint(2, 12)) if symbol == "*" else (rng.randint(10, 99), rng.randint(2, 60))
        answer = op(a, b)
        choices, label = _choices(answer, [answer + 1, answer - 1, answer + 10, op(a, b + 1)], rng)
        rows.append({"id": f"arith-{i}", "kind": "arithmetic", "question": f"What is {a} {symbol} {b}?",
                     "answer": str(answer), "choices": choices, "label": label})
    return rows


def facts(n: int, rng: random.Random) -> list[dict]:
    """`n` questions about verified chat checkpoints of the catalog, wrong choices from other checkpoints."""
    from .. import catalog

    models = [c for c in catalog.checkpoints("chat") if c.verified and not c.is_vision]
    order = rng.sample(models, len(models))  # no checkpoint twice until all were asked about
    rows = []
    for i in range(n):
        kind, template, read = FACTS[i % len(FACTS)]
        ckpt = order[i % len(order)]
        answer = int(read(ckpt))
        choices, label = _choices(answer, sorted({int(read(c)) for c in models}), rng)
        rows.append({"id": f"fact-{i}", "kind": f"fact:{kind}", "question": template.format(name=ckpt.name),
                     "answer": str(answer), "choices": choices, "label": label})
    return rows


def course_questions(n: int = 16, seed: int = 0) -> list[dict]:
    """`n` questions, half arithmetic and half catalog facts, interleaved; the same list for the same seed."""
    if n < 2:
        raise ValueError("ask for at least 2 questions (one of each kind)")
    rng = random.Random(seed)
    a, f = arithmetic(n - n // 2, rng), facts(n // 2, rng)
    return [row for pair in zip(a, f) for row in pair] + a[len(f):]


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    """One JSON object per line, the format a harness task reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
