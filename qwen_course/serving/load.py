"""A bounded load test for an OpenAI-compatible chat endpoint on this machine: N clients x M streamed requests.

Every request is timed with notebook 07's `RequestMetrics` (time to first streamed chunk, gaps between chunks,
wall time); percentiles come from `monitor.latency_summary`. It refuses non-loopback URLs, caps clients and
requests, and stops issuing requests once its deadline passes, so it always ends by itself.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlparse

from .._display import Table
from ..monitor import Monitor, RequestMetrics, latency_summary
from .server import httpx as _httpx, is_loopback

MAX_CLIENTS = 32
MAX_REQUESTS = 256
DEFAULT_PROMPT = "In one sentence, what does a load balancer do?"


def chat_body(model: str, prompt: str = DEFAULT_PROMPT, max_tokens: int = 16, stream: bool = True,
              enable_thinking: bool | None = False) -> dict:
    """An OpenAI chat-completions request body; `enable_thinking` travels as a chat-template kwarg (Qwen3)."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": int(max_tokens),
            "stream": bool(stream)}
    if enable_thinking is not None:
        body["chat_template_kwargs"] = {"enable_thinking": bool(enable_thinking)}
    return body


def _sse_events(lines):
    """JSON payloads of `data:` lines of a server-sent-event stream, up to `[DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if data:
            yield json.loads(data)


def timed_chat(client, url: str, body: dict, *, clock=time.perf_counter, label: str = "",
               headers: dict | None = None) -> RequestMetrics:
    """Send one streamed chat request and time it: first content chunk, gaps between chunks, end of stream."""
    start = clock()
    first = last = None
    gaps: list[float] = []
    chunks = 0
    usage = {}
    with client.stream("POST", url, json={**body, "stream": True}, headers=headers or {}) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        for event in _sse_events(response.iter_lines()):
            usage = event.get("usage") or usage
            delta = (event.get("choices") or [{}])[0].get("delta", {})
            if delta.get("content") or delta.get("reasoning_content"):
                now = clock()
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
                chunks += 1
    end = clock()
    return RequestMetrics(prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", chunks)),
                          ttft_s=None if first is None else first - start, inter_token_s=gaps,
                          wall_s=end - start, label=label)


@dataclass(repr=False)
class LoadResult(Table):
    """What one load test measured: per-request metrics, errors, and the wall time of the whole run."""

    label: str
    clients: int
    requests_per_client: int
    metrics: list[RequestMetrics] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    stopped_early: bool = False

    @property
    def ok(self) -> int:
        return len(self.metrics)

    @property
    def latency(self) -> dict:
        """count, mean, min, p50, p95, p99, max of end-to-end request latency (s)."""
        return latency_summary(m.wall_s for m in self.metrics)

    @property
    def ttft(self) -> dict:
        return latency_summary(m.ttft_s for m in self.metrics if m.ttft_s is not None)

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens of all requests per second of wall time: the server's throughput."""
        return sum(m.completion_tokens for m in self.metrics) / self.wall_s if self.wall_s > 0 else 0.0

    def as_row(self) -> dict:
        lat, ttft = self.latency, self.ttft
        return {"label": self.label, "clients": self.clients, "ok": self.ok, "errors": len(self.errors),
                "wall_s": self.wall_s, "requests_per_s": self.requests_per_s, "tokens_per_s": self.tokens_per_s,
                "p50_s": lat["p50"], "p95_s": lat["p95"], "p99_s": lat["p99"], "ttft_p50_s": ttft["p50"]}

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Load test {self.label or ''}: {self.clients} clients x {self.requests_per_client} requests".strip()

    def _rows(self):
        lat, ttft = self.latency, self.ttft
        rows = [("requests ok / errors", f"{self.ok} / {len(self.errors)}"), ("wall time", f"{self.wall_s:.2f} s"),
                ("throughput", f"{self.requests_per_s:.2f} requests/s, {self.tokens_per_s:.1f} tokens/s"),
                ("latency p50 / p95 / p99", f"{lat['p50']:.3f} / {lat['p95']:.3f} / {lat['p99']:.3f} s"),
                ("time to first chunk p50", f"{ttft['p50']:.3f} s")]
        if self.stopped_early:
            rows.append(("note", "deadline reached: stopped before every request was sent"))
        if self.errors:
            rows.append(("first error", self.errors[0][:120]))
        return rows


