"""Plan a multi-GPU deployment of a Qwen checkpoint with vLLM or SGLang, and the GGUF route to small devices.

Arithmetic only (catalog + memory, no torch): which precision and tensor-parallel size fit N GPUs of M GB, how
long a context the KV cache then holds, and the exact command lines. Sources: Q3-docs/deployment/vllm.md and
sglang.md (flags, FP8/AWQ checkpoints, FP8 on Ampere, the 128-wide block rule, `--gpu-memory-utilization` 0.9),
Q3-README (reasoning parsers, llama.cpp and Ollama), vLLM's QKVParallelLinear (how KV heads split).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .. import catalog
from .._display import Table, gb
from ..memory import kv_bytes_per_token, weights_bytes

GB = 1e9
QUANT_BLOCK = 128  # FP8 block-wise and AWQ group width: a TP shard of the MLP must not split one
# Official prequantized checkpoint lines (QWEN_FACTS section 5): Qwen3-*-FP8, Qwen3-*-AWQ, Qwen2.5-*-Instruct-AWQ.
FP8_SERIES = ("qwen3", "qwen3-vl")
AWQ_SERIES = ("qwen3", "qwen2.5", "qwen2.5-vl")
GGUF_SERIES = ("qwen3", "qwen2.5")
# Bytes per quantized Linear weight in Qwen's prequantized checkpoints: FP8 block-wise with one fp32 scale per
# 128x128 block (Q3-docs/deployment/vllm.md), AWQ 4-bit with an fp16 scale and a 4-bit zero per group of 128
# (Q3-docs/quantization/awq.md). MoE experts are quantized too; embeddings, norms and vision towers stay 16-bit.
PREQUANTIZED_BYTES = {"fp8": 1 + 4 / (128 * 128), "int4": 0.5 + (2 + 0.5) / 128}


class DoesNotFitError(ValueError):
    """No precision and tensor-parallel size fits; the message says what the smallest option needs."""


@dataclass
class Option:
    """One (precision, tensor-parallel size) the planner tried, and what it found."""

    precision: str
    tensor_parallel: int
    weights_per_gpu: int
    kv_budget_per_gpu: int
    kv_tokens: int
    fits: bool
    why: str


@dataclass(repr=False)
class DeploymentPlan(Table):
    """A deployment: checkpoint, precision, TP x DP layout, context, and the commands that start it."""

    model_id: str
    served_model: str
    gpus: int
    memory_gb: float
    precision: str
    tensor_parallel: int
    data_parallel: int
    max_model_len: int
    kv_tokens: int
    weights_per_gpu: int
    kv_budget_per_gpu: int
    reasoning_parser: str | None
    utilization: float
    dtype: str | None = None
    yarn_factor: float | None = None
    notes: list[str] = field(default_factory=list)
    considered: list[Option] = field(default_factory=list)

    @property
    def concurrent_sequences(self) -> int:
        """Full-length sequences whose KV cache fits at once in one replica."""
        return self.kv_tokens // self.max_model_len

    def vllm_command(self, host: str = "127.0.0.1", port: int = 8000) -> str:
        """`vllm serve ...`; the API key comes from the VLLM_API_KEY environment variable, not the command line."""
        argv = ["vllm", "serve", self.served_model, "--tensor-parallel-size", str(self.tensor_parallel)]
        if self.data_parallel > 1:
            argv += ["--data-parallel-size", str(self.data_parallel)]
        argv += ["--max-model-len", str(self.max_model_len), "--gpu-memory-utilization", str(self.utilization)]
        if self.dtype:
            argv += ["--dtype", self.dtype]
        if self.yarn_factor:
            argv += ["--rope-scaling", _yarn_json(self.yarn_factor)]
        if self.reasoning_parser:
            argv += ["--reasoning-parser", self.reasoning_parser]
        return shlex.join(argv + ["--host", host, "--port", str(port)])

    def sglang_command(self, host: str = "127.0.0.1", port: int = 30000) -> str:
        """`python -m sglang.launch_server ...` with the same layout."""
        argv = ["python", "-m", "sglang.launch_server", "--model-path", self.served_model, "--tp", str(self.tensor_parallel)]
        if self.data_parallel > 1:
            argv += ["--dp", str(self.data_parallel)]
        argv += ["--context-length", str(self.max_model_len), "--mem-fraction-static", str(self.utilization)]
        if self.dtype:
            argv += ["--dtype", self.dtype]
        if self.yarn_factor:
            argv += ["--json-model-override-args", '{"rope_scaling":' + _yarn_json(self.yarn_factor) + "}"]
        if self.reasoning_parser:  # SGLang spells the R1 parser with a hyphen (Q3-README)
            argv += ["--reasoning-parser", self.reasoning_parser.replace("_", "-")]
        return shlex.join(argv + ["--host", host, "--port", str(port)])

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Deployment plan: {self.model_id} on {self.gpus} x {self.memory_gb:g} GB"

    def _rows(self):
        rows = [("checkpoint to serve", self.served_model), ("precision", self.precision),
                ("layout", f"tensor parallel {self.tensor_parallel} x data parallel {self.data_parallel}"),
                ("weights per GPU", gb(self.weights_per_gpu)), ("KV cache per GPU", gb(self.kv_budget_per_gpu)),
                ("KV cache holds (per replica)", f"{self.kv_tokens:,} tokens"),
                ("max context (--max-model-len)", f"{self.max_model_len:,} tokens"),
                ("full-length sequences at once", f"{self.concurrent_sequences} per replica"),
                ("reasoning parser", self.reasoning_parser or "none")]
        return rows + [("note", n) for n in self.notes]


def _yarn_json(factor: float) -> str:
    return ('{"rope_type":"yarn","factor":%s,"original_max_position_embeddings":32768}' % f"{factor:g}")


def reasoning_parser(ckpt: catalog.Checkpoint) -> str | None:
    """vLLM's parser: `qwen3` for the hybrid Qwen3 models, `deepseek_r1` for Qwen3 Thinking-2507 (Q3-README)."""
    if ckpt.thinking == "hybrid" and ckpt.series.startswith("qwen3"):
        return "qwen3"
    if ckpt.thinking == "thinking-only" and ckpt.series == "qwen3-2507":
        return "deepseek_r1"
    return None


