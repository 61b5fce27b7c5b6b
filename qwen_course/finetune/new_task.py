"""Lesson 06, section 6: a task the model never saw, taught with LoRA and measured against a fairly prompted base.

Offline the model is the course's trained stand-in and the task is the one its corpus reserves for this lesson
(catalog facts answered in JSON, or arithmetic answered in JSON: `offline.trained.reserved_chats`). The baseline gets the same instruction as the
fine-tuned model plus one solved example in the chat history; forgetting is the old tasks' accuracy with the adapter
on against the same frozen base with it off. Scores are read from `offline.trained.score` rows. No torch import.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from .._display import Table
from .data import _Rows

def with_example(chats: list, example) -> list:
    """Each chat with one solved exchange before its question: the example's question and its JSON answer.

    The chats keep their thinking mode and reference answer; only the prompt grows (an in-context example)."""
    shown = [example.messages[0], {"role": "assistant", "content": example.answer}]
    return [dataclasses.replace(chat, messages=shown + list(chat.messages)) for chat in chats]


def json_reply(text: str, reference: str) -> bool:
    """The reply is one JSON object with exactly the reference answer's keys (whatever the values in it)."""
    value, want = _object(text), _object(reference)
    return value is not None and want is not None and set(value) == set(want)


@dataclass(repr=False)
class TaskScore(Table):
    """Greedy replies to a set of chats, scored: right answers, the task's JSON shape, the question restated (the
    reference's first key: the model's name for a fact, the expression for a sum)."""

    label: str
    rows: list  # offline.trained.score rows: task, thinking, stop, format, correct, answer
    references: list  # each chat's reference answer

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def correct(self) -> int:
        return sum(bool(r["correct"]) for r in self.rows)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def json_share(self) -> float:
        return sum(json_reply(r["answer"], ref) for r, ref in zip(self.rows, self.references)) / self.n if self.n else 0.0

    @property
    def stop_share(self) -> float:
        return sum(bool(r["stop"]) for r in self.rows) / self.n if self.n else 0.0

    @property
    def restated_share(self) -> float | None:
        """Replies whose JSON restates the question exactly (the reference's first key and its value: "model" for a
        fact, "expression" for a sum); None when the references are not JSON objects."""
        wanted = [_object(ref) for ref in self.references]
        if not self.n or any(not w for w in wanted):
            return None
        firsts = [next(iter(w)) for w in wanted]
        return sum((_object(r["answer"]) or {}).get(key, object()) == w[key]
                   for r, w, key in zip(self.rows, wanted, firsts)) / self.n

    @property
    def answers(self) -> list[str]:
        return [r["answer"] for r in self.rows]

    @property
    def _title(self) -> str:  # type: ignore[override]
        return self.label

    def _rows(self):
        return [(name, value) for name, value in _measures(self)]

    def __repr__(self) -> str:
        return str(self)


def _object(text: str) -> dict | None:
    try:
        value = json.loads(text.strip())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _measures(score: TaskScore) -> list[tuple[str, str]]:
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    return [("right", f"{pct(score.accuracy)} ({score.correct}/{score.n})"),
            ("in the task's JSON shape", pct(score.json_share)),
            ("question restated right", pct(score.restated_share)),
            ("stopped (<|im_end|>)", pct(score.stop_share))]


