"""Compare `qwen_course.memory.estimate` with the memory really taken by randomly initialised real-shape Qwen models.

Each (model, precision) runs in a fresh process: the RSS growth from building the model from the catalog's exact config
(weights), and the peak RSS growth while it runs one forward pass over CONTEXT tokens with the KV cache (total).

    python benchmarks/memory_estimate.py [--context 512] [--models Qwen/Qwen3-0.6B ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

MODELS = ["Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B"]
PRECISIONS = ["fp32", "bf16"]


def measure(model_id: str, precision: str, context: int) -> dict:
    """Build, run one prefill, return bytes measured (runs inside the child process).

    A tiny model of the same class is built first, so lazy imports and allocator set-up are not charged to the model;
    the peak during the forward pass is sampled every 10 ms.
    """
    import gc
    import threading

    import psutil
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from qwen_course import catalog
    from qwen_course.memory import estimate

    torch.manual_seed(0)
    ckpt = catalog.get(model_id)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    tiny = dict(ckpt.config, num_hidden_layers=1, hidden_size=64, intermediate_size=64, num_attention_heads=2,
                num_key_value_heads=1, head_dim=32, vocab_size=1024)
    warm = AutoModelForCausalLM.from_config(AutoConfig.for_model(ckpt.model_type, **tiny), dtype=dtype)
    warm(input_ids=torch.randint(0, 1000, (1, 4)))
    del warm
    gc.collect()

    process = psutil.Process()
    before = process.memory_info().rss
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(ckpt.model_type, **ckpt.config), dtype=dtype)
    model.eval()
    gc.collect()
    after_load = process.memory_info().rss
    peak, done = [after_load], threading.Event()

    def sample():
        while not done.wait(0.01):
            peak.append(process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    ids = torch.randint(0, 150000, (1, context))
    with torch.no_grad():
        model(input_ids=ids, use_cache=True)
    done.set()
    sampler.join()
    est = estimate(model_id, precision, context)
    return {"model_id": model_id, "precision": precision, "context": context,
            "measured_weights": after_load - before, "measured_peak": max(peak) - before,
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
