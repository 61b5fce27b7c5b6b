"""Checks for notebook 11 (embeddings, reranking, RAG and evaluation): a query as Qwen3-Embedding reads it, the
reranker's yes-probability, MRR by hand, reciprocal rank fusion, and the uncertainty of a published score."""

from __future__ import annotations

import math

from ._check import CheckResult, check, number_verify

QUERY = "How do I merge a LoRA adapter into the base model?"
FIRST_HITS = [1, 3, None, 2, 10]  # rank of the first relevant chunk per question (None: not retrieved)
AIME = {"model": "Qwen3-1.7B", "mode": "thinking", "score": 48.3, "questions": 30, "samples": 64}


def _query_text(task: str):
    from ..retrieval import query_text

    expected = query_text(QUERY, task)

    def verify(text):
        if not isinstance(text, str):
            raise TypeError(f"expected a string, got {type(text).__name__}")
        if text == expected:
            return True, "exactly the text the model card's get_detailed_instruct builds."
        if text.strip() == QUERY:
            return False, "that is the bare query: Qwen3-Embedding expects the instruction in front of a query."
        if not text.startswith("Instruct: "):
            return False, "the text starts with 'Instruct: ' and the task description."
        if task not in text:
            return False, "use the course's task description, COURSE_TASK, as the instruction."
        if text == expected.replace("\nQuery:", "\nQuery: "):
            return False, "no space after 'Query:' in the model card's format: f'Instruct: {task}\\nQuery:{query}'."
        if "\nQuery:" not in text:
            return False, "the instruction and the query are separated by a new line and 'Query:'."
        return False, f"close: compare with the card's format character by character; expected {expected!r}."

    return verify


def check_query_text(text, task: str | None = None) -> CheckResult:
    """Easy: the exact text Qwen3-Embedding embeds for QUERY with the course's instruction."""
    from ..retrieval import COURSE_TASK

    return check("a query as Qwen3-Embedding reads it", text, _query_text(task or COURSE_TASK),
                 "f'Instruct: {task}\\nQuery:{query}' (the model card's get_detailed_instruct); documents get nothing.")


# (yes logit, no logit) pairs: equal logits, a clear yes, a clear no, logits far from 0, and ones that overflow exp()
LOGIT_CASES = [(0.0, 0.0), (2.0, 0.0), (-1.0, 1.5), (3.0, 1.0), (12.5, 14.0), (1000.0, 0.0), (0.0, 1000.0)]


def _reference_yes(yes: float, no: float) -> float:
    return 1 / (1 + math.exp(no - yes)) if no - yes < 700 else 0.0


def _yes_probability(fn):
    if not callable(fn):
        raise TypeError("pass a function yes_probability(yes_logit, no_logit) -> float")
    for yes, no in LOGIT_CASES:
        try:
            got = float(fn(yes, no))
        except OverflowError:
            return False, (f"yes_probability({yes}, {no}) overflowed: exp(1000) does not fit a float. Compute it from "
                           "the difference of the logits (a sigmoid) or with log-softmax, as the model card does.")
        want = _reference_yes(yes, no)
        if math.isnan(got):
            return False, f"yes_probability({yes}, {no}) is nan: exp() overflowed; use the difference of the logits."
        if abs(got - want) > 1e-6:
            if abs(got - 1 / (1 + math.exp(-yes))) < 1e-6:
                return False, (f"yes_probability({yes}, {no}) = {got:.4f} ignores the 'no' logit: the score is "
                               f"softmax over both, P(yes) = {want:.4f}.")
            if abs(got - (1 - want)) < 1e-6:
                return False, f"yes_probability({yes}, {no}) = {got:.4f} is P(no); the score is P(yes) = {want:.4f}."
            return False, f"yes_probability({yes}, {no}) = {got:.4f}, expected {want:.4f}."
    return True, "softmax over the two logits, stable for logits far from zero: the reranker's score."


def check_yes_probability(fn) -> CheckResult:
    """Medium: the reranker's score from its 'yes' and 'no' logits, numerically stable."""
    return check("the reranker's yes-probability", fn, _yes_probability,
                 "P(yes) = exp(y) / (exp(y) + exp(n)) = 1 / (1 + exp(n - y)); never exp() a large logit on its own.")


def mrr(first_hits) -> float:
    """Mean reciprocal rank over all questions; a question with no relevant chunk retrieved adds 0."""
    return sum(1 / h for h in first_hits if h) / len(first_hits)


