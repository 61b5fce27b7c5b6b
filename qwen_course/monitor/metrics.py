"""One request's measurements and the probes that take them: latency percentiles, process RSS, CUDA and NVML.

Kept apart from `monitor` (which times requests) so a client that only summarises latencies stays light.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

from .._display import Table, gb

__all__ = ["RequestMetrics", "GpuProbe", "latency_summary", "rough_percentiles", "process_rss", "cache_bytes"]

TAIL_SAMPLES = 10  # a percentile is read from enough samples when at least this many lie above it


def latency_summary(values: Iterable[float]) -> dict:
    """count, mean, min, p50, p95, p99, max of latencies in seconds (linear-interpolated percentiles; NaN when empty)."""
    data = sorted(_check_number(v, "latency") for v in values)
    if not data:
        nan = float("nan")
        return {"count": 0, "mean": nan, "min": nan, "p50": nan, "p95": nan, "p99": nan, "max": nan}
    return {
        "count": len(data), "mean": math.fsum(data) / len(data), "min": data[0],
        "p50": _percentile(data, 50), "p95": _percentile(data, 95), "p99": _percentile(data, 99), "max": data[-1],
    }


def rough_percentiles(count: int, percentiles=("p95", "p99")) -> list[str]:
    """The percentiles that `count` samples cannot pin down: fewer than TAIL_SAMPLES of them lie above the cut.

    p95 needs 200 samples and p99 1,000 by this rule; below that the value rests on a handful of the slowest
    samples and moves from run to run, so a lesson labels it rough instead of quoting it as a property.
    """
    return [p for p in percentiles if count * (1 - float(p[1:]) / 100) < TAIL_SAMPLES]


def _percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile of sorted data, interpolating between neighbours (numpy's default 'linear' method)."""
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _check_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


