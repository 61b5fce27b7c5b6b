"""Is this setup healthy? Expectations measured on this machine (bandwidth, a calibration run) and checks against them.

Decoding one token reads every weight once, so memory bandwidth sets a ceiling on tokens/s (the roofline idea).
A calibration run says what this software stack really reaches; the health check compares later runs with it,
with the memory limit of the machine, and watches memory that keeps growing from request to request.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .._display import Table, gb
from .metrics import RequestMetrics
from .tracker import Monitor

__all__ = [
    "Bandwidth", "measure_bandwidth", "weight_bytes_per_token", "decode_bound",
    "Expectations", "Finding", "HealthReport", "health_check",
]


@dataclass(repr=False)
class Bandwidth(Table):
    """Memory bandwidth measured here: reading a large buffer (what decoding does with weights) and copying it."""

    read_bytes_per_s: float
    copy_bytes_per_s: float
    buffer_bytes: int
    device: str
    repeats: int

    _title = "Measured memory bandwidth"
    __repr__ = Table.__str__

    def _rows(self):
        return [
            ("device", self.device),
            ("read (sum of a buffer)", f"{self.read_bytes_per_s / 1e9:.1f} GB/s"),
            ("copy (read + write)", f"{self.copy_bytes_per_s / 1e9:.1f} GB/s"),
            ("buffer", gb(self.buffer_bytes)),
            ("best of", f"{self.repeats} runs"),
        ]


def measure_bandwidth(buffer_bytes: int = 256 * 2**20, repeats: int = 5, device: str = "cpu",
                      clock: Callable[[], float] = time.perf_counter) -> Bandwidth:
    """Time summing and copying a buffer much larger than the CPU caches; keep the best of `repeats` (a ceiling)."""
    import torch

    if buffer_bytes < 4 * 2**20 or repeats < 1:
        raise ValueError("use a buffer of at least 4 MiB and at least one repeat")
    n = buffer_bytes // 4
    a = torch.ones(n, dtype=torch.float32, device=device)
    b = torch.empty_like(a)
    sync = torch.cuda.synchronize if a.device.type == "cuda" else (lambda: None)

    def best(fn) -> float:
        fn(), sync()  # warm-up: page faults and caches out of the way
        times = []
        for _ in range(repeats):
            start = clock()
            fn()
            sync()
            times.append(clock() - start)
        return max(min(times), 1e-9)

    read_s = best(lambda: a.sum())
    copy_s = best(lambda: b.copy_(a))
    return Bandwidth(read_bytes_per_s=4 * n / read_s, copy_bytes_per_s=2 * 4 * n / copy_s,
                     buffer_bytes=4 * n, device=str(a.device), repeats=repeats)


def weight_bytes_per_token(model) -> int:
    """Bytes of weights one decode step reads: every weight once, except an input embedding not shared with the head.

    Counted from the state dict, so packed int8 weights (torch.ao dynamic int8 after `Pick.after_load`) are included.
    """
    from ..memory import loaded_bytes

    total = loaded_bytes(model)  # tied weights once
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    if head is None or getattr(head, "weight", None) is not embed:  # a quantized head holds its own copy
        total -= embed.numel() * embed.element_size() - embed.shape[-1] * embed.element_size()
    return int(total)


def decode_bound(bytes_per_token: float, bandwidth_bytes_per_s: float) -> float:
    """The memory-bandwidth ceiling on decode speed, tokens/s, at batch size 1."""
    if bytes_per_token <= 0 or bandwidth_bytes_per_s <= 0:
        raise ValueError("bytes per token and bandwidth must be > 0")
    return bandwidth_bytes_per_s / bytes_per_token


def _runs(runs) -> list[RequestMetrics]:
    runs = runs.history if isinstance(runs, Monitor) else list(runs)
    if not all(isinstance(r, RequestMetrics) for r in runs):
        raise TypeError("expected RequestMetrics (or a Monitor)")
    return runs


def _memory_after(run: RequestMetrics) -> int | None:
    return run.cuda_allocated_after if run.cuda_allocated_after is not None else run.rss_after_bytes


def _memory_peak(run: RequestMetrics) -> int | None:
    return run.cuda_max_reserved if run.cuda_max_reserved is not None else run.peak_rss_bytes


@dataclass(repr=False)
class Expectations(Table):
    """What a healthy request should show here, each number with where it came from."""

    decode_tokens_per_s: float
    memory_limit_bytes: int
    leak_tolerance_bytes: float
    decode_source: str = ""
    memory_source: str = ""
    leak_source: str = ""
    bound_tokens_per_s: float | None = None
    slow_fraction: float = 0.5
    near_limit_fraction: float = 0.9

    _title = "Expectations"
    __repr__ = Table.__str__

    def __post_init__(self):
        if not self.decode_tokens_per_s > 0 or not self.memory_limit_bytes > 0 or self.leak_tolerance_bytes < 0:
            raise ValueError("expected decode speed and memory limit must be > 0, leak tolerance >= 0")
        if not (0 < self.slow_fraction < 1 and 0 < self.near_limit_fraction <= 1):
            raise ValueError("slow_fraction must be in (0, 1) and near_limit_fraction in (0, 1]")

    @classmethod
    def derive(cls, calibration, memory_limit_bytes: int, memory_source: str = "",
               bound_tokens_per_s: float | None = None, horizon_requests: int = 10_000,
               **fractions) -> "Expectations":
        """From calibration runs (median decode speed, memory jitter) and the machine's memory limit.

        Memory may grow per request by the calibration jitter, or by as much as would use up the remaining headroom
        only after `horizon_requests` requests, whichever is larger.
        """
        runs = _runs(calibration)
        speeds = [r.decode_tokens_per_s for r in runs if r.decode_tokens_per_s]
        if not speeds:
            raise ValueError("calibration needs at least one run with two or more new tokens")
        if horizon_requests < 1:
            raise ValueError("horizon_requests must be >= 1")
        after = [m for m in map(_memory_after, runs) if m is not None]
        jitter = max((abs(b - a) for a, b in zip(after, after[1:])), default=0)
        headroom = max(int(memory_limit_bytes) - (after[-1] if after else 0), 0)
        budget = headroom / horizon_requests
        why = (f"headroom {gb(headroom)} spread over {horizon_requests:,} requests" if budget >= jitter
               else f"memory jitter between {len(after)} calibration runs")
        return cls(
            decode_tokens_per_s=statistics.median(speeds), memory_limit_bytes=int(memory_limit_bytes),
            leak_tolerance_bytes=max(budget, jitter),
            decode_source=f"median of {len(speeds)} calibration run(s) on this machine",
            memory_source=memory_source or "given limit",
            leak_source=why,
            bound_tokens_per_s=bound_tokens_per_s, **fractions,
        )

    def _rows(self):
        rows = [
            ("healthy decode speed", f"{self.decode_tokens_per_s:.4g} tokens/s ({self.decode_source})"),
            ("flag decode below", f"{self.slow_fraction:.0%} of that"),
            ("memory limit", f"{gb(self.memory_limit_bytes)} ({self.memory_source})"),
            ("flag memory above", f"{self.near_limit_fraction:.0%} of the limit"),
            ("flag memory growth above", f"{self.leak_tolerance_bytes / 1e6:.2f} MB per request ({self.leak_source})"),
        ]
        if self.bound_tokens_per_s:
            rows.insert(1, ("bandwidth ceiling (roofline)", f"{self.bound_tokens_per_s:.4g} tokens/s"))
        return rows


@dataclass
class Finding:
    """One check: did it pass, what was observed, what was expected, and what it means."""

    name: str
    ok: bool
    observed: str
    expected: str
    explanation: str


@dataclass(repr=False)
class HealthReport(Table):
    """Every check that ran; `flags` are the failed ones, each explained."""

    findings: list[Finding] = field(default_factory=list)

    _title = "Health check"
    __repr__ = Table.__str__

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def flags(self) -> list[str]:
        return [f.name for f in self.findings if not f.ok]

    def explain(self) -> str:
        """One paragraph per flag (or a one-line all-clear)."""
        if self.ok:
            return "All checks passed: " + ", ".join(f.name for f in self.findings) + "."
        return "\n".join(f"FLAG {f.name}: {f.explanation}" for f in self.findings if not f.ok)

    def _rows(self):
        return [(("ok  " if f.ok else "FLAG") + " " + f.name, f"{f.observed} (expected {f.expected})")
                for f in self.findings]


def health_check(runs, expect: Expectations) -> HealthReport:
    """Check decode speed, peak memory against the limit, and memory growth across runs (a leak)."""
    runs = _runs(runs)
    if not runs:
        raise ValueError("no runs to check: track some requests first")
    return HealthReport([_check_speed(runs, expect), _check_memory(runs, expect), _check_growth(runs, expect)])


def _check_speed(runs: Sequence[RequestMetrics], e: Expectations) -> Finding:
    speeds = [r.decode_tokens_per_s for r in runs if r.decode_tokens_per_s]
    floor = e.slow_fraction * e.decode_tokens_per_s
    if not speeds:
        return Finding("slow_decode", True, "no run had two or more new tokens", f">= {floor:.3g} tokens/s",
                       "Nothing to judge yet.")
    median = statistics.median(speeds)
    ok = median >= floor
    ceiling = f" The bandwidth ceiling is {e.bound_tokens_per_s:.3g} tokens/s." if e.bound_tokens_per_s else ""
    return Finding(
        "slow_decode", ok, f"median {median:.3g} tokens/s over {len(speeds)} run(s)", f">= {floor:.3g} tokens/s",
        (f"Decode runs at {median / e.decode_tokens_per_s:.0%} of the healthy {e.decode_tokens_per_s:.3g} tokens/s "
         f"({e.decode_source}).{ceiling} Usual causes: another process or thread competing for the cores, slow "
         "per-token Python work (a logits processor, a stopping criterion that decodes the whole text), the KV cache "
         "switched off (use_cache=False, e.g. left over from training), a dtype this device computes slowly, or "
         "weights offloaded to CPU or disk. Compare inter-token p50 with p99 to tell steady slowness from spikes.")
        if not ok else "Decode speed is within the expected range.",
    )


def _check_memory(runs: Sequence[RequestMetrics], e: Expectations) -> Finding:
    peaks = [m for m in map(_memory_peak, runs) if m is not None]
    limit = e.near_limit_fraction * e.memory_limit_bytes
    if not peaks:
        return Finding("memory_near_limit", True, "no memory reading", f"<= {gb(limit)}", "Nothing to judge yet.")
    peak = max(peaks)
    ok = peak <= limit
    kind = "CUDA reserved" if runs[0].cuda_max_reserved is not None else "process RSS"
    return Finding(
        "memory_near_limit", ok, f"peak {kind} {gb(peak)} = {peak / e.memory_limit_bytes:.0%} of the limit",
        f"<= {gb(limit)} ({e.near_limit_fraction:.0%} of {gb(e.memory_limit_bytes)}, {e.memory_source})",
        (f"The peak reached {peak / e.memory_limit_bytes:.0%} of the {gb(e.memory_limit_bytes)} available. A longer "
         "prompt, a bigger batch or one more request will run out of memory (an OOM error on a GPU, swapping or the "
         "process being killed on a CPU). Lower the batch size or context, use a smaller precision (int8/int4), "
         "a smaller checkpoint, or free what else holds memory.")
        if not ok else "Peak memory leaves headroom below the limit.",
    )


def _check_growth(runs: Sequence[RequestMetrics], e: Expectations) -> Finding:
    after = [m for m in map(_memory_after, runs) if m is not None]
    tol = e.leak_tolerance_bytes
    if len(after) < 3:
        return Finding("memory_growth", True, f"{len(after)} reading(s)", "at least 3 runs to judge",
                       "Too few runs to see a trend.")
    slope = _slope(after)
    steps = [b - a for a, b in zip(after, after[1:])]
    rising = sum(s > 0 for s in steps) / len(steps)
    leak = slope > tol and rising >= 0.75
    return Finding(
        "memory_growth", not leak,
        f"{slope / 1e6:+.2f} MB per request, rising in {rising:.0%} of {len(steps)} steps",
        f"<= {tol / 1e6:.2f} MB per request ({e.leak_source})",
        (f"Memory after each request keeps growing, by about {slope / 1e6:.2f} MB per request, more than the "
         f"{tol / 1e6:.2f} MB tolerance ({e.leak_source}). Something keeps every request alive: a list of outputs, "
         "returned caches or logits (return_dict_in_generate with output_logits/output_scores), or tensors that still "
         "need gradients. At this rate "
         f"{gb(max(e.memory_limit_bytes - after[-1], 0))} of headroom lasts about "
         f"{max(e.memory_limit_bytes - after[-1], 0) / slope:.0f} more requests.")
        if leak else "Memory returns to the same level after each request.",
    )


def _slope(values: Sequence[float]) -> float:
    """Least-squares slope of values against their index."""
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, math.fsum(values) / n
    num = math.fsum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = math.fsum((i - mean_x) ** 2 for i in range(n))
    return num / den
