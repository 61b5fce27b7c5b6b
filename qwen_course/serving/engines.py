"""One server handle for every engine the course runs (vLLM, llama.cpp, transformers serve), so lesson cells match.

Each engine runs as a managed subprocess on a loopback port (`ManagedServer`: health wait, process-group stop,
stop at exit), keeps its log under QWEN_COURSE_HOME/engines/logs, and is always spoken to through the
OpenAI-compatible API at `base_url`. `status()` tells `doctor` which engines are ready; `served_model()` is the one
place that decides which model the lesson serves.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .. import catalog
from .._paths import load_json
from .install import engines_home, flags_used, cpu_flags, llama_bin, read_record, spec
from .plan import reasoning_parser, tool_call_parser
from .server import ManagedServer, ServerError, free_port, serve_command

ENGINES = ("vllm", "llama.cpp", "transformers")


class EngineRequestError(RuntimeError):
    """The engine refused a request (HTTP 4xx/5xx); the message names the engine, the status and its reason."""

    def __init__(self, engine: str, status: int, detail: str):
        super().__init__(f"{engine} rejected the request (HTTP {status}): {detail[:300]}")
        self.engine, self.status, self.detail = engine, status, detail


@dataclass
class EngineStatus:
    """Whether one engine can be started here, and if not, the one command that fixes it."""

    name: str
    ready: bool
    detail: str
    fix: str = ""


def status(home: str | Path | None = None) -> list[EngineStatus]:
    """Every engine's readiness, for `qwen-course doctor` and `qwen-course engine status` (reads files only)."""
    root = engines_home(home)
    out = []
    vllm = read_record(root / "vllm")
    if vllm.get("ready") and (root / "vllm" / "bin" / "python").exists():
        out.append(EngineStatus("vllm", True, f"{vllm.get('device', 'cpu')} build in {root / 'vllm'}"))
    else:
        out.append(EngineStatus("vllm", False, "not installed", "qwen-course engine install vllm"))
    llama = read_record(root / "llama.cpp")
    if not (llama.get("ready") and llama_bin(root / "llama.cpp", "llama-server").exists()):
        out.append(EngineStatus("llama.cpp", False, "not built", "qwen-course engine install llama.cpp"))
    elif llama.get("cpu_flags_used") != flags_used(cpu_flags()):
        out.append(EngineStatus("llama.cpp", False, "built for another CPU's instruction sets",
                                "qwen-course engine install llama.cpp --force"))
    else:
        out.append(EngineStatus("llama.cpp", True, f"built in {root / 'llama.cpp'}"))
    if (root / "onnxruntime" / "pylib" / "onnxruntime_genai").exists():
        out.append(EngineStatus("onnxruntime", True, f"ONNX Runtime GenAI in {root / 'onnxruntime' / 'pylib'}"))
    else:
        out.append(EngineStatus("onnxruntime", False, "not installed", "qwen-course engine install onnxruntime"))
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    out.append(EngineStatus("transformers", not missing, "transformers serve in the course environment" if not missing
                            else f"missing {', '.join(missing)}", "pip install 'transformers[serving]'" if missing else ""))
    return out


def ready(name: str, home=None) -> bool:
    """True when `name` can be started here now."""
    return any(s.ready for s in status(home) if s.name == name)


@dataclass
class Served:
    """The model a lesson serves: the checkpoint it is (or stands in for), where engines load it, and why."""

    model_id: str
    path: str
    offline: bool
    why: str = ""


def served_model(p) -> Served:
    """The pick itself where the engines can load it, else the text model of data/engines.json (`served_stand_in`).
    Offline, a Qwen3 text model is served as the course's trained stand-in (`offline_trained`): the same class and
    tokenizer as the random one, but its answers, thinking blocks and tool calls are real inside its narrow domain."""
    ckpt = catalog.get(p.model_id)
    data = load_json("engines.json")
    torchvision = importlib.util.find_spec("torchvision") is not None
    if not ckpt.is_vision or (torchvision and getattr(p, "device", "cpu") == "cuda"):
        served = Served(p.model_id, str(p.model_path), bool(p.offline))
    else:
        stand_in = data["served_stand_in"]
        served = Served(stand_in["model_id"], stand_in["model_id"], bool(p.offline), stand_in["why"])
    trained = data["offline_trained"]
    if served.offline and catalog.get(served.model_id).model_type == trained["model_type"]:
        from .. import offline

        why = "; ".join(w for w in (served.why, trained["why"]) if w)
        served = Served(served.model_id, str(offline.build(trained["kind"])), True, why)
    return served


BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU instructions that compute in bfloat16 natively


