"""Checks for notebook 10 (reinforcement learning with verifiable rewards): a correctness reward that survives
malformed completions, GRPO's group-relative advantages, and how many prompts one optimizer step sees."""

from __future__ import annotations

import math

from ..rl import group_advantages
from ._check import CheckResult, check, number_verify

# (completion, reference, reward a correct checker gives, what a checker that gets it wrong missed)
REWARD_CASES = [
    ("42 - 15 = 27.", "27", 1.0, "a right answer in the stand-in's format"),
    ("42 - 15 = 28.", "27", 0.0, "a wrong answer"),
    ("127", "27", 0.0, "127 is not 27: compare the parsed number, not a substring"),
    ("<think>\n42 - 15 = 27.\n</think>\n\nI am not sure.", "27", 0.0,
     "the right number only inside the thinking: the visible answer commits to nothing"),
    ("<think>\nborrow one\n</think>\n\n42 - 15 = 27.", "27", 1.0, "a right answer after a think block"),
    ("", "27", 0.0, "an empty completion"),
    ("<think>\n42 - 15 = 27.", "27", 0.0, "a think block that never closes (cut off by max_completion_length)"),
    ("The answer is twenty-seven", "27", 0.0, "no number at all"),
    ("7 - 10 = -3.", "-3", 1.0, "a negative answer"),
]


def _reward_function(fn):
    if not callable(fn):
        raise TypeError("pass a function my_reward(completions, answer, **kwargs) -> list of floats")
    completions = [c for c, _, _, _ in REWARD_CASES]
    answers = [a for _, a, _, _ in REWARD_CASES]
    try:
        got = fn(completions=completions, answer=answers, prompts=[None] * len(completions),
                 completion_ids=[[0]] * len(completions), thinking=[None] * len(completions))
    except Exception as exc:  # a malformed completion must score 0, not stop training
        return False, (f"it raised {type(exc).__name__}: {exc}. GRPOTrainer calls it on every sampled completion, "
                       "malformed ones included: return 0.0 for those instead")
    got = list(got)
    if len(got) != len(REWARD_CASES):
        return False, f"it returned {len(got)} rewards for {len(REWARD_CASES)} completions: one float per completion"
    for (text, ref, want, what), value in zip(REWARD_CASES, got):
        if not isinstance(value, (int, float)):
            return False, f"reward {value!r} for {text!r} is not a number"
        if float(value) != want:
            return False, f"{text!r} (reference {ref}) scored {float(value)}, expected {want}: {what}."
    return True, f"all {len(REWARD_CASES)} cases right, malformed completions included."


def check_reward_function(fn) -> CheckResult:
    """Easy: an exact-answer reward in GRPOTrainer's calling shape that scores malformed completions 0."""
    return check("a verifiable correctness reward", fn, _reward_function,
                 "rl.read(c).answer is the visible answer; rl.final_answer(...) its committed number (None when "
                 "malformed); compare that with str(reference) and return 1.0 or 0.0 for each pair.")


# (rewards, group size) cases: a mixed group, a group that agrees, uneven values, two groups
ADVANTAGE_CASES = [([1.0, 0.0, 0.0, 0.0], 4), ([1.0, 1.0, 1.0, 1.0], 4), ([2.0, 0.5, 1.0, 0.0], 4),
                   ([1.0, 0.0, 1.0, 1.0, 0.0, 0.0], 3)]


def reference_advantages(rewards, group_size):
    """TRL's scale_rewards="group": rl.group_advantages, which a test checks against TRL's formula."""
    return group_advantages(rewards, group_size)


def _wrong_ways(rewards, group_size):
    """What typical slips compute, each with what went wrong."""
    def per_group(f):
        out = []
        for start in range(0, len(rewards), group_size):
            out += f(rewards[start:start + group_size])
        return out

    def population(group):
        mean = sum(group) / len(group)
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / len(group))
        return [(r - mean) / (std + 1e-4) for r in group]

    mean_all = sum(rewards) / len(rewards)
    std_all = math.sqrt(sum((r - mean_all) ** 2 for r in rewards) / (len(rewards) - 1))
    return [
        (per_group(lambda g: [r - sum(g) / len(g) for r in g]),
         "centred but not divided by the group's standard deviation (that is scale_rewards='none')"),
        (per_group(population), "divided by the population standard deviation; TRL uses Bessel's correction (n - 1)"),
        ([(r - mean_all) / (std_all + 1e-4) for r in rewards],
         "normalised over the whole batch; GRPO compares each completion with the other completions of its own prompt"),
        (list(rewards), "these are the rewards themselves; the advantage is a reward relative to its group"),
    ]


def _advantages(fn):
    if not callable(fn):
        raise TypeError("pass a function advantages(rewards, group_size) -> list of floats")
    for rewards, size in ADVANTAGE_CASES:
        got = [float(v) for v in fn(list(rewards), size)]
        want = reference_advantages(rewards, size)
        if len(got) == len(want) and all(abs(g - w) < 1e-3 for g, w in zip(got, want)):
            continue
        for wrong, why in _wrong_ways(rewards, size):
            if len(got) == len(wrong) and all(abs(g - w) < 1e-3 for g, w in zip(got, wrong)):
                return False, f"for rewards {rewards} in groups of {size}: {why}."
        if any(math.isnan(g) or math.isinf(g) for g in got):
            return False, (f"for rewards {rewards} in groups of {size} you got {got}: a group whose rewards are all "
                           "equal has standard deviation 0; TRL adds 1e-4 before dividing, so its advantages are 0")
        return False, f"for rewards {rewards} in groups of {size}: got {[round(g, 3) for g in got]}, " \
                      f"expected {[round(w, 3) for w in want]}"
    return True, "the same advantages as TRL's GRPOTrainer (scale_rewards='group')."


def check_group_advantages(fn) -> CheckResult:
    """Medium: GRPO's advantage, each reward against the mean and spread of its own group."""
    return check("group-relative advantages", fn, _advantages,
                 "for each consecutive group of group_size rewards: (r - mean) / (std + 1e-4), std with n - 1.")


BATCH = {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 4, "num_generations": 8, "gpus": 2}


def check_prompts_per_step(value) -> CheckResult:
    """Stretch: distinct prompts in one optimizer step of a GRPO run on several GPUs."""
    b = BATCH
    completions = b["per_device_train_batch_size"] * b["gradient_accumulation_steps"] * b["gpus"]
    expected = completions / b["num_generations"]
    mistakes = [(b["per_device_train_batch_size"] * b["gradient_accumulation_steps"] / b["num_generations"],
                 "that is one GPU's share: every process samples its own part of the batch"),
                (b["per_device_train_batch_size"] * b["gpus"] / b["num_generations"],
                 "gradient accumulation counts too: one optimizer step sums 4 micro-batches"),
                (completions, "that counts completions; each prompt is sampled num_generations times"),
                (completions * b["num_generations"], "divide by num_generations, don't multiply")]
    return check("prompts per optimizer step", value,
                 number_verify(expected, "{:.0f} prompts", f"{completions} completions in groups of "
                               f"{b['num_generations']}.", mistakes, rel=0.001),
                 "completions per step = per_device_train_batch_size x gradient_accumulation_steps x GPUs; "
                 "each prompt contributes num_generations of them.")
