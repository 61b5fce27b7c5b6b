"""Measuring a lesson 06 run: exact match before and after, partial credit per field, answers side by side, losses.

Re-exported by `finetune`, which the lesson imports. Importing this module does not import torch.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

from .._display import Table
from .data import _Rows


# ---------------------------------------------------------------- measuring: exact match before and after
@dataclass(repr=False)
class Accuracy(Table):
    """Exact-match accuracy on a set of examples, overall and per kind, with every prediction kept."""

    label: str
    predictions: list[str]
    expected: list[str]
    kinds: list[str]

    @property
    def correct(self) -> int:
        return sum(p == e for p, e in zip(self.predictions, self.expected))

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.expected) if self.expected else 0.0

    def by_kind(self) -> dict[str, float]:
        out: dict[str, list[int]] = {}
        for p, e, k in zip(self.predictions, self.expected, self.kinds):
            out.setdefault(k, []).append(p == e)
        return {k: sum(v) / len(v) for k, v in sorted(out.items())}

    def by_field(self) -> dict[str, float]:
        """Partial credit: replies that parse as JSON, and each field of the expected JSON that the reply got right."""
        counts: dict[str, int] = {"valid JSON": 0}
        for p, e in zip(self.predictions, self.expected):
            got, want = _parse(p), json.loads(e)
            counts["valid JSON"] += got is not None
            for key in want:
                counts[f"{key} right"] = counts.get(f"{key} right", 0) + (got is not None and got.get(key) == want[key])
        return {k: v / len(self.expected) for k, v in counts.items()} if self.expected else {}

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Exact match: {self.label}"

    def __repr__(self) -> str:
        return str(self)

    def _rows(self):
        rows = [("exact match", f"{self.accuracy:.1%} ({self.correct}/{len(self.expected)})")]
        return rows + [(k, f"{v:.1%}") for k, v in self.by_field().items()]


def _parse(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def generate_answers(model, tokenizer, examples: list[dict], max_new_tokens: int = 16, batch_size: int = 128,
                     enable_thinking: bool = False) -> list[str]:
    """Greedy replies to each example's prompt (its messages minus the reply), batched with left padding."""
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    answers = []
    try:
        model.eval()
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            prompts = [tokenizer.apply_chat_template(ex["messages"][:-1], tokenize=False, add_generation_prompt=True,
                                                     enable_thinking=enable_thinking) for ex in chunk]
            batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                     top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id)
            new = out[:, batch["input_ids"].shape[1]:]
            answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
    return answers


def exact_match(model, tokenizer, examples: list[dict], label: str = "", **kwargs) -> Accuracy:
    """Generate for every example and score: a reply counts only if it equals the reference exactly."""
    predictions = generate_answers(model, tokenizer, examples, **kwargs)
    expected = [ex["messages"][-1]["content"] for ex in examples]
    return Accuracy(label, predictions, expected, [ex.get("kind", "") for ex in examples])


def _pair(text: str) -> str:
    """A reply as "category/priority" when it parses as the schema's JSON, else "other"."""
    got = _parse(text)
    if got is None or set(got) != {"category", "priority"}:
        return "other"
    return f"{got['category']}/{got['priority']}"


def confusion(acc: Accuracy) -> _Rows:
    """Expected label (rows) against predicted label (columns), counts: a constant predictor fills one column."""
    expected = [_pair(e) for e in acc.expected]
    predicted = [_pair(p) for p in acc.predictions]
    rows_order = sorted(set(expected))
    seen = set(predicted)  # columns in the rows' order (the diagonal is right), then other labels, then "other"
    columns = [c for c in rows_order if c in seen] + sorted(seen - set(rows_order) - {"other"}) + \
        (["other"] if "other" in seen else [])
    counts = Counter(zip(expected, predicted))
    rows = [(r, *(counts.get((r, c), 0) or "." for c in columns), sum(e == r for e in expected)) for r in rows_order]
    rows.append(("predicted, total", *(predicted.count(c) for c in columns), len(predicted)))
    return _Rows(f"Confusion: {acc.label or 'predictions'} (rows: expected, columns: predicted)",
                 ("expected \\ predicted", *columns, "total"), rows)


