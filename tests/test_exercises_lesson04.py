"""Lesson 04's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason."""


import pytest

from conftest import fails, folded_solutions, passes
from qwen_course import exercises, offline, thinking
from qwen_course.exercises import (
    check_budgets_below_off, check_history, check_math_sampling, check_prompt_endings, check_sentence_budget,
    check_server_request, check_soft_switch, check_split_by_hand,
)
from qwen_course.exercises import lesson04
from qwen_course.exercises.lesson04 import RAW_SAMPLE, SAMPLE_QUESTION


class PICK:
    """What the notebook's solutions use of the lesson's pick (Qwen3.5-0.8B on a CPU, as offline)."""

    model_id = "Qwen/Qwen3.5-0.8B"

    @staticmethod
    def generate_kwargs(mode):
        from qwen_course import catalog

        return {"do_sample": True, **{k: v for k, v in catalog.find(PICK.model_id).sampling(mode).items()
                                      if k != "presence_penalty"}}

    @staticmethod
    def sampling(mode):
        from qwen_course import catalog

        return catalog.find(PICK.model_id).sampling(mode)


@pytest.fixture(scope="module")
def tokenizer():
    return offline.load_tokenizer("qwen3")


# Section 8's measured values as a run could give them: budget -> accuracy, thinking off and on (all tasks).
SWEEP = {"budget_accuracy": {0: 0.1, 12: 0.05, 24: 0.3, 32: 0.25}, "off_accuracy": 0.2, "on_accuracy": 0.3}


@pytest.fixture(scope="module")
def solved(tokenizer):
    ns = {**vars(thinking), **vars(lesson04), **{k: getattr(exercises, k) for k in exercises.__all__},
          "ThinkingBudgetProcessor": thinking.ThinkingBudgetProcessor, "tokenizer": tokenizer, "p": PICK, "QUESTION": SAMPLE_QUESTION,
          **SWEEP}
    pairs = folded_solutions("04")
    assert [call.split("(")[0] for call, _ in pairs] == [
        "check_prompt_endings", "check_soft_switch", "check_split_by_hand", "check_math_sampling",
        "check_sentence_budget", "check_history", "check_server_request", "check_budgets_below_off"]
    results = []
    for call, code in pairs:
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
        results.append(eval(call, ns))  # noqa: S307 - the notebook's own check call
    return ns, results


def test_every_folded_solution_passes_its_notebook_call(solved):
    for result in solved[1]:
        passes(result)


def test_placeholders_are_not_answered_yet(tokenizer):
    for placeholder in (None, ...):
        for result in (check_prompt_endings(placeholder), check_soft_switch(placeholder),
                       check_split_by_hand(placeholder, placeholder), check_math_sampling(placeholder),
                       check_sentence_budget(placeholder, tokenizer), check_history(placeholder),
                       check_server_request(placeholder),
                       check_budgets_below_off(placeholder, SWEEP["budget_accuracy"], SWEEP["off_accuracy"])):
            assert result.passed is None and "not answered yet" in str(result)


def test_prompt_endings(solved):
    right = solved[0]["my_endings"]
    passes(check_prompt_endings(right))
    fails(check_prompt_endings({**right, "Qwen3-4B-Instruct-2507": "skipped"}), "never thinks")
    fails(check_prompt_endings({**right, "Qwen3-8B, enable_thinking=True": "open"}), "opens <think> itself")
    fails(check_prompt_endings({**right, "Qwen3.5-2B, default": "open"}), "2B and less")
    fails(check_prompt_endings({k: v for k, v in right.items() if "3.5" not in k}), "missing keys")
    fails(check_prompt_endings(list(right.values())), "expected a dict")


