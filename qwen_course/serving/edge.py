"""Edge and desktop routes: GGUF files for llama.cpp and Ollama, ONNX folders for ONNX Runtime GenAI.

The GGUF converter is the one vendored with the llama.cpp the course built (PyPI's `gguf` has none), run in the
course's Python (it needs torch and transformers) with the vendored gguf-py first on the path. Exports are cached
under QWEN_COURSE_HOME/engines/gguf and .../onnx, keyed by the model folder's name and the type.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import catalog
from .._display import Table, gb
from ..memory import cache_bytes, weights_bytes
from .install import InstallError, engines_home, llama_bin

GGUF_TYPES = ("F16", "BF16", "Q8_0", "Q4_K_M", "Q4_0")
CONVERTER_TYPES = {"F16": "f16", "BF16": "bf16", "Q8_0": "q8_0"}  # what convert_hf_to_gguf.py writes itself
GGUF_SERIES = ("qwen3", "qwen2.5")  # Qwen publishes <model>-GGUF repositories for these (Qwen's Hub organisation)


def _run(argv: list, what: str, env: dict | None = None, timeout: float = 1800) -> str:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-12:])
        raise InstallError(f"{what} failed with exit code {proc.returncode}:\n{tail}")
    return proc.stdout + proc.stderr


def converter_env(home=None) -> dict:
    """PYTHONPATH with the vendored gguf-py and the converter's extra packages before the course's own."""
    root = engines_home(home) / "llama.cpp"
    paths = [root / "src" / "gguf-py", root / "src", root / "pylib", os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths if str(p)), "HF_HUB_OFFLINE": "1"}


def gguf_path(model_dir: str | Path, quant: str, home=None) -> Path:
    return engines_home(home) / "gguf" / f"{Path(model_dir).name}-{quant}.gguf"


def _converter_flags(model_dir: Path) -> list[str]:
    """--no-mtp for a hybrid checkpoint without MTP layers (the converter expects Qwen3.5's MTP head otherwise)."""
    config = json.loads((model_dir / "config.json").read_text())
    text = config.get("text_config", config)
    hybrid = "linear_attention" in (text.get("layer_types") or [])
    return ["--no-mtp"] if hybrid and not text.get("mtp_num_hidden_layers") else []


def to_gguf(model_dir: str | Path, quant: str = "Q8_0", *, home=None) -> Path:
    """The model as one GGUF file of type `quant` (F16/BF16/Q8_0 by the converter, K-quants by llama-quantize);
    tensors llama-quantize could not give that type are listed in <file>.fallbacks.txt."""
    if quant not in GGUF_TYPES:
        raise ValueError(f"GGUF type {quant!r}: choose one of {', '.join(GGUF_TYPES)}")
    model_dir, target = Path(model_dir), gguf_path(model_dir, quant, home)
    if target.exists():
        return target
    root = engines_home(home) / "llama.cpp"
    converter = root / "src" / "convert_hf_to_gguf.py"
    if not converter.exists():
        raise InstallError("llama.cpp is not installed; run `qwen-course engine install llama.cpp`")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")  # a crash never leaves a half-written file under the final name
    if quant in CONVERTER_TYPES:
        _run([sys.executable, converter, model_dir, *_converter_flags(model_dir), "--outtype", CONVERTER_TYPES[quant],
              "--outfile", tmp], f"convert_hf_to_gguf.py --outtype {CONVERTER_TYPES[quant]}", env=converter_env(home))
        return tmp.rename(target)
    source = to_gguf(model_dir, "F16", home=home)
    log = _run([llama_bin(root, "llama-quantize"), source, tmp, quant], f"llama-quantize {quant}")
    fallbacks = [line.strip() for line in log.splitlines() if "fallback" in line.lower()]
    target.with_suffix(".fallbacks.txt").write_text("\n".join(fallbacks))
    return tmp.rename(target)


GGML_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
              11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 30: "BF16"}  # gguf-py's GGMLQuantizationType
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
WANTED = ("general.architecture", "tokenizer.ggml.eos_token_id")


