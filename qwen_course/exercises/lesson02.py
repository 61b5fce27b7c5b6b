"""Checks for notebook 02: prompts by hand, stop criteria, batched generation."""

from __future__ import annotations

from ._check import CheckResult, check


def check_manual_prompt(answer, tokenizer, messages) -> CheckResult:
    """A prompt string written by hand must equal what the chat template renders (with the assistant turn opened)."""
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def verify(value):
        if value == expected:
            return True, "identical to apply_chat_template's output."
        for i, (a, b) in enumerate(zip(value, expected)):
            if a != b:
                return False, f"differs at character {i}: yours has {value[i:i + 20]!r}, the template {expected[i:i + 20]!r}."
        return False, f"one is a prefix of the other: yours has {len(value)} characters, the template {len(expected)}."

    return check("check_manual_prompt", answer, verify,
                 "ChatML: '<|im_start|>role\\ncontent<|im_end|>\\n' per message, then '<|im_start|>assistant\\n'. "
                 "Does this template add a default system prompt?")


def check_stop_criterion(answer, tokenizer) -> CheckResult:
    """A StoppingCriteria that stops once the generated text contains a full stop."""
    import torch

    def verify(criterion):
        prompt = tokenizer("Say something", return_tensors="pt")["input_ids"]
        with_stop = torch.cat([prompt, tokenizer(" done.", return_tensors="pt")["input_ids"]], dim=1)
        without = torch.cat([prompt, tokenizer(" done", return_tensors="pt")["input_ids"]], dim=1)
        scores = torch.zeros(1, 10)
        stop_a = bool(torch.as_tensor(criterion(with_stop, scores)).all())
        stop_b = bool(torch.as_tensor(criterion(without, scores)).any())
        if stop_a and not stop_b:
            return True, "stops after a '.', keeps going without one."
        if not stop_a:
            return False, "it did not stop on a sequence ending in '.'."
        return False, "it stopped although no '.' was generated."

    return check("check_stop_criterion", answer, verify,
                 "subclass transformers.StoppingCriteria; in __call__(input_ids, scores) decode the last tokens and "
                 "return a bool tensor of shape (batch,).")


def check_batch_matches(answer) -> CheckResult:
    """(batched_texts, one_by_one_texts): greedy batched outputs must equal one-by-one outputs."""

    def verify(value):
        batched, single = value
        if len(batched) != len(single) or len(batched) < 3:
            return False, "give three or more outputs from each route."
        same = [a == b for a, b in zip(batched, single)]
        if all(same):
            return True, f"all {len(same)} batched outputs equal the one-by-one outputs."
        return False, f"outputs {[i for i, s in enumerate(same) if not s]} differ: check padding_side='left' and the attention mask."

    return check("check_batch_matches", answer, verify,
                 "tokenizer.padding_side = 'left'; tokenizer(prompts, padding=True, return_tensors='pt'); "
                 "generate(**batch, do_sample=False); decode only the new tokens.")
