"""Checks for notebook 02: prompts by hand, the probability of a tail, stop criteria, batched generation."""

from __future__ import annotations

from ._check import CheckResult, check, close_to


def check_manual_prompt(answer, tokenizer, messages, enable_thinking: bool | None = None) -> CheckResult:
    """A prompt string written by hand must equal what the chat template renders (with the assistant turn opened).

    `enable_thinking` is passed to the template when given (Qwen3/Qwen3.5: False prefills the empty think block)."""
    extra = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)
    opened = "<|im_start|>assistant\n"

    def verify(value):
        if not isinstance(value, str):
            return False, f"expected the prompt as one string, got {type(value).__name__}."
        if value == expected:
            return True, "identical to apply_chat_template's output."
        if "<|im_start|>system" in value and "<|im_start|>system" not in expected:
            return False, ("yours has a system turn the template does not render: this template adds no default "
                           "system prompt (Qwen2.5's does).")
        if expected.startswith(value) and expected[len(value):].startswith(opened):
            return False, f"the assistant turn is not opened: the template ends with {expected[len(value):]!r}."
        empty = "<think>\n\n</think>\n\n"
        if expected.endswith(opened + empty) and value == expected[:-len(empty)]:
            return False, (f"with enable_thinking={enable_thinking} this template prefills the empty think block "
                           f"{empty!r} after {opened!r}: the model answers without thinking.")
        if value.startswith(expected[:-len(opened)]) and not value.endswith(opened):
            return False, f"the end differs: the template ends with {expected[-len(opened):]!r} and nothing after it."
        for i, (a, b) in enumerate(zip(value, expected)):
            if a != b:
                return False, f"differs at character {i}: yours has {value[i:i + 20]!r}, the template {expected[i:i + 20]!r}."
        if value.startswith(expected):
            return False, f"yours goes on after the template's end: {value[len(expected):][:40]!r} is extra."
        return False, f"yours stops early: the template goes on with {expected[len(value):][:40]!r}."

    return check("check_manual_prompt", answer, verify,
                 "ChatML: '<|im_start|>role\\ncontent<|im_end|>\\n' per message, then '<|im_start|>assistant\\n'. "
                 "Does this template add a default system prompt?")


def check_stop_criterion(answer, tokenizer) -> CheckResult:
    """A StoppingCriteria that stops a row once its generated text ends with a full stop, row by row in a batch."""
    import torch

    def ids(text):
        return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"][0]

    def rows(*texts):  # a left-padded batch, as generate() sees it
        seqs = [ids(t) for t in texts]
        width, pad = max(len(s) for s in seqs), tokenizer.pad_token_id or 0
        return torch.stack([torch.cat([torch.full((width - len(s),), pad), s]) for s in seqs])

    def verify(criterion):
        prompt = "<|im_start|>user\nSay something. Anything<|im_end|>\n<|im_start|>assistant\n"
        scores = torch.zeros(1, 10)
        cases = [(prompt + "It is done.", True, "it did not stop on a sequence ending in '.'."),
                 (prompt + "It is done", False, "it stopped although the text does not end with '.' "
                                                 "(the '.' in the prompt does not count)."),
                 (prompt + "It is 3.5 km", False, "it stopped at a '.' inside the text (3.5); only a final '.' ends it.")]
        for text, stop, why in cases:
            if bool(torch.as_tensor(criterion(rows(text), scores)).all()) != stop:
                return False, why
        batch = rows(prompt + "Yes.", prompt + "It is done for now")
        got = torch.as_tensor(criterion(batch, torch.zeros(2, 10)))
        if got.shape != (2,):
            return False, f"for a batch of 2 rows it returned shape {tuple(got.shape)}: return one bool per row."
        if got.tolist() != [True, False]:
            return False, f"for rows ending '.' and not, it returned {got.tolist()}, expected [True, False]."
        return True, "stops a row after a final '.', keeps going otherwise, one answer per row."

    return check("check_stop_criterion", answer, verify,
                 "subclass transformers.StoppingCriteria; in __call__(input_ids, scores) decode the last tokens and "
                 "return a bool tensor of shape (batch,).")


def _strip_pads(text: str, pad: str | None) -> str:
    """Finished rows of a batch go on with pad tokens; they are not part of the answer."""
    while pad and text.endswith(pad):
        text = text[: -len(pad)]
    return text


