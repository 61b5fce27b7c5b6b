"""llama.cpp on the same model as benchmarks/quantization.py: GGUF file sizes and llama-bench prefill/decode speed.

    python benchmarks/llama_cpp.py --llama-cpp ~/src/llama.cpp --model Qwen/Qwen3-0.6B --real-shape

--llama-cpp is a llama.cpp checkout built with CMake: it needs convert_hf_to_gguf.py (plus `pip install gguf
sentencepiece`: the converter imports sentencepiece before it falls back to the byte-level BPE vocabulary Qwen uses)
and build/bin/llama-quantize and build/bin/llama-bench. On CPUs where a native build crashes (AMX kernels, a known
upstream bug) configure with -DGGML_NATIVE=OFF and name the instruction sets, e.g. -DGGML_AVX2=ON -DGGML_FMA=ON
-DGGML_F16C=ON. Writes <out>/llama_cpp.csv and llama_cpp.json. The model is the one the quantization benchmark
measures: offline, the exact shape with random weights (speed and size are real, answers are not).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

QUANTS = ("Q8_0", "Q4_K_M")


def run(argv: list, **kwargs) -> str:
    """Run a command; on failure show its last lines, not just the exit code."""
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    if proc.returncode:
        raise RuntimeError(f"{Path(str(argv[0])).name} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def convert(llama: Path, model_dir: str, out: Path) -> Path:
    """The checkpoint as an f16 GGUF (llama.cpp's converter), reused when already there."""
    target = out / "model-f16.gguf"
    if not target.exists():
        run([sys.executable, llama / "convert_hf_to_gguf.py", model_dir, "--outtype", "f16", "--outfile", target])
    return target


def quantize(llama: Path, f16: Path, quant: str) -> Path:
    target = f16.with_name(f"model-{quant}.gguf")
    if not target.exists():
        run([llama / "build" / "bin" / "llama-quantize", f16, target, quant])
    return target


def bench(llama: Path, gguf: Path, threads: int, prompt_tokens: int, new_tokens: int, repetitions: int) -> dict:
    """llama-bench's averages: prefill (pp) and decode (tg) tokens per second, with their standard deviations."""
    out = run([llama / "build" / "bin" / "llama-bench", "-m", gguf, "-t", threads, "-p", prompt_tokens,
               "-n", new_tokens, "-r", repetitions, "-o", "json"])
    rows = json.loads(out)
    prefill = next(r for r in rows if r["n_prompt"] and not r["n_gen"])
    decode = next(r for r in rows if r["n_gen"] and not r["n_prompt"])
    return {"prefill_tokens_per_s": prefill["avg_ts"], "prefill_stddev": prefill["stddev_ts"],
            "decode_tokens_per_s": decode["avg_ts"], "decode_stddev": decode["stddev_ts"],
            "build": prefill.get("build_commit"), "cpu": prefill.get("cpu_info")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-cpp", required=True, type=Path, help="a built llama.cpp checkout")
    parser.add_argument("--model", default="Qwen/Qwen3-0.6B", help="catalog id of a text model")
    parser.add_argument("--real-shape", action="store_true", help="offline: random weights in the model's exact shape")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repetitions", type=int, default=5, help="llama-bench -r: runs averaged per test")
    parser.add_argument("--runs", type=int, default=3, help="llama-bench invocations; the summary is their median")
    parser.add_argument("--out", default="build/benchmarks", help="folder for the GGUF files, CSV and JSON")
    args = parser.parse_args(argv)

    from qwen_course.quantization import report as qr

    path, what, caveat = qr.measuring_model(args.model, real_shape=args.real_shape)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"model: {what}\ncaveat: {caveat}\nllama.cpp: {args.llama_cpp}, {args.threads} threads, load {os.getloadavg()}")
    f16 = convert(args.llama_cpp, path, out)
    rows = []
    for quant in ("F16",) + QUANTS:
        gguf = f16 if quant == "F16" else quantize(args.llama_cpp, f16, quant)
        runs = [bench(args.llama_cpp, gguf, args.threads, args.prompt_tokens, args.new_tokens, args.repetitions)
                for _ in range(args.runs)]
        row = {"quant": quant, "file_MB": round(gguf.stat().st_size / 1e6, 1),
               "prefill_tokens_per_s": round(statistics.median(r["prefill_tokens_per_s"] for r in runs), 1),
               "decode_tokens_per_s": round(statistics.median(r["decode_tokens_per_s"] for r in runs), 1),
               "decode_runs": [round(r["decode_tokens_per_s"], 1) for r in runs], "build": runs[0]["build"]}
        rows.append(row)
        print(f"{quant:7s} {row['file_MB']:8.1f} MB  prefill {row['prefill_tokens_per_s']:7.1f} tok/s  "
              f"decode {row['decode_tokens_per_s']:6.1f} tok/s  (runs {row['decode_runs']})")
    import pandas as pd

    pd.DataFrame(rows).drop(columns=["decode_runs"]).to_csv(out / "llama_cpp.csv", index=False)
    (out / "llama_cpp.json").write_text(json.dumps(
        {"model": what, "caveat": caveat, "threads": args.threads, "prompt_tokens": args.prompt_tokens,
         "new_tokens": args.new_tokens, "repetitions": args.repetitions, "runs": args.runs,
         "load_average": os.getloadavg(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}, indent=1))
    print(f"wrote {out}/llama_cpp.csv and llama_cpp.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