def gguf_summary(path: str | Path, home=None) -> dict:
    """Tensor types and counts, the architecture, the EOS id and whether a chat template is inside: what was really
    written. A direct read of the GGUF header (gguf-py's reader parses the whole 151k-entry vocabulary: seconds)."""
    import mmap
    import struct
    from collections import Counter

    path = Path(path)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        pos = 0

        def take(fmt):
            nonlocal pos
            values = struct.unpack_from("<" + fmt, m, pos)
            pos += struct.calcsize("<" + fmt)
            return values[0] if len(values) == 1 else values

        def text():
            nonlocal pos
            n = take("Q")
            pos += n
            return bytes(m[pos - n:pos]).decode("utf-8", "replace")

        def value(kind):
            if kind == 8:
                return text()
            if kind == 9:  # an array: skipped element by element, only its length kept
                inner, n = take("I"), take("Q")
                for _ in range(n):
                    value(inner)
                return n
            return take(_SCALARS[kind])

        if bytes(m[:4]) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        pos = 4
        _version, n_tensors, n_kv = take("IQQ")
        fields = {}
        for _ in range(n_kv):
            key = text()
            fields[key] = value(take("I"))
        types = Counter()
        for _ in range(n_tensors):
            text()
            dims = take("I")
            pos += 8 * dims
            types[GGML_TYPES.get(take("I"), "other")] += 1
            pos += 8
    notes = path.with_suffix(".fallbacks.txt")  # llama-quantize: "14 of 24 tensor(s) required fallback quantization"
    found = re.search(r"(\d+) of \d+ tensor", notes.read_text()) if notes.exists() else None
    return {"types": dict(types), "tensors": n_tensors, "template": "tokenizer.chat_template" in fields,
            **{k: fields[k] for k in WANTED if k in fields}, "bytes": path.stat().st_size,
            "fallbacks": int(found[1]) if found else 0}


def bench(gguf: str | Path, *, threads: int | None = None, prompt: int = 64, gen: int = 32, reps: int = 3,
          home=None) -> dict:
    """llama-bench's prefill (pp) and decode (tg) tokens/s for one GGUF file, mean and standard deviation."""
    threads = threads or os.cpu_count() or 1
    out = _run([llama_bin(engines_home(home) / "llama.cpp", "llama-bench"), "-m", gguf, "-t", threads, "-p", prompt,
                "-n", gen, "-r", reps, "-o", "json"], "llama-bench")
    rows = json.loads(out[out.index("["):out.rindex("]") + 1])
    pp = next(r for r in rows if r["n_prompt"] and not r["n_gen"])
    tg = next(r for r in rows if r["n_gen"] and not r["n_prompt"])
    return {"prefill_tok_s": pp["avg_ts"], "prefill_sd": pp["stddev_ts"], "decode_tok_s": tg["avg_ts"],
            "decode_sd": tg["stddev_ts"], "threads": threads, "reps": reps}


def onnx_env(home=None) -> dict:
    """The course's Python with ONNX Runtime GenAI and its builder's packages on the path (engines/onnxruntime)."""
    pylib = engines_home(home) / "onnxruntime" / "pylib"
    if not (pylib / "onnxruntime_genai").exists():
        raise InstallError("ONNX Runtime GenAI is not installed; run `qwen-course engine install onnxruntime`")
    paths = (str(pylib), os.environ.get("PYTHONPATH", ""))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "HF_HUB_OFFLINE": "1"}


def to_onnx(model_dir: str | Path, precision: str = "int4", *, home=None) -> Path:
    """The model as an ONNX Runtime GenAI folder (model.onnx + genai_config.json), made by GenAI's model builder."""
    out = engines_home(home) / "onnx" / f"{Path(model_dir).name}-{precision}-cpu"
    if (out / "genai_config.json").exists():
        return out
    _run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", model_dir, "-o", out, "-p", precision,
          "-e", "cpu", "-c", out.with_name(out.name + "-cache")], f"ONNX model builder ({precision}, cpu)",
         env=onnx_env(home))
    return out


