"""Measure generation as it happens: time to first token, inter-token latency, decode speed, peak memory, history.

`Monitor.track()` hands `model.generate` a streamer that stamps every token with an injectable clock, so time to
first token is observed, not derived. Importing this module does not import torch.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from .._display import Table
from .metrics import GpuProbe, RequestMetrics, latency_summary, process_rss, rough_percentiles

Clock = Callable[[], float]


class TimingStreamer:
    """A `generate(streamer=...)` streamer that records when tokens arrive instead of decoding them."""

    def __init__(self, tracker: "Tracker"):
        self.tracker = tracker
        self._seen_prompt = False

    def put(self, value) -> None:
        shape = tuple(getattr(value, "shape", ()))
        if not self._seen_prompt:  # generate() first passes the whole prompt: (batch, prompt_len)
            self._seen_prompt = True
            batch, length = (shape if len(shape) == 2 else (1, shape[0] if shape else 1))
            self.tracker.prompt(int(length), batch=int(batch))
        else:  # then one new token per sequence per step
            self.tracker.token()

    def end(self) -> None:
        self.tracker.finish_stream()


class Tracker:
    """Context manager for one request: pass `tracker.streamer` to `generate`, read `tracker.metrics` afterwards."""

    def __init__(self, monitor: "Monitor", label: str = "", live=None):
        self.monitor, self.label, self.live = monitor, label, live
        self.streamer = TimingStreamer(self)
        self.prompt_tokens: int | None = None
        self.batch_size = 1
        self.completion_tokens: int | None = None  # set it to override the count (e.g. from a server's usage field)
        self.token_times: list[float] = []  # one clock reading per arrival (a token, or a streamed chunk of several)
        self.tokens_seen = 0
        self.metrics: RequestMetrics | None = None
        self.start = None
        self._rss_peak = None
        self._gpu_samples: list[tuple[float | None, float | None]] = []
        self._last_gpu_sample = -math.inf

    def __enter__(self) -> "Tracker":
        m = self.monitor
        if m.gpu is not None:
            m.gpu.reset()
        self._rss_before = self._rss_peak = m.rss()
        self._sample_gpu(force=True)
        self.start = m.clock()
        return self

    def prompt(self, tokens: int, batch: int = 1) -> None:
        """Record the prompt size (the streamer calls this for you)."""
        self.prompt_tokens, self.batch_size = tokens, batch

    def token(self, count: int = 1) -> None:
        """Record that `count` new tokens arrived now (one generated token, or one streamed chunk of several)."""
        now = self.monitor.clock()
        self.token_times.append(now)
        self.tokens_seen += count
        rss = self.monitor.rss()
        if rss is not None:
            self._rss_peak = max(self._rss_peak or 0, rss)
        self._sample_gpu()
        if self.live is not None:
            self.live.update(self._partial(now))

    def finish_stream(self) -> None:
        """Called by the streamer when generate() is done."""

    def _sample_gpu(self, force: bool = False) -> None:
        m = self.monitor
        if m.gpu is None:
            return
        now = m.clock()
        if force or now - self._last_gpu_sample >= m.gpu_sample_every_s:
            self._last_gpu_sample = now
            self._gpu_samples.append(m.gpu.sample())

    def _partial(self, now: float) -> dict:
        """A snapshot for the live view while tokens stream."""
        times = self.token_times
        gaps = [b - a for a, b in zip(times, times[1:])]
        return {
            "label": self.label, "tokens": self.tokens_seen, "elapsed_s": now - self.start,
            "ttft_s": times[0] - self.start if times else None, "inter_token_s": gaps,
            "decode_tokens_per_s": (self.tokens_seen - 1) / (times[-1] - times[0])
            if len(times) > 1 and times[-1] > times[0] else None,
            "rss_bytes": self._rss_peak,
        }

    def __exit__(self, exc_type, exc, tb) -> bool:
        m = self.monitor
        end = m.clock()
        if exc_type is not None:
            return False
        if self.prompt_tokens is None and not self.token_times:
            raise RuntimeError("no tokens were recorded: pass streamer=tracker.streamer to model.generate(...)")
        rss_after = m.rss()
        peaks = m.gpu.peaks() if m.gpu is not None else (None, None, None)
        utils = [u for u, _ in self._gpu_samples if u is not None]
        powers = [p for _, p in self._gpu_samples if p is not None]
        times = self.token_times
        self.metrics = RequestMetrics(
            prompt_tokens=self.prompt_tokens or 0,
            completion_tokens=self.completion_tokens if self.completion_tokens is not None else self.tokens_seen,
            ttft_s=times[0] - self.start if times else None,
            inter_token_s=[b - a for a, b in zip(times, times[1:])],
            wall_s=end - self.start, batch_size=self.batch_size,
            peak_rss_bytes=max((r for r in (self._rss_peak, rss_after) if r is not None), default=None),
            rss_before_bytes=self._rss_before, rss_after_bytes=rss_after,
            cuda_max_allocated=peaks[0], cuda_max_reserved=peaks[1], cuda_allocated_after=peaks[2],
            gpu_util_percent=sum(utils) / len(utils) if utils else None,
            gpu_power_w=sum(powers) / len(powers) if powers else None,
            label=self.label,
        )
        m.add(self.metrics)
        if self.live is not None:
            self.live.finish(self.metrics)
        return False


class Monitor(Table):
    """History of requests: `track()` one, `add()` measured ones, export with `to_frame()` / `to_csv()`.

    `gpu="auto"` probes the first CUDA device (imports torch); pass `gpu=None` for a client that times a remote server.
    """

    _title = "Monitor"

    def __init__(self, clock: Clock = time.perf_counter, rss: Callable[[], int | None] = process_rss,
                 gpu: "GpuProbe | None | str" = "auto", gpu_sample_every_s: float = 0.2):
        self.clock, self.rss = clock, rss
        self.gpu = GpuProbe.detect() if gpu == "auto" else gpu
        self.gpu_sample_every_s = gpu_sample_every_s
        self.history: list[RequestMetrics] = []

    def track(self, label: str = "", live=None) -> Tracker:
        """`with monitor.track("name") as t: model.generate(..., streamer=t.streamer)`; then `t.metrics`."""
        return Tracker(self, label=label, live=live)

    def add(self, metrics: RequestMetrics) -> RequestMetrics:
        if not isinstance(metrics, RequestMetrics):
            raise TypeError(f"Monitor.add expects RequestMetrics, got {type(metrics).__name__}")
        self.history.append(metrics)
        return metrics

    def clear(self) -> None:
        self.history.clear()

    def __len__(self) -> int:
        return len(self.history)

    def __repr__(self) -> str:
        return str(self)

    def select(self, label: str | None = None) -> list[RequestMetrics]:
        """The requests with this label (all of them when label is None)."""
        return [m for m in self.history if label is None or m.label == label]

    def to_frame(self):
        """One row per request (pandas DataFrame), derived speeds and inter-token percentiles included."""
        import pandas as pd

        columns = list(RequestMetrics.__dataclass_fields__)
        rows = [m.as_row() for m in self.history]
        if not rows:
            return pd.DataFrame(columns=[c for c in columns if c != "inter_token_s"])
        return pd.DataFrame(rows)

    def to_csv(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_frame().to_csv(path, index=False)
        return path

    def inter_token_latencies(self, label: str | None = None) -> list[float]:
        return [gap for m in self.select(label) for gap in m.inter_token_s]

    def summary(self, label: str | None = None) -> dict:
        """Latency summaries (seconds) of TTFT and inter-token gaps, and decode speeds, over the selected requests."""
        runs = self.select(label)
        speeds = [m.decode_tokens_per_s for m in runs if m.decode_tokens_per_s is not None]
        return {
            "requests": len(runs),
            "ttft_s": latency_summary(m.ttft_s for m in runs if m.ttft_s is not None),
            "inter_token_s": latency_summary(self.inter_token_latencies(label)),
            "decode_tokens_per_s": latency_summary(speeds),
        }

    def _rows(self):
        s = self.summary()
        if not s["requests"]:
            return [("requests", 0)]
        ttft, itl, dec = s["ttft_s"], s["inter_token_s"], s["decode_tokens_per_s"]

        def rough(stats) -> str:
            few = rough_percentiles(stats["count"])
            return f" (n={stats['count']}; {' and '.join(few)} rough: fewer than 10 samples above)" if few else \
                f" (n={stats['count']})"

        return [
            ("requests", s["requests"]),
            ("TTFT p50 / p95 / p99", f"{ttft['p50']:.3g} / {ttft['p95']:.3g} / {ttft['p99']:.3g} s" + rough(ttft)),
            ("inter-token p50 / p95 / p99",
             f"{itl['p50'] * 1e3:.3g} / {itl['p95'] * 1e3:.3g} / {itl['p99'] * 1e3:.3g} ms" + rough(itl)),
            ("decode speed median", f"{dec['p50']:.4g} tokens/s"),
        ]
