"""Quantization for lesson 03: which methods run here (`table`), what one costs and buys on a model (`measure`),
every method compared on one model (`report`), drift that means something on held-out chats of a trained model
(`heldout`), which parts of a Qwen model each method quantizes (`layers`, on the meta device) and Qwen's FP8 releases
(`fp8`). The methods themselves, and how to load with each, are the core's `qwen_course.precision`; the names a
lesson needs from it are re-exported here.
"""

from ..precision import (
    METHODS, Method, apply_post_load, availability, cache_path, cached_measurement, installed, load_dtype,
    measure_cpu_precisions, quantization_config,
)
from .fp8 import QUANTIZATION_CONFIG as FP8_CONFIG
from .fp8 import fp8_checkpoint
from .fp8 import loader_rule as fp8_loader_rule
from .heldout import (
    DEFAULT_METHODS, accuracy, answer_drift, answer_ids, answer_logits, heldout_methods, reference_method, same_answers,
)
from .layers import BNB_CPU_BLOCK_ROWS, PARTS, LayerPlan, Part, bnb_cpu_blockers, part, parts_of, plan, plans_frame
from .measure import DRIFT_TEXT, Result, drift, greedy_config, next_token_logits, perplexity, speed, text_ids
from .report import compare, estimated_bytes, frame, measuring_model, plot, real_shape_checkpoint
from .table import MethodTable, methods

__all__ = [
    "METHODS", "Method", "apply_post_load", "availability", "cache_path", "cached_measurement", "installed",
    "load_dtype", "measure_cpu_precisions", "quantization_config",
    "FP8_CONFIG", "fp8_checkpoint", "fp8_loader_rule",
    "DEFAULT_METHODS", "accuracy", "answer_drift", "answer_ids", "answer_logits", "heldout_methods",
    "reference_method", "same_answers",
    "BNB_CPU_BLOCK_ROWS", "PARTS", "LayerPlan", "Part", "bnb_cpu_blockers", "part", "parts_of", "plan", "plans_frame",
    "DRIFT_TEXT", "Result", "drift", "greedy_config", "next_token_logits", "perplexity", "speed", "text_ids",
    "compare", "estimated_bytes", "frame", "measuring_model", "plot", "real_shape_checkpoint",
    "MethodTable", "methods",
]  # fmt: skip