def verdict(acc: Accuracy) -> str:
    """One sentence on what the answers show: a constant (or nearly constant) answer is the format, not the task."""
    n = len(acc.predictions)
    if not n:
        return "no answers to judge"
    top, count = Counter(acc.predictions).most_common(1)[0]
    labelled = sum(e == top for e in acc.expected)
    schema = _pair(top) != "other"
    if count == n and not schema:
        return f"the same answer to all {n} tickets, {top!r}, which is not the schema's JSON: neither format nor routing"
    if count == n:
        return (f"a constant predictor: all {n} answers are {top!r}. It is right on exactly the {labelled} tickets "
                f"whose label that is ({labelled / n:.0%}, that label's share of the set): the format was learned, "
                "the routing was not")
    if count >= 0.9 * n:
        return (f"nearly constant: {count} of {n} answers ({count / n:.0%}) are {top!r}"
                + (f", whose label covers {labelled} of the tickets; little of the routing was learned" if schema
                   else ", not the schema's JSON"))
    return (f"{len(set(acc.predictions))} different answers for {n} tickets (the most common, {top!r}, {count / n:.0%}); "
            f"{acc.correct} right")


def compare_accuracy(before: Accuracy, after: Accuracy) -> _Rows:
    """Exact match overall, partial credit per field, and exact match per kind, before and after, as one table."""
    pct = lambda v: f"{v:.1%}"  # noqa: E731
    rows = [("exact match, all", pct(before.accuracy), pct(after.accuracy))]
    bf, af = before.by_field(), after.by_field()
    rows += [(k, pct(bf.get(k, 0)), pct(af.get(k, 0))) for k in af]
    bk, ak = before.by_kind(), after.by_kind()
    rows += [(f"exact match, {k}", pct(bk.get(k, 0)), pct(ak.get(k, 0))) for k in ak]
    return _Rows("Validation accuracy: " + " vs ".join(a.label or "?" for a in (before, after)),
                 ("measure", before.label, after.label), rows)


def side_by_side(examples: list[dict], before: Accuracy, after: Accuracy, n: int = 8, width: int = 48) -> _Rows:
    """The first `n` examples, one per kind first, with answers cut to `width` characters."""
    cut = lambda s: s if len(s) <= width else s[: width - 1] + "…"  # noqa: E731
    order, seen = [], set()
    for i, ex in enumerate(examples):  # one of each kind, then the rest
        if ex.get("kind") not in seen:
            seen.add(ex.get("kind"))
            order.append(i)
    order += [i for i in range(len(examples)) if i not in order]
    rows = [(examples[i]["messages"][0]["content"], after.expected[i], cut(before.predictions[i]) or "(empty)",
             cut(after.predictions[i]) or "(empty)", "yes" if after.predictions[i] == after.expected[i] else "no")
            for i in order[:n]]
    header = ("prompt", "expected", before.label or "before", after.label or "after", "right after?")
    return _Rows(f"{before.label or 'before'} and {after.label or 'after'} (validation examples)", header, rows)


def loss_points(log_history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """(step, loss) pairs from a Trainer's log_history: "train" and "validation"."""
    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    val = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    return {"train": train, "validation": val}


def plot_losses(log_history: list[dict], title: str = "LoRA fine-tuning: loss"):
    """Train and validation loss per optimizer step (cross-entropy over the trained tokens, nats per token)."""
    import matplotlib.pyplot as plt

    points = loss_points(log_history)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, style in (("train", "-"), ("validation", "o-")):
        if points[name]:
            steps, losses = zip(*points[name])
            ax.plot(steps, losses, style, label=name)
    ax.set(title=title, xlabel="optimizer step", ylabel="loss (nats per trained token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def relative_drop(start: float, end: float) -> float:
    """How much a loss fell, as a fraction of where it started (0.3 = 30 % lower)."""
    if start <= 0 or math.isnan(start):
        raise ValueError(f"a starting loss must be positive, got {start}")
    return (start - end) / start
