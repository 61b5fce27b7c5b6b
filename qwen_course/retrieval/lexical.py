"""A lexical baseline: Okapi BM25 in a few lines, so retrieval quality means something even with random-weight models.

score(q, d) = sum over query words w of idf(w) * f(w, d) * (k1 + 1) / (f(w, d) + k1 * (1 - b + b * |d| / avgdl)),
idf(w) = ln(1 + (N - n(w) + 0.5) / (n(w) + 0.5)) (Robertson and Zaragoza, "The Probabilistic Relevance Framework:
BM25 and Beyond", 2009; the "+1" keeps idf positive, as Lucene does).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

WORD = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")  # keeps "qwen3.5", "q8_0", "top-p" whole
STOP = frozenset("a an and are as at be by can do does for from how i in is it its of on or that the this to what "
                 "when where which who why with you your".split())


def words(text: str) -> list[str]:
    """Lower-cased word tokens without stop words."""
    return [w for w in WORD.findall(text.lower()) if w not in STOP]


@dataclass
class Bm25:
    """An index over `texts`; `scores(query)` gives one BM25 score per text."""

    texts: list[str]
    k1: float = 1.5
    b: float = 0.75
    _docs: list[Counter] = field(init=False, repr=False)
    _idf: dict[str, float] = field(init=False, repr=False)
    _avgdl: float = field(init=False, repr=False)

    def __post_init__(self):
        if not self.texts:
            raise ValueError("BM25 needs at least one text")
        self._docs = [Counter(words(t)) for t in self.texts]
        n = len(self._docs)
        df = Counter(w for doc in self._docs for w in doc)
        self._idf = {w: math.log(1 + (n - m + 0.5) / (m + 0.5)) for w, m in df.items()}
        self._avgdl = sum(sum(d.values()) for d in self._docs) / n or 1.0

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every text for `query` (0 for texts sharing no word with it)."""
        terms = [w for w in words(query) if w in self._idf]
        out = []
        for doc in self._docs:
            length = sum(doc.values())
            norm = self.k1 * (1 - self.b + self.b * length / self._avgdl)
            out.append(sum(self._idf[w] * doc[w] * (self.k1 + 1) / (doc[w] + norm) for w in terms if w in doc))
        return out

    def rank(self, query: str) -> list[int]:
        """Text indices, best first (ties keep corpus order)."""
        s = self.scores(query)
        return sorted(range(len(s)), key=lambda i: -s[i])