def load_test(base_url: str, model: str, *, clients: int = 4, requests_per_client: int = 2, max_tokens: int = 16,
              prompt: str = DEFAULT_PROMPT, label: str = "", api_key: str | None = None, timeout_s: float = 60.0,
              deadline_s: float = 120.0, warmup: bool = True, monitor: Monitor | None = None,
              clock=time.perf_counter, transport=None) -> LoadResult:
    """`clients` threads each send `requests_per_client` streamed requests back to back; all timed."""
    httpx = _httpx()

    if not is_loopback(urlparse(base_url).hostname):
        raise ValueError(f"load tests only target this machine (127.0.0.1 / localhost), not {base_url!r}")
    if not 1 <= int(clients) <= MAX_CLIENTS:
        raise ValueError(f"clients must be between 1 and {MAX_CLIENTS}, got {clients}")
    if int(requests_per_client) < 1 or clients * requests_per_client > MAX_REQUESTS:
        raise ValueError(f"1..{MAX_REQUESTS} requests in total, got {clients} x {requests_per_client}")
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = chat_body(model, prompt, max_tokens)
    result = LoadResult(label, int(clients), int(requests_per_client))
    lock = threading.Lock()

    def client_for():
        return httpx.Client(timeout=timeout_s, transport=transport)

    if warmup:  # the first request pays one-off costs (lazy init, cache allocation): keep it out of the numbers
        with client_for() as c:
            timed_chat(c, url, body, clock=clock, headers=headers)
    start = clock()
    stop_at = start + deadline_s

    def worker(index: int) -> None:
        with client_for() as c:
            for _ in range(requests_per_client):
                if clock() > stop_at:
                    with lock:
                        result.stopped_early = True
                    return
                try:
                    m = timed_chat(c, url, body, clock=clock, label=label, headers=headers)
                except Exception as exc:  # noqa: BLE001 - every failure is data for the load test
                    with lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    result.metrics.append(m)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    result.wall_s = clock() - start
    if monitor is not None:
        for m in result.metrics:
            monitor.add(m)
    return result


def sweep(base_url: str, model: str, concurrency=(1, 2, 4), **kwargs) -> list[LoadResult]:
    """One load test per concurrency level (warm-up only before the first)."""
    warmup = kwargs.pop("warmup", True)
    return [load_test(base_url, model, clients=n, warmup=warmup and i == 0, **kwargs) for i, n in enumerate(concurrency)]


def first_doubling(results: list[LoadResult]) -> int:
    """The smallest concurrency whose p95 latency is at least twice the one of the first level; 0 if none is."""
    base = results[0].latency["p95"]
    for r in results[1:]:
        if r.latency["p95"] >= 2 * base:
            return r.clients
    return 0


def frame(results_by_mode: dict[str, list[LoadResult]]):
    """One row per (mode, concurrency) as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame([{"mode": mode, **r.as_row()} for mode, rs in results_by_mode.items() for r in rs])


def plot_load(results_by_mode: dict[str, list[LoadResult]], title: str = "Local server under load"):
    """Latency p50/p95 and throughput against the number of concurrent clients, one line per server mode."""
    import matplotlib.pyplot as plt

    fig, (ax_lat, ax_tp) = plt.subplots(1, 2, figsize=(11, 4))
    for mode, results in results_by_mode.items():
        xs = [r.clients for r in results]
        line, = ax_lat.plot(xs, [r.latency["p50"] for r in results], marker="o", label=f"{mode} p50")
        ax_lat.plot(xs, [r.latency["p95"] for r in results], marker="^", linestyle="--", color=line.get_color(),
                    label=f"{mode} p95")
        ax_tp.plot(xs, [r.tokens_per_s for r in results], marker="o", color=line.get_color(), label=mode)
    ax_lat.set(title="Request latency", xlabel="concurrent clients", ylabel="latency (s)")
    ax_tp.set(title="Throughput", xlabel="concurrent clients", ylabel="generated tokens per second")
    for ax in (ax_lat, ax_tp):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_xticks(sorted({r.clients for rs in results_by_mode.values() for r in rs}))
    fig.suptitle(title)
    fig.tight_layout()
    return fig
