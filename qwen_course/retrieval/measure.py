"""What embedding costs: time and memory per batch of texts, and the bytes an index of vectors takes."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

from .._display import Table


class PeakRss:
    """Sample this process's resident memory every `interval` s in a thread; `.peak` is the highest seen."""

    def __init__(self, interval: float = 0.005):
        import psutil

        self._process, self.interval = psutil.Process(), interval
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


@dataclass(repr=False)
class EncodeCost(Table):
    """One measured `encode` of `texts` texts: median seconds over repeats, and memory."""

    texts: int
    dims: int
    seconds: float
    runs: list[float]
    weights_bytes: int
    peak_extra_bytes: int  # resident memory above the level before encoding (CPU) or peak CUDA allocation
    device: str

    _title = "Embedding cost, measured"

    @property
    def per_100_texts_s(self) -> float:
        return self.seconds * 100 / self.texts

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.seconds

    def _rows(self):
        return [("texts per call", self.texts), ("dimensions", self.dims), ("device", self.device),
                ("seconds per call (median)", f"{self.seconds:.4f}"),
                ("seconds per 100 texts", f"{self.per_100_texts_s:.4f}"),
                ("texts per second", f"{self.texts_per_s:,.0f}"), ("weights", f"{self.weights_bytes / 1e6:,.1f} MB"),
                ("extra memory while encoding (peak)", f"{self.peak_extra_bytes / 1e6:,.1f} MB"),
                ("runs (s)", ", ".join(f"{r:.4f}" for r in self.runs))]


def measure_encode(model, texts: list[str], repeats: int = 3, **encode_kwargs) -> EncodeCost:
    """Time `model.encode(texts)` (a sentence-transformers model) after one warm-up call; median of `repeats`."""
    import torch

    from ..memory import loaded_bytes

    device = str(model.device)
    model.encode(texts[: min(4, len(texts))], **encode_kwargs)  # warm-up: lazy init, kernel selection
    runs, dims, extra = [], 0, 0
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        with PeakRss() as rss:
            start = time.perf_counter()
            vectors = model.encode(texts, **encode_kwargs)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            runs.append(time.perf_counter() - start)
        dims = vectors.shape[-1]
        peak = torch.cuda.max_memory_allocated() - before if device.startswith("cuda") else rss.peak - rss.start
        extra = max(extra, peak)
    return EncodeCost(len(texts), dims, statistics.median(runs), runs, loaded_bytes(model), extra, device)


def index_bytes(vectors: int, dims: int, bytes_per_value: int = 4) -> int:
    """Bytes of a flat index: one float32 (by default) per dimension per vector."""
    return vectors * dims * bytes_per_value
