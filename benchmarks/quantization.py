"""Every quantization method that runs here, on one model: weight memory, TTFT, decode speed and drift, as CSV + figure.

    python benchmarks/quantization.py --model Qwen/Qwen3-0.6B --real-shape --runs 3
    python benchmarks/quantization.py --stand-in --runs 1            # the tiny model: checks every code path quickly
    python benchmarks/quantization.py --cpu-precision                # also (re)measure the picker's CPU precision

Offline, --real-shape builds a random-weight checkpoint with the model's exact shape (cached under
QWEN_COURSE_HOME), so memory and speed are the real model's while drift is illustrative. Online the real checkpoint
is used. Each run measures every method once (warm-up, then the median of --repeats timed generations); the summary
is the median over --runs. Writes <out>/quantization_runs.csv, quantization_summary.csv, quantization.png and
quantization.json. Timings on a shared machine are noisy: report them with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

NUMERIC = ["weights_bytes", "estimate_bytes", "load_s", "ttft_s", "decode_tokens_per_s", "top1_agreement", "kl", "perplexity"]


def summarise(runs: list[list]) -> list:
    """One Result per method holding the median of each number over the runs that measured it."""
    from qwen_course.quantization.measure import Result

    summary = []
    for rows in zip(*runs):
        first = rows[0]
        merged = Result(first.method, first.label, first.precision, any(r.ran for r in rows), first.reason)
        for name in NUMERIC:
            values = [getattr(r, name) for r in rows if r.ran and getattr(r, name) is not None]
            setattr(merged, name, statistics.median(values) if values else None)
        if not merged.ran:
            merged.reason = next((r.reason for r in rows if not r.ran), first.reason)
        summary.append(merged)
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Qwen/Qwen3-0.6B", help="catalog id of a text model")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--real-shape", action="store_true", help="offline: random weights in the model's exact shape")
    shape.add_argument("--stand-in", action="store_true", help="offline: the tiny stand-in (fast, numbers illustrative)")
    parser.add_argument("--methods", nargs="*", help="method keys (default: every non-prequantized method)")
    parser.add_argument("--runs", type=int, default=3, help="full comparisons; the summary is their median")
    parser.add_argument("--repeats", type=int, default=3, help="timed generations per method per run")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--cpu-precision", action="store_true", help="also measure and cache the picker's CPU precision")
    parser.add_argument("--out", default="build/benchmarks", help="folder for the CSV, JSON and figure")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import logging

    import torch

    from qwen_course.quantization import report as qr
    from qwen_course.hardware import detect

    from qwen_course.notebook import QUIET_LOGGERS

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    hw = detect()
    path, what, caveat = qr.measuring_model(args.model, real_shape=not args.stand_in)
    real_weights = path == args.model
    print(f"model: {what}\ncaveat: {caveat}\nmachine: {platform.processor() or platform.machine()}, "
          f"{hw.cores} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()}")
    estimate_for = None if args.stand_in else args.model
    runs = []
    for run in range(args.runs):
        print(f"--- run {run + 1}/{args.runs}")
        runs.append(qr.compare(path, args.methods, hw, new_tokens=args.new_tokens, repeats=args.repeats,
                               prompt_tokens=args.prompt_tokens, real_weights=real_weights, estimate_for=estimate_for,
                               allow_compile=True))
    summary = summarise(runs)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    pd.DataFrame([dict(r.row(), run=i + 1) for i, rows in enumerate(runs) for r in rows]).to_csv(
        out / "quantization_runs.csv", index=False)
    table = qr.frame(summary)
    table.to_csv(out / "quantization_summary.csv", index=False)
    fig = qr.plot(summary, f"{what.split(' (')[0]}: median of {args.runs} runs on {hw.cores} CPU cores"
                  if hw.device == "cpu" else f"{what.split(' (')[0]}: median of {args.runs} runs on {hw.accelerator}")
    fig.savefig(out / "quantization.png", dpi=120)
    report = {"model": what, "caveat": caveat, "runs": args.runs, "repeats": args.repeats,
              "new_tokens": args.new_tokens, "load_average": os.getloadavg(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "summary": [r.row() for r in summary]}
    if args.cpu_precision:
        from qwen_course.precision import cpu as qcpu

        start = time.perf_counter()
        saved = qcpu.measure_cpu_precisions()
        report["cpu_precision"] = {k: saved[k] for k in ("choice", "why", "routes", "results")}
        report["cpu_precision"]["seconds"] = round(time.perf_counter() - start, 1)
        print(f"picker's CPU precision: {saved['choice']} - {saved['why']} ({report['cpu_precision']['seconds']} s)")
    (out / "quantization.json").write_text(json.dumps(report, indent=1, default=str))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns=["ran"]).to_string(index=False))
    print(f"wrote {out}/quantization_summary.csv, quantization_runs.csv, quantization.png, quantization.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
