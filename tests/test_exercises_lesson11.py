"""Lesson 11's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason, and a
placeholder is reported as not answered."""

import math

import pytest

from conftest import fails, folded_solutions, passes
from qwen_course.exercises import check_mrr, check_query_text, check_rrf, check_score_range, check_yes_probability
from qwen_course.exercises.lesson11 import AIME, FIRST_HITS, QUERY, aime_half_width, mrr, rrf
from qwen_course.retrieval import COURSE_TASK


def test_every_folded_solution_passes_its_notebook_call():
    calls = {"check_query_text": "my_query_text", "check_yes_probability": "yes_probability", "check_mrr": "my_mrr",
             "check_rrf": "fuse", "check_score_range": "my_half_width"}
    pairs = folded_solutions("11")
    assert [call.split("(")[0] for call, _ in pairs] == list(calls)
    ns = {"COURSE_TASK": COURSE_TASK, "QUERY": QUERY, "FIRST_HITS": FIRST_HITS}
    for call, code in pairs:
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
        passes(eval(call, {**globals(), **ns}))  # noqa: S307 - the notebook's check call


@pytest.mark.parametrize("check", [check_query_text, check_yes_probability, check_mrr, check_rrf, check_score_range])
def test_placeholders_are_not_answered_yet(check):
    assert check(None).passed is None


def test_query_text():
    passes(check_query_text(f"Instruct: {COURSE_TASK}\nQuery:{QUERY}"))
    fails(check_query_text(QUERY), "bare query")
    fails(check_query_text(f"Instruct: {COURSE_TASK}\nQuery: {QUERY}"), "no space after 'Query:'")
    fails(check_query_text(f"Instruct: Given a web search query\nQuery:{QUERY}"), "COURSE_TASK")
    fails(check_query_text(f"{COURSE_TASK}\nQuery:{QUERY}"), "starts with 'Instruct: '")
    assert check_query_text(42).passed is False


def test_yes_probability():
    passes(check_yes_probability(lambda y, n: 1 / (1 + math.exp(n - y)) if n - y < 700 else 0.0))
    passes(check_yes_probability(lambda y, n: float(__import__("torch").tensor([n, y]).softmax(0)[1])))
    fails(check_yes_probability(lambda y, n: math.exp(y) / (math.exp(y) + math.exp(n))), "overflowed")
    fails(check_yes_probability(lambda y, n: 1 / (1 + math.exp(-y)) if y > -700 else 0.0), "ignores the 'no' logit")
    fails(check_yes_probability(lambda y, n: 1 / (1 + math.exp(y - n)) if y - n < 700 else 0.0), "is P(no)")
    fails(check_yes_probability(lambda y, n: 0.5), "expected")
    fails(check_yes_probability("0.5"), "could not check")


def test_mrr():
    right = (1 + 1 / 3 + 1 / 2 + 1 / 10) / 5
    assert mrr(FIRST_HITS) == pytest.approx(right)
    passes(check_mrr(right))
    fails(check_mrr((1 + 1 / 3 + 1 / 2 + 1 / 10) / 4), "still counts")
    fails(check_mrr(1 / ((1 + 3 + 2 + 10) / 4)), "mean rank")
    fails(check_mrr(0.2), "recall@1")
    fails(check_mrr(0.9), "off by")


def test_rrf():
    assert rrf([[1, 2], [2, 3]], k=60) == [2, 1, 3]
    passes(check_rrf(rrf))

    def rank_sum(rankings, k=60):
        items = list(dict.fromkeys(x for r in rankings for x in r))
        return sorted(items, key=lambda x: sum(r.index(x) + 1 if x in r else len(r) + 1 for r in rankings))

    def from_zero(rankings, k=60):
        return rrf(rankings, k - 1)

    fails(check_rrf(rank_sum), "summed ranks")
    fails(check_rrf(from_zero), "ranks start at 1")
    fails(check_rrf(lambda rankings, k=60: rankings[0][:2]), "every item of any ranking")
    fails(check_rrf(lambda rankings, k=60: list(reversed(rrf(rankings, k)))), "expected")


def test_score_range():
    p, n = AIME["score"] / 100, AIME["questions"]
    assert aime_half_width() == pytest.approx(17.88, abs=0.01)
    passes(check_score_range(17.9))
    fails(check_score_range(1.96 * 100 * math.sqrt(p * (1 - p) / (n * 64))), "not new questions")
    fails(check_score_range(100 * math.sqrt(p * (1 - p) / n)), "one standard error")
    fails(check_score_range(0.1788), "in points")
    fails(check_score_range(30), "off by")
