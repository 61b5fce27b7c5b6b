"""Lesson 11: evaluation with a standard harness (lm-evaluation-harness) on the course's own questions, and how to
read published Qwen benchmark tables.

`questions` (arithmetic and catalog facts, seeded: the one place the evaluated questions come from), `harness`
(lm-eval task files over a local JSONL, scores, chance, standard errors, a quiet context), `published` (rows of the
Qwen3 technical report and the Qwen3-Embedding tables, with their protocol). Importing it does not import lm_eval.
"""

from .harness import GEN, MC, chance, quiet, scores, standard_error, write_tasks
from .published import protocol, published, score_range, table
from .questions import FACTS, arithmetic, course_questions, facts, write_jsonl

__all__ = [
    "GEN", "MC", "chance", "quiet", "scores", "standard_error", "write_tasks",
    "protocol", "published", "score_range", "table",
    "FACTS", "arithmetic", "course_questions", "facts", "write_jsonl",
]  # fmt: skip