@dataclass(repr=False)
class RequestMetrics(Table):
    """What one generation request did: tokens, time to first token, gaps between tokens, wall time and peak memory."""

    prompt_tokens: int
    completion_tokens: int
    ttft_s: float | None
    inter_token_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    batch_size: int = 1
    peak_rss_bytes: int | None = None
    rss_before_bytes: int | None = None
    rss_after_bytes: int | None = None
    cuda_max_allocated: int | None = None
    cuda_max_reserved: int | None = None
    cuda_allocated_after: int | None = None
    gpu_util_percent: float | None = None
    gpu_power_w: float | None = None
    label: str = ""

    _title = "Request metrics"
    __repr__ = Table.__str__

    def __post_init__(self):
        for name in ("prompt_tokens", "completion_tokens", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.wall_s = _check_number(self.wall_s, "wall_s")
        if self.ttft_s is not None:
            self.ttft_s = _check_number(self.ttft_s, "ttft_s")
            if self.ttft_s > self.wall_s:
                raise ValueError(f"ttft_s ({self.ttft_s}) cannot exceed wall_s ({self.wall_s})")
        self.inter_token_s = [_check_number(v, "inter-token latency") for v in self.inter_token_s]

    @property
    def decode_s(self) -> float | None:
        """Time from the first to the last new token: the decode phase alone."""
        if self.inter_token_s:
            return math.fsum(self.inter_token_s)
        return None if self.ttft_s is None else self.wall_s - self.ttft_s

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Tokens after the first per second of decode time, per sequence (prefill excluded)."""
        if self.completion_tokens < 2 or not self.decode_s:
            return None
        return (self.completion_tokens - 1) / self.decode_s

    @property
    def throughput_tokens_per_s(self) -> float | None:
        """New tokens of all sequences in the batch per second of wall time (prefill included)."""
        return self.batch_size * self.completion_tokens / self.wall_s if self.wall_s > 0 else None

    def as_row(self) -> dict:
        """One flat row (no lists) for a DataFrame or CSV: fields, derived speeds and inter-token percentiles."""
        row = {k: v for k, v in asdict(self).items() if k != "inter_token_s"}
        row["decode_tokens_per_s"] = self.decode_tokens_per_s
        row["throughput_tokens_per_s"] = self.throughput_tokens_per_s
        itl = latency_summary(self.inter_token_s)
        row.update({f"itl_{k}_s": itl[k] for k in ("mean", "p50", "p95", "p99")})
        return row

    def _rows(self):
        def fmt(v, unit=""):
            return "n/a" if v is None else f"{v:.4g}{unit}"

        itl = latency_summary(self.inter_token_s)
        rows = [
            ("label", self.label or "-"),
            ("prompt / new tokens (per sequence)", f"{self.prompt_tokens} / {self.completion_tokens}"),
            ("batch size", self.batch_size),
            ("time to first token", fmt(self.ttft_s, " s")),
            ("inter-token p50 / p95", f"{itl['p50'] * 1e3:.3g} / {itl['p95'] * 1e3:.3g} ms" if itl["count"] else "n/a"),
            ("decode speed (per sequence)", fmt(self.decode_tokens_per_s, " tokens/s")),
            ("throughput (whole batch, wall)", fmt(self.throughput_tokens_per_s, " tokens/s")),
            ("wall time", fmt(self.wall_s, " s")),
            ("peak process RSS", gb(self.peak_rss_bytes)),
        ]
        if self.cuda_max_allocated is not None:
            rows.append(("CUDA max allocated / reserved", f"{gb(self.cuda_max_allocated)} / {gb(self.cuda_max_reserved)}"))
        if self.gpu_util_percent is not None:
            rows.append(("GPU utilisation / power", f"{self.gpu_util_percent:.0f} % / {fmt(self.gpu_power_w, ' W')}"))
        return rows


_PROCESS = None


def process_rss() -> int | None:
    """Resident memory of this process in bytes (None if psutil is missing)."""
    global _PROCESS
    if _PROCESS is None:
        try:
            import psutil
        except ImportError:
            return None
        _PROCESS = psutil.Process()
    return _PROCESS.memory_info().rss


class GpuProbe:
    """CUDA peak memory from torch, utilisation and power from NVML (`nvidia-ml-py`) when it is installed."""

    def __init__(self, device_index: int = 0):
        import torch

        self.torch, self.index, self._nvml = torch, device_index, None
        try:
            import pynvml  # provided by the nvidia-ml-py package

            pynvml.nvmlInit()
            self._nvml = (pynvml, pynvml.nvmlDeviceGetHandleByIndex(device_index))
        except Exception:  # not installed, or no NVIDIA driver: memory still comes from torch
            self._nvml = None

    @classmethod
    def detect(cls) -> "GpuProbe | None":
        """A probe for the first CUDA device, or None on a machine without one."""
        try:
            import torch
        except ImportError:
            return None
        return cls() if torch.cuda.is_available() else None

    def reset(self) -> None:
        self.torch.cuda.synchronize(self.index)
        self.torch.cuda.reset_peak_memory_stats(self.index)

    def peaks(self) -> tuple[int, int, int]:
        """(max allocated, max reserved, allocated now) since the last reset, in bytes."""
        cuda = self.torch.cuda
        cuda.synchronize(self.index)
        return cuda.max_memory_allocated(self.index), cuda.max_memory_reserved(self.index), cuda.memory_allocated(self.index)

    def sample(self) -> tuple[float | None, float | None]:
        """(utilisation %, power W) right now; (None, None) without NVML."""
        if self._nvml is None:
            return None, None
        nvml, handle = self._nvml
        try:
            return float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu), nvml.nvmlDeviceGetPowerUsage(handle) / 1000
        except Exception:
            return None, None


def cache_bytes(cache) -> int:
    """Bytes held by a cache: every tensor of a transformers `Cache` (K/V, and the convolution and recurrent states
    of Gated DeltaNet layers in Qwen3.5/3.6), or nested tuples of tensors."""
    if cache is None:
        return 0
    if hasattr(cache, "nbytes") and hasattr(cache, "shape"):
        return int(cache.nbytes)
    if getattr(cache, "layers", None) is not None:
        from ..memory import measured_cache_bytes

        return measured_cache_bytes(cache)
    if isinstance(cache, (list, tuple)):
        return sum(cache_bytes(item) for item in cache)
    raise TypeError(f"cannot measure a cache of type {type(cache).__name__}")
