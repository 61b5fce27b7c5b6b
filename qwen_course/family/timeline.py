"""The Qwen family's releases: the timeline, generation tables and how vocabulary and training data grew."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date

from .. import catalog

MAIN_LINE = ("qwen1", "qwen1.5", "qwen2", "qwen2.5", "qwen3", "qwen3-2507", "qwen3.5")
_SIZE = re.compile(r"^(?:(\d+(?:\.\d+)?)B)?-?(?:MoE-)?(?:A(\d+(?:\.\d+)?)B)?$")


def parse_size(label: str) -> tuple[float | None, float | None]:
    """'1.8B' -> (1.8e9, None); '30B-A3B' -> (30e9, 3e9); 'MoE-A2.7B' -> (None, 2.7e9): total and active parameters."""
    match = _SIZE.match(label.strip())
    if not match or not any(match.groups()):
        raise ValueError(f"not a Qwen size label: {label!r}")
    total, active = (float(g) * 1e9 if g else None for g in match.groups())
    return total, active


def releases() -> list[dict]:
    """Every open size with a month: its checkpoint's own month where the catalog has one, else its series'. A series
    without a verified month (Qwen3.6) is dated by its verified checkpoints only; `dated_by` says which applied."""
    own, verified = {}, {}
    for ckpt in catalog.checkpoints():
        found = re.search(r"-(\d+(?:\.\d+)?B(?:-A\d+(?:\.\d+)?B)?)", ckpt.name)
        if found and ckpt.release:
            own.setdefault((ckpt.series, found.group(1)), ckpt.release)
            if ckpt.verified:
                verified.setdefault((ckpt.series, found.group(1)), ckpt.release)
    rows = []
    for s in catalog.series():
        for label in s["sizes"] + s["moe_sizes"]:
            total, active = parse_size(label)
            if s["release"]:
                month = s.get("size_releases", {}).get(label) or own.get((s["id"], label), s["release"])
                dated_by = "series" if month == s["release"] else "checkpoint"
            elif (s["id"], label) in verified:
                month, dated_by = verified[(s["id"], label)], "checkpoint only (series month not verified)"
            else:
                continue
            rows.append({"series": s["id"], "name": s["name"], "size": label, "moe": active is not None,
                         "total": total, "active": active, "released": date(*map(int, month.split("-")[:2]), 1),
                         "dated_by": dated_by})
    return rows


def undated() -> list[str]:
    """Series with no size on the timeline: neither the series nor a verified checkpoint has a release month."""
    plotted = {r["series"] for r in releases()}
    return [s["name"] for s in catalog.series() if s["id"] not in plotted]


def plot_timeline(ax=None):
    """Open releases by month and size (log scale), a colour per series; MoE: total (filled) down to active (hollow)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(11, 5.5))[1]
    palette = plt.get_cmap("tab20").colors
    colour = {name: palette[i % len(palette)] for i, name in enumerate(dict.fromkeys(r["name"] for r in releases()))}
    label = {r["name"]: r["name"] + (" (checkpoints' month)" if r["dated_by"].startswith("checkpoint only") else "")
             for r in releases()}
    for r in releases():
        c = colour[r["name"]]
        if r["moe"]:
            if r["total"]:
                ax.plot([r["released"]] * 2, [r["total"], r["active"]], color=c, lw=1.2)
                ax.scatter(r["released"], r["total"], color=c, marker="s", s=40, zorder=3)
            ax.scatter(r["released"], r["active"], facecolor="white", edgecolor=c, marker="s", s=40, zorder=3)
        else:
            ax.scatter(r["released"], r["total"], color=c, s=30, zorder=3)
    for name, c in colour.items():
        ax.scatter([], [], color=c, label=label[name])
    ax.scatter([], [], color="grey", marker="s", label="MoE total")
    ax.scatter([], [], facecolor="white", edgecolor="grey", marker="s", label="MoE active")
    ax.set_yscale("log")
    ax.set_xlabel("first open weights (month)")
    ax.set_ylabel("parameters (log scale)")
    ax.set_title("Open Qwen releases by month and size (data: qwen_course catalog, sourced)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def _link(key: str) -> str:
    src = catalog.sources().get(key)
    return f"<a href='{html.escape(src['url'])}'>{html.escape(key)}</a>" if src else html.escape(key)


def _context(native, extended) -> str:
    fmt = lambda n: f"{n // 1024}K" if n and n < 10**6 else (f"{n / 1e6:g}M" if n else "?")  # noqa: E731
    return f"{fmt(native)} / {fmt(extended)}" if extended else fmt(native)


@dataclass
class SeriesTable:
    """The series of one generation as a table; the sources column links to the cited pages."""

    generation: str
    rows: list[dict]
    HEADER = ("series", "released", "sizes", "MoE (total-active)", "context native / extended", "pretraining tokens",
              "license", "vocabulary: tokens / embedding rows", "sources")

    def _cells(self, s: dict) -> list[str]:
        tokens = f"{s['pretraining_tokens'] / 1e12:g}T" if s["pretraining_tokens"] else "not verified"
        vocab = f"{s['vocab_tokens']:,}" if s["vocab_tokens"] else "?"
        vocab += f" / {s['vocab_size']:,}" if s["vocab_size"] else ""
        sizes, moe = ", ".join(s["sizes"]) or "-", ", ".join(s["moe_sizes"]) or "-"
        return [s["name"], s["release"] or "not verified", sizes, moe, _context(s["context_native"], s["context_extended"]),
                tokens, s["license"] or "not verified", vocab]

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in self.HEADER)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in self._cells(s))
                       + f"<td style='text-align:left'>{', '.join(_link(k) for k in s['sources'])}</td></tr>"
                       for s in self.rows)
        caption = f"<caption style='text-align:left'><b>Generation {self.generation}</b></caption>"
        return f"<table>{caption}<tr>{head}</tr>{body}</table>"

    def __str__(self) -> str:
        from .._display import text_table

        return f"Generation {self.generation}\n" + text_table(
            [self._cells(s) + [", ".join(s["sources"])] for s in self.rows], header=self.HEADER)

    __repr__ = __str__


