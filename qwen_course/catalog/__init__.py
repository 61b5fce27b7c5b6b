"""The Qwen family with exact, sourced numbers: series, checkpoints, and parameters counted from config numbers.

`checkpoints` reads data/catalog.json (ids, config numbers, sources, confidence, thinking defaults, recommended
sampling, FP8 releases); `counting` turns a config into parameters per part without torch, hybrid Gated DeltaNet
layers, vision and audio towers and the MTP head included.
"""

from .checkpoints import (
    CONFIDENCE, TASKS, Checkpoint, UnknownModelError, checkpoints, download_params, find, get, param_count,
    sampling_presets, series, sources, suggest,
)
from .counting import HYBRID_TYPES, ParamCount, conv_dim, head_dim, layer_types, mtp_params, value_dim

__all__ = [
    "CONFIDENCE", "TASKS", "Checkpoint", "UnknownModelError", "checkpoints", "download_params", "find", "get",
    "param_count", "sampling_presets", "series", "sources", "suggest", "HYBRID_TYPES", "ParamCount", "conv_dim",
    "head_dim", "layer_types", "mtp_params", "value_dim",
]  # fmt: skip
