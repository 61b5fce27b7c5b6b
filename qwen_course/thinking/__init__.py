"""Thinking mode: read a `<think>` block (`parse`), sample the way Qwen recommends per mode (`presets`), cap the
thinking with a budget (`budget`), stream with the reasoning folded (`stream`) and read real replies for a measurement
(`measure`).

`ThinkingBudgetProcessor` and `ThinkingStreamer` subclass transformers classes, so they are built on first use and
`import qwen_course.thinking` stays fast.
"""

from .budget import WRAP_UP, two_pass_generate
from .measure import Reply, committed_number, is_correct, read_reply
from .parse import (
    BLANK_LINE, EMPTY_BLOCK, THINK_CLOSE, THINK_OPEN, ThinkingCount, count_thinking, prompt_state, split_thinking,
    think_ids, with_soft_switch,
)
from .presets import MODE_ALIASES, SAMPLING, SERVER_EXTRAS, GreedyThinkingWarning, sampling, warn_if_greedy

__all__ = [
    "WRAP_UP", "two_pass_generate", "Reply", "committed_number", "is_correct", "read_reply", "BLANK_LINE",
    "EMPTY_BLOCK", "THINK_CLOSE", "THINK_OPEN", "ThinkingCount",
    "count_thinking", "prompt_state", "split_thinking", "think_ids", "with_soft_switch", "MODE_ALIASES", "SAMPLING",
    "SERVER_EXTRAS", "GreedyThinkingWarning", "sampling", "warn_if_greedy",
    "ThinkingBudgetProcessor", "ThinkingStreamer",
]  # fmt: skip


def _build(name: str):
    """The torch/transformers-based classes, built once on first access."""
    if name == "ThinkingBudgetProcessor":
        from .budget import _budget_processor_class

        return _budget_processor_class()
    from .stream import _streamer_class

    return _streamer_class()


def __getattr__(name: str):
    """Build `ThinkingBudgetProcessor` / `ThinkingStreamer` on first use, so importing this package stays fast."""
    if name in ("ThinkingBudgetProcessor", "ThinkingStreamer"):
        globals()[name] = _build(name)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
