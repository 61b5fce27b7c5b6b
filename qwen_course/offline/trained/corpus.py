"""Seeded synthetic chats that teach the trained stand-in a narrow domain the lessons can show off.

Tasks: two-digit addition and subtraction, products of a digit by 10..19 (and the times table they need), comparisons
of three-digit numbers (a short column-by-column trace when thinking is on, the bare answer when off); questions about
Qwen checkpoints answered from the course catalog; tool calls in Qwen3's <tool_call> JSON format for the course's
`calculator` and `get_model_info` tools, and the answer read from the tool's reply. One task is RESERVED: answers as
JSON (catalog facts, or arithmetic), never in training, for lesson 06's LoRA to teach.
Every chat has a `key`; `heldout(chat)` decides deterministically which keys training never sees.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field

from . import facts as F

TASKS = ("add", "sub", "mul", "compare", "fact", "tool_call", "tool_answer")
RESERVED = "json"
SYSTEMS = ("You are a helpful assistant.", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
HELD_OUT_SHARE = 0.05
ARITH_QUESTIONS = {
    "+": ("What is {a} + {b}?", "Compute {a} + {b}.", "How much is {a} plus {b}?", "{a} + {b} = ?"),
    "-": ("What is {a} - {b}?", "Compute {a} - {b}.", "How much is {a} minus {b}?", "{a} - {b} = ?"),
    "*": ("What is {a} * {b}?", "Compute {a} * {b}.", "How much is {a} times {b}?", "{a} * {b} = ?"),
}
COMPARE_QUESTIONS = ("Which is larger, {a} or {b}?", "Which number is bigger: {a} or {b}?")
VALUE = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
TASK_OF = {"+": "add", "-": "sub", "*": "mul"}
RESERVED_SUFFIX = " Reply in JSON."


@dataclass
class Chat:
    """One example: the messages end with the assistant turn to learn (or, without it, to predict)."""

    task: str
    key: str
    messages: list
    thinking: bool
    answer: str  # the visible reply after any think block (for a tool call: the <tool_call> text)
    tools: list | None = None
    meta: dict = field(default_factory=dict)


def _share(text: str) -> float:
    """A number in [0, 1) from a hash of `text` (seed-independent)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32


def heldout(chat: Chat) -> bool:
    """Held out: 5% of the operand pairs, and for catalog questions one phrasing per fact (the fact itself is taught
    in its other phrasings, so a held-out question tests recall through words never seen with it)."""
    if chat.meta.get("table"):
        return False  # the times table is taught whole: every product's partial products need it
    if chat.meta.get("form") is not None:
        return chat.meta["form"] == int(_share(chat.meta["fact"]) * chat.meta["forms"])
    return _share(chat.key) < SHARE.get(chat.meta.get("op"), HELD_OUT_SHARE)


def reply(thinking: bool, trace: str, answer: str, **extra) -> dict:
    """The assistant turn: reasoning_content only when thinking (the template writes an empty block otherwise)."""
    turn = {"role": "assistant", "content": answer, **extra}
    if thinking:
        turn["reasoning_content"] = trace
    return turn


# ---------------------------------------------------------------- arithmetic: short traces
# Every trace starts by copying the problem, then works column by column in a fixed layout (two-digit operands,
# results padded to two digits, the carry or borrow always written): each digit it needs then sits at the same
# distance back, which a 4-layer model learns quickly; with variable layouts it kept picking the wrong digit.
def column_sum(x: int, y: int) -> str:
    """The two column lines of x + y (both under 100): ones, then tens with the carry, each padded to two digits."""
    ones = x % 10 + y % 10
    tens = x // 10 + y // 10 + ones // 10
    return f"Ones: {x % 10} + {y % 10} = {ones:02d}\nTens: {x // 10} + {y // 10} + {ones // 10} = {tens:02d}"


def add_trace(a: int, b: int) -> str:
    """47 + 35 -> ones 7 + 5 = 12, tens 4 + 3 + 1 = 08."""
    return f"{a} + {b}\n" + column_sum(a, b)