def test_soft_switch(solved):
    right = solved[0]["my_soft_switch"]
    passes(check_soft_switch(right))
    fails(check_soft_switch({k: True for k in right}), "you said True")  # the soft switch cannot undo the hard one
    fails(check_soft_switch({**right, "enable_thinking=True, turn 1 /no_think, turn 2 /think": False}), "1 wrong")
    fails(check_soft_switch({k: str(v) for k, v in right.items()}), "wrong")  # strings are not booleans


def test_split_by_hand(solved):
    thought, answer = thinking.split_thinking(RAW_SAMPLE)
    passes(check_split_by_hand(solved[0]["my_thinking"], solved[0]["my_answer"]))
    passes(check_split_by_hand(thought, answer))
    fails(check_split_by_hand("<think>\n" + thought, answer), "drop the <think>")
    fails(check_split_by_hand(answer, thought), "swapped")
    fails(check_split_by_hand(thought, RAW_SAMPLE.partition("</think>")[2]), "strip()")  # not stripped
    fails(check_split_by_hand(thought, answer + " Done."), "everything after the last </think>")
    fails(check_split_by_hand("", answer), "everything between <think> and the last </think>")
    fails(check_split_by_hand(thought, ["The average speed is 80 km/h."]), "both parts should be strings")
    assert check_split_by_hand(thought, None).passed is None  # half answered is not answered yet


def test_math_sampling():
    # Without a model: hybrid Qwen3's thinking preset (the thinking package's sampling()).
    passes(check_math_sampling(thinking.sampling("thinking", max_new_tokens=32768)))
    passes(check_math_sampling(dict(do_sample=True, temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=38912)))
    fails(check_math_sampling({"do_sample": False, "max_new_tokens": 32768}), "greedy")
    fails(check_math_sampling(thinking.sampling("non-thinking", max_new_tokens=32768)), "differ from Qwen's thinking")
    fails(check_math_sampling(thinking.sampling("thinking")), "leave room to think")  # no max_new_tokens
    fails(check_math_sampling(thinking.sampling("thinking", max_new_tokens=1024)), "leave room to think")
    fails(check_math_sampling({**thinking.sampling("thinking", max_new_tokens=32768), "min_p": 0.05}), "'min_p': 0.05")
    fails(check_math_sampling([("temperature", 0.6)]), "dict of generate()")


def test_math_sampling_follows_the_picked_model():
    """The notebook passes p.model_id: a Qwen3.5 pick has its own thinking preset (temperature 1.0) and longer room."""
    qwen35, qwen3 = "Qwen/Qwen3.5-0.8B", "Qwen/Qwen3-8B"
    right = {"do_sample": True, "temperature": 1.0, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "repetition_penalty": 1.0}
    passes(check_math_sampling({**right, "max_new_tokens": 32768}, qwen35))
    passes(check_math_sampling({**right, "max_new_tokens": 81920}, qwen35))
    fails(check_math_sampling({**right, "max_new_tokens": 81920}, qwen3), "differ")  # Qwen3 thinks at 0.6
    fails(check_math_sampling(thinking.sampling("thinking", max_new_tokens=32768), qwen35), "differ")  # Qwen3's values
    fails(check_math_sampling({**right, "presence_penalty": 1.5, "max_new_tokens": 32768}, qwen35), "server")
    fails(check_math_sampling({**right, "max_new_tokens": 100000}, qwen35), "81,920")
    passes(check_math_sampling(thinking.sampling("thinking", max_new_tokens=38912), qwen3))
    fails(check_math_sampling({**right, "max_new_tokens": 32768}, "Qwen/Qwen9-1B"), "not in the course catalog")


