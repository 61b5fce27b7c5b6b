"""Read a thinking block: where `<think>` ... `</think>` sits in a prompt or an output, split it, count it.

`<think>`=151667 and `</think>`=151668 are *not* special tokens in Qwen3's tokenizer (so `skip_special_tokens=True`
keeps them; Qwen3 docs, "Thinking and non-thinking mode"). Works on token ids, tensors or text; no torch import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from .._display import Table

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
EMPTY_BLOCK = "<think>\n\n</think>\n\n"  # what the template prefills when enable_thinking=False
BLANK_LINE = "\n\n"  # Qwen writes a blank line between `</think>` and the answer


def with_soft_switch(messages: Sequence[dict], think: bool) -> list[dict]:
    """A copy of `messages` with `/think` or `/no_think` after the last user turn (obeyed if enable_thinking=True)."""
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m.get("role") == "user":
            if not isinstance(m.get("content"), str):
                raise TypeError("the last user message needs string content to carry a soft switch")
            m["content"] = m["content"].rstrip() + (" /think" if think else " /no_think")
            return out
    raise ValueError("no user message to put the soft switch in")


def prompt_state(prompt: str) -> str:
    """How a rendered prompt leaves the think block: 'skipped' (empty block prefilled), 'open' (`<think>`
    prefilled: Thinking-2507, Qwen3.5) or 'model decides'."""
    if not isinstance(prompt, str):
        raise TypeError("prompt_state expects the rendered prompt text (apply_chat_template(..., tokenize=False))")
    if prompt.endswith(EMPTY_BLOCK):
        return "skipped"
    if prompt.rstrip("\n").endswith(THINK_OPEN):
        return "open"
    return "model decides"


def think_ids(tokenizer) -> tuple[int, int]:
    """The ids of `<think>` and `</think>` in this tokenizer (151667, 151668 for Qwen3); ValueError if it has none."""
    if tokenizer is None:
        raise TypeError("a tokenizer is needed to find the <think> ids (or pass text instead of ids)")
    ids = tokenizer.convert_tokens_to_ids([THINK_OPEN, THINK_CLOSE])  # unknown tokens come back None or as <unk>
    if None in ids or tokenizer.convert_ids_to_tokens(ids) != [THINK_OPEN, THINK_CLOSE]:
        raise ValueError("this tokenizer has no <think>/</think> tokens: it is not a Qwen3-family (thinking) tokenizer")
    return ids[0], ids[1]


def _id_list(token_ids) -> list[int]:
    if hasattr(token_ids, "tolist"):  # torch tensor or numpy array
        token_ids = token_ids.tolist()
    if token_ids and isinstance(token_ids[0], (list, tuple)):
        if len(token_ids) != 1:
            raise ValueError(f"got a batch of {len(token_ids)} sequences: split one sequence at a time")
        token_ids = token_ids[0]
    if not isinstance(token_ids, (list, tuple)) or not all(type(t) is int for t in token_ids):
        raise TypeError("expected token ids (list of int, 1-D tensor) or a decoded string")
    return list(token_ids)


def _last(seq: Sequence, item) -> int:
    return max((i for i, x in enumerate(seq) if x == item), default=-1)


def _locate(seq: Sequence, open_tok, close_tok, open_think: bool) -> tuple[int | None, int | None]:
    """(start, end) of the thinking in seq; end is None if the block never closed, start is None if there is none."""
    end = _last(seq, close_tok)
    if end >= 0:
        return _last(seq[:end], open_tok) + 1, end  # no <think> before it: the prompt opened the block
    opened = _last(seq, open_tok)
    if opened >= 0 or open_think:
        return opened + 1, None
    return None, None


def _parts(output, tokenizer):
    """The sequence to search, the two tags in its terms, and how to turn a slice back into text."""
    if isinstance(output, str):  # decoded text: split so that each tag is one element
        pieces = re.split(f"({re.escape(THINK_OPEN)}|{re.escape(THINK_CLOSE)})", output)
        return pieces, THINK_OPEN, THINK_CLOSE, "".join
    ids = _id_list(output)
    open_id, close_id = think_ids(tokenizer)
    return ids, open_id, close_id, lambda part: tokenizer.decode(part, skip_special_tokens=True)


def split_thinking(output, tokenizer=None, *, open_think: bool = False) -> tuple[str, str]:
    """(thinking, answer) from generated ids (with their tokenizer) or decoded text, split at the last `</think>`.

    Pass only the new tokens. `open_think=True` says the prompt already opened the block (Thinking-2507, a
    forced open), so output without `</think>` is all unfinished thinking rather than all answer.
    """
    seq, open_tok, close_tok, join = _parts(output, tokenizer)
    start, end = _locate(seq, open_tok, close_tok, open_think)
    thinking = "" if start is None else join(seq[start:end])
    answer = join(seq[end + 1:]) if end is not None else ("" if start is not None else join(seq))
    return _clean(thinking), _clean(answer)


def _clean(text: str) -> str:
    return text.replace(THINK_OPEN, "").replace(THINK_CLOSE, "").strip()


@dataclass
class ThinkingCount(Table):
    """Token counts of one generation: thinking, answer, and whether a think block was there and closed."""

    thinking_tokens: int
    answer_tokens: int
    opened: bool
    closed: bool
    _title = "Thinking vs answer (tokens)"

    def _rows(self):
        return [("thinking tokens", self.thinking_tokens), ("answer tokens", self.answer_tokens),
                ("think block opened", self.opened), ("think block closed", self.closed)]


def count_thinking(output, tokenizer, *, open_think: bool = False) -> ThinkingCount:
    """Count tokens inside the think block (tags excluded) and of the answer after it (the blank line after
    `</think>` and special tokens such as <|im_end|> excluded)."""
    ids = _id_list(output)
    open_id, close_id = think_ids(tokenizer)
    start, end = _locate(ids, open_id, close_id, open_think)
    special = set(tokenizer.all_special_ids)
    if start is None:
        return ThinkingCount(0, sum(t not in special for t in ids), False, False)
    answer = ids[end + 1:] if end is not None else []
    blank = tokenizer.encode(BLANK_LINE, add_special_tokens=False)
    answer = answer[len(blank):] if answer[:len(blank)] == blank else answer
    return ThinkingCount(len(ids[start:end]), sum(t not in special for t in answer), True, end is not None)


