"""Load an OpenAI-compatible server the way serving engines are benchmarked: closed loop and open loop.

Closed loop: N streams always in flight, each sending its next request when one ends; it measures the most a server
does at a concurrency. Open loop: requests arrive as a Poisson process at a fixed rate whatever the server does, so
a slow server builds a queue and the latency a user sees grows. One asyncio client in one thread keeps the load
generator's own CPU cost small. Every request is streamed and timed: first token, gaps between tokens, end. A level
lasts its window exactly (drain=False): requests still running then are cut, their tokens so far count toward
throughput and their latency toward nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from .._display import Table
from ..monitor import latency_summary, rough_percentiles
from .server import httpx as _httpx, is_loopback

MAX_STREAMS = 64


@dataclass
class Sample:
    """One request: start, time to first token, total time, tokens, gaps between streamed tokens, error, cut."""

    start: float
    ttft: float | None = None
    wall: float = 0.0
    tokens: int = 0
    gaps: list = field(default_factory=list)
    error: str = ""
    cut: bool = False  # still running when the window closed: its tokens count, its latency does not


@dataclass(repr=False)
class LoadRun(Table):
    """Every request of one load level, and the throughput and latency percentiles they give."""

    label: str
    mode: str  # "closed" (level = streams in flight) or "open" (level = arrivals per second)
    level: float
    wall_s: float = 0.0
    samples: list = field(default_factory=list)
    peaks: dict = field(default_factory=dict)  # highest value seen of each polled server gauge (e.g. requests running)

    @property
    def ok(self) -> list:
        """Requests that finished without an error inside the window."""
        return [s for s in self.samples if not s.error and not s.cut]

    @property
    def clients(self) -> float:
        return self.level

    @property
    def tokens_per_s(self) -> float:
        """Tokens streamed during the run (cut requests included) per second of wall time: the server's throughput."""
        return sum(s.tokens for s in self.samples if not s.error) / self.wall_s if self.wall_s else 0.0

    @property
    def latency(self) -> dict:
        """count, mean, min, p50, p95, p99, max of whole-request latency (s)."""
        return latency_summary(s.wall for s in self.ok)

    @property
    def ttft(self) -> dict:
        return latency_summary(s.ttft for s in self.samples if s.ttft is not None and not s.error)

    @property
    def itl(self) -> dict:
        """Gaps between streamed chunks (s; a busy engine may send several tokens in one): many samples per request,
        so its tail percentiles are well founded."""
        return latency_summary(g for s in self.samples if not s.error for g in s.gaps)

    def row(self) -> dict:
        lat, ttft, itl = self.latency, self.ttft, self.itl
        return {"label": self.label, "mode": self.mode, "level": self.level, "requests": len(self.ok),
                "cut": sum(s.cut for s in self.samples), "errors": sum(bool(s.error) for s in self.samples),
                "tokens_per_s": round(self.tokens_per_s, 1),
                "ttft_p50_s": ttft["p50"], "latency_p50_s": lat["p50"], "latency_p95_s": lat["p95"],
                "latency_p99_s": lat["p99"], "itl_p50_ms": itl["p50"] * 1e3, "itl_p99_ms": itl["p99"] * 1e3,
                "rough": ",".join(f"latency {p}" for p in rough_percentiles(lat["count"])) or "",
                "first_error": next((s.error for s in self.samples if s.error), "")}

    @property
    def _title(self) -> str:  # type: ignore[override]
        unit = "streams in flight" if self.mode == "closed" else "requests/s arriving"
        return f"{self.label}: {self.mode} loop, {self.level:g} {unit}"

    def _rows(self):
        r = self.row()
        return [("requests ok / errors", f"{len(self.ok)} / {r['errors']}"), ("throughput", f"{r['tokens_per_s']} tok/s"),
                ("latency p50 / p95 / p99", f"{r['latency_p50_s']:.3f} / {r['latency_p95_s']:.3f} / "
                                            f"{r['latency_p99_s']:.3f} s" + (f" ({r['rough']}: rough)" if r["rough"] else "")),
                ("gap between chunks p50 / p99", f"{r['itl_p50_ms']:.1f} / {r['itl_p99_ms']:.1f} ms")]


def body_for(model: str, prompt: str, extra: dict) -> dict:
    """A streamed chat request that asks for usage in its last chunk (engines that support it send it)."""
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True,
            "stream_options": {"include_usage": True}, **extra}


async def _one(client, url: str, body: dict, sink: list, retry: bool = True) -> Sample:
    """One streamed request, visible in `sink` from its start; a kept-alive connection the server had closed is
    retried once (as openai does); cancelled at the end of a window, it is marked cut."""
    httpx = _httpx()
    s = Sample(time.perf_counter())
    sink.append(s)
    chunks, usage, last = 0, None, None
    try:
        async with client.stream("POST", url, json=body) as r:
            if r.status_code != 200:
                s.error = f"HTTP {r.status_code}: {(await r.aread()).decode(errors='replace')[:200]}"
                return s
            async for line in r.aiter_lines():
                if not line.startswith("data:") or line.strip() == "data: [DONE]":
                    continue
                event = json.loads(line[5:])
                usage = event.get("usage") or usage
                delta = (event.get("choices") or [{}])[0].get("delta") or {}
                # vLLM's reasoning parser streams thinking in `reasoning` (0.32) or `reasoning_content` (older)
                if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
                    now = time.perf_counter()
                    if last is None:
                        s.ttft = now - s.start
                    else:
                        s.gaps.append(now - last)
                    last, chunks = now, chunks + 1
                    s.tokens = chunks
    except asyncio.CancelledError:
        s.cut, s.wall = True, time.perf_counter() - s.start
        raise
    except httpx.RemoteProtocolError as exc:
        if retry and chunks == 0:
            sink.remove(s)
            return await _one(client, url, body, sink, retry=False)
        s.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a failed request is data
        s.error = f"{type(exc).__name__}: {exc}"
    s.wall = time.perf_counter() - s.start
    s.tokens = int(usage["completion_tokens"]) if usage and usage.get("completion_tokens") else chunks
    return s


