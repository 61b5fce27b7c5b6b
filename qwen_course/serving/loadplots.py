"""Reading load runs (serving.loadgen): one table row per level, plots against concurrency, and an open loop read as
a user sees it (latency against arrival time)."""

from __future__ import annotations

from .loadgen import LoadRun


def runs_frame(runs_by_label: dict[str, list[LoadRun]]):
    """One row per (engine, level) as a pandas DataFrame; `rough` names percentiles from too few requests."""
    import pandas as pd

    return pd.DataFrame([{**r.row(), "label": label} for label, runs in runs_by_label.items() for r in runs])


def plot_runs(runs_by_label: dict[str, list[LoadRun]], title: str = "Throughput and latency under load"):
    """Throughput and latency (request p50/p95, token gap p99) against concurrency, one colour per engine."""
    import matplotlib.pyplot as plt

    fig, (ax_tp, ax_lat, ax_itl) = plt.subplots(1, 3, figsize=(14, 4))
    for label, runs in runs_by_label.items():
        xs = [r.level for r in runs]
        line, = ax_tp.plot(xs, [r.tokens_per_s for r in runs], marker="o", label=label)
        colour = line.get_color()
        ax_lat.plot(xs, [r.latency["p50"] for r in runs], marker="o", color=colour, label=f"{label} p50")
        ax_lat.plot(xs, [r.latency["p95"] for r in runs], marker="^", linestyle="--", color=colour,
                    label=f"{label} p95")
        ax_itl.plot(xs, [r.itl["p99"] * 1e3 for r in runs], marker="s", color=colour, label=f"{label} p99")
    ax_tp.set(title="Throughput", xlabel="streams in flight (closed loop)", ylabel="generated tokens per second")
    ax_lat.set(title="Request latency", xlabel="streams in flight (closed loop)", ylabel="seconds")
    ax_itl.set(title="Gap between streamed chunks", xlabel="streams in flight (closed loop)", ylabel="milliseconds")
    levels = sorted({r.level for runs in runs_by_label.values() for r in runs})
    for ax in (ax_tp, ax_lat, ax_itl):
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [f"{x:g}" for x in levels])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def queue_growth(run: LoadRun) -> dict:
    """An open-loop run read as a user sees it: latency of each finished request against when it arrived.

    Keys: requests, arrivals_s (seconds after the first arrival), latency_s, first / last (mean latency of the first
    and last third of the arrivals: a server that keeps up keeps them close, one that queues lets the last grow)."""
    done = sorted((s for s in run.samples if not s.error and not s.cut), key=lambda s: s.start)
    if not done:
        return {"requests": 0, "arrivals_s": [], "latency_s": [], "first": None, "last": None}
    t0, third = done[0].start, max(1, len(done) // 3)
    latency = [s.wall for s in done]
    return {"requests": len(done), "arrivals_s": [s.start - t0 for s in done], "latency_s": latency,
            "first": sum(latency[:third]) / third, "last": sum(latency[-third:]) / third}


def plot_open_loop(runs_by_label: dict[str, LoadRun], title: str = "Open loop: latency against arrival time"):
    """Each finished request as a point: when it arrived (x) and how long it took (y), one colour per engine."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for label, run in runs_by_label.items():
        growth = queue_growth(run)
        ax.plot(growth["arrivals_s"], growth["latency_s"], marker="o", label=f"{label} ({run.level:g} requests/s)")
    ax.set(title=title, xlabel="arrival, seconds after the first request", ylabel="request latency, seconds")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

