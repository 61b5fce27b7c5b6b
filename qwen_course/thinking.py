"""Qwen3 thinking mode: split reasoning from answer, soft switches, sampling presets and a real thinking budget.

Facts used here are in QWEN_FACTS.md section 3: `<think>`=151667 and `</think>`=151668 are *not* special
tokens (so `skip_special_tokens=True` keeps them), transformers has no `thinking_budget` argument, and Qwen
recommends different sampling for the two modes. torch/transformers are imported only where needed.
The folded streaming display lives in `thinking_stream`; `thinking.ThinkingStreamer` reaches it.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

from ._display import Table
from .thinking_stream import _streamer_class  # builds ThinkingStreamer on first use

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
EMPTY_BLOCK = "<think>\n\n</think>\n\n"  # what the template prefills when enable_thinking=False
BLANK_LINE = "\n\n"  # Qwen writes a blank line between `</think>` and the answer
# Our own wrap-up line; Qwen's docs use a similar sentence before `</think>` (Q3-docs quickstart, "Thinking Budget").
WRAP_UP = "\n\nTime is up: I will answer now with what I have.\n"

# Recommended sampling (Q3-docs/quickstart.md; QWEN_FACTS 3.5). `presence_penalty` is a server (vLLM/SGLang/OpenAI)
# knob, not a transformers `generate` argument, so it is listed apart.
SAMPLING = {
    "thinking": {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0},
    "non-thinking": {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "min_p": 0.0},
}
SERVER_EXTRAS = {"thinking": {}, "non-thinking": {"presence_penalty": 1.5}}
MODE_ALIASES = {"think": "thinking", "thinking-2507": "thinking", "no_think": "non-thinking",
                "nothinking": "non-thinking", "instruct-2507": "non-thinking", "instruct": "non-thinking"}


class GreedyThinkingWarning(UserWarning):
    """Greedy decoding in thinking mode: Qwen warns of degraded answers and endless repetition."""


def _mode(mode: str) -> str:
    key = MODE_ALIASES.get(str(mode).lower(), str(mode).lower())
    if key not in SAMPLING:
        raise ValueError(f"unknown mode {mode!r}: use 'thinking' or 'non-thinking'")
    return key


def warn_if_greedy(mode: str, settings: Any) -> bool:
    """Warn (and return True) when `settings` (dict or GenerationConfig) decode greedily in thinking mode."""
    get = settings.get if isinstance(settings, dict) else (lambda k, d=None: getattr(settings, k, d))
    greedy = not get("do_sample", False) or (get("temperature", 1.0) or 0.0) <= 0.0
    if _mode(mode) == "thinking" and greedy:
        warnings.warn("greedy decoding in thinking mode: Qwen's docs warn of performance degradation and endless "
                      "repetitions; use do_sample=True, temperature=0.6, top_p=0.95, top_k=20 (sampling('thinking')).",
                      GreedyThinkingWarning, stacklevel=2)
        return True
    return False


def sampling(mode: str, **overrides) -> dict:
    """`generate` keyword arguments Qwen recommends for `mode`, with your overrides; warns on greedy thinking."""
    settings = {**SAMPLING[_mode(mode)], **overrides}
    warn_if_greedy(mode, settings)
    return settings


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


def _stop_ids(model, tokenizer) -> set[int]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) | {tokenizer.eos_token_id}
    return {i for i in ids if i is not None}


def two_pass_generate(model, tokenizer, inputs, budget: int, *, max_new_tokens: int, wrap_up: str = WRAP_UP,
                      **generate_kwargs) -> list[int]:
    """Qwen's documented budget recipe (batch of one): generate `budget` tokens; if still thinking, append
    `wrap_up` + `</think>` + blank line and generate the rest. Returns every new token id, appended ones included."""
    import torch

    prompt = inputs["input_ids"]
    if prompt.shape[0] != 1:
        raise ValueError("two_pass_generate handles one prompt at a time")
    _, close_id = think_ids(tokenizer)
    first = model.generate(**inputs, max_new_tokens=budget, **generate_kwargs)[0, prompt.shape[1]:].tolist()
    if _stop_ids(model, tokenizer) & set(first) or max_new_tokens <= len(first):
        return first  # finished (or out of tokens) within the budget
    new = first if close_id in first else first + tokenizer.encode(wrap_up + THINK_CLOSE + BLANK_LINE,
                                                                  add_special_tokens=False)
    full = torch.tensor([prompt[0].tolist() + new], device=prompt.device)
    rest = model.generate(input_ids=full, attention_mask=torch.ones_like(full),
                          max_new_tokens=max_new_tokens - len(first), **generate_kwargs)
    return new + rest[0, full.shape[1]:].tolist()


def _budget_processor_class():
    import torch
    from transformers import LogitsProcessor

    class ThinkingBudgetProcessor(LogitsProcessor):
        """Cap the thinking inside one `generate` call: after `budget` tokens in an open think block, force
        `wrap_up` (if any), then `</think>` and a blank line, so the answer follows in the same call.

        The budget counts every token after the last `<think>` (a newline the template prefilled included) and
        before the forced close. Stateless: it reads the sequence, so one instance serves many calls and batches.
        Override `should_close(block)` for other rules (e.g. stop at the end of a sentence).
        """

        def __init__(self, tokenizer, budget: int, wrap_up: str | None = None):
            if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
                raise ValueError(f"budget must be a whole number of tokens >= 0, got {budget!r}")
            self.tokenizer, self.budget = tokenizer, budget
            self.open_id, self.close_id = think_ids(tokenizer)
            self.wrap_ids = tokenizer.encode(wrap_up, add_special_tokens=False) if wrap_up else []
            self.forced = self.wrap_ids + [self.close_id]
            self.tail = tokenizer.encode(BLANK_LINE, add_special_tokens=False)

        def should_close(self, block) -> bool:
            """True once the free thinking `block` (1-D tensor of ids after `<think>`) must stop."""
            return len(block) >= self.budget

        def next_forced(self, row) -> int | None:
            """The token this sequence must take next, or None to let the model choose."""
            opens, closes = (row == self.open_id).nonzero(), (row == self.close_id).nonzero()
            last_open = int(opens[-1]) if len(opens) else -1
            last_close = int(closes[-1]) if len(closes) else -1
            if last_open > last_close:  # inside an open think block
                block = row[last_open + 1:]
                n = len(block)
                for j in range(min(len(self.forced) - 1, n), -1, -1):  # how much of the close is already written
                    if (j == 0 or block[n - j:].tolist() == self.forced[:j]) and self.should_close(block[:n - j]):
                        return self.forced[j]
                return None
            m = len(row) - 1 - last_close  # tokens since the close
            if last_close >= 0 and m < len(self.tail) and row[last_close + 1:].tolist() == self.tail[:m]:
                return self.tail[m]
            return None

        def __call__(self, input_ids, scores):
            for b in range(input_ids.shape[0]):
                token = self.next_forced(input_ids[b])
                if token is not None:
                    scores[b] = torch.full_like(scores[b], -float("inf"))
                    scores[b, token] = 0.0
            return scores

    return ThinkingBudgetProcessor


_LAZY = {"ThinkingBudgetProcessor": _budget_processor_class, "ThinkingStreamer": _streamer_class}


def __getattr__(name: str):
    """Build the torch/transformers-based classes on first use, so `import qwen_course.thinking` stays fast."""
    if name in _LAZY:
        globals()[name] = _LAZY[name]()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