ONNX_GENERATE = """
import json, sys, time, onnxruntime_genai as og
model = og.Model(sys.argv[1]); tok = og.Tokenizer(model); n = int(sys.argv[3])
prompt = tok.apply_chat_template(json.dumps([{"role": "user", "content": sys.argv[2]}]), add_generation_prompt=True)
ids = tok.encode(prompt)
def run(k):
    p = og.GeneratorParams(model); p.set_search_options(max_length=len(ids) + k, min_length=len(ids) + k)
    g = og.Generator(model, p); t = time.perf_counter(); g.append_tokens(ids); first = None; out = []
    while not g.is_done():
        g.generate_next_token(); out.append(int(g.get_next_tokens()[0]))
        first = first or time.perf_counter()
    return time.perf_counter() - t, first - t, out
run(4)
wall, ttft, out = run(n)
print(json.dumps({"prompt_tokens": len(ids), "new_tokens": len(out), "ttft_s": ttft,
                  "ms_per_token": 1000 * (wall - ttft) / max(1, len(out) - 1)}))
"""


def onnx_generate(onnx_dir: str | Path, prompt: str = "Name three colours.", new_tokens: int = 64, home=None) -> dict:
    """Greedy generation with ONNX Runtime GenAI (the exported chat template), timed per decoded token."""
    out = _run([sys.executable, "-c", ONNX_GENERATE, onnx_dir, prompt, new_tokens], "ONNX Runtime GenAI generate",
               env=onnx_env(home))
    return json.loads(out.strip().splitlines()[-1])


@dataclass(repr=False)
class EdgeRoute(Table):
    """Running a checkpoint on a laptop or small device: a GGUF file with llama.cpp or Ollama."""

    model_id: str
    gguf_repo: str | None
    quant: str
    context: int
    llama_server: str
    ollama: str | None
    weights_bytes: int
    kv_bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Edge route: {self.model_id}"

    def _rows(self):
        return [("GGUF", f"{self.gguf_repo}:{self.quant}" if self.gguf_repo else "convert it yourself (below)"),
                ("weights at 4-bit (estimate)", gb(self.weights_bytes)),
                (f"cache at {self.context:,} tokens (16-bit)", gb(self.kv_bytes)), ("llama.cpp", self.llama_server),
                ("Ollama", self.ollama or "no official tag known to the course")] + [("note", n) for n in self.notes]


def edge_route(model: str, quant: str = "Q4_K_M", context: int | None = None, gpu: bool = False) -> EdgeRoute:
    """llama-server / Ollama commands for a checkpoint, with its recommended sampling (qwen.readthedocs.io
    run_locally/llama.cpp and run_locally/ollama)."""
    ckpt = catalog.get(model)
    ctx = context or min(ckpt.context or 32768, 32768)
    notes = ["llama.cpp >= b5401 is recommended for Qwen3 (Qwen3 README)"] if ckpt.series == "qwen3" else []
    repo = f"{ckpt.id}-GGUF" if ckpt.series in GGUF_SERIES and not ckpt.is_vision else None
    source = ["-hf", f"{repo}:{quant}"] if repo else ["-m", f"{ckpt.name.lower()}-{quant.lower()}.gguf"]
    argv = ["llama-server", *source, "--jinja", "-c", str(ctx), "-ngl", "99" if gpu else "0"]
    if ckpt.thinking != "none":
        mode = "thinking" if ckpt.thinks_by_default else "non-thinking"
        s = ckpt.sampling(mode) or {}
        argv += ["--reasoning-format", "deepseek"] + [x for k, flag in (("temperature", "--temp"), ("top_k", "--top-k"),
                                                                        ("top_p", "--top-p"), ("min_p", "--min-p"))
                                                      if k in s for x in (flag, f"{s[k]:g}")]
    argv += ["--host", "127.0.0.1", "--port", "8080"]
    if not repo:
        notes.append(f"no official GGUF known to the course: python convert_hf_to_gguf.py {ckpt.id} --outfile "
                     f"{ckpt.name.lower()}-f16.gguf, then llama-quantize it to {quant}")
    tag = None
    if ckpt.series == "qwen3" or (ckpt.series == "qwen2.5" and ckpt.name.endswith("-Instruct")):
        size = ckpt.name.split("-", 1)[1].removesuffix("-Instruct").lower()
        tag = f"ollama run {ckpt.series}:{size}"
        notes.append("Ollama tags may not match Qwen's names; check ollama.com/library before use")
    return EdgeRoute(ckpt.id, repo, quant, ctx, shlex.join(argv), tag, weights_bytes(ckpt, "int4"),
                     cache_bytes(ckpt, "bf16", ctx), notes)