def test_sentence_budget(solved, tokenizer):
    right = solved[0]["SentenceBudget"]
    passes(check_sentence_budget(right, tokenizer))
    base = thinking.ThinkingBudgetProcessor

    class AtBudget(base):  # the plain budget: cuts mid-sentence
        def __init__(self, tokenizer, budget, slack=32):
            super().__init__(tokenizer, budget)
            self.slack = slack

    class NoCap(AtBudget):  # waits for a sentence end however long it takes
        def should_close(self, block):
            return len(block) >= self.budget and self.tokenizer.decode(block[-1:]).strip().endswith((".", "!", "?"))

    class OnlyCap(AtBudget):  # ignores sentence ends
        def should_close(self, block):
            return len(block) >= self.budget + self.slack

    fails(check_sentence_budget(AtBudget, tokenizer), "expected")
    fails(check_sentence_budget(NoCap, tokenizer), "budget=4, slack=2")
    fails(check_sentence_budget(OnlyCap, tokenizer), "budget=4, slack=32")
    fails(check_sentence_budget(right(tokenizer, 4), tokenizer), "pass the class itself")
    fails(check_sentence_budget(right), "pass the tokenizer too")


def test_history(solved):
    right = solved[0]["my_history"]
    passes(check_history(right))
    raw = [right[0], {"role": "assistant", "content": RAW_SAMPLE}, right[2]]
    fails(check_history(raw), "still carries the reasoning")
    thought = [right[0], {"role": "assistant", "content": thinking.split_thinking(RAW_SAMPLE)[0]}, right[2]]
    fails(check_history(thought), "final answer")
    fails(check_history(right[:2]), "three messages")
    fails(check_history([right[0], right[1], {"role": "user", "content": "And 200 km?"}]), "exactly")
    fails(check_history([right[0], {**right[1], "role": "system"}, right[2]]), "user, assistant, user")


def test_server_request(solved):
    right = solved[0]["my_request"]
    passes(check_server_request(right))
    body = right["extra_body"]
    fails(check_server_request({**right, "extra_body": {"top_k": 20}, "enable_thinking": False}),
          "chat_template_kwargs")
    fails(check_server_request({**right, "extra_body": {**body, "chat_template_kwargs": {"enable_thinking": "false"}}}),
          "chat_template_kwargs")
    fails(check_server_request({**right, "temperature": 0.6, "top_p": 0.95}), "non-thinking sampling")
    fails(check_server_request({**right, "top_k": 20, "extra_body": {"chat_template_kwargs": body["chat_template_kwargs"]}}),
          "no top_k")
    fails(check_server_request({"messages": right["messages"]}), "at least model, messages")


def test_budgets_below_off(solved):
    right = solved[0]["my_budgets"]
    accuracy, off, on = SWEEP["budget_accuracy"], SWEEP["off_accuracy"], SWEEP["on_accuracy"]
    assert sorted(right) == [0, 12]
    passes(check_budgets_below_off(right, accuracy, off, on))
    passes(check_budgets_below_off((12, 0), accuracy, off, on))  # any order, any sequence
    fails(check_budgets_below_off([0, 12, 32], accuracy, off, on), "below thinking ON")  # compared with thinking on
    fails(check_budgets_below_off([0, 12, 32], accuracy, off), "misplaced")  # without on, just wrong
    fails(check_budgets_below_off([0], accuracy, off, on), "budget 12: accuracy 5% vs thinking off 20%")
    fails(check_budgets_below_off([0, 12, 32], {**accuracy, 32: 0.2}, off), "same accuracy")  # <= instead of <
    fails(check_budgets_below_off([16], accuracy, off, on), "not a budget of the sweep")
    fails(check_budgets_below_off("0, 12", accuracy, off, on), "list of budgets")
    passes(check_budgets_below_off([], {0: 0.3, 12: 0.4}, 0.2))  # no budget below: the empty list is the answer
    fails(check_budgets_below_off([0], {0: 0.3, 12: 0.4}, 0.2), "misplaced")


def test_every_check_of_the_lesson_has_its_own_test():
    from pathlib import Path

    from qwen_course.exercises import lesson04 as lesson

    source = Path(__file__).read_text()
    checks = [n for n in dir(lesson) if n.startswith("check_") and getattr(lesson, n).__module__ == lesson.__name__]
    assert checks and all(f"def test_{name[6:]}" in source for name in checks)
