"""Lesson 02's checks on the tiny offline Qwen3 stand-in: the notebook's folded solutions pass, typical wrong answers
fail with their reason, and the batch check regenerates the answers instead of trusting two equal lists."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria

from conftest import fails, folded_solutions, passes
from qwen_course import offline
from qwen_course.exercises import check_batch_matches, check_manual_prompt, check_stop_criterion, check_tail_mass

MAX_NEW_TOKENS = 8
QUESTIONS = ["Name a prime number.", "What colour is the sky on a clear day?", "Translate 'thank you' into Danish, please."]
MESSAGES = [{"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": "What is the capital of Denmark?"}]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(offline.build("qwen3"))


@pytest.fixture(scope="module")
def model():
    return AutoModelForCausalLM.from_pretrained(offline.build("qwen3"), dtype=torch.float32)


@pytest.fixture(scope="module")
def solutions():
    pairs = folded_solutions("02")
    assert [call.split("(")[0] for call, _ in pairs] == ["check_manual_prompt", "check_tail_mass", "check_stop_criterion",
                                                        "check_batch_matches"]
    return pairs


def run(code, **ns):
    exec(code, ns)  # noqa: S102 - the notebook's own solution text
    return ns


def test_placeholders_are_not_answered_yet(tokenizer, model):
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True,
                                             enable_thinking=False) for q in QUESTIONS]
    for placeholder in (None, ...):
        for result in (check_manual_prompt(placeholder, tokenizer, MESSAGES), check_stop_criterion(placeholder, tokenizer),
                       check_batch_matches(placeholder, model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS)):
            assert result.passed is None and "not answered yet" in str(result)


def test_manual_prompt(tokenizer, solutions):
    """The notebook asks for the prompt with thinking off (enable_thinking=False): the empty think block is part of it."""
    right = run(solutions[0][1], messages=MESSAGES)["my_prompt"]
    empty = "<think>\n\n</think>\n\n"
    assert right.endswith("<|im_start|>assistant\n" + empty)
    passes(check_manual_prompt(right, tokenizer, MESSAGES, enable_thinking=False))
    opened_only = right.removesuffix(empty)
    fails(check_manual_prompt(opened_only, tokenizer, MESSAGES, enable_thinking=False), "prefills the empty think block")
    fails(check_manual_prompt(opened_only.removesuffix("<|im_start|>assistant\n"), tokenizer, MESSAGES,
                              enable_thinking=False), "not opened")
    fails(check_manual_prompt(right.replace("<|im_end|>\n", "<|im_end|>"), tokenizer, MESSAGES, enable_thinking=False),
          "differs at character")
    qwen25 = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    no_system = [MESSAGES[1]]
    fails(check_manual_prompt(qwen25 + run(solutions[0][1], messages=no_system)["my_prompt"], tokenizer, no_system,
                              enable_thinking=False), "no default system prompt")  # Qwen3 adds none
    fails(check_manual_prompt(tokenizer(right)["input_ids"], tokenizer, MESSAGES, enable_thinking=False), "one string")
    # With the template's default (Qwen3: the model decides), the prompt stops at the opened assistant turn.
    passes(check_manual_prompt(opened_only, tokenizer, MESSAGES))
    fails(check_manual_prompt(right, tokenizer, MESSAGES), "the end differs")


def tail_logits(trained_rows: int = 40, vocab: int = 1000):
    """Next-token logits like the trained stand-in's: a few trained rows with real logits, all others exactly 0."""
    logits = torch.zeros(1, vocab)
    logits[0, :trained_rows] = torch.linspace(-3.0, 12.0, trained_rows)
    return logits, logits[0] == 0


def test_tail_mass(solutions):
    logits, untrained = tail_logits()
    right = run(solutions[1][1], logits=logits, untrained=untrained, torch=torch)["my_tail_mass"]
    want = torch.softmax(logits[0] / 1.5, dim=-1)[untrained].sum().item()
    assert right == pytest.approx(want, rel=1e-5) and 0 < right < 1
    passes(check_tail_mass(right, logits, untrained, temperature=1.5))
    assert "960 never-trained rows" in str(check_tail_mass(right, logits, untrained))
    at_one = torch.softmax(logits[0], dim=-1)[untrained].sum().item()
    fails(check_tail_mass(at_one, logits, untrained), "value at temperature 1")  # forgot the temperature
    fails(check_tail_mass(960 / 1000, logits, untrained), "share of rows, not of probability")
    fails(check_tail_mass(1 - right, logits, untrained), "probability of the trained rows")
    once = 1 / (1 + torch.exp(logits[0, ~untrained] / 1.5).sum().item())  # one exp(0) instead of n0 of them
    fails(check_tail_mass(once, logits, untrained), "counted the zero rows once")
    fails(check_tail_mass(right * 2, logits, untrained), "is not the never-trained rows' probability")
    fails(check_tail_mass(1.5, logits, untrained), "not a probability")
    fails(check_tail_mass(right), "pass the logits and the mask")
    fails(check_tail_mass("a lot", logits, untrained), "could not check")
    assert check_tail_mass(None, logits, untrained).passed is None
    # a real checkpoint has no never-trained rows: the solution gives 0, which is right
    real = torch.linspace(-3.0, 12.0, 1000).unsqueeze(0)
    none = torch.zeros(1000, dtype=torch.bool)
    passes(check_tail_mass(run(solutions[1][1], logits=real, untrained=none, torch=torch)["my_tail_mass"], real, none))
    fails(check_tail_mass(0.2, real, none), "no never-trained rows")