def generations() -> dict[str, SeriesTable]:
    """One table per generation (1, 1.5, 2, 2.5, 3, 3.5, 3.6), oldest first."""
    out: dict[str, SeriesTable] = {}
    for s in catalog.series():
        out.setdefault(s["generation"], SeriesTable(s["generation"], [])).rows.append(s)
    return dict(sorted(out.items(), key=lambda kv: float(kv[0])))


def plot_growth(vocab_measured: dict[str, int] | None = None):
    """Three panels along the main line: pretraining tokens, context (native, extended), vocabulary vs embedding rows."""
    import matplotlib.pyplot as plt

    by_id = {s["id"]: s for s in catalog.series()}
    line = [by_id[i] for i in MAIN_LINE]
    names = [s["name"] for s in line]
    x = range(len(line))
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4.2))
    tokens = [(s["pretraining_tokens"] or 0) / 1e12 for s in line]
    a.bar(x, tokens, color="tab:blue")
    for i, t in zip(x, tokens):
        a.text(i, t, f"{t:g}T" if t else "not\nverified", ha="center", va="bottom", fontsize=7)
    a.set_ylabel("pretraining tokens (trillions)")
    a.set_title("Pretraining data per generation")
    native = [s["context_native"] or 0 for s in line]
    extended = [s["context_extended"] or s["context_native"] or 0 for s in line]
    b.bar([i - 0.2 for i in x], native, 0.4, label="native")
    b.bar([i + 0.2 for i in x], extended, 0.4, label="extended (YaRN etc.)")
    b.set_yscale("log", base=2)
    ticks = sorted(set(native + extended))
    b.set_yticks(ticks, [_context(t, None) for t in ticks])
    b.minorticks_off()
    b.set_ylim(min(ticks) / 2, max(ticks) * 1.5)
    b.set_ylabel("context length (tokens, log scale)")
    b.set_title("Context length per generation")
    b.legend(fontsize=8)
    measured = vocab_measured or {}
    vocab = [measured.get(s["id"]) or s["vocab_tokens"] or 0 for s in line]
    rows = [s["vocab_size"] or 0 for s in line]
    c.bar([i - 0.2 for i in x], vocab, 0.4, label="tokenizer tokens", color="tab:green")
    c.bar([i + 0.2 for i in x], rows, 0.4, label="embedding rows (config vocab_size)", color="tab:grey")
    for i, (v, s) in enumerate(zip(vocab, line)):
        label = f"{v:,}" + ("*" if s["id"] in measured else "")
        c.text(i - 0.2, v, label, rotation=90, ha="center", va="bottom", fontsize=7)
    c.set_ylim(0, max(rows + vocab) * 1.35)
    c.set_ylabel("tokens")
    c.set_title("Vocabulary (* measured here)")
    c.legend(fontsize=8, loc="upper left")
    for ax in (a, b, c):
        ax.set_xticks(list(x), names, rotation=35, ha="right", fontsize=8)
        ax.set_xlabel("series (main line)")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


