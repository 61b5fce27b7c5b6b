"""Rewrite the README's "Runs on" table from the measurements the notebook tests record.

    python -m pytest tests/test_notebooks.py -m slow   # writes build/notebooks/timings.json
    python tools/runs_on.py                            # updates README.md between the runs-on markers
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- runs-on:start -->", "<!-- runs-on:end -->"


def table(timings: dict, gpu: dict | None = None) -> str:
    """Markdown rows: notebook, offline wall time and peak kernel memory on 2 CPU cores, GPU figures where measured."""
    gpu = gpu or {}
    rows = ["| notebook | offline, 2 CPU cores: time | peak memory | GPU (real pick) |", "|---|---|---|---|"]
    for nb in sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        t = timings.get(nb)
        if isinstance(t, (int, float)):
            t = {"seconds": t}
        time_s = f"{t['seconds']:.0f} s" if t else "not measured"
        mem = f"{t['peak_rss_mb'] / 1000:.1f} GB" if t and t.get("peak_rss_mb") else "not measured"
        rows.append(f"| {nb} | {time_s} | {mem} | {gpu.get(nb, 'not measured yet')} |")
    return "\n".join(rows)


def main() -> int:
    timings_file = ROOT / "build" / "notebooks" / "timings.json"
    if not timings_file.exists():
        print(f"no {timings_file}: run the notebook tests first", file=sys.stderr)
        return 1
    gpu_file = ROOT / "benchmarks" / "gpu_runs.json"
    gpu = json.loads(gpu_file.read_text()) if gpu_file.exists() else {}
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = f"{START}\n{table(json.loads(timings_file.read_text()), gpu)}\n{END}"
    text, n = re.subn(re.escape(START) + ".*?" + re.escape(END), new, text, flags=re.S)
    if not n:
        print("README.md has no runs-on markers", file=sys.stderr)
        return 1
    readme.write_text(text)
    print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