def valid_tensor_parallel(ckpt: catalog.Checkpoint, gpus: int) -> list[int]:
    """TP sizes up to `gpus` that split the query heads evenly and the KV heads evenly (or replicate them)."""
    c = ckpt.text_config
    heads, kv = c["num_attention_heads"], c["num_key_value_heads"]
    return [tp for tp in range(1, gpus + 1) if heads % tp == 0 and (kv % tp == 0 or tp % kv == 0)]


def _precisions(ckpt: catalog.Checkpoint, cc: tuple[int, int] | None) -> list[tuple[str, str, str | None]]:
    """(precision, checkpoint to serve, --dtype) in quality order, as far as this GPU generation runs them."""
    out = [("bf16", ckpt.id, None) if cc is None or cc >= (8, 0) else ("fp16", ckpt.id, "half")]
    if ckpt.series in FP8_SERIES and (cc is None or cc >= (8, 0)):
        out.append(("fp8", f"{ckpt.id}-FP8", None))
    if ckpt.series in AWQ_SERIES and (cc is None or cc >= (7, 5)):
        out.append(("int4", f"{ckpt.id}-AWQ", "half" if cc is not None and cc < (8, 0) else None))
    return out


def served_weights_bytes(model: str | catalog.Checkpoint, precision: str) -> int:
    """Weight bytes of the checkpoint a server loads: 16-bit, or Qwen's FP8 / AWQ release."""
    ckpt = catalog.get(model)
    if precision not in PREQUANTIZED_BYTES:
        return weights_bytes(ckpt, "bf16")
    count = catalog.param_count(ckpt)
    linear = count.attention + count.mlp
    return int(linear * PREQUANTIZED_BYTES[precision] + (count.total - linear) * 2)


