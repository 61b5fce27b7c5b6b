"""The rl package: rewards on well-formed and malformed completions, the prompt splits, GRPO's advantages checked
against TRL's own formula, the reward curve from a trainer log, scoring with a real generate, and GRPO memory."""

from __future__ import annotations

import pytest

from qwen_course import rl
from qwen_course.rl import (
    correctness_reward, final_answer, format_reward, length_penalty, length_reward, number_reward, read,
)

THOUGHT = "<think>\nones: 2 - 5, borrow 1.\nSo 42 - 15 = 27.\n</think>\n\n42 - 15 = 27."


# reading a completion -------------------------------------------------------------------------------------------------

def test_read_splits_thinking_from_the_answer():
    r = read(THOUGHT)
    assert r.thinking.startswith("ones:") and r.answer == "42 - 15 = 27." and r.tags_ok
    assert read("42 - 15 = 27.") == rl.Reply(None, "42 - 15 = 27.", True)
    prefilled = read("ones first.\n</think>\n\n27")  # Qwen3.5's template opens the block in the prompt
    assert prefilled.thinking == "ones first." and prefilled.answer == "27" and prefilled.tags_ok


@pytest.mark.parametrize("text", [
    "<think>\nnever closed, 27",                      # an unclosed block
    "<think>a</think><think>b</think>27",             # two blocks
    "a </think> 27 </think> 28",                      # a second closing tag in the answer
    "<think>a</think> 27 <think>",                    # an opener after the block
])
def test_misplaced_tags_are_not_ok(text):
    assert not read(text).tags_ok


def test_an_unclosed_block_answers_nothing():
    assert read("<think>\n42 - 15 = 27.") == rl.Reply("42 - 15 = 27.", "", False)
    assert correctness_reward(completions=["<think>\n42 - 15 = 27."], answer=["27"]) == [0.0]


def test_conversational_completions_and_split_reasoning():
    message = [{"role": "assistant", "content": "42 - 15 = 27."}]
    assert read(message).answer == "42 - 15 = 27." and read(message).thinking is None
    split = {"role": "assistant", "content": "27", "reasoning_content": "borrow one"}
    assert read([split]) == rl.Reply("borrow one", "27", True)
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "2"}, {"type": "text", "text": "7"}]}]
    assert read(parts).answer == "27"
    with pytest.raises(TypeError):
        read(27)
    with pytest.raises(TypeError):
        read([])


@pytest.mark.parametrize("text, number", [
    ("42 - 15 = 27.", "27"), ("27", "27"), ("27.", "27"), ("so -3", None), ("7 - 10 = -3.", "-3"),
    ("\\boxed{1,234}", "1234"), ("first \\boxed{1} then \\boxed{2}", "2"), ("work\n\n42 + 1 = 43.", "43"),
    ("", None), ("   ", None), ("The answer is 27", None), ("27 apples", None), ("= ", None),
    ("42 - 15 = 27. 42 - 15 = 27.", None), ("1,000", "1000"),
])
def test_final_answer_reads_only_a_committed_number(text, number):
    assert final_answer(text) == number


# rewards ----------------------------------------------------------------------------------------------------------

def test_correctness_counts_the_visible_answer_only():
    completions = ["42 - 15 = 27.", "42 - 15 = 28.", "<think>\nSo it is 27.\n</think>\n\nno idea", THOUGHT, "",
                   "27 27 27", "<think>27"]
    assert correctness_reward(completions=completions, answer=["27"] * 7) == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert correctness_reward(completions=["-3"], answer=[-3]) == [1.0]  # a number column works too
    with pytest.raises(ValueError):
        correctness_reward(completions=["27"], answer=["27", "28"])


def test_format_follows_the_mode_each_prompt_was_rendered_in():
    plain, empty_block = "42 - 15 = 27.", "<think>\n\n</think>\n\n42 - 15 = 27."
    assert format_reward(completions=[plain, THOUGHT], thinking=[False, True]) == [1.0, 1.0]
    assert format_reward(completions=[THOUGHT, plain], thinking=[False, True]) == [0.0, 0.0]  # the wrong mode
    assert format_reward(completions=[empty_block], thinking=[True]) == [0.0]  # thinking asked, nothing thought
    assert format_reward(completions=["27 apples", "<think>\nx", ""], thinking=[False] * 3) == [0.0, 0.0, 0.0]
    assert format_reward(completions=[plain, THOUGHT]) == [1.0, 1.0]  # no column: either mode is fine
    assert format_reward(completions=[plain, plain], thinking=False) == [1.0, 1.0]  # one flag for all


