"""Published Qwen numbers with the protocol that produced them (data/evaluation/published.json), and how much a
score measured on n questions can move by chance."""

from __future__ import annotations

from .._paths import load_json
from .harness import standard_error


def published() -> dict:
    """The rows, the retrieval rows, the protocol notes and their sources."""
    return load_json("evaluation/published.json")


def table(kind: str = "rows"):
    """A DataFrame of the published rows ("rows": Qwen3 LLM tables, "retrieval": Qwen3-Embedding/Reranker)."""
    import pandas as pd

    return pd.DataFrame(published()[kind])


def protocol():
    """The conditions behind the numbers, as a DataFrame (what, how, source)."""
    import pandas as pd

    return pd.DataFrame(published()["protocol"])


def score_range(score_percent: float, questions: int, z: float = 1.96) -> tuple[float, float]:
    """A 95% interval (by default) around a score in percent measured on `questions` independent questions."""
    half = z * 100 * standard_error(score_percent / 100, questions)
    return max(0.0, score_percent - half), min(100.0, score_percent + half)
