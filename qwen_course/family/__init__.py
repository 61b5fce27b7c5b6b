"""The Qwen family for lesson 01: releases and generations (`timeline`), architecture counted on meta-device models
and memory against context (`architecture`), the tokenizer measured across languages (`tokens`)."""

from .architecture import (
    PARTS, breakdown, compute_vs_memory, features, kv_cache, matmul_params, memory_vs_context, meta_model, part_of,
)
from .timeline import MAIN_LINE, SeriesTable, generations, parse_size, plot_growth, plot_timeline, releases
from .tokens import Sample, count_tokens, measure, samples, word_count

__all__ = [
    "PARTS", "breakdown", "compute_vs_memory", "features", "kv_cache", "matmul_params", "memory_vs_context", "meta_model",
    "part_of",
    "MAIN_LINE", "SeriesTable", "generations", "parse_size", "plot_growth", "plot_timeline", "releases",
    "Sample", "count_tokens", "measure", "samples", "word_count",
]  # fmt: skip
