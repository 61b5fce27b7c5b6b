"""A real thinking budget: Qwen's two-pass recipe, and a logits processor that closes the block in one call.

transformers has no `thinking_budget` argument; both routes here cut the block and let the answer follow.
torch and transformers are imported only inside the functions that build or run them.
"""

from __future__ import annotations

from .parse import BLANK_LINE, THINK_CLOSE, think_ids

# Our own wrap-up line; Qwen's docs use a similar sentence before `</think>`
# (https://qwen.readthedocs.io/en/latest/getting_started/quickstart.html#thinking-budget).
WRAP_UP = "\n\nTime is up: I will answer now with what I have.\n"


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
