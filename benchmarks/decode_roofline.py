"""Decode speed of a real-shape Qwen checkpoint (random weights, no download) against the memory-bandwidth ceiling.

    python benchmarks/decode_roofline.py --model Qwen/Qwen3-0.6B --dtype bf16 fp32 --new-tokens 16 \
        --out benchmarks/results/qwen3-0.6b-shape-cpu2/decode_roofline.json

The architecture numbers come from the course catalog, so the model has the real parameter count and the same
bytes to read per token as the released checkpoint; the weights are random, so the text is noise, but the speed
is what the real model would reach with the same kernels. Qwen3.5/3.6 shapes build their text-only class.
Prints one JSON object (and writes it with --out) with the conditions a reader needs: CPU, threads, load average
before and after, date, torch version, and the bandwidth measured in the same run (lesson 07 reads it).
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

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
TEXT_TYPES = {"qwen3_5": "qwen3_5_text", "qwen3_5_moe": "qwen3_5_moe_text"}  # hybrid checkpoints: the text decoder


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def random_model(model_id: str, dtype: str):
    """The catalog architecture with random weights, built directly in `dtype` on the CPU."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from qwen_course import catalog

    ckpt = catalog.get(model_id)
    config = AutoConfig.for_model(TEXT_TYPES.get(ckpt.model_type, ckpt.model_type), **ckpt.text_config)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, DTYPES[dtype]))
    return model.eval()


def measure(model, prompt_tokens: int, new_tokens: int, repeats: int) -> dict:
    """Median decode speed over `repeats` greedy generations of exactly `new_tokens` tokens (after one warm-up)."""
    import torch

    from qwen_course.monitor import Monitor

    monitor = Monitor(gpu=None)
    ids = torch.randint(0, model.config.vocab_size, (1, prompt_tokens))
    kwargs = dict(attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                  do_sample=False, pad_token_id=0)
    with torch.inference_mode():
        model.generate(ids, **{**kwargs, "max_new_tokens": 2, "min_new_tokens": 2})  # warm-up
        for i in range(repeats):
            with monitor.track(f"run{i}") as t:
                model.generate(ids, streamer=t.streamer, **kwargs)
    runs = monitor.history
    return {
        "decode_tokens_per_s": statistics.median(r.decode_tokens_per_s for r in runs),
        "decode_tokens_per_s_runs": [round(r.decode_tokens_per_s, 3) for r in runs],
        "ttft_s": statistics.median(r.ttft_s for r in runs),
        "peak_rss_bytes": max(r.peak_rss_bytes or 0 for r in runs),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Qwen/Qwen3-0.6B")
    parser.add_argument("--dtype", nargs="+", default=["bf16", "fp32"], choices=sorted(DTYPES))
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, one per core)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from qwen_course.monitor.health import decode_bound, measure_bandwidth, weight_bytes_per_token

    load_before = [round(x, 1) for x in os.getloadavg()]
    bandwidth = measure_bandwidth()
    result = {"model": args.model, "weights": "random (real shape from the course catalog)",
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "load_average_1min": load_before[0], "load_average_before": load_before},
              "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens, "repeats": args.repeats,
              "bandwidth_buffer_bytes": bandwidth.buffer_bytes,
              "torch": torch.__version__, "bandwidth_read_GBps": round(bandwidth.read_bytes_per_s / 1e9, 2),
              "bandwidth_copy_GBps": round(bandwidth.copy_bytes_per_s / 1e9, 2), "runs": {}}
    for dtype in args.dtype:
        start = time.perf_counter()
        model = random_model(args.model, dtype)
        build_s = time.perf_counter() - start
        per_token = weight_bytes_per_token(model)
        speed = measure(model, args.prompt_tokens, args.new_tokens, args.repeats)
        ceiling = decode_bound(per_token, bandwidth.read_bytes_per_s)
        result["runs"][dtype] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "weight_bytes_per_token": per_token, "ceiling_tokens_per_s": round(ceiling, 3),
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in speed.items()},
            "fraction_of_ceiling": round(speed["decode_tokens_per_s"] / ceiling, 3), "build_s": round(build_s, 1),
        }
        del model
    result["machine"]["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return result


if __name__ == "__main__":
    main()