def task_score(label: str, chats: list, replies: list[dict]) -> TaskScore:
    """Score `offline.trained.generate` replies to `chats` with `offline.trained.score` (the course's scorers)."""
    from ..offline import trained

    return TaskScore(label, trained.score(chats, replies), [chat.answer for chat in chats])


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if both sides were equally likely."""
    n, k = wins + losses, max(wins, losses)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n
    return min(1.0, 2 * tail)


def changed(a: TaskScore, b: TaskScore) -> int:
    """How many of the same chats got a different visible answer."""
    if a.n != b.n:
        raise ValueError(f"compare scores of the same chats ({a.n} and {b.n} rows)")
    return sum(x != y for x, y in zip(a.answers, b.answers))


def by_task(score: TaskScore) -> dict[str, float]:
    """Accuracy per task, in first-seen order."""
    out: dict[str, list[bool]] = {}
    for r in score.rows:
        out.setdefault(r["task"], []).append(bool(r["correct"]))
    return {task: sum(v) / len(v) for task, v in out.items()}


def score_table(title: str, *scores: TaskScore) -> _Rows:
    """Scores of the same chats side by side (one column each): right, JSON shape, restated, stopped, per task."""
    measures = [_measures(s) for s in scores]
    rows = [(name, *(m[i][1] for m in measures)) for i, (name, _) in enumerate(measures[0])
            if any(m[i][1] != "-" for m in measures)]
    tasks = [by_task(s) for s in scores]
    if len(tasks[0]) > 1:
        rows += [(f"right: {task}", *(f"{t.get(task, 0.0):.1%}" for t in tasks)) for task in tasks[0]]
    if len(scores) == 2 and scores[0].n == scores[1].n:
        rows.append(("answers that differ", "", f"{changed(*scores)} of {scores[0].n}"))
    return _Rows(title, ("measure", *(s.label for s in scores)), rows)


def paired(a: TaskScore, b: TaskScore) -> tuple[int, int]:
    """Over the same chats: (right in b only, right in a only)."""
    if a.n != b.n:
        raise ValueError(f"compare scores of the same chats ({a.n} and {b.n} rows)")
    wins = sum(bool(y["correct"]) and not x["correct"] for x, y in zip(a.rows, b.rows))
    losses = sum(bool(x["correct"]) and not y["correct"] for x, y in zip(a.rows, b.rows))
    return wins, losses


def new_task_verdict(before: TaskScore, baseline: TaskScore, after: TaskScore, old_base: TaskScore,
                     old_adapter: TaskScore, alpha: float = 0.05) -> list[str]:
    """Sentences that hold for whatever these scores are: accuracy against the prompted baseline (with a sign test
    over the questions where the two differ), what the replies look like, and forgetting on the old tasks."""
    n = after.n
    wins, losses = paired(baseline, after)
    p = sign_test(wins, losses)
    test = f"sign test over the {wins + losses} questions only one of them got right: p = {p:.2g}"
    if after.correct > baseline.correct and p < alpha:
        learned = (f"LoRA taught the new task: {after.correct} of {n} held-out questions right after fine-tuning "
                   f"against {baseline.correct} for the base model given the same instruction and a worked example "
                   f"({before.correct} with the instruction alone); {test}")
    elif after.correct > baseline.correct:
        learned = (f"more right after fine-tuning than the prompted base model ({after.correct} against "
                   f"{baseline.correct} of {n}), but not clearly: {test}, within chance for this many questions")
    elif after.correct == baseline.correct:
        learned = (f"no gain in accuracy over the prompted base model: {after.correct} of {n} right after fine-tuning "
                   f"and {baseline.correct} with the instruction and a worked example")
    else:
        learned = (f"the fine-tuned model is less accurate than the prompted base model: {after.correct} of {n} right "
                   f"against {baseline.correct}; {test}")
    shape = (f"replies in the task's JSON shape: {before.json_share:.0%} with the instruction alone, "
             f"{baseline.json_share:.0%} with a worked example, {after.json_share:.0%} fine-tuned")
    if after.restated_share is not None:
        shape += f"; the question restated right: {after.restated_share:.0%} fine-tuned"
    wrong = round(after.json_share * n) - after.correct
    if wrong > 0:
        shape += (f"; {wrong} of the {round(after.json_share * n)} fine-tuned JSON replies carry a wrong value")
    lost = old_base.correct - old_adapter.correct
    if lost > 0:
        old = (f"forgetting: the old tasks drop from {old_base.correct} to {old_adapter.correct} of {old_base.n} right "
               f"with the adapter on ({old_adapter.json_share:.0%} of those replies are in the new JSON shape); "
               "switched off, the frozen base answers as before")
    elif lost == 0:
        old = (f"no forgetting measured: the old tasks score {old_base.correct} of {old_base.n} with the adapter and "
               "without it")
    else:
        old = (f"the old tasks score higher with the adapter: {old_adapter.correct} against {old_base.correct} of "
               f"{old_base.n}")
    return [learned + ".", shape + ".", old + "."]
