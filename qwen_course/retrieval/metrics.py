"""Retrieval quality on questions with known sources: recall@k, MRR, and what a random ranking scores (chance).

A question's relevant chunks are those from its source whose text contains its key phrase, so the set survives
re-chunking and edits elsewhere in the notebook. recall@k is the share of questions with a relevant chunk in the first
k; MRR is the mean of 1 / (rank of the first relevant chunk), 0 when none is ranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

from .._paths import load_json
from .corpus import Chunk

KS = (1, 5, 10)


@dataclass(frozen=True)
class Question:
    """A hand-written question about the course, where its answer is (file and a phrase that the passage contains)."""

    id: str
    text: str
    source: str
    phrase: str
    answer: str = ""

    def relevant(self, chunks: list[Chunk]) -> set[int]:
        """Indices of the chunks that answer it."""
        phrase = self.phrase.lower()
        return {i for i, c in enumerate(chunks) if c.source == self.source and phrase in c.text.lower()}


def load_questions(name: str = "retrieval/questions.json") -> list[Question]:
    """The course's retrieval questions (a data file: each with its source and key phrase)."""
    return [Question(**q) for q in load_json(name)["questions"]]


def first_hit(ranking: list[int], relevant: set[int]) -> int | None:
    """1-based rank of the first relevant index in `ranking`, None when there is none."""
    return next((r for r, i in enumerate(ranking, 1) if i in relevant), None)


@dataclass
class RetrievalScore:
    """recall@k per k and MRR of one method over a question set."""

    method: str
    n: int
    recall: dict[int, float]
    mrr: float

    def row(self) -> dict:
        return {"method": self.method, "questions": self.n,
                **{f"recall@{k}": round(v, 3) for k, v in self.recall.items()}, "MRR": round(self.mrr, 3)}


def evaluate(rankings: list[list[int]], questions: list[Question], chunks: list[Chunk], method: str = "",
             ks=KS) -> RetrievalScore:
    """Score one ranking per question (chunk indices, best first)."""
    if len(rankings) != len(questions):
        raise ValueError(f"{len(rankings)} rankings for {len(questions)} questions")
    hits = []
    for ranking, q in zip(rankings, questions):
        relevant = q.relevant(chunks)
        if not relevant:
            raise ValueError(f"question {q.id!r}: no chunk of {q.source} contains {q.phrase!r}")
        hits.append(first_hit(ranking, relevant))
    n = len(hits)
    recall = {k: sum(h is not None and h <= k for h in hits) / n for k in ks}
    return RetrievalScore(method, n, recall, sum(1 / h for h in hits if h) / n)


def chance(questions: list[Question], chunks: list[Chunk], ks=KS) -> RetrievalScore:
    """What a uniformly random ranking scores on average, computed exactly (hypergeometric), not sampled."""
    size, recall, mrr = len(chunks), {k: 0.0 for k in ks}, 0.0
    for q in questions:
        r = len(q.relevant(chunks))
        for k in ks:
            recall[k] += 1 - comb(size - r, k) / comb(size, k)
        # P(first relevant at rank j) = C(N - j, r - 1) / C(N, r)
        mrr += sum(comb(size - j, r - 1) / comb(size, r) / j for j in range(1, size - r + 2))
    n = len(questions)
    return RetrievalScore("random ranking (chance)", n, {k: v / n for k, v in recall.items()}, mrr / n)


def table(scores: list[RetrievalScore]):
    """The scores as a pandas DataFrame, one row per method."""
    import pandas as pd

    return pd.DataFrame([s.row() for s in scores]).set_index("method")
