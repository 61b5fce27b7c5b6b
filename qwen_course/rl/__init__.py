"""Reinforcement learning with verifiable rewards for lesson 10: arithmetic prompts with checkable answers (`tasks`),
rewards as plain functions in the shape TRL's GRPOTrainer calls them (`rewards`), measuring a run before and after
(`measure`) and sizing one for a GPU (`sizing`). The lesson writes the TRL / PEFT calls itself.
Importing this package does not import torch.
"""

from .measure import (
    Score, compare, complete, first_last, group_advantages, pass_rates, plot_reward_curve, reward_curve, score,
    side_by_side,
)
from .rewards import (
    REWARDS, Reply, correctness_reward, final_answer, format_reward, length_penalty, length_reward, number_reward,
    read, text_of,
)
from .sizing import grpo_memory
from .tasks import HELDOUT_SHARE, OPS, arithmetic_rows, is_heldout

__all__ = [
    "Score", "compare", "complete", "first_last", "group_advantages", "pass_rates", "plot_reward_curve",
    "reward_curve", "score", "side_by_side",
    "REWARDS", "Reply", "correctness_reward", "final_answer", "format_reward", "length_penalty", "length_reward",
    "number_reward", "read", "text_of",
    "grpo_memory",
    "HELDOUT_SHARE", "OPS", "arithmetic_rows", "is_heldout",
]  # fmt: skip
