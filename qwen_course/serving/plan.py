"""Plan a multi-GPU deployment of a Qwen checkpoint with vLLM or SGLang.

Arithmetic only (catalog + memory, no torch): which precision and tensor-parallel size fit N GPUs of M GB, how
long a context the KV cache then holds (a hybrid Qwen3.5 also keeps a fixed state per sequence; an MoE keeps every
expert resident), and the exact command lines. Sources: qwen.readthedocs.io deployment/vllm and sglang (flags,
FP8/AWQ checkpoints, FP8 on Ampere, the 128-wide block rule), vLLM's QKVParallelLinear (how KV heads split), the
Qwen3.5 recipes of vLLM (github.com/vllm-project/recipes Qwen/Qwen3.5.md) and SGLang
(docs.sglang.io/cookbook/autoregressive/Qwen/Qwen3.5): --reasoning-parser qwen3, --tool-call-parser qwen3_coder,
--language-model-only.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .. import catalog
from .._display import Table, gb
from ..memory import kv_bytes_per_token, state_bytes, weights_bytes

GB = 1e9
QUANT_BLOCK = 128  # FP8 block-wise and AWQ group width: a TP shard of the MLP must not split one
# Official prequantized lines (Qwen's Hub organisation): Qwen3-*-FP8, Qwen3-*-AWQ, Qwen2.5-*-Instruct-AWQ; the
# Qwen3.5/3.6 FP8 releases are named per checkpoint in the catalog (`fp8`).
FP8_SERIES = ("qwen3", "qwen3-vl")
AWQ_SERIES = ("qwen3", "qwen2.5", "qwen2.5-vl")
GGUF_SERIES = ("qwen3", "qwen2.5")
# Bytes per quantized Linear weight in Qwen's prequantized checkpoints: FP8 block-wise with one fp32 scale per
# 128x128 block (qwen.readthedocs.io deployment/vllm), AWQ 4-bit with an fp16 scale and a 4-bit zero per group of
# 128 (qwen.readthedocs.io quantization/awq). MoE experts are quantized too; embeddings, norms and vision towers stay 16-bit.
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
    state_per_gpu: int = 0  # a hybrid model's fixed Gated DeltaNet state per sequence, this GPU's share


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
    tool_parser: str | None = None
    state_per_gpu: int = 0
    kv_per_token_per_gpu: int = 0
    language_model_only: bool = False

    @property
    def concurrent_sequences(self) -> int:
        """Full-length sequences whose cache (growing K/V plus any fixed state) fits at once in one replica."""
        if not self.kv_per_token_per_gpu:
            return self.kv_tokens // self.max_model_len
        return int(self.kv_budget_per_gpu // (self.kv_per_token_per_gpu * self.max_model_len + self.state_per_gpu))

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
        if self.tool_parser:
            argv += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_parser]
        if self.language_model_only:
            argv.append("--language-model-only")
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
        if self.reasoning_parser:  # SGLang spells the R1 parser with a hyphen (qwen.readthedocs.io deployment/sglang)
            argv += ["--reasoning-parser", self.reasoning_parser.replace("_", "-")]
        if self.tool_parser:
            argv += ["--tool-call-parser", "qwen25" if self.tool_parser == "hermes" else self.tool_parser]
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
                ("reasoning / tool-call parser", f"{self.reasoning_parser or 'none'} / {self.tool_parser or 'none'}")]
        if self.state_per_gpu:
            rows.insert(5, ("fixed state per sequence (Gated DeltaNet)", gb(self.state_per_gpu, 3)))
        return rows + [("note", n) for n in self.notes]


def _yarn_json(factor: float) -> str:
    return ('{"rope_type":"yarn","factor":%s,"original_max_position_embeddings":32768}' % f"{factor:g}")


def reasoning_parser(ckpt: catalog.Checkpoint) -> str | None:
    """vLLM's parser: `qwen3` for the hybrid Qwen3/3.5/3.6 models, `deepseek_r1` for Qwen3 Thinking-2507 (Qwen docs)."""
    if ckpt.thinking == "hybrid" and ckpt.series.startswith("qwen3"):
        return "qwen3"
    if ckpt.thinking == "thinking-only" and ckpt.series == "qwen3-2507":
        return "deepseek_r1"
    return None


