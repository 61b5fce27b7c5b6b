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


def number_verify(expected: float, shown: str, right: str, mistakes=(), rel: float = 0.02):
    """A `verify` for a numeric answer: right within `rel`, a known mistake explained, or how far off it is.

    `shown` formats the learner's value (e.g. "{:.2f} GB"), `right` follows it when correct, and `mistakes` lists
    (wrong value, what went wrong) pairs checked in order.
    """

    def verify(value):
        v = float(value)
        text = shown.format(v)
        if close_to(v, expected, rel):
            return True, f"{text}: {right}"
        for wrong, why in mistakes:
            if close_to(v, wrong, rel):
                return False, f"{text}: {why}"
        return False, f"{text} is off by {abs(v - expected) / expected:.0%}."

    return verify


def pick_verify(expected, wrong_precision: str, wrong_model: str):
    """A `verify` for a (model_id, precision) prediction of the picker's choice `expected` (anything with those fields)."""

    def verify(value):
        model_id, precision = value
        if (model_id, precision) == (expected.model_id, expected.precision):
            return True, f"{model_id} in {precision}: right. {expected.reason}"
        if model_id == expected.model_id:
            return False, f"right model, but not {precision}: {wrong_precision}"
        return False, f"the picker chooses another model than {model_id}{wrong_model}"

    return verify
