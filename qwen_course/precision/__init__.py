"""Precision and quantization routes: what each method stores, how to load with it, and which one a machine runs best.

`methods` is the table of ways to store weights and how to apply each; `cpu` measures this CPU once and caches the
fastest route within a drift bound; `choice` turns a machine into the precisions to try, preferred first.
"""

from .choice import GPU_ROUTES, TORCH_DTYPES, compute_dtype, precisions_for, route_for
from .cpu import (
    CANDIDATES, CPU_ROUTES, DRIFT_BOUND, cache_path, cached_measurement, choose, cpu_precision, cpu_route, fastest_of,
    measure_cpu_precisions, slice_config, turn_seconds,
)
from .methods import (
    DEVICE_NAMES, METHODS, PRECISIONS, Method, apply_post_load, availability, installed, load_dtype, load_dtype_name,
    method, quanto_extension_ready, quantization_config,
)

__all__ = [
    "GPU_ROUTES", "TORCH_DTYPES", "compute_dtype", "precisions_for", "route_for",
    "CANDIDATES", "CPU_ROUTES", "DRIFT_BOUND", "cache_path", "cached_measurement", "choose", "cpu_precision",
    "cpu_route", "fastest_of", "measure_cpu_precisions", "slice_config", "turn_seconds",
    "DEVICE_NAMES", "METHODS", "PRECISIONS", "Method", "apply_post_load", "availability", "installed", "load_dtype",
    "load_dtype_name", "method", "quanto_extension_ready", "quantization_config",
]  # fmt: skip