def tool_call_parser(ckpt: catalog.Checkpoint) -> str | None:
    """vLLM's tool-call parser: `qwen3_coder` for the XML call format of Qwen3.5/3.6 and Qwen3-Coder (vLLM's Qwen3.5
    recipe), `hermes` for the JSON <tool_call> of Qwen2.5/Qwen3 (qwen.readthedocs.io framework/function_call)."""
    if ckpt.series.startswith(("qwen3.5", "qwen3.6", "qwen3-coder")):
        return "qwen3_coder"
    return "hermes" if ckpt.series.startswith(("qwen3", "qwen2.5")) and "chat" in ckpt.tasks else None


def valid_tensor_parallel(ckpt: catalog.Checkpoint, gpus: int) -> list[int]:
    """TP sizes up to `gpus` that split the query heads evenly, the KV heads evenly (or replicate them), and a
    hybrid model's Gated DeltaNet key and value heads evenly."""
    c = ckpt.text_config
    heads, kv = c["num_attention_heads"], c["num_key_value_heads"]
    linear = [c.get("linear_num_key_heads") or 1, c.get("linear_num_value_heads") or 1] if ckpt.is_hybrid else []
    return [tp for tp in range(1, gpus + 1) if heads % tp == 0 and (kv % tp == 0 or tp % kv == 0)
            and all(n % tp == 0 for n in linear)]


def _precisions(ckpt: catalog.Checkpoint, cc: tuple[int, int] | None) -> list[tuple[str, str, str | None]]:
    """(precision, checkpoint to serve, --dtype) in quality order, as far as this GPU generation runs them."""
    out = [("bf16", ckpt.id, None) if cc is None or cc >= (8, 0) else ("fp16", ckpt.id, "half")]
    fp8 = ckpt.fp8 or (f"{ckpt.id}-FP8" if ckpt.series in FP8_SERIES else None)
    if fp8 and (cc is None or cc >= (8, 0)):
        out.append(("fp8", fp8, None))
    if ckpt.series in AWQ_SERIES and (cc is None or cc >= (7, 5)):
        out.append(("int4", f"{ckpt.id}-AWQ", "half" if cc is not None and cc < (8, 0) else None))
    return out


def served_weights_bytes(model: str | catalog.Checkpoint, precision: str, text_only: bool = False) -> int:
    """Weight bytes of the checkpoint a server loads: 16-bit, or Qwen's FP8 / AWQ release; every MoE expert counts
    (all are resident); text_only leaves out the vision tower (vLLM's --language-model-only)."""
    ckpt = catalog.get(model)
    count = catalog.param_count(ckpt)
    tower = count.vision * 2 if text_only else 0
    if precision not in PREQUANTIZED_BYTES:
        return weights_bytes(ckpt, "bf16") - tower
    linear = count.attention + count.mlp
    return int(linear * PREQUANTIZED_BYTES[precision] + (count.total - linear) * 2) - tower


