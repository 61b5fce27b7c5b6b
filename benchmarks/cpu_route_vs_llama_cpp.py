"""The picker's CPU route against llama.cpp Q8_0, in the same run, on the same shape: decode tokens per second.

    python benchmarks/cpu_route_vs_llama_cpp.py --model Qwen/Qwen3-0.6B --threads 2 --rounds 3

What the learner's cells do is measured: `pick(...)` on this machine (its route: lesson 03's measurement or the MLP
probe), `from_pretrained` with the pick's dtype, `p.after_load(model)`, then greedy `generate` of a fixed number of
tokens; a bare decode loop (one forward per token with the cache, no `generate`) shows how much of a token is the
model itself. Every other 16/32-bit and int8 route runs too, so the pick can be compared with the fastest route
measured here. llama.cpp (`qwen-course engine install llama.cpp`) converts the same checkpoint to GGUF Q8_0 and
llama-bench times it. Rounds interleave everything (llama.cpp, each route, llama.cpp, ...), so a change in the
machine's load moves every number alike; medians are reported. Offline the checkpoint is the exact shape with
random weights: speed depends on shapes, not values. Writes <out>/cpu_route_vs_llama_cpp.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

ROUTES = ("fp32", "bf16", "ao-dynamic-int8")  # what a learner's CPU can load with torch alone


def load(path: str, route: str):
    """The checkpoint as `route` loads it: its dtype, then its step after loading (torch.ao int8)."""
    from transformers import AutoModelForCausalLM

    from qwen_course.precision import apply_post_load, load_dtype

    model = AutoModelForCausalLM.from_pretrained(path, dtype=load_dtype(route, "cpu")).eval()
    return apply_post_load(model, route)


def decode_generate(model, ids, new_tokens: int) -> float:
    """Tokens per second of greedy `generate`: (time for 1 + n tokens - time for 1 token) / n."""
    import torch
    from transformers import GenerationConfig

    def seconds(n: int) -> float:
        config = GenerationConfig(max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
        return time.perf_counter() - start

    return new_tokens / max(seconds(new_tokens + 1) - seconds(1), 1e-9)


def decode_loop(model, ids, new_tokens: int) -> float:
    """Tokens per second of a bare greedy loop: one forward per token with the cache, no generate()."""
    import torch

    with torch.inference_mode():
        out = model(ids, use_cache=True, logits_to_keep=1)
        token, steps = out.logits[:, -1:].argmax(-1), []
        for _ in range(new_tokens):
            start = time.perf_counter()
            out = model(token, past_key_values=out.past_key_values, use_cache=True)
            token = out.logits[:, -1:].argmax(-1)
            steps.append(time.perf_counter() - start)
    return 1 / statistics.median(steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="Qwen/Qwen3-0.6B", help="a catalog text model: its exact shape is built")
    parser.add_argument("--threads", type=int, default=None, help="torch and llama.cpp threads (default: torch's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from qwen_course.picker import pick
    from qwen_course.quantization import real_shape_checkpoint
    from qwen_course.serving import llama_bench as bench
    from qwen_course.serving import to_gguf

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    p = pick("chat", model=args.model, build_stand_in=False)
    path = str(real_shape_checkpoint(args.model))
    gguf = to_gguf(path, "Q8_0")
    ids = torch.randint(100, 100_000, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(0))
    models = {route: load(path, route) for route in ROUTES}
    for model in models.values():  # warm-up: kernels picked, memory allocated
        decode_loop(model, ids, 2)
    runs = {"llama.cpp Q8_0": []} | {f"{r} generate": [] for r in ROUTES} | {f"{r} loop": [] for r in ROUTES}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        runs["llama.cpp Q8_0"].append(bench(gguf, threads=threads, prompt=args.prompt_tokens, gen=args.new_tokens,
                                            reps=2)["decode_tok_s"])
        for route, model in models.items():
            runs[f"{route} generate"].append(decode_generate(model, ids, args.new_tokens))
            runs[f"{route} loop"].append(decode_loop(model, ids, args.new_tokens))
        loads.append(os.getloadavg()[0])
    medians = {name: statistics.median(values) for name, values in runs.items()}
    q8 = medians["llama.cpp Q8_0"]
    fastest = max(ROUTES, key=lambda r: medians[f"{r} generate"])
    picked = p.route if p.route in ROUTES else None
    report = {
        "model": args.model, "weights": "random (exact shape)", "threads": threads, "rounds": args.rounds,
        "new_tokens": args.new_tokens, "prompt_tokens": args.prompt_tokens, "torch": torch.__version__,
        "cpu": _cpu(), "load_average": loads, "date": time.strftime("%Y-%m-%d %H:%M"),
        "pick": {"model_id": p.model_id, "precision": p.precision, "route": p.route, "reason": p.reason},
        "decode_tok_s": {k: round(v, 2) for k, v in medians.items()},
        "all_rounds": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "fastest_route": fastest,
        "pick_vs_fastest": round(medians[f"{picked} generate"] / medians[f"{fastest} generate"], 3) if picked else None,
        "pick_vs_llama_cpp_q8_0": round(medians[f"{picked} generate"] / q8, 3) if picked else None,
        "pick_loop_vs_llama_cpp_q8_0": round(medians[f"{picked} loop"] / q8, 3) if picked else None,
    }
    out = args.out or Path(__file__).parent / "results" / f"{args.model.split('/')[-1].lower()}-route-vs-llama-cpp"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cpu_route_vs_llama_cpp.json").write_text(json.dumps(report, indent=1))
    for name, value in report["decode_tok_s"].items():
        print(f"{name:24s} {value:8.2f} tok/s  ({value / q8:.2f}x llama.cpp Q8_0)")
    print(f"pick: {p.precision} via {p.route}; fastest route measured here: {fastest}; "
          f"pick/fastest {report['pick_vs_fastest']}; pick/llama.cpp Q8_0 {report['pick_vs_llama_cpp_q8_0']} "
          f"(bare loop {report['pick_loop_vs_llama_cpp_q8_0']}); load {loads[0]:.1f} -> {loads[-1]:.1f}")
    return 0


def _cpu() -> str:
    from qwen_course.precision import cpu

    key = cpu.cache_key()
    return f"{key['cpu']}, {key['cores']} cores"


if __name__ == "__main__":
    sys.exit(main())
