"""Measuring a GRPO run: greedy accuracy, answer format and completion length on held-out prompts before and after,
the group-relative advantages GRPO computes, and the reward curve from the trainer's log.

Importing this module does not import torch; `complete` and `score` import it when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._display import Table, html_table, text_table
from .rewards import correctness_reward, final_answer, format_reward, read


@dataclass(repr=False)
class Score(Table):
    """Completions for a set of prompts with their references, in one thinking mode, and what they add up to."""

    label: str
    completions: list[str]
    answers: list[str]
    tokens: list[int]  # generated tokens per completion, the closing <|im_end|> included when it came
    stopped: list[bool]  # whether the completion ended with an end-of-turn token before the token limit
    thinking: bool = False
    prompts: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return _mean(correctness_reward(completions=self.completions, answer=self.answers))

    @property
    def format_share(self) -> float:
        return _mean(format_reward(completions=self.completions, thinking=[self.thinking] * len(self.completions)))

    @property
    def mean_tokens(self) -> float:
        return _mean(self.tokens)

    @property
    def stop_share(self) -> float:
        return _mean([float(s) for s in self.stopped])

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"{self.label} ({len(self.answers)} prompts, thinking {'on' if self.thinking else 'off'})"

    def __repr__(self) -> str:
        return str(self)

    def _rows(self):
        right = sum(correctness_reward(completions=self.completions, answer=self.answers))
        return [("accuracy (exact final answer)", f"{self.accuracy:.1%} ({right:.0f}/{len(self.answers)})"),
                ("well-formed (format reward)", f"{self.format_share:.1%}"),
                ("stopped at <|im_end|>", f"{self.stop_share:.1%}"),
                ("mean completion length", f"{self.mean_tokens:.1f} tokens")]


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def complete(model, tokenizer, messages: list[list[dict]], thinking: bool, max_new_tokens: int = 16,
             batch_size: int = 32, **generate_kwargs) -> tuple[list[str], list[int], list[bool]]:
    """Completions for chat prompts rendered in one thinking mode, batched with left padding; greedy unless
    `generate_kwargs` say otherwise. Returns (texts, generated tokens, stopped)."""
    import torch

    stops = set(getattr(model.generation_config, "eos_token_id", None) or [])
    stops = {stops} if isinstance(stops, int) else stops
    stops |= {tokenizer.convert_tokens_to_ids("<|im_end|>")}
    kwargs = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None} | generate_kwargs
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    texts, counts, stopped = [], [], []
    try:
        for start in range(0, len(messages), batch_size):
            prompts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False,
                                                     enable_thinking=thinking) for m in messages[start:start + batch_size]]
            batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                     **kwargs)
            for row in out[:, batch["input_ids"].shape[1]:].tolist():
                ends = [i for i, t in enumerate(row) if t in stops]
                kept = row[: ends[0] + 1] if ends else row
                texts.append(tokenizer.decode(kept, skip_special_tokens=True))
                counts.append(len(kept))
                stopped.append(bool(ends))
    finally:
        tokenizer.padding_side = side
    return texts, counts, stopped


def score(model, tokenizer, rows: list[dict], thinking: bool, label: str, max_new_tokens: int = 16,
          **generate_kwargs) -> Score:
    """Greedy completions for dataset rows (`prompt` conversations, `answer` references), scored."""
    was_training = getattr(model, "training", False)
    model.eval()
    texts, counts, stopped = complete(model, tokenizer, [r["prompt"] for r in rows], thinking, max_new_tokens,
                                      **generate_kwargs)
    if was_training:
        model.train()
    return Score(label, texts, [str(r["answer"]) for r in rows], counts, stopped, thinking,
                 [r["prompt"][-1]["content"] for r in rows])


def pass_rates(model, tokenizer, rows: list[dict], thinking: bool, samples: int = 8, max_new_tokens: int = 16,
               **generate_kwargs) -> list[float]:
    """Share of `samples` sampled completions per row whose final answer is right (sampling settings in
    `generate_kwargs`): 0 or 1 means every group of that prompt agrees, and GRPO learns nothing from it."""
    messages = [r["prompt"] for r in rows for _ in range(samples)]
    texts, _, _ = complete(model, tokenizer, messages, thinking, max_new_tokens, batch_size=8 * samples,
                           **({"do_sample": True} | generate_kwargs))
    right = correctness_reward(completions=texts, answer=[str(r["answer"]) for r in rows for _ in range(samples)])
    return [sum(right[i * samples:(i + 1) * samples]) / samples for i in range(len(rows))]


class _Rows:
    """A small table: a title, a header and rows, as HTML in Jupyter and text elsewhere."""

    def __init__(self, title: str, header: tuple, rows: list):
        self.title, self.header, self.rows = title, header, rows

    def _repr_html_(self) -> str:
        return html_table(self.rows, self.header, self.title)

    def __str__(self) -> str:
        return f"{self.title}\n{text_table(self.rows, self.header)}"

    __repr__ = __str__


def compare(*scores: Score) -> _Rows:
    """Accuracy, format, stops and length of several scores side by side (one column each)."""
    rows = [("accuracy", *(f"{s.accuracy:.1%}" for s in scores)),
            ("well-formed", *(f"{s.format_share:.1%}" for s in scores)),
            ("stopped", *(f"{s.stop_share:.1%}" for s in scores)),
            ("mean tokens", *(f"{s.mean_tokens:.1f}" for s in scores))]
    return _Rows("Held-out prompts, greedy", ("measure", *(s.label for s in scores)), rows)


def side_by_side(before: Score, after: Score, n: int = 8, width: int = 40) -> _Rows:
    """The first `n` prompts with the reference and both completions, and whether each parses to the right answer."""
    cut = lambda s: (s if len(s) <= width else s[: width - 1] + "…").replace("\n", "⏎")
    mark = lambda text, ref: "right" if final_answer(read(text).answer) == ref else "wrong"
    rows = [(p, ref, cut(b) or "(empty)", mark(b, ref), cut(a) or "(empty)", mark(a, ref))
            for p, ref, b, a in zip(before.prompts, before.answers, before.completions, after.completions)][:n]
    return _Rows(f"{before.label} and {after.label}", ("prompt", "answer", before.label, "", after.label, ""), rows)


def group_advantages(rewards: list[float], group_size: int, scale: bool = True) -> list[float]:
    """GRPO's advantage: each reward minus its group's mean, divided by the group's (Bessel-corrected) standard
    deviation + 1e-4 when `scale` (TRL's scale_rewards="group"); the groups are consecutive runs of `group_size`."""
    if group_size < 2 or len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards do not split into groups of {group_size} (at least 2)")
    out = []
    for start in range(0, len(rewards), group_size):
        group = [float(r) for r in rewards[start:start + group_size]]
        mean = sum(group) / group_size
        std = (sum((r - mean) ** 2 for r in group) / (group_size - 1)) ** 0.5
        out += [(r - mean) / (std + 1e-4) if scale else r - mean for r in group]
    return out


def reward_curve(log_history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """(step, value) series from a GRPOTrainer's log_history: the total "reward", each reward function's mean
    (`rewards/<name>/mean`), "completion length", "clipped" (cut off at the token limit) and "zero-std groups"
    (groups with nothing to learn from)."""
    names = {"reward": "reward", "completions/mean_length": "completion length",
             "completions/clipped_ratio": "clipped", "frac_reward_zero_std": "zero-std groups"}
    curves: dict[str, list[tuple[int, float]]] = {}
    for entry in log_history:
        if "reward" not in entry or "step" not in entry:
            continue
        for key, value in entry.items():
            if key in names or (key.startswith("rewards/") and key.endswith("/mean")):
                name = names.get(key) or key.split("/")[1]
                curves.setdefault(name, []).append((int(entry["step"]), float(value)))
    return curves


def plot_reward_curve(log_history: list[dict], title: str = "GRPO: reward per step"):
    """Each reward function's mean and the total per optimizer step (left), mean completion length (right)."""
    import matplotlib.pyplot as plt

    curves = reward_curve(log_history)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.4))
    for name, points in curves.items():
        if name in ("completion length", "clipped", "zero-std groups"):
            continue
        steps, values = zip(*points)
        left.plot(steps, values, "o-" if name == "reward" else "-", label=name, lw=2 if name == "reward" else 1)
    left.set(title=title, xlabel="optimizer step", ylabel="mean reward over the step's completions")
    left.grid(alpha=0.3)
    if curves:
        left.legend(fontsize=8)
    if "completion length" in curves:
        steps, values = zip(*curves["completion length"])
        right.plot(steps, values, "o-", color="tab:gray")
    right.set(title="completion length", xlabel="optimizer step", ylabel="mean tokens per completion")
    right.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def first_last(points: list[tuple[int, float]], k: int = 3) -> tuple[float, float]:
    """Mean of the first and of the last `k` values of a curve (single steps are noisy)."""
    if not points:
        raise ValueError("an empty curve has no start or end")
    values = [v for _, v in points]
    k = max(1, min(k, len(values) // 2 or 1))
    return _mean(values[:k]), _mean(values[-k:])
