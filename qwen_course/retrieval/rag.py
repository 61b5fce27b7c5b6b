"""Retrieval-augmented generation, the plain way: numbered sources in the prompt, answers that cite them as [n]."""

from __future__ import annotations

import re

from .corpus import Chunk

SYSTEM = ("You answer questions about the Qwen course. Use only the numbered sources below. Cite every claim with the "
          "number of its source in square brackets, e.g. [2]. If the sources do not answer the question, say so.")


def sources_block(chunks: list[Chunk], max_words: int = 220) -> str:
    """The retrieved chunks, numbered from 1, each with where it comes from (clipped to `max_words` words)."""
    parts = []
    for n, chunk in enumerate(chunks, 1):
        words = chunk.text.split()
        text = " ".join(words[:max_words]) + (" ..." if len(words) > max_words else "")
        parts.append(f"[{n}] {chunk.cite()}\n{text}")
    return "\n\n".join(parts)


def rag_messages(question: str, chunks: list[Chunk], system: str = SYSTEM) -> list[dict]:
    """Chat messages for a grounded answer: instructions and sources in the system turn, the question as the user's."""
    return [{"role": "system", "content": f"{system}\n\n{sources_block(chunks)}"},
            {"role": "user", "content": question}]


def citations(answer: str, n_sources: int) -> list[int]:
    """The source numbers an answer cites ([2], [1, 3], [1][4]), in order, once each, only those that exist."""
    found = []
    for group in re.findall(r"\[(\d+(?:\s*,\s*\d+)*)\]", answer):
        for number in (int(x) for x in group.split(",")):
            if 1 <= number <= n_sources and number not in found:
                found.append(number)
    return found