def vllm_cpu_dtype(flags: frozenset | None = None) -> tuple[str, str]:
    """The dtype vLLM's CPU build should run here, and why: bfloat16 (half the memory) where the CPU has bfloat16
    instructions, float32 where it has none (bfloat16 then goes through conversions, and batching gains little: on a
    2-core AVX2 machine, 16 streams gave x1.5 the single-stream throughput in bfloat16 against x7 in float32)."""
    flags = cpu_flags() if flags is None else flags
    have = [f for f in BF16_FLAGS if f in flags]
    if have:
        return "bfloat16", f"this CPU computes in bfloat16 natively ({', '.join(have)}): half the memory of float32"
    return "float32", ("this CPU has no bfloat16 instructions (" + " or ".join(BF16_FLAGS) + "), so bfloat16 would be "
                       "emulated and slower: float32, at twice the memory")


def vllm_command(model: str | Path, port: int, *, python: str | Path, served_name: str, max_model_len: int = 4096,
                 max_num_seqs: int = 16, dtype: str = "bfloat16", reasoning: str | None = "qwen3",
                 tools: str | None = "hermes", extra: tuple = ()) -> list[str]:
    """vLLM's OpenAI server (by module: the CPU dist has no working `vllm` command) with Qwen's parsers."""
    argv = [str(python), "-m", spec("vllm")["module"], "--model", str(model), "--host", "127.0.0.1", "--port",
            str(port), "--served-model-name", served_name, "--max-model-len", str(max_model_len),
            "--max-num-seqs", str(max_num_seqs), "--dtype", dtype]
    if reasoning:
        argv += ["--reasoning-parser", reasoning]
    if tools:
        argv += ["--enable-auto-tool-choice", "--tool-call-parser", tools]
    return argv + list(extra)


def vllm_env(kv_cache_gib: int = 1, threads: int | None = None) -> dict:
    """vLLM CPU settings: the KV-cache space (an integer number of GiB) and the cores its OpenMP threads bind to."""
    if int(kv_cache_gib) != kv_cache_gib or kv_cache_gib < 1:
        raise ValueError(f"VLLM_CPU_KVCACHE_SPACE takes a whole number of GiB (1 or more), not {kv_cache_gib!r}")
    n = threads or os.cpu_count() or 1
    return {"VLLM_CPU_KVCACHE_SPACE": str(int(kv_cache_gib)), "VLLM_CPU_OMP_THREADS_BIND": f"0-{n - 1}" if n > 1 else "0",
            "OMP_NUM_THREADS": str(n), "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}


def llama_command(gguf: str | Path, port: int, *, binary: str | Path, alias: str, parallel: int = 4,
                  ctx_per_slot: int = 4096, threads: int | None = None, extra: tuple = ()) -> list[str]:
    """llama-server with `parallel` slots of ctx_per_slot tokens each (llama.cpp splits --ctx-size among slots)."""
    threads = threads or os.cpu_count() or 1
    return [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "--alias", alias,
            "--parallel", str(parallel), "--ctx-size", str(ctx_per_slot * parallel), "--cont-batching",
            "--threads", str(threads), "--jinja", "--fit", "off"] + list(extra)  # fit: sizes are given, skip probing


class EngineServer(ManagedServer):
    """A ManagedServer that knows its engine and served model name, and turns refused requests into clear errors."""

    def __init__(self, engine: str, model: str, argv: list, port: int, *, env: dict | None = None,
                 log_path: Path | None = None):
        super().__init__(argv, port, name=engine, env=env, log_path=log_path)
        self.engine, self.model = engine, model
        self.settings = {k: v for k, v in (env or {}).items() if k != "HF_HUB_OFFLINE"}  # what this engine was told

    def chat(self, messages: list | str, *, max_tokens: int = 64, timeout: float = 120.0, **fields) -> dict:
        """One non-streamed chat completion; EngineRequestError (server left running) when the engine refuses it."""
        from .server import httpx

        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, **fields}
        r = httpx().post(self.base_url + "/chat/completions", json=body, timeout=timeout)
        if r.status_code != 200:
            raise EngineRequestError(self.engine, r.status_code, _reason(r))
        return r.json()

    def fixed_length(self, n: int) -> dict:
        """Request fields that make this engine generate exactly n tokens, greedily (fair throughput numbers)."""
        return fixed_length_fields(self.engine, n)

    def memory_bytes(self) -> int:
        """Resident memory of the server and its children now (vLLM runs its engine core in a child process)."""
        import psutil

        try:
            procs = [psutil.Process(self.pid)] + psutil.Process(self.pid).children(recursive=True)
        except (psutil.Error, TypeError):
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def kv_cache(self) -> dict:
        """What the engine logged about its KV cache: vLLM's token capacity and concurrency, llama.cpp's slots."""
        text = self.log_tail(10_000)
        found = {}
        m = re.search(r"KV cache size: ([\d,]+) tokens, Maximum concurrency for ([\d,]+) tokens per request: ([\d.]+)x",
                      text)
        if m:
            found = {"tokens": int(m[1].replace(",", "")), "per_request": int(m[2].replace(",", "")),
                     "concurrency": float(m[3])}
        m = re.search(r"n_slots = (\d+), n_ctx_slot = (\d+)", text)
        if m:
            found = {"slots": int(m[1]), "tokens_per_slot": int(m[2])}
        for key, pattern in (("kv", r"llama_kv_cache: size = +([\d.]+) MiB \( *(\d+) cells, +(\d+) layers"),
                             ("recurrent", r"llama_memory_recurrent: size = +([\d.]+) MiB \( *(\d+) cells, +(\d+) layers")):
            m = re.search(pattern, text)  # llama.cpp logs these at --log-verbosity 4
            if m:
                found.update({f"{key}_mib": float(m[1]), f"{key}_cells": int(m[2]), f"{key}_layers": int(m[3])})
        m = re.search(r"Explicitly set \(([\d.]+)/", text)
        if m:
            found["space_gib"] = float(m[1])
        return found


