"""Monitoring for lesson 07: per-request measurements (`metrics`), a monitor that stamps every generated token
(`tracker`), health checks against what the hardware allows (`health`) and figures with a live view (`plots`).
Importing this package does not import torch.
"""

from .cache import cache_precision, catalog_bytes_per_token, checkpoint_for, plot_cache_growth
from .health import (
    Bandwidth, Expectations, Finding, HealthReport, decode_bound, health_check, measure_bandwidth,
    weight_bytes_per_token,
)
from .metrics import GpuProbe, RequestMetrics, cache_bytes, latency_summary, process_rss, rough_percentiles
from .plots import LiveView, plot_kv_growth, plot_latency, plot_roofline, plot_scalars, plot_sweep, read_tensorboard
from .tracker import Monitor, TimingStreamer, Tracker

__all__ = [
    "cache_precision", "checkpoint_for", "plot_cache_growth",
    "Bandwidth", "Expectations", "Finding", "HealthReport", "catalog_bytes_per_token", "decode_bound", "health_check",
    "measure_bandwidth", "weight_bytes_per_token", "GpuProbe", "RequestMetrics", "cache_bytes", "latency_summary",
    "process_rss", "rough_percentiles",
    "LiveView", "plot_kv_growth", "plot_latency", "plot_roofline", "plot_scalars", "plot_sweep", "read_tensorboard",
    "Monitor", "TimingStreamer", "Tracker",
]  # fmt: skip