def _evaluate(ckpt, precision: str, tp: int, per_gpu: float, reserve: float, need: int) -> Option:
    c = ckpt.text_config
    weights = served_weights_bytes(ckpt, precision, text_only=ckpt.is_hybrid and ckpt.is_vision) / tp
    inter = c.get("moe_intermediate_size") or c["intermediate_size"]
    if precision in ("fp8", "int4") and (inter % tp or (inter // tp) % QUANT_BLOCK):
        return Option(precision, tp, int(weights), 0, 0, False,
                      f"MLP width {inter} / TP {tp} is not a multiple of the {QUANT_BLOCK}-wide quantization blocks")
    kv_per_gpu_token = kv_per_token_per_gpu(ckpt, tp)
    state = state_bytes(ckpt, "bf16") // tp  # the Gated DeltaNet heads split across TP like the attention heads
    budget = per_gpu - weights - reserve
    tokens = int(max(0, budget - state) // kv_per_gpu_token)  # what one sequence holds after its fixed state
    if budget <= 0:
        return Option(precision, tp, int(weights), 0, 0, False, f"weights alone need {gb(weights)} per GPU")
    ok = tokens >= need
    why = f"KV cache holds {tokens:,} tokens" + ("" if ok else f" (< {need:,} needed)")
    return Option(precision, tp, int(weights), int(budget), tokens, ok, why, int(state))


def kv_per_token_per_gpu(ckpt: catalog.Checkpoint, tp: int) -> float:
    """K/V bytes per token on one GPU: the full-attention layers' KV heads, split by TP (or replicated past it)."""
    kv = ckpt.text_config["num_key_value_heads"]
    return kv_bytes_per_token(ckpt, "bf16") * max(1, kv // tp) / kv


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
                     "(qwen.readthedocs.io deployment/vllm); newer vLLM may take it as --hf-overrides")
    dp = gpus // o.tensor_parallel
    if gpus % o.tensor_parallel:
        notes.append(f"{gpus % o.tensor_parallel} GPU(s) idle: {gpus} is not a multiple of TP {o.tensor_parallel}")
    if o.precision == "fp8":
        notes.append("FP8 runs natively (w8a8) on compute capability 8.9+ and as w8a16 via FP8 Marlin on Ampere "
                     "with vLLM >= 0.9 (qwen.readthedocs.io deployment/vllm)")
    if o.precision in ("fp8", "int4"):
        notes.append(f"{served} follows Qwen's naming for its prequantized releases; check it exists on the Hub")
    if dtype == "half":
        notes.append("no fast bf16 before compute capability 8.0: --dtype half")
    tp_kv = ckpt.text_config["num_key_value_heads"]
    if o.tensor_parallel > tp_kv:
        notes.append(f"TP {o.tensor_parallel} > {tp_kv} KV heads: each KV head is replicated on "
                     f"{o.tensor_parallel // tp_kv} GPUs")
    if ckpt.is_moe:
        count = catalog.param_count(ckpt)
        notes.append(f"MoE: all experts stay resident ({count.total / 1e9:.0f}B parameters in memory) although a token "
                     f"uses {count.active / 1e9:.1f}B; vLLM can place experts by GPU with --enable-expert-parallel")
    if o.state_per_gpu:
        notes.append(f"hybrid cache: K/V grow on {ckpt.layer_types.count('full_attention')} of {len(ckpt.layer_types)} "
                     f"layers; each sequence also holds a fixed {gb(o.state_per_gpu, 3)} Gated DeltaNet state per GPU")
    text_only = ckpt.is_hybrid and ckpt.is_vision
    if text_only:
        notes.append("--language-model-only skips the vision encoder (text-only serving; vLLM's Qwen3.5 recipe)")
    return DeploymentPlan(ckpt.id, served, gpus, memory_gb, o.precision, o.tensor_parallel, dp, int(max_len),
                          o.kv_tokens, o.weights_per_gpu, o.kv_budget_per_gpu, reasoning_parser(ckpt), utilization,
                          dtype, yarn, notes, considered, tool_call_parser(ckpt), o.state_per_gpu,
                          int(kv_per_token_per_gpu(ckpt, o.tensor_parallel)), text_only)


def _refusal(ckpt, gpus, memory_gb, need, considered: list[Option]) -> str:
    if not considered:
        return f"{ckpt.id}: no tensor-parallel size up to {gpus} splits its attention heads evenly"
    best = max(considered, key=lambda o: (o.kv_tokens, -o.weights_per_gpu))
    smallest = min(considered, key=lambda o: o.weights_per_gpu)
    return (f"{ckpt.id} does not fit {gpus} x {memory_gb:g} GB with {need:,} tokens of context: the best option, "
            f"{best.precision} on TP {best.tensor_parallel}, {best.why}; the smallest weights are "
            f"{gb(smallest.weights_per_gpu)} per GPU ({smallest.precision}, TP {smallest.tensor_parallel}). "
            "Use more or larger GPUs, a shorter context, or a smaller model.")