class Always(StoppingCriteria):
    def __init__(self, value):
        self.value = value

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.value)


def test_stop_criterion(tokenizer, solutions):
    right = run(solutions[2][1], tokenizer=tokenizer, torch=torch, StoppingCriteria=StoppingCriteria)["my_stop"]
    passes(check_stop_criterion(right, tokenizer))
    fails(check_stop_criterion(Always(True), tokenizer), "does not end with '.'")
    fails(check_stop_criterion(Always(False), tokenizer), "did not stop")

    class AnyDot(StoppingCriteria):  # a '.' anywhere in the generated text is not the end of a sentence
        def __call__(self, input_ids, scores, **kwargs):
            tails = tokenizer.batch_decode(input_ids[:, -4:])
            return torch.tensor(["." in t for t in tails])

    fails(check_stop_criterion(AnyDot(), tokenizer), "3.5")

    class FirstRowOnly(StoppingCriteria):  # one answer for the whole batch
        def __call__(self, input_ids, scores, **kwargs):
            return tokenizer.decode(input_ids[0, -3:]).rstrip().endswith(".")

    fails(check_stop_criterion(FirstRowOnly(), tokenizer), "one bool per row")
    fails(check_stop_criterion(lambda ids: True, tokenizer), "could not check")


@pytest.fixture(scope="module")
def outputs(model, tokenizer):
    """The batching cell of the notebook, with MAX_NEW_TOKENS new tokens: one-by-one, left- and right-padded batches."""
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True,
                                             enable_thinking=False) for q in QUESTIONS]

    def alone(p):
        inputs = tokenizer(p, return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=False)

    def batched(side):
        tokenizer.padding_side = side
        try:
            batch = tokenizer(prompts, padding=True, return_tensors="pt")
            out = model.generate(**batch, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        finally:
            tokenizer.padding_side = "right"
        return tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=False)

    torch.manual_seed(0)
    sampled = [tokenizer.decode(model.generate(**tokenizer(p, return_tensors="pt"), max_new_tokens=MAX_NEW_TOKENS,
                                               do_sample=True)[0, len(tokenizer(p)["input_ids"]):]) for p in prompts]
    return {"prompts": prompts, "one_by_one": [alone(p) for p in prompts], "left": batched("left"),
            "right": batched("right"), "sampled": sampled}


def test_batch_matches(model, tokenizer, outputs, solutions):
    prompts, one = outputs["prompts"], outputs["one_by_one"]

    def checked(answer, **kwargs):
        return check_batch_matches(answer, model, tokenizer, prompts, **{"max_new_tokens": MAX_NEW_TOKENS, **kwargs})

    right = run(solutions[3][1], batched=outputs["left"], one_by_one=one)["my_outputs"]
    passes(checked(right))
    passes(checked(([t.replace("<|endoftext|>", "") for t in outputs["left"]], one)))  # skip_special_tokens is fine
    assert outputs["right"] != one  # the tiny model shows what right padding does
    fails(checked((outputs["right"], one)), "padding_side='left'")
    # Two equal lists used to pass whatever they held; the check now regenerates the answers itself.
    fails(checked((["a", "b", "c"], ["a", "b", "c"])), "not what greedy generation gives")
    fails(checked((outputs["sampled"], outputs["sampled"])), "do_sample=False")
    fails(checked((outputs["left"], one), max_new_tokens=MAX_NEW_TOKENS + 4), "max_new_tokens=12")
    fails(checked(([p + t for p, t in zip(prompts, one)], [p + t for p, t in zip(prompts, one)])), "only the new tokens")
    fails(checked((outputs["left"][:2], one[:2])), "one output per prompt")
    fails(check_batch_matches((one, one), model, tokenizer, prompts[:2]), "three or more prompts")
    fails(check_batch_matches((one, one), model, tokenizer, [prompts[0]] * 3), "nothing is padded")
    fails(check_batch_matches((one, one)), "pass the model, tokenizer and prompts")
    fails(checked(one), "could not check")


def test_every_check_of_the_lesson_has_its_own_test():
    from pathlib import Path

    from qwen_course.exercises import lesson02 as lesson

    source = Path(__file__).read_text()
    checks = [n for n in dir(lesson) if n.startswith("check_") and getattr(lesson, n).__module__ == lesson.__name__]
    assert checks and all(f"def test_{name[6:]}" in source for name in checks)