def check_mrr(value, first_hits=tuple(FIRST_HITS)) -> CheckResult:
    """Medium: MRR by hand from the rank of the first relevant chunk per question."""
    hits = list(first_hits)
    found = [h for h in hits if h]
    mistakes = [
        (sum(1 / h for h in found) / len(found), ("a question whose answer was not retrieved still counts: it adds "
                                                  f"0, and you divide by all {len(hits)} questions.")),
        (1 / (sum(found) / len(found)), "that is one over the mean rank; MRR is the mean of one over each rank."),
        (sum(1 for h in found if h == 1) / len(hits), "that is recall@1; MRR also gives partial credit: 1/2, 1/3..."),
    ]
    return check("MRR by hand", value,
                 number_verify(mrr(hits), "MRR {:.4f}", "the mean of 1 / rank, 0 where nothing relevant came back.",
                               mistakes, rel=0.005),
                 "Average 1 / rank over all questions, counting 0 for None.")


def rrf(rankings, k: int = 60) -> list:
    """Reciprocal rank fusion (Cormack et al., SIGIR 2009): score(d) = sum over rankings of 1 / (k + rank of d),
    ranks from 1; ties keep the order in which items were first seen."""
    score, seen = {}, []
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            if item not in score:
                seen.append(item)
            score[item] = score.get(item, 0.0) + 1 / (k + rank)
    return sorted(seen, key=lambda d: -score[d])


def _rank_sum(rankings) -> list:
    """A typical mistake: sort by the sum of ranks (an item missing from a ranking ranks just after its end)."""
    items = list(dict.fromkeys(x for r in rankings for x in r))
    return sorted(items, key=lambda x: sum(r.index(x) + 1 if x in r else len(r) + 1 for r in rankings))


# Rankings that disagree: the reference order differs from summed ranks (1st, 4th) and from ranks counted from 0 or
# without k (3rd, where k = 1 makes the offset matter).
RRF_CASES = [([[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]], 60), ([[7, 3, 9], [3, 9, 1, 7]], 60), ([[5, 2, 8, 1], [2, 8]], 1),
             ([[1, 2, 3, 4], [5, 6, 1, 7], [8, 2, 9]], 60)]


def _rrf(fn):
    if not callable(fn):
        raise TypeError("pass a function fuse(rankings, k=60) -> list, best first")
    for rankings, k in RRF_CASES:
        got, want = list(fn(rankings, k=k)), rrf(rankings, k)
        if sorted(map(str, got)) != sorted(map(str, want)):
            return False, (f"for {rankings}: every item of any ranking appears once in the fused list; got {got}, "
                           f"expected the items {sorted(want)}.")
        if got != want:
            if got == rrf(rankings, k - 1):  # before the rank sum: with k = 1 the two can coincide
                return False, f"for {rankings} with k={k}: ranks start at 1 and k is added: 1 / (k + rank)."
            if got == _rank_sum(rankings):
                return False, (f"for {rankings}: that sorts by summed ranks, where one bad ranking sinks an item; RRF "
                               "adds 1 / (k + rank), so a top place in any ranking counts most.")
            return False, f"for {rankings} with k={k}: got {got}, expected {want}."
    return True, "the fused order of reciprocal rank fusion on every case."


def check_rrf(fn) -> CheckResult:
    """Stretch: reciprocal rank fusion of several rankings (e.g. BM25 and dense retrieval)."""
    return check("reciprocal rank fusion", fn, _rrf,
                 "Give each item sum(1 / (k + rank)) over the rankings that contain it, ranks starting at 1; sort.")


def aime_half_width(z: float = 1.96) -> float:
    """Half-width in points of the 95% interval of the AIME score, from the 30 questions (binomial)."""
    p = AIME["score"] / 100
    return z * 100 * math.sqrt(p * (1 - p) / AIME["questions"])


def check_score_range(value) -> CheckResult:
    """Easy: how far a published AIME score could move from which 30 questions were asked."""
    p, n, samples = AIME["score"] / 100, AIME["questions"], AIME["samples"]
    mistakes = [
        (1.96 * 100 * math.sqrt(p * (1 - p) / (n * samples)),
         "the 64 samples per question are not new questions: they average out sampling noise, not the choice of 30."),
        (100 * math.sqrt(p * (1 - p) / n), "that is one standard error; a 95% interval is 1.96 of them on each side."),
        (math.sqrt(p * (1 - p) / n) * 1.96, "give the answer in points (percent), like the score: multiply by 100."),
    ]
    return check("the uncertainty of a published score", value,
                 number_verify(aime_half_width(), "±{:.1f} points",
                               "a difference of a few points between two models on AIME says little.", mistakes,
                               rel=0.02),
                 "1.96 x sqrt(p (1 - p) / n) with p = 0.483 and n = 30 questions, in points (x 100).")