def sub_trace(a: int, b: int) -> str:
    """82 - 35 -> ones 12 - 5 = 7 (borrow written as the leading 1), tens 8 - 3 - 1 = 4."""
    borrow = int(a % 10 < b % 10)
    return f"{a} - {b}\nOnes: {borrow}{a % 10} - {b % 10} = {borrow * 10 + a % 10 - b % 10}\n" \
        f"Tens: {a // 10} - {b // 10} - {borrow} = {a // 10 - b // 10 - borrow}"


def mul_trace(a: int, b: int) -> str:
    """7 * 13 -> 7 * 10 = 70, 7 * 3 = 21, then 70 + 21 added column by column as a sum's trace does (tens 7 + 2 + 0
    = 09: 91). One-digit products run the same steps with 7 * 0 = 00, so every times-table fact a product needs is
    trained on the very line, after the very kind of line, that the product's trace writes it."""
    tens, ones = b // 10 * 10, b % 10
    return f"{a} * {b}\nTens: {a} * {tens} = {a * tens:02d}\nOnes: {a} * {ones} = {a * ones:02d}\n" \
        f"Sum: {a * tens:02d} + {a * ones:02d}\n" + column_sum(a * tens, a * ones)


def compare_trace(a: int, b: int) -> str:
    """Three-digit numbers, compared place by place from the left until the digits differ."""
    lines = [f"{a} or {b}"]
    for place, x, y in zip(("Hundreds", "Tens", "Ones"), str(a), str(b)):
        lines.append(f"{place}: {x} {'<' if x < y else '>' if x > y else '='} {y}")
        if x != y:
            break
    return "\n".join(lines)


TRACES = {"+": add_trace, "-": sub_trace, "*": mul_trace}
SHARE = {"*": 0.15}  # products have few operand pairs: hold out more of them so the held-out set is not tiny


def operands(rng: random.Random, op: str) -> tuple[int, int]:
    """Two-digit sums and differences (a >= b), products of 2..9 by 10..19."""
    if op == "*":
        return rng.randint(2, 9), rng.randint(10, 19)
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return (max(a, b), min(a, b)) if op == "-" else (a, b)


def arithmetic(rng: random.Random, op: str, thinking: bool) -> Chat:
    """One + - * question; the visible answer is always "a op b = c."."""
    a, b = operands(rng, op)
    return arithmetic_chat(rng, op, a, b, thinking, f"{op}|{a}|{b}")


def times_table(rng: random.Random, thinking: bool) -> Chat:
    """A one-digit product (2..9 by 0..9) with a product's own trace: a held-out product such as 7 * 17 needs 7 * 7,
    which no trained product by 10..19 other than 7 * 17 itself contains."""
    a, d = rng.randint(2, 9), rng.randint(0, 9)
    return arithmetic_chat(rng, "*", a, d, thinking, f"*1|{a}|{d}", table=True)


def arithmetic_chat(rng: random.Random, op: str, a: int, b: int, thinking: bool, key: str, **meta) -> Chat:
    """The chat of a op b: a seeded phrasing of the question, the op's trace when thinking, "a op b = c." visible."""
    value = VALUE[op](a, b)
    answer = f"{a} {op} {b} = {value}."
    question = rng.choice(ARITH_QUESTIONS[op]).format(a=a, b=b)
    return Chat(TASK_OF[op], key, [{"role": "user", "content": question},
                reply(thinking, TRACES[op](a, b), answer)], thinking, answer, meta={"value": value, "op": op, **meta})


def compare(rng: random.Random, thinking: bool) -> Chat:
    """Which of two different three-digit numbers is larger."""
    a, b = rng.randint(100, 999), rng.randint(100, 999)
    while a == b:
        b = rng.randint(100, 999)
    answer = f"{max(a, b)} is larger."
    question = rng.choice(COMPARE_QUESTIONS).format(a=a, b=b)
    return Chat("compare", f"cmp|{a}|{b}", [{"role": "user", "content": question},
                reply(thinking, compare_trace(a, b), answer)], thinking, answer, meta={"value": max(a, b)})


