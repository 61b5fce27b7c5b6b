"""The result every `check_*` function returns: passed, failed (with what is wrong and a hint) or not answered yet."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Callable

MARK = {True: "PASS", False: "FAIL", None: "TODO"}
COLOUR = {True: "#e6f4ea", False: "#fdecea", None: "#fff8e1"}


@dataclass
class CheckResult:
    """Outcome of one exercise check; prints as one line starting PASS/FAIL/TODO so `qwen-course progress` can read it."""

    name: str
    passed: bool | None
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        return bool(self.passed)

    def __str__(self) -> str:
        line = f"[{MARK[self.passed]}] {self.name}: {self.message}"
        return line + (f"\n       hint: {self.hint}" if self.hint and not self.passed else "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        hint = f"<br><i>Hint:</i> {html.escape(self.hint)}" if self.hint and not self.passed else ""
        return (
            f"<div style='background:{COLOUR[self.passed]};padding:6px;border-radius:4px'>"
            f"<code>[{MARK[self.passed]}] {html.escape(self.name)}</code>: {html.escape(self.message)}{hint}</div>"
            f"<pre style='display:none'>{html.escape(str(self))}</pre>"
        )


def unanswered(answer: Any) -> bool:
    """A learner's placeholder: None or Ellipsis."""
    return answer is None or answer is Ellipsis


def check(name: str, answer: Any, verify: Callable[[Any], tuple[bool, str]], hint: str) -> CheckResult:
    """Run `verify(answer) -> (ok, message)`; placeholders and exceptions become helpful results, never tracebacks."""
    if unanswered(answer):
        return CheckResult(name, None, "not answered yet: replace the placeholder with your answer and run the cell again.", hint)
    try:
        ok, message = verify(answer)
    except Exception as exc:  # a learner's answer of the wrong shape must not crash the notebook
        return CheckResult(name, False, f"could not check this answer ({type(exc).__name__}: {exc}).", hint)
    return CheckResult(name, bool(ok), message, hint)


def close_to(value: float, expected: float, rel: float = 0.02) -> bool:
    """Relative closeness for numeric answers."""
    return abs(float(value) - expected) <= rel * abs(expected)


def whole_number(value) -> int:
    """An answer that must be a whole number: ints and integral floats (numpy ones too), never bools or strings."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected a whole number, got {type(value).__name__} {value!r}")
    if float(value) != int(value):
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def number_verify(expected: float, shown: str, right: str, mistakes=(), rel: float = 0.02):
    """A `verify` for a numeric answer: right within `rel`, a known mistake explained, or how far off it is.

    `shown` formats the learner's value (e.g. "{:.2f} GB"), `right` follows it when correct, and `mistakes` lists
    (wrong value, what went wrong) pairs checked in order. A value within `rel` of the answer that lies nearer to a
    known mistake counts as that mistake, so a tolerance never lets a typical error through.
    """

    def verify(value):
        v = float(value)
        text = shown.format(v)
        near = [(abs(v - wrong), why) for wrong, why in mistakes
                if close_to(v, wrong, rel) and abs(v - wrong) < abs(v - expected)]
        if close_to(v, expected, rel) and not near:
            return True, f"{text}: {right}"
        for wrong, why in mistakes:
            if close_to(v, wrong, rel):
                return False, f"{text}: {why}"
        return False, f"{text} is off by {abs(v - expected) / expected:.0%}."

    return verify


def _short_gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def explain_pick(task: str, hw, context: int, model_id: str, precision: str, expected) -> str:
    """Why the picker does not choose (model_id, precision) on `hw`, in the picker's own terms (memory, rules, order)."""
    from .. import catalog
    from .._paths import load_json
    from ..memory import estimate, estimate_route
    from ..picker import memory_budget
    from ..precision import precisions_for, route_for

    rules = load_json("picker.json")
    try:
        ckpt = catalog.get(model_id)
    except Exception:  # noqa: BLE001 - any unknown id gets the same answer
        return f"{model_id!r} is not a checkpoint in the course catalog; write the full id, e.g. 'Qwen/Qwen3-4B'."
    order = rules["tasks"].get(task, {}).get("order", [])
    if ckpt.id not in order:
        return f"{ckpt.id} is not one of the picker's {task} models (catalog.TASKS and the picker's list)."
    if ckpt.max_context < context:
        return f"{ckpt.id} supports {ckpt.max_context:,} tokens, less than the {context:,} asked for."
    allowed, why = precisions_for(hw)
    if precision not in allowed:
        return f"{precision} is not a precision the picker uses on this machine ({', '.join(allowed)}): {why}."
    route = estimate_route(route_for(precision, hw.device, measured=not hw.described), hw.device)
    est = estimate(ckpt, precision, min(context, ckpt.max_context), route=route)
    budget = memory_budget(hw)
    if est.total_bytes > budget:
        return (f"{ckpt.id} in {precision} needs {_short_gb(est.total_bytes)} with a {context:,}-token context, "
                f"more than the {_short_gb(budget)} the picker allows here.")
    cap = rules["cpu_max_weights_bytes"] if hw.device == "cpu" else None
    if cap and est.weights_bytes > cap:
        return (f"{ckpt.id} in {precision} fits in memory, but its weights ({_short_gb(est.weights_bytes)}) exceed the "
                f"picker's CPU weight budget of {_short_gb(cap)}: every new token reads all the weights.")
    if expected.model_id is None:
        return "nothing fits this machine."
    if expected.precision == "int4" and precision != "int4":
        return (f"{ckpt.id} in {precision} fits, but on a GPU the picker switches to 4-bit when that fits a model "
                f"at least {rules['int4_gain']:g} times as large.")
    if precision == "int4" and expected.precision != "int4":
        return (f"{ckpt.id} in int4 fits, but 4-bit is chosen only when it fits a model at least "
                f"{rules['int4_gain']:g} times as large as the best {allowed[0]} fit; here it does not.")
    if expected.model_id in order and order.index(expected.model_id) < order.index(ckpt.id):
        return f"{ckpt.id} in {precision} fits, but the picker takes the most capable {task} model that fits: look higher up its list."
    return f"{ckpt.id} in {precision} fits, but the picker prefers another option: compare its order and precisions."


def pick_verify(expected, task: str, hw, context: int = 4096):
    """A `verify` for a (model_id, precision) prediction of the picker's choice `expected` (anything with those fields).

    A wrong prediction is told why the picker does not take it (`explain_pick`); nothing fits: answer (None, None).
    """

    def verify(value):
        if isinstance(value, str) or len(value) != 2:
            raise ValueError("answer with a pair (model_id, precision)")
        model_id, precision = value
        if model_id is not None and "/" not in str(model_id):
            model_id = f"Qwen/{model_id}"
        if (model_id, precision) == (expected.model_id, expected.precision):
            if model_id is None:
                return True, f"right: nothing fits. {expected.reason}"
            return True, f"{model_id} in {precision}: right. {expected.reason}"
        if expected.model_id is None:
            return False, f"nothing fits this machine, so answer (None, None). {expected.reason}"
        if model_id is None or precision is None:
            return False, "something fits this machine: name the model and its precision."
        return False, explain_pick(task, hw, context, str(model_id), str(precision), expected)

    return verify
