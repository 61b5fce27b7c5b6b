"""Compare `qwen_course.memory.estimate` with the memory really taken by randomly initialised real-shape Qwen models.

Each (model, precision) runs in a fresh process: peak RSS after building the model from the catalog's exact config
and running one forward pass over CONTEXT tokens with the KV cache, minus the RSS before building it.

    python benchmarks/memory_estimate.py [--context 512] [--models Qwen/Qwen3-0.6B ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

MODELS = ["Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B"]
PRECISIONS = ["fp32", "bf16"]


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(model_id: str, precision: str, context: int) -> dict:
    """Build, run one prefill, return bytes measured (runs inside the child process)."""
    import psutil
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from qwen_course import catalog
    from qwen_course.memory import estimate

    torch.manual_seed(0)
    ckpt = catalog.get(model_id)
    config = AutoConfig.for_model(ckpt.model_type, **ckpt.config)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    process = psutil.Process()
    before = process.memory_info().rss
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.eval()
    after_load = process.memory_info().rss
    ids = torch.randint(0, 150000, (1, context))
    with torch.no_grad():
        model(input_ids=ids, use_cache=True)
    est = estimate(model_id, precision, context)
    return {"model_id": model_id, "precision": precision, "context": context,
            "measured_weights": after_load - before, "measured_peak": peak_rss() - before,
            "estimate_weights": est.weights_bytes, "estimate_total": est.total_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.context)))
        return
    header = f"{'model':28s} {'prec':5s} {'est. weights':>12s} {'measured':>10s} {'diff':>6s}   {'est. total':>10s} {'peak':>10s} {'diff':>6s}"
    print(f"context {args.context} tokens, batch 1; GB = 1e9 bytes\n{header}\n{'-' * len(header)}", flush=True)
    for model_id in args.models:
        for precision in PRECISIONS:
            out = subprocess.run([sys.executable, __file__, "--context", str(args.context), "--child", model_id, precision],
                                 capture_output=True, text=True, check=True)
            row(json.loads(out.stdout.strip().splitlines()[-1]))


def row(r: dict) -> None:
    """One table line, printed as soon as its measurement is done."""
    dw = r["measured_weights"] / r["estimate_weights"] - 1
    dt = r["measured_peak"] / r["estimate_total"] - 1
    print(f"{r['model_id']:28s} {r['precision']:5s} {r['estimate_weights'] / 1e9:12.3f} {r['measured_weights'] / 1e9:10.3f} "
          f"{dw:+6.1%}   {r['estimate_total'] / 1e9:10.3f} {r['measured_peak'] / 1e9:10.3f} {dt:+6.1%}", flush=True)


if __name__ == "__main__":
    main()