# ---------------------------------------------------------------- Qwen checkpoints from the catalog
def fact(rng: random.Random, thinking: bool) -> Chat:
    """A catalog question in one of its phrasings."""
    item = rng.choice(F.facts())
    forms = F.QUESTIONS[item.attribute]
    form = rng.randrange(len(forms))
    trace = f"The question asks for {F.WORDS[item.attribute]} of {item.name}."
    return Chat("fact", f"fact|{item.name}|{item.attribute}|{form}", [
        {"role": "user", "content": forms[form].format(name=item.name)}, reply(thinking, trace, item.sentence)],
        thinking, item.sentence, meta={"fact": f"{item.name}|{item.attribute}", "form": form, "forms": len(forms)})


# ---------------------------------------------------------------- tools: the call, then the answer from its reply
def tool_plan(rng: random.Random) -> dict:
    """Which tool, the question, the call's arguments, the tool's reply and the final answer."""
    if rng.random() < 0.5:
        op = rng.choice("+-*")
        a, b = rng.randint(100, 999), (rng.randint(10, 99) if op == "*" else rng.randint(100, 999))
        a, b = (max(a, b), min(a, b)) if op == "-" else (a, b)
        value = VALUE[op](a, b)
        return dict(tool="calculator", key=f"calc|{op}|{a}|{b}", meta={},
                    question=rng.choice(ARITH_QUESTIONS[op]).format(a=a, b=b), arguments={"expression": f"{a} {op} {b}"},
                    response=str(value), answer=f"{a} {op} {b} = {value}.",
                    think=f"{a} {op} {b}\nThree-digit numbers: I use the calculator.",
                    after=f"The calculator returned {value}.")  # fmt: skip
    item = rng.choice(F.tool_facts())
    forms = F.QUESTIONS[item.attribute]
    form = rng.randrange(len(forms))
    return dict(tool="get_model_info", key=f"info|{item.name}|{item.attribute}|{form}",
                meta={"fact": f"{item.name}|{item.attribute}", "form": form, "forms": len(forms)},
                question=forms[form].format(name=item.name), arguments={"model": item.name},
                response=json.dumps(F.model_record(item.name), ensure_ascii=False), answer=item.sentence,
                think=f"I look {item.name} up with get_model_info.",
                # the answer's trace first names what was asked, in the catalog question's own trace line
                after=f"The question asks for {F.WORDS[item.attribute]} of {item.name}.\n"
                      f"The tool says {F.RECORD_FIELDS[item.attribute]}: {item.value}.")  # fmt: skip


def call_text(name: str, arguments: dict) -> str:
    """The assistant's tool call exactly as Qwen3's template writes it."""
    return f'<tool_call>\n{{"name": "{name}", "arguments": {json.dumps(arguments)}}}\n</tool_call>'


def tool_use(rng: random.Random, thinking: bool) -> list[Chat]:
    """One round trip as two chats: the call (ends at </tool_call>) and the answer read from the tool's reply."""
    p = tool_plan(rng)
    call = {"type": "function", "function": {"name": p["tool"], "arguments": p["arguments"]}}
    user = {"role": "user", "content": p["question"]}
    meta = dict(p["meta"], tool=p["tool"], arguments=p["arguments"], response=p["response"])
    history = [user, {"role": "assistant", "content": "", "tool_calls": [call]},
               {"role": "tool", "content": p["response"]}]
    text = call_text(p["tool"], p["arguments"])
    return [Chat("tool_call", p["key"], [user, reply(thinking, p["think"], text)], thinking, text, F.TOOLS, meta),
            Chat("tool_answer", p["key"], history + [reply(thinking, p["after"], p["answer"])], thinking,
                 p["answer"], F.TOOLS, meta)]  # fmt: skip