def test_length_penalty_and_the_gameable_rewards():
    assert length_penalty(completions=["a", "b", "c"], completion_ids=[[1] * 10, [1] * 96, [1] * 500],
                          limit=64) == [0.0, -0.5, -1.0]
    assert length_penalty(completions=["x" * 400], limit=64) == [-min(1.0, (100 - 64) / 64)]  # characters / 4
    assert length_reward(completions=["a", "b"], completion_ids=[[1] * 8, [1] * 16]) == [0.25, 0.5]
    assert number_reward(completions=["no digits", "there are 2", ""]) == [0.0, 1.0, 0.0]
    assert set(rl.REWARDS) == {"correctness", "format", "length_penalty", "length", "any_number"}


def test_rewards_accept_what_grpo_trainer_passes():
    columns = {"prompts": [[{"role": "user", "content": "What is 42 - 15?"}]], "completion_ids": [[1, 2, 3]],
               "answer": ["27"], "thinking": [False], "key": ["-|42|15"], "trainer_state": None,
               "log_extra": None, "log_metric": None}
    completions = [[{"role": "assistant", "content": "42 - 15 = 27."}]]
    for reward in rl.REWARDS.values():
        assert len(reward(completions=completions, **columns)) == 1


# the prompt set ------------------------------------------------------------------------------------------------------

def test_training_and_heldout_prompts_are_disjoint_and_seeded():
    train = rl.arithmetic_rows("sub", 200, "train")
    held = rl.arithmetic_rows("sub", 40, "heldout")
    assert not {r["key"] for r in train} & {r["key"] for r in held}
    assert all(rl.is_heldout(r["key"]) for r in held) and not any(rl.is_heldout(r["key"]) for r in train)
    assert rl.arithmetic_rows("sub", 200, "train") == train
    for row in train + held:
        _, a, b = row["key"].split("|")
        assert int(a) >= int(b) >= 10 and int(row["answer"]) == int(a) - int(b) and int(a) < 100
        assert row["prompt"][0]["role"] == "user" and a in row["prompt"][0]["content"]


def test_comparisons_answer_the_larger_number():
    rows = rl.arithmetic_rows("compare", 30, "train")
    for row in rows:
        _, a, b = row["key"].split("|")
        assert row["key"].startswith("cmp|") and a != b and 100 <= int(a) <= 999 and row["answer"] == str(max(int(a), int(b)))
    assert correctness_reward(completions=[f"{rows[0]['answer']} is larger."], answer=[rows[0]["answer"]]) == [1.0]
    assert format_reward(completions=["468 is larger.", "468 is larger. 287"], thinking=[False, False]) == [1.0, 0.0]


def test_prompt_set_bad_inputs():
    with pytest.raises(ValueError):
        rl.arithmetic_rows("div")
    with pytest.raises(ValueError):
        rl.arithmetic_rows("add", split="test")
    with pytest.raises(ValueError, match="ask for fewer"):
        rl.arithmetic_rows("mul", 50, "heldout")  # products of small numbers: only a few keys are held out


# measuring -------------------------------------------------------------------------------------------------------------

def test_group_advantages_match_trl():
    import torch
    from trl.trainer.utils import nanstd

    rewards = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    grouped = torch.tensor(rewards).view(-1, 4)
    mean = grouped.mean(dim=1).repeat_interleave(4)
    std = nanstd(grouped, dim=1).repeat_interleave(4)
    expected = ((torch.tensor(rewards) - mean) / (std + 1e-4)).tolist()
    assert rl.group_advantages(rewards, 4) == pytest.approx(expected, abs=1e-6)
    assert rl.group_advantages(rewards, 4)[4:] == [0.0] * 4  # a group that agrees teaches nothing
    assert rl.group_advantages([1, 0], 2, scale=False) == [0.5, -0.5]
    with pytest.raises(ValueError):
        rl.group_advantages([1, 0, 1], 2)


