"""Lesson 11: embeddings, reranking and retrieval-augmented generation over the course itself.

`corpus` (the notebooks' markdown and the catalog as chunks), `prompts` (Qwen3-Embedding's query instruction and
Qwen3-Reranker's yes/no prompt, as their model cards write them), `lexical` (a BM25 baseline), `metrics` (recall@k, MRR,
chance, on hand-written questions with known sources), `measure` (time and memory of embedding), `rag` (numbered
sources and citations). Importing it does not import torch, transformers or sentence-transformers.
"""

from .corpus import Chunk, catalog_chunks, course_chunks, find_notebooks, notebook_chunks
from .lexical import Bm25, words
from .measure import EncodeCost, PeakRss, index_bytes, measure_encode
from .metrics import KS, Question, RetrievalScore, chance, evaluate, first_hit, load_questions, table
from .prompts import (
    COURSE_TASK, DEFAULT_TASK, NO, RERANK_PREFIX, RERANK_SUFFIX, RERANK_SYSTEM, YES, cross_encoder_template,
    query_prompt, query_text, rerank_content, rerank_text, yes_no_ids,
)
from .rag import SYSTEM, citations, rag_messages, sources_block

__all__ = [
    "Chunk", "catalog_chunks", "course_chunks", "find_notebooks", "notebook_chunks",
    "Bm25", "words",
    "EncodeCost", "PeakRss", "index_bytes", "measure_encode",
    "KS", "Question", "RetrievalScore", "chance", "evaluate", "first_hit", "load_questions", "table",
    "COURSE_TASK", "DEFAULT_TASK", "NO", "RERANK_PREFIX", "RERANK_SUFFIX", "RERANK_SYSTEM", "YES",
    "cross_encoder_template", "query_prompt", "query_text", "rerank_content", "rerank_text", "yes_no_ids",
    "SYSTEM", "citations", "rag_messages", "sources_block",
]  # fmt: skip
