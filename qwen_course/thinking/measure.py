"""Read real replies for a measurement: one generated row's think block, answer and token counts (counted the way
`ThinkingBudgetProcessor` counts), and whether the answer commits to the right number. No torch import."""

from __future__ import annotations

from dataclasses import dataclass

from .parse import ThinkingCount, _id_list, _last, count_thinking, split_thinking, think_ids


@dataclass(frozen=True)
class Reply:
    """One parsed reply: the reasoning ("" without a block), the visible answer, and its token counts."""

    thinking: str
    answer: str
    count: ThinkingCount

    def reached(self, budget: int | None) -> bool:
        """True when the block used the whole `budget`, so a budget processor closed it (None: no budget)."""
        return budget is not None and self.count.opened and self.count.thinking_tokens >= budget


def read_reply(row, n_prompt: int, tokenizer) -> Reply:
    """Parse one `generate` output row (the prompt, left pads included, then the new tokens).

    A block the prompt left open (Qwen3.5 and Thinking-2507 prefill `<think>\\n`) is read from that `<think>`, so its
    count includes the prefilled newline exactly as the budget processor's does; a prompt that prefilled the empty
    block (thinking off) contributes nothing, so any block found is one the model wrote.
    """
    ids = _id_list(row)
    if not 0 <= n_prompt <= len(ids):
        raise ValueError(f"n_prompt={n_prompt} is outside the row of {len(ids)} tokens")
    open_id, close_id = think_ids(tokenizer)
    prompt, new = ids[:n_prompt], ids[n_prompt:]
    opened = _last(prompt, open_id)
    carried = prompt[opened:] if opened > _last(prompt, close_id) else []
    thinking, answer = split_thinking(carried + new, tokenizer)
    return Reply(thinking, answer, count_thinking(carried + new, tokenizer))


def committed_number(text: str) -> str | None:
    """The number an answer commits to: the last `\\boxed{}` if any, else the result on its last line ("47 + 38 = 85.",
    "845 is larger.", "85"); None when there is no such line."""
    from ..rl import final_answer

    if not isinstance(text, str):
        raise TypeError(f"expected the answer text, got {type(text).__name__}")
    return final_answer(text)


def is_correct(answer: str, reference: str) -> bool:
    """True when `answer` commits to the same number as `reference` (numbers inside the reasoning do not count)."""
    got, want = committed_number(answer), committed_number(reference)
    if want is None:
        raise ValueError(f"the reference {reference!r} commits to no number")
    return got == want