def fixed_length_fields(engine: str, n: int) -> dict:
    """vLLM and llama.cpp take `ignore_eos`; transformers serve refuses it (HTTP 422) but takes a generation_config."""
    if engine == "transformers":
        return {"max_tokens": n, "generation_config": json.dumps(
            {"max_new_tokens": n, "min_new_tokens": n, "do_sample": False})}
    return {"max_tokens": n, "ignore_eos": True, "temperature": 0}


def _reason(response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text
    err = data.get("error", data.get("detail", data)) if isinstance(data, dict) else data
    if isinstance(err, dict):
        err = err.get("message", err)
    return err if isinstance(err, str) else json.dumps(err)


def log_path_for(engine: str, port: int, home=None) -> Path:
    """Where an engine's log is kept (never deleted by stop, so a failed or finished run can be read later)."""
    return engines_home(home) / "logs" / f"{engine}-{time.strftime('%Y%m%d-%H%M%S')}-{port}.log"


def engine_server(engine: str, model: str | Path, *, port: int | None = None, home=None, name: str | None = None,
           threads: int | None = None, env: dict | None = None, **options) -> EngineServer:
    """An unstarted server handle for `engine` serving `model`; `with server(...) as s:` or s.start() / s.stop().

    threads: the CPU threads the engine may use (OMP_NUM_THREADS, VLLM_CPU_OMP_THREADS_BIND, llama.cpp --threads).
    vLLM on a CPU starts in eager mode (quick_start) unless told otherwise.
    """
    port = port or free_port()
    local = Path(str(model))
    served = name or (local.stem if local.suffix == ".gguf" else local.name if local.exists() else str(model))
    log = log_path_for(engine, port, home)
    root = engines_home(home) / engine
    offline = {"HF_HUB_OFFLINE": "1"} if os.environ.get("HF_HUB_OFFLINE") == "1" or local.exists() else {}
    if engine == "vllm":
        python = root / "bin" / "python"
        if not python.exists():
            raise ServerError("vllm is not installed here; run `qwen-course engine install vllm`")
        kv = options.pop("kv_cache_gib", 1)
        on_cpu = read_record(root).get("device", "cpu") == "cpu"  # the build installed: CPU or CUDA
        if options.pop("quick_start", on_cpu):
            # On a CPU, torch.compile's warm-up costs more than it saves for a small model. (Running the engine in the
            # API server's process, VLLM_ENABLE_V1_MULTIPROCESSING=0, starts faster but delivers streams in bursts.)
            options["extra"] = ("--enforce-eager", *options.get("extra", ()))
        if options.get("dtype") is None:  # a CPU: what it computes fastest; a GPU: the checkpoint's own
            options["dtype"] = vllm_cpu_dtype()[0] if on_cpu else "auto"
        ckpt = _checkpoint(options.pop("model_id", None))
        options.setdefault("reasoning", reasoning_parser(ckpt) if ckpt else "qwen3")
        options.setdefault("tools", tool_call_parser(ckpt) if ckpt else "hermes")
        argv = vllm_command(model, port, python=python, served_name=served, **options)
        return EngineServer(engine, served, argv, port, env={**offline, **vllm_env(kv, threads), **(env or {})},
                            log_path=log)
    if engine == "llama.cpp":
        binary = llama_bin(root, "llama-server")
        if not binary.exists():
            raise ServerError("llama.cpp is not built here; run `qwen-course engine install llama.cpp`")
        quant = options.pop("quant", "Q8_0")
        if local.is_dir():
            from .edge import to_gguf

            model = to_gguf(local, quant, home=home)
        argv = llama_command(model, port, binary=binary, alias=served, threads=threads, **options)
        return EngineServer(engine, served, argv, port, env={**offline, **(env or {})}, log_path=log)
    if engine == "transformers":
        options.pop("model_id", None)
        argv = serve_command(str(model), port, **options)
        threads_env = {"OMP_NUM_THREADS": str(threads)} if threads else {}
        return EngineServer(engine, str(model), argv, port, env={**offline, **threads_env, **(env or {})},
                            log_path=log)
    raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def _checkpoint(model_id: str | None):
    return catalog.get(model_id) if model_id else None