def check_batch_matches(answer, model=None, tokenizer=None, prompts=None, max_new_tokens: int = 16) -> CheckResult:
    """(batched_texts, one_by_one_texts) for `prompts`: the check regenerates each prompt alone, greedily, with
    `max_new_tokens`, and both lists must equal those outputs (new tokens only, special tokens kept or skipped)."""

    def reference():
        import torch

        texts = []
        for prompt in prompts:
            inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
            new = out[0, inputs["input_ids"].shape[1]:]
            texts.append({_strip_pads(tokenizer.decode(new, skip_special_tokens=skip), tokenizer.pad_token)
                          for skip in (False, True)})
        return texts

    def verify(value):
        if model is None or tokenizer is None or not prompts:
            return False, "pass the model, tokenizer and prompts too: check_batch_matches(my_outputs, model, tokenizer, prompts)."
        if isinstance(prompts, str) or len(prompts) < 3:
            return False, "use three or more prompts."
        if len({len(tokenizer(p)["input_ids"]) for p in prompts}) < 2:
            return False, "all prompts have the same number of tokens, so nothing is padded: vary their lengths."
        batched, single = value
        if isinstance(batched, str) or isinstance(single, str):
            return False, "give two lists of texts: (batched_texts, one_by_one_texts)."
        if len(batched) != len(prompts) or len(single) != len(prompts):
            return False, f"give one output per prompt from each route ({len(prompts)} prompts)."
        want = reference()
        for name, texts in (("one-by-one", single), ("batched", batched)):
            wrong = [i for i, (t, w) in enumerate(zip(texts, want)) if _strip_pads(str(t), tokenizer.pad_token) not in w]
            if not wrong:
                continue
            i = wrong[0]
            if str(texts[i]).startswith(prompts[i][:20]):
                return False, f"{name} output {i} starts with the prompt: decode only the new tokens (out[:, prompt_length:])."
            mine = _strip_pads(str(texts[i]), tokenizer.pad_token)
            if any(w.startswith(mine) or mine.startswith(w) for w in want[i]):
                return False, (f"{name} output {i} has another length than greedy generation of {max_new_tokens} new "
                               f"tokens: generate with max_new_tokens={max_new_tokens}, or pass the value you used.")
            if name == "one-by-one":
                return False, (f"one-by-one outputs {wrong} are not what greedy generation gives for these prompts: "
                               "generate each prompt alone with do_sample=False (the checkpoint's default may sample).")
            return False, (f"batched outputs {wrong} differ from one-by-one greedy generation: "
                           "check padding_side='left', the attention mask and do_sample=False.")
        return True, (f"all {len(prompts)} batched outputs equal one-by-one greedy generation, "
                      "regenerated here for your prompts.")

    return check("check_batch_matches", answer, verify,
                 "tokenizer.padding_side = 'left'; tokenizer(prompts, padding=True, return_tensors='pt'); "
                 "generate(**batch, do_sample=False); decode only the new tokens.")


def check_tail_mass(answer, logits=None, untrained=None, temperature: float = 1.5) -> CheckResult:
    """The total probability of the rows whose logit is exactly 0 (`untrained`, a bool mask over the vocabulary) at
    `temperature`: n0 / (n0 + sum of exp(logit / T) over the other rows), from the next-token `logits` (1, vocab)."""

    def share(t: float) -> float:
        import torch

        return torch.softmax(logits[0].double() / t, dim=-1)[untrained].sum().item()

    def verify(value):
        if logits is None or untrained is None:
            return False, "pass the logits and the mask too: check_tail_mass(my_tail_mass, logits, untrained)."
        value, n0 = float(value), int(untrained.sum())
        if n0 == 0:
            return value == 0, ("this model has no never-trained rows (a real checkpoint): their probability is 0."
                                if value == 0 else "this model has no never-trained rows, so their probability is 0.")
        if not 0 <= value <= 1:
            return False, f"{value:g} is not a probability: a share of the total weight lies between 0 and 1."
        want = share(temperature)
        if close_to(value, want, rel=1e-3):
            return True, f"the {n0:,} never-trained rows hold {want:.1%} of the probability at temperature {temperature:g}."
        if close_to(value, share(1.0), rel=1e-3):
            return False, "that is the value at temperature 1: divide the logits by the temperature first."
        if close_to(value, n0 / untrained.numel(), rel=1e-3):
            return False, "that is the share of rows, not of probability: a row weighs exp(logit / T)."
        if close_to(value, 1 - want, rel=1e-3):
            return False, "that is the probability of the trained rows; the question asks for the never-trained ones."
        import torch

        trained_weight = torch.exp(logits[0].double()[~untrained] / temperature).sum().item()
        if close_to(value, 1 / (1 + trained_weight), rel=1e-3):
            return False, f"you counted the zero rows once: each of the {n0:,} rows adds exp(0 / T) = 1 to the weight."
        return False, f"{value:.4g} is not the never-trained rows' probability at temperature {temperature:g}."

    return check("check_tail_mass", answer, verify,
                 "every zero row weighs exp(0 / T) = 1 and a trained row exp(logit / T); a probability is a share of "
                 "the total weight.")