def _evaluate(ckpt, precision: str, tp: int, per_gpu: float, reserve: float, need: int) -> Option:
    c = ckpt.text_config
    weights = served_weights_bytes(ckpt, precision) / tp
    inter = c.get("moe_intermediate_size") or c["intermediate_size"]
    if precision in ("fp8", "int4") and (inter % tp or (inter // tp) % QUANT_BLOCK):
        return Option(precision, tp, int(weights), 0, 0, False,
                      f"MLP width {inter} / TP {tp} is not a multiple of the {QUANT_BLOCK}-wide quantization blocks")
    kv_per_gpu_token = kv_bytes_per_token(ckpt, "bf16") * max(1, c["num_key_value_heads"] // tp) / c["num_key_value_heads"]
    budget = per_gpu - weights - reserve
    tokens = int(max(0, budget) // kv_per_gpu_token)
    if budget <= 0:
        return Option(precision, tp, int(weights), 0, 0, False, f"weights alone need {gb(weights)} per GPU")
    ok = tokens >= need
    why = f"KV cache holds {tokens:,} tokens" + ("" if ok else f" (< {need:,} needed)")
    return Option(precision, tp, int(weights), int(budget), tokens, ok, why)


def plan_deployment(model: str, gpus: int = 1, memory_gb: float = 80.0, *, compute_capability=None,
                    context: int | None = None, min_context: int = 8192, utilization: float = 0.9,
                    reserve_gb: float = 2.0) -> DeploymentPlan:
    """Highest precision that holds `min_context` (or `context`), on the fewest GPUs per replica that reach the
    target context; the other GPUs become data-parallel replicas."""
    ckpt = catalog.get(model)
    if int(gpus) != gpus or gpus < 1:
        raise ValueError(f"gpus must be a positive integer, got {gpus!r}")
    if memory_gb <= 0 or not 0 < utilization <= 1:
        raise ValueError("memory_gb must be > 0 and utilization in (0, 1]")
    cc = tuple(compute_capability) if compute_capability else None
    native = ckpt.context or ckpt.text_config.get("max_position_embeddings")
    if context is not None and context > ckpt.max_context:
        raise ValueError(f"{ckpt.id} supports at most {ckpt.max_context:,} tokens; {context:,} asked")
    target = context or native
    need = context or min(min_context, native)
    per_gpu, reserve = memory_gb * GB * utilization, reserve_gb * GB
    considered: list[Option] = []
    for precision, served, dtype in _precisions(ckpt, cc):
        options = [_evaluate(ckpt, precision, tp, per_gpu, reserve, need) for tp in valid_tensor_parallel(ckpt, gpus)]
        considered += options
        fitting = [o for o in options if o.fits]
        if not fitting:
            continue
        best = next((o for o in fitting if o.kv_tokens >= target), max(fitting, key=lambda o: o.kv_tokens))
        return _plan(ckpt, served, dtype, best, gpus, memory_gb, target, utilization, cc, considered)
    raise DoesNotFitError(_refusal(ckpt, gpus, memory_gb, need, considered))


def _plan(ckpt, served, dtype, o: Option, gpus, memory_gb, target, utilization, cc, considered) -> DeploymentPlan:
    max_len = min(target, o.kv_tokens)
    max_len = max_len if max_len == target else max_len // 1024 * 1024
    native = ckpt.context or max_len
    yarn = None
    notes = []
    if max_len > native:
        yarn = 2.0 if max_len <= 2 * native else 4.0
        notes.append(f"beyond the native {native:,} tokens: static YaRN factor {yarn:g}, which can hurt short texts "
                     "(Q3-docs/deployment/vllm.md); newer vLLM may take it as --hf-overrides")
    dp = gpus // o.tensor_parallel
    if gpus % o.tensor_parallel:
        notes.append(f"{gpus % o.tensor_parallel} GPU(s) idle: {gpus} is not a multiple of TP {o.tensor_parallel}")
    if o.precision == "fp8":
        notes.append("FP8 runs natively (w8a8) on compute capability 8.9+ and as w8a16 via FP8 Marlin on Ampere "
                     "with vLLM >= 0.9 (Q3-docs/deployment/vllm.md)")
    if o.precision in ("fp8", "int4"):
        notes.append(f"{served} follows Qwen's naming for its prequantized releases; check it exists on the Hub")
    if dtype == "half":
        notes.append("no fast bf16 before compute capability 8.0: --dtype half")
    tp_kv = ckpt.text_config["num_key_value_heads"]
    if o.tensor_parallel > tp_kv:
        notes.append(f"TP {o.tensor_parallel} > {tp_kv} KV heads: each KV head is replicated on "
                     f"{o.tensor_parallel // tp_kv} GPUs")
    return DeploymentPlan(ckpt.id, served, gpus, memory_gb, o.precision, o.tensor_parallel, dp, int(max_len),
                          o.kv_tokens, o.weights_per_gpu, o.kv_budget_per_gpu, reasoning_parser(ckpt), utilization,
                          dtype, yarn, notes, considered)


def _refusal(ckpt, gpus, memory_gb, need, considered: list[Option]) -> str:
    if not considered:
        return f"{ckpt.id}: no tensor-parallel size up to {gpus} splits its attention heads evenly"
    best = max(considered, key=lambda o: (o.kv_tokens, -o.weights_per_gpu))
    smallest = min(considered, key=lambda o: o.weights_per_gpu)
    return (f"{ckpt.id} does not fit {gpus} x {memory_gb:g} GB with {need:,} tokens of context: the best option, "
            f"{best.precision} on TP {best.tensor_parallel}, {best.why}; the smallest weights are "
            f"{gb(smallest.weights_per_gpu)} per GPU ({smallest.precision}, TP {smallest.tensor_parallel}). "
            "Use more or larger GPUs, a shorter context, or a smaller model.")


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
                (f"KV cache at {self.context:,} tokens (16-bit)", gb(self.kv_bytes)), ("llama.cpp", self.llama_server),
                ("Ollama", self.ollama or "no official tag known to the course")] + [("note", n) for n in self.notes]


def edge_route(model: str, quant: str = "Q4_K_M", context: int | None = None, gpu: bool = False) -> EdgeRoute:
    """llama-server / Ollama commands for a checkpoint (Q3-README; Q3-docs/run_locally)."""
    ckpt = catalog.get(model)
    ctx = context or min(ckpt.context or 32768, 32768)
    notes = ["llama.cpp >= b5401 is recommended for Qwen3 (Q3-README)"] if ckpt.series.startswith("qwen3") else []
    repo = f"{ckpt.id}-GGUF" if ckpt.series in GGUF_SERIES and not ckpt.is_vision else None
    source = ["-hf", f"{repo}:{quant}"] if repo else ["-m", f"{ckpt.name.lower()}-{quant.lower()}.gguf"]
    argv = ["llama-server", *source, "--jinja", "-c", str(ctx), "-ngl", "99" if gpu else "0"]
    if ckpt.thinking != "none":
        argv += ["--reasoning-format", "deepseek", "--temp", "0.6", "--top-k", "20", "--top-p", "0.95", "--min-p", "0"]
    argv += ["--host", "127.0.0.1", "--port", "8080"]
    if not repo:
        notes.append(f"no official GGUF known to the course: python convert_hf_to_gguf.py {ckpt.id} --outfile "
                     f"{ckpt.name.lower()}-f16.gguf, then llama-quantize it to {quant}")
    tag = None
    if ckpt.series == "qwen3" or (ckpt.series == "qwen2.5" and ckpt.name.endswith("-Instruct")):
        size = ckpt.name.split("-", 1)[1].removesuffix("-Instruct").lower()
        tag = f"ollama run {ckpt.series}:{size}"
        notes.append("Ollama tags may not match Qwen's names; check ollama.com/library before use (Q3-README)")
    return EdgeRoute(ckpt.id, repo, quant, ctx, shlex.join(argv), tag, weights_bytes(ckpt, "int4"),
                     kv_bytes_per_token(ckpt, "bf16") * ctx, notes)