def test_reward_curve_reads_the_trainer_log():
    log = [{"loss": 0.0, "reward": 1.0, "rewards/correctness_reward/mean": 0.25, "completions/mean_length": 9.5,
            "frac_reward_zero_std": 0.5, "step": 1},
           {"loss": 0.0, "reward": 1.5, "rewards/correctness_reward/mean": 0.5, "completions/mean_length": 9.0,
            "frac_reward_zero_std": 0.0, "step": 2},
           {"train_runtime": 3.0, "step": 2}]
    curves = rl.reward_curve(log)
    assert curves["reward"] == [(1, 1.0), (2, 1.5)] and curves["correctness_reward"] == [(1, 0.25), (2, 0.5)]
    assert curves["completion length"] == [(1, 9.5), (2, 9.0)] and curves["zero-std groups"][1] == (2, 0.0)
    assert rl.first_last(curves["reward"]) == (1.0, 1.5)
    with pytest.raises(ValueError):
        rl.first_last([])
    fig = rl.plot_reward_curve(log)
    assert fig.axes[0].get_xlabel() == "optimizer step"


def test_score_and_compare():
    s = rl.Score("before", ["42 - 15 = 27.", "42 - 15 = 26.", "garbage"], ["27", "27", "27"], [8, 8, 16],
                 [True, True, False], False, ["a", "b", "c"])
    assert s.accuracy == pytest.approx(1 / 3) and s.format_share == pytest.approx(2 / 3)
    assert s.mean_tokens == pytest.approx(32 / 3) and s.stop_share == pytest.approx(2 / 3)
    assert "33.3% (1/3)" in str(s)
    assert "before" in str(rl.compare(s, s)) and "right" in str(rl.side_by_side(s, s))


def test_score_generates_with_a_real_model_in_the_stated_mode():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qwen_course import offline

    path = offline.build("qwen3")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    rows = rl.arithmetic_rows("add", 3, "heldout")
    result = rl.score(model, tok, rows, thinking=False, label="random", max_new_tokens=5)
    assert len(result.completions) == 3 and all(0 < n <= 5 for n in result.tokens)
    assert tok.padding_side == "right" or tok.padding_side == "left"  # restored, whatever it was
    again = rl.score(model, tok, rows, thinking=False, label="random", max_new_tokens=5)
    assert again.completions == result.completions  # greedy: the same completions twice
    rates = rl.pass_rates(model, tok, rows, thinking=False, samples=2, max_new_tokens=3, temperature=1.0, top_k=0)
    assert rates == [0.0, 0.0, 0.0]  # random weights never write the answer line


# memory ------------------------------------------------------------------------------------------------------------------

def test_grpo_memory_parts():
    with_vllm = rl.grpo_memory("Qwen/Qwen3.5-4B", gpu_bytes=80e9)
    without = rl.grpo_memory("Qwen/Qwen3.5-4B", use_vllm=False)
    assert with_vllm.total_bytes == sum(with_vllm.parts.values()) > without.total_bytes
    assert any("vLLM" in k for k in with_vllm.parts) and not any("vLLM" in k for k in without.parts)
    big = rl.grpo_memory("Qwen/Qwen3.5-9B", use_vllm=False)
    assert big.total_bytes > without.total_bytes
    longer = rl.grpo_memory("Qwen/Qwen3.5-4B", use_vllm=False, completion_tokens=4096)
    assert longer.total_bytes > without.total_bytes


def test_the_split_agrees_with_the_trained_stand_ins_corpus():
    """Training never drew a held-out prompt of this lesson: the rule is the trained stand-in's own (when installed)."""
    corpus = pytest.importorskip("qwen_course.offline.trained.corpus")
    import random

    rng = random.Random(0)
    for op in "+-*":
        for _ in range(300):
            chat = corpus.arithmetic(rng, op, False)
            assert rl.is_heldout(chat.key) == corpus.heldout(chat), chat.key
    rows = rl.arithmetic_rows("sub", 60, "heldout")
    assert all(r["key"].split("|")[0] == "-" for r in rows)