# ---------------------------------------------------------------- the reserved task (lesson 06 teaches it with LoRA)
# Answers as one JSON object, never in the training corpus. Two variants: "facts" (the default) asks what the model
# already recalls, so LoRA has only the format to teach and held-out questions can be right; "arithmetic" asks two-digit
# sums and differences, which the model gets right only with its thinking trace, so without it LoRA teaches the format
# and not the sums (the lesson's exercise shows both).
RESERVED_KINDS = ("facts", "arithmetic")
RESERVED_TEST_SHARE = 0.5  # facts: about half the table is held out, its JSON answers never trained
# Numbers only: a JSON string value would end in the token '"}', which nothing in the corpus contains, so its embedding
# row is zero and no adapter could make the model read or write it.
RESERVED_FACTS = ("layers", "context")


def reserved(rng: random.Random, thinking: bool = False) -> Chat:
    """Arithmetic answered as JSON: {"expression": "47 + 35", "result": 82}. Never in the training corpus."""
    op = rng.choice("+-")
    a, b = operands(rng, op)
    value = VALUE[op](a, b)
    answer = json.dumps({"expression": f"{a} {op} {b}", "result": value})
    question = rng.choice(ARITH_QUESTIONS[op]).format(a=a, b=b) + RESERVED_SUFFIX
    return Chat(RESERVED, f"json|{op}|{a}|{b}", [{"role": "user", "content": question},
                reply(thinking, TRACES[op](a, b), answer)], thinking, answer, meta={"value": value})


def reserved_fact(item: F.Fact, form: int, thinking: bool = False) -> Chat:
    """A catalog fact answered as JSON in get_model_info's own keys: {"model": "Qwen3-8B", "layers": 36}."""
    field = F.RECORD_FIELDS[item.attribute]
    value = F.model_record(item.name)[field]  # the tool's record: a number
    answer = json.dumps({"model": item.name, field: value})
    question = F.QUESTIONS[item.attribute][form].format(name=item.name) + RESERVED_SUFFIX
    trace = f"The question asks for {F.WORDS[item.attribute]} of {item.name}."
    return Chat(RESERVED, f"jsonfact|{item.name}|{item.attribute}|{form}", [{"role": "user", "content": question},
                reply(thinking, trace, answer)], thinking, answer,
                meta={"fact": f"{item.name}|{item.attribute}", "value": value})


def reserved_fact_heldout(item: F.Fact) -> bool:
    """The held-out half of the table, whole checkpoints at a time: nothing about them is ever trained in JSON (with
    single facts held out, an adapter answered a held-out layers question with the same model's trained context)."""
    return _share(f"reserved|{item.name}") < RESERVED_TEST_SHARE  # 8 of the 16 checkpoints, 4 of each series


def reserved_score(chat: Chat, text: str) -> bool:
    """A reply to the reserved task is right when it parses as JSON with the right expression and result."""
    try:
        got = json.loads(text.strip())
    except ValueError:
        return False
    return isinstance(got, dict) and got == json.loads(chat.answer)


def reserved_chats(n: int | None, seed: int, split: str = "train", thinking: bool = False,
                   kind: str = "facts") -> list[Chat]:
    """`n` distinct chats of the reserved task (facts: None = every question of the split, in a seeded order).
    "train" and "test" never share a fact (facts: about half the table is held out) or a pair of operands
    (arithmetic: the corpus's held-out rule)."""
    if kind not in RESERVED_KINDS:
        raise ValueError(f"unknown reserved task {kind!r}: choose one of {', '.join(RESERVED_KINDS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    rng = random.Random(seed)
    if kind == "facts":
        pool = [(item, form) for item in F.facts() if item.attribute in RESERVED_FACTS
                and reserved_fact_heldout(item) == (split == "test") for form in range(len(F.QUESTIONS[item.attribute]))]
        n = len(pool) if n is None else n
        if n > len(pool):
            raise ValueError(f"the {split} split of the reserved facts task has {len(pool)} distinct questions; "
                             f"asked for {n}")
        return [reserved_fact(item, form, thinking) for item, form in rng.sample(pool, n)]
    if n is None:
        raise ValueError("the arithmetic task has thousands of operand pairs: say how many chats")
    out, seen = [], set()
    while len(out) < n:
        chat = reserved(rng, thinking)
        if heldout(chat) == (split == "test") and chat.key not in seen:
            seen.add(chat.key)
            out.append(chat)
    return out