def _check(base_url: str, level: float, duration_s: float) -> str:
    if not is_loopback(urlparse(base_url).hostname):
        raise ValueError(f"load tests only target this machine (127.0.0.1 / localhost), not {base_url!r}")
    if not 0 < level <= MAX_STREAMS or not 0 < duration_s <= 600:
        raise ValueError(f"level must be in (0, {MAX_STREAMS}] and duration_s in (0, 600]; got {level}, {duration_s}")
    return base_url.rstrip("/") + "/chat/completions"


async def _poll(client, url: str, names: tuple, run: LoadRun, done: asyncio.Event, every_s: float = 0.25):
    """Read Prometheus gauges (vLLM's /metrics) while the load runs; keep the highest value of each."""
    while not done.is_set():
        try:
            text = (await client.get(url)).text
        except Exception:  # noqa: BLE001 - a missed reading is not a failed load test
            text = ""
        for name in names:
            for value in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([\d.eE+-]+)$", text, re.M):
                run.peaks[name] = max(run.peaks.get(name, 0.0), float(value))
        try:
            await asyncio.wait_for(done.wait(), every_s)
        except asyncio.TimeoutError:
            pass


async def _closed(url, body, streams: int, duration_s: float, run: LoadRun, timeout: float, metrics: tuple = (),
                  drain: bool = False):
    httpx = _httpx()
    deadline = time.perf_counter() + duration_s
    async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=streams + 4)) as client:
        async def worker():
            while time.perf_counter() < deadline:
                await _one(client, url, body, run.samples)

        done = asyncio.Event()
        poller = asyncio.create_task(_poll(client, url.split("/v1/")[0] + "/metrics", metrics, run, done)) \
            if metrics else None
        start = time.perf_counter()
        workers = [asyncio.create_task(worker()) for _ in range(streams)]
        _, running = await asyncio.wait(workers, timeout=None if drain else duration_s)
        for task in running:  # the window closed: cut what still runs
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        run.wall_s = time.perf_counter() - start if drain else duration_s
        done.set()
        if poller:
            await poller


async def _open(url, body, rate: float, duration_s: float, run: LoadRun, timeout: float, seed: int):
    httpx = _httpx()
    rng = random.Random(seed)
    async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=256)) as client:
        start, tasks, t = time.perf_counter(), [], 0.0
        while True:
            t += rng.expovariate(rate)
            if t > duration_s:
                break
            await asyncio.sleep(max(0.0, start + t - time.perf_counter()))
            tasks.append(asyncio.create_task(_one(client, url, body, run.samples)))
        await asyncio.gather(*tasks)  # open loop: every arrival is waited for (its latency is the point)
        run.wall_s = time.perf_counter() - start


def _run(coroutine):
    """asyncio.run, also from a notebook cell (Jupyter already runs an event loop: use a thread then)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def closed_loop(base_url: str, model: str, streams: int, *, duration_s: float = 10.0, prompt: str = "Tell me a story.",
                extra: dict | None = None, label: str = "", timeout: float = 300.0, metrics: tuple = (),
                drain: bool = False) -> LoadRun:
    """`streams` requests always in flight for duration_s (a stream sends its next request when one ends); drain=True
    waits for the last requests instead of cutting them; `metrics` names server gauges to poll meanwhile (their
    peaks land in run.peaks)."""
    url = _check(base_url, streams, duration_s)
    run = LoadRun(label, "closed", int(streams))
    _run(_closed(url, body_for(model, prompt, extra or {}), int(streams), duration_s, run, timeout, tuple(metrics),
                 drain))
    return run


def open_loop(base_url: str, model: str, rate_per_s: float, *, duration_s: float = 10.0,
              prompt: str = "Tell me a story.", extra: dict | None = None, label: str = "", timeout: float = 300.0,
              seed: int = 0) -> LoadRun:
    """Requests arrive as a Poisson process at rate_per_s for duration_s, whether or not earlier ones finished."""
    url = _check(base_url, rate_per_s, duration_s)
    run = LoadRun(label, "open", rate_per_s)
    _run(_open(url, body_for(model, prompt, extra or {}), rate_per_s, duration_s, run, timeout, seed))
    return run


def ramp(base_url: str, model: str, streams=(1, 4, 16), *, duration_s: float = 5.0, warmup_s: float = 1.0,
         **kwargs) -> list[LoadRun]:
    """Closed-loop runs at rising concurrency, after a short warm-up that is not counted."""
    if warmup_s:
        closed_loop(base_url, model, 2, duration_s=warmup_s, **{k: v for k, v in kwargs.items() if k != "label"})
    return [closed_loop(base_url, model, n, duration_s=duration_s, **kwargs) for n in streams]
