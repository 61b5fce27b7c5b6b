"""Lesson 10's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason, and a
placeholder is reported as not answered."""

import math

import pytest

from conftest import fails, folded_solutions, passes
from qwen_course import rl
from qwen_course.exercises import check_group_advantages, check_prompts_per_step, check_reward_function


def test_every_folded_solution_passes_its_notebook_call():
    calls = {"check_reward_function": "my_reward", "check_group_advantages": "advantages",
             "check_prompts_per_step": "prompts_per_step"}
    pairs = folded_solutions("10")
    assert [call.split("(")[0] for call, _ in pairs] == list(calls)
    ns = {"rl": rl, "check_reward_function": check_reward_function, "check_group_advantages": check_group_advantages,
          "check_prompts_per_step": check_prompts_per_step}
    for call, code in pairs:
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
        passes(eval(call, {**globals(), **ns}))  # noqa: S307 - the notebook's check call


@pytest.mark.parametrize("check", [check_reward_function, check_group_advantages, check_prompts_per_step])
def test_placeholders_are_not_answered_yet(check):
    assert check(None).passed is None


def test_reward_function():
    passes(check_reward_function(rl.correctness_reward))
    passes(check_reward_function(lambda completions, answer, **kw: [
        float(rl.final_answer(rl.read(c).answer) == str(a)) for c, a in zip(completions, answer)]))
    fails(check_reward_function(lambda completions, answer, **kw: [float(str(a) in c) for c, a in
                                                                    zip(completions, answer)]), "substring")
    fails(check_reward_function(lambda completions, answer, **kw: [
        float(rl.final_answer(c.split("</think>")[0].replace("<think>", "").strip()) == a) if "</think>" in c
        else float(rl.final_answer(c) == a) for c, a in zip(completions, answer)]), "expected")
    fails(check_reward_function(lambda completions, answer, **kw: [
        float(int(c.split("=")[-1].strip(" .")) == int(a)) for c, a in zip(completions, answer)]), "raised")
    fails(check_reward_function(lambda completions, answer, **kw: [1.0]), "one float per completion")
    fails(check_reward_function(lambda completions, answer, **kw: [
        float(str(a) in c.split("</think>")[0]) for c, a in zip(completions, answer)]), "expected")
    fails(check_reward_function("correct"), "could not check")


def test_group_advantages():
    passes(check_group_advantages(rl.group_advantages))

    def centred(rewards, size):
        out = []
        for s in range(0, len(rewards), size):
            g = rewards[s:s + size]
            out += [r - sum(g) / len(g) for r in g]
        return out

    def population(rewards, size):
        out = []
        for s in range(0, len(rewards), size):
            g = rewards[s:s + size]
            m = sum(g) / len(g)
            sd = math.sqrt(sum((r - m) ** 2 for r in g) / len(g))
            out += [(r - m) / (sd + 1e-4) for r in g]
        return out

    def batch(rewards, size):
        m = sum(rewards) / len(rewards)
        sd = math.sqrt(sum((r - m) ** 2 for r in rewards) / (len(rewards) - 1))
        return [(r - m) / (sd + 1e-4) for r in rewards]

    def no_epsilon(rewards, size):
        out = []
        for s in range(0, len(rewards), size):
            g = rewards[s:s + size]
            m = sum(g) / len(g)
            sd = math.sqrt(sum((r - m) ** 2 for r in g) / (len(g) - 1))
            out += [(r - m) / sd if sd else float("nan") for r in g]
        return out

    fails(check_group_advantages(centred), "scale_rewards='none'")
    fails(check_group_advantages(population), "Bessel")
    fails(check_group_advantages(batch), "whole batch")
    fails(check_group_advantages(lambda r, s: list(r)), "rewards themselves")
    fails(check_group_advantages(no_epsilon), "1e-4")
    fails(check_group_advantages(42), "could not check")


def test_prompts_per_step():
    passes(check_prompts_per_step(8))
    fails(check_prompts_per_step(4), "one GPU's share")
    fails(check_prompts_per_step(2), "gradient accumulation")
    fails(check_prompts_per_step(64), "counts completions")
    fails(check_prompts_per_step(512), "don't multiply")
    fails(check_prompts_per_step(7), "off by")
