"""The Qwen family for lesson 01: releases and generations (`timeline`), architecture counted on meta-device models
and memory against context (`architecture`), dense vs hybrid attention measured on narrow models (`hybrid`), how to read
a Hub name and the sources the lesson cites (`names`), the tokenizer measured across languages (`tokens`)."""

from .architecture import (
    PARTS, breakdown, compute_vs_memory, features, kv_cache, matmul_params, memory_vs_context, meta_model, part_of,
)
from .hybrid import CACHE_MODELS, NARROW, cache_parts, crossover, narrow_model, one_thread, plot_cache
from .names import FORMATS, HubName, read_name, sources
from .timeline import MAIN_LINE, SeriesTable, generations, parse_size, plot_growth, plot_timeline, releases, undated
from .tokens import Sample, count_tokens, measure, samples, word_count

__all__ = [
    "PARTS", "breakdown", "compute_vs_memory", "features", "kv_cache", "matmul_params", "memory_vs_context", "meta_model",
    "part_of",
    "CACHE_MODELS", "NARROW", "cache_parts", "crossover", "narrow_model", "one_thread", "plot_cache",
    "FORMATS", "HubName", "read_name", "sources",
    "MAIN_LINE", "SeriesTable", "generations", "parse_size", "plot_growth", "plot_timeline", "releases", "undated",
    "Sample", "count_tokens", "measure", "samples", "word_count",
]  # fmt: skip
