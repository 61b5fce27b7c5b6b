"""Figures for the monitoring lesson, a live view that refreshes while tokens stream, and TensorBoard log reading.

Every plot returns its matplotlib Figure with a title, labelled axes and units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from .metrics import RequestMetrics, latency_summary, rough_percentiles
from .tracker import Monitor

__all__ = [
    "plot_latency", "plot_sweep", "plot_roofline", "plot_kv_growth", "plot_scalars",
    "LiveView", "read_tensorboard",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_latency(monitor: Monitor, label: str | None = None, title: str = "Inter-token latency"):
    """Histogram of inter-token gaps (ms) with p50/p95/p99 marked; time to first token in a second panel."""
    plt = _plt()
    gaps = [g * 1e3 for g in monitor.inter_token_latencies(label)]
    ttfts = [m.ttft_s * 1e3 for m in monitor.select(label) if m.ttft_s is not None]
    if not gaps:
        raise ValueError("no inter-token latencies recorded yet")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 1]})
    ax.hist(gaps, bins=min(40, max(5, len(gaps) // 3)), color="#4c72b0", alpha=0.8)
    stats = latency_summary(gaps)
    rough = rough_percentiles(len(gaps))
    for q, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
        ax.axvline(stats[q], color="black", linestyle=style,
                   label=f"{q} = {stats[q]:.1f} ms" + (" (rough: few samples)" if q in rough else ""))
    ax.set(title=f"{title} ({stats['count']} gaps, {len(monitor.select(label))} requests)",
           xlabel="time between consecutive tokens (ms)", ylabel="count")
    ax.legend()
    ax2.boxplot(ttfts)
    ax2.set(title="Time to first token", ylabel="ms", xticks=[])
    fig.tight_layout()
    return fig


def plot_sweep(frame, x: str, y: Sequence[str] = ("decode_tokens_per_s",), title: str = "",
               ylabel: str = "tokens/s (median)"):
    """Median of each y column against x (e.g. tokens/s against prompt length or batch size)."""
    plt = _plt()
    names = {"decode_tokens_per_s": "decode speed per sequence", "throughput_tokens_per_s": "throughput, whole batch",
             "ttft_s": "time to first token (s)", "prompt_tokens": "prompt length (tokens)", "batch_size": "batch size"}
    grouped = frame.groupby(x)[list(y)].median()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for col in y:
        ax.plot(grouped.index, grouped[col], marker="o", label=names.get(col, col))
    ax.set_xticks(list(grouped.index))
    ax.set(title=title or f"Tokens/s against {names.get(x, x)}", xlabel=names.get(x, x), ylabel=ylabel)
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_roofline(rows: Sequence[tuple[str, float, float]], title: str = "Decode speed against the bandwidth ceiling"):
    """Bars of measured tokens/s next to the memory-bandwidth ceiling, one pair per (label, measured, ceiling)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    xs = range(len(rows))
    ax.bar([i - 0.2 for i in xs], [r[1] for r in rows], width=0.4, label="measured", color="#4c72b0")
    ax.bar([i + 0.2 for i in xs], [r[2] for r in rows], width=0.4, label="bandwidth ceiling", color="#dd8452")
    for i, (_, measured, ceiling) in enumerate(rows):
        ax.text(i - 0.2, measured, f"{measured / ceiling:.0%}\nof ceiling", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(list(xs), [r[0] for r in rows])
    ax.set_yscale("log")
    ax.set_ylim(bottom=min(v for r in rows for v in r[1:]) / 10)  # bars start well below the smallest value
    ax.set(title=title, ylabel="tokens/s, batch 1 (log scale)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_kv_growth(tokens: Sequence[int], measured: Sequence[float], predicted: Sequence[float],
                   process: Sequence[float] | None = None, title: str = "Cache over a long chat"):
    """Measured cache bytes against the formula's prediction as the conversation grows (MB)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(tokens, [m / 1e6 for m in measured], marker="o", label="measured: cache tensors")
    ax.plot(tokens, [p / 1e6 for p in predicted], linestyle="--", label="predicted: memory.cache_bytes")
    handles = ax.get_legend_handles_labels()
    if process is not None:
        ax2 = ax.twinx()
        ax2.plot(tokens, [p / 1e6 for p in process], color="grey", alpha=0.6, marker=".", label="process RSS (right axis)")
        ax2.set_ylabel("process RSS (MB)", color="grey")
        ax2.ticklabel_format(axis="y", useOffset=False, style="plain")
        extra = ax2.get_legend_handles_labels()
        handles = (handles[0] + extra[0], handles[1] + extra[1])
    ax.set(title=title, xlabel="tokens in the conversation", ylabel="cache (MB): K/V + fixed state")
    ax.legend(*handles, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_scalars(frame, tags: Sequence[str] | None = None, title: str = "Training logs"):
    """One panel per TensorBoard scalar tag (a frame from `read_tensorboard`)."""
    plt = _plt()
    tags = list(tags or sorted(frame["tag"].unique()))
    if not tags:
        raise ValueError("no scalar tags to plot")
    fig, axes = plt.subplots(1, len(tags), figsize=(3.6 * len(tags), 3.2), squeeze=False)
    for ax, tag in zip(axes[0], tags):
        part = frame[frame["tag"] == tag].sort_values("step")
        for run, rows in part.groupby("run"):
            ax.plot(rows["step"], rows["value"], marker=".", label=str(run))
        ax.set(title=tag, xlabel="training step", ylabel=tag.split("/")[-1])
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def read_tensorboard(logdir) -> "object":
    """Every scalar in the event files under `logdir` as a DataFrame: run, tag, step, value, wall_time.

    `run` is the folder of the event file; a folder holding several runs' files gets one run per file.
    """
    import pandas as pd
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = Path(logdir)
    columns = ["run", "tag", "step", "value", "wall_time"]
    if not root.exists():
        raise FileNotFoundError(f"no TensorBoard logs at {root}")
    files = sorted(root.rglob("events.out.tfevents.*"))
    rows = []
    for file in files:
        folder = str(file.parent.relative_to(root)) if file.parent != root else "."
        siblings = [f for f in files if f.parent == file.parent]
        run = folder if len(siblings) == 1 else f"{folder} #{siblings.index(file) + 1}"
        acc = EventAccumulator(str(file), size_guidance={"scalars": 0})  # 0 = keep every point
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            rows += [(run, tag, e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]
    return pd.DataFrame(rows, columns=columns)


class LiveView:
    """Refreshes one chart in place while tokens stream (plain text outside Jupyter), spending at most `overhead`
    of the run's time drawing: drawing happens inside the decoding loop and slows it down."""

    def __init__(self, every_s: float = 0.5, chart: bool = True, clock: Callable[[], float] | None = None,
                 mode: str = "auto", overhead: float = 0.1):
        import time

        self.every_s, self.chart, self.clock = every_s, chart, clock or time.perf_counter
        self.mode = _notebook_mode() if mode == "auto" else mode
        if self.mode not in ("notebook", "text"):
            raise ValueError("mode must be 'auto', 'notebook' or 'text'")
        if not 0 < overhead <= 1:
            raise ValueError("overhead must be in (0, 1]")
        self.overhead = overhead
        self._handle, self._next, self.updates, self.draw_s = None, float("-inf"), 0, 0.0
        self.lines: list[str] = []

    def update(self, snap: dict) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._show(snap)
        done = self.clock()
        self.draw_s += done - now
        # wait at least every_s, and long enough that drawing stays under `overhead` of the time
        self._next = done + max(self.every_s, (done - now) * (1 - self.overhead) / self.overhead)

    def finish(self, metrics: RequestMetrics) -> None:
        snap = {"label": metrics.label, "tokens": metrics.completion_tokens, "elapsed_s": metrics.wall_s,
                "ttft_s": metrics.ttft_s, "inter_token_s": metrics.inter_token_s,
                "decode_tokens_per_s": metrics.decode_tokens_per_s, "rss_bytes": metrics.peak_rss_bytes, "done": True}
        self._show(snap)

    @staticmethod
    def line(snap: dict) -> str:
        speed = snap.get("decode_tokens_per_s")
        ttft = snap.get("ttft_s")
        rss = snap.get("rss_bytes")
        return (f"{'done' if snap.get('done') else 'live'} {snap.get('label') or ''}: {snap['tokens']} tokens in "
                f"{snap['elapsed_s']:.2f} s | TTFT {'-' if ttft is None else f'{ttft:.3f} s'} | decode "
                f"{'-' if speed is None else f'{speed:.1f} tokens/s'} | RSS {'-' if rss is None else f'{rss / 1e6:.0f} MB'}")

    def _show(self, snap: dict) -> None:
        self.updates += 1
        text = self.line(snap)
        self.lines.append(text)
        if self.mode == "text":
            print(text, flush=True)
            return
        from IPython.display import display

        content = self._figure(snap) if self.chart and len(snap.get("inter_token_s", [])) > 1 else text
        if self._handle is None:
            self._handle = display(content, display_id=True)
        else:
            self._handle.update(content)

    def _figure(self, snap: dict):
        """A small chart of the gaps so far, rendered to PNG so it can replace itself in place."""
        from IPython.display import Image
        import io

        plt = _plt()
        gaps = [g * 1e3 for g in snap["inter_token_s"]]
        fig, ax = plt.subplots(figsize=(6, 2.2))
        ax.plot(range(2, len(gaps) + 2), gaps, marker=".")
        ax.set(title=self.line(snap), xlabel="token index", ylabel="gap (ms)")
        ax.title.set_fontsize(8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        return Image(buf.getvalue())


def _notebook_mode() -> str:
    """'notebook' inside a Jupyter kernel, 'text' in a terminal or script."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return "text"
    return "notebook" if shell is not None and hasattr(shell, "kernel") else "text"
