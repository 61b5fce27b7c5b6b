"""How much memory a Qwen model needs: weights, KV cache and an honest overhead term, in bytes.

Hybrid models (Qwen3-Next, Qwen3.5/3.6) keep K and V only in their full-attention layers (one in four); each
Gated DeltaNet layer holds a fixed state per sequence instead: a convolution window in the model's dtype and a
recurrent state that transformers' torch path keeps in fp32 even in a bf16 model (measured, tests/test_hybrid_cache.py).
Vision and audio towers count in the weights; MoE experts are all resident. Download size is separate: releases
carry layers transformers does not build (the MTP head), and FP8 releases store 1 byte per linear weight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from . import catalog
from ._display import Table, gb
from ._paths import load_json

PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int4")


def _cpu_routes() -> dict:
    """The CPU quantization layouts of data/precisions.json, without its notes."""
    return {k: v for k, v in load_json("precisions.json")["cpu_routes"].items() if not k.startswith("_")}


def estimate_route(method_key: str, device: str = "cpu") -> str | None:
    """The `route` to pass to estimate() for a quantization method: its own CPU layout on a CPU, else None (generic)."""
    return method_key if device == "cpu" and method_key in _cpu_routes() else None


def precision_spec(precision: str, route: str | None = None) -> dict:
    """Storage facts of one precision from data/precisions.json; a CPU route (e.g. "ao-dynamic-int8") refines them."""
    table = load_json("precisions.json")["precisions"]
    if precision not in table:
        raise ValueError(f"unknown precision {precision!r}; use one of: {', '.join(PRECISIONS)}")
    routes = _cpu_routes()
    if route is None or route == precision:
        return table[precision]
    if route not in routes:
        raise ValueError(f"unknown CPU route {route!r}; known: {', '.join(routes)}")
    if routes[route]["precision"] != precision:
        raise ValueError(f"route {route!r} is {routes[route]['precision']}, not {precision}")
    return {**table[precision], **routes[route]}


@dataclass(repr=False)
class Estimate(Table):
    """Bytes a model takes at a precision, context length and batch size."""

    model_id: str
    precision: str
    context: int
    batch: int
    parameters: int
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    route: str | None = None  # the CPU route the bytes are for (None: the GPU / generic layout)
    state_bytes: int = 0  # the fixed Gated DeltaNet state inside kv_cache_bytes (hybrid models)
    download_bytes: int = 0  # the released checkpoint on disk (what a download costs), not what loading takes
    breakdown: dict = field(default_factory=dict)  # what was counted: label -> bytes, summing to total_bytes
    notes: list = field(default_factory=list)  # what the numbers assume, in words

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes

    def to_dict(self) -> dict:
        data = asdict(self)
        data["total_bytes"] = self.total_bytes
        return data

    @property
    def _title(self) -> str:  # type: ignore[override]
        how = f"{self.precision} ({self.route})" if self.route and self.route != self.precision else self.precision
        return f"Memory estimate: {self.model_id} in {how}, context {self.context:,}, batch {self.batch}"

    def _rows(self):
        parts = list(self.breakdown.items()) or [
            ("weights", self.weights_bytes), ("KV cache", self.kv_cache_bytes),
            ("overhead (activations, logits, allocator)", self.overhead_bytes)]
        rows = [("parameters", f"{self.parameters / 1e9:.3f}B")] + [(label, gb(n)) for label, n in parts]
        rows.append(("total", gb(self.total_bytes)))
        if self.download_bytes:
            rows.append(("download (the checkpoint on disk)", gb(self.download_bytes)))
        return rows + [("note", note) for note in self.notes]


def kv_bytes_per_token(model: str | catalog.Checkpoint, precision: str = "bf16", route: str | None = None) -> int:
    """K and V for every full-attention layer and KV head, for one token of one sequence (the part that grows)."""
    ckpt = catalog.get(model)
    c, kv = ckpt.text_config, precision_spec(precision, route)["kv_bytes"]
    return 2 * ckpt.layer_types.count("full_attention") * c["num_key_value_heads"] * catalog.head_dim(c) * kv


def state_bytes(model: str | catalog.Checkpoint, precision: str = "bf16", route: str | None = None) -> int:
    """The fixed state of one sequence in the Gated DeltaNet layers (0 for other models): a convolution window of
    `linear_conv_kernel_dim` columns in the KV dtype, and a heads x d_k x d_v recurrent state in fp32."""
    ckpt = catalog.get(model)
    if not ckpt.is_hybrid:
        return 0
    c, spec = ckpt.text_config, precision_spec(precision, route)
    recurrent = load_json("precisions.json")["hybrid_state"]["recurrent_bytes"]
    conv = catalog.conv_dim(c) * c["linear_conv_kernel_dim"] * spec["kv_bytes"]
    state = c["linear_num_value_heads"] * c["linear_key_head_dim"] * c["linear_value_head_dim"] * recurrent
    return ckpt.layer_types.count("linear_attention") * (conv + state)


def cache_bytes(model: str | catalog.Checkpoint, precision: str = "bf16", context: int = 4096, batch: int = 1,
                route: str | None = None) -> int:
    """Everything the cache holds for `batch` sequences of `context` tokens: growing K/V plus the fixed state."""
    if context == 0:
        return 0
    return batch * (kv_bytes_per_token(model, precision, route) * context + state_bytes(model, precision, route))


def weights_bytes(model: str | catalog.Checkpoint, precision: str = "bf16", route: str | None = None) -> int:
    """Weight storage; quantized precisions keep embeddings, norms, biases (and usually lm_head) unquantized."""
    ckpt = catalog.get(model)
    spec = precision_spec(precision, route)
    count = catalog.param_count(ckpt)
    if not spec["quantized"]:
        return int(count.total * spec["weight_bytes"])
    linear, kept = count.attention + count.mlp + count.vision + count.audio, count.embedding + count.lm_head + count.norms
    if not spec.get("quantizes_vision", True):  # Qwen's FP8 releases keep the vision tower in bf16
        linear, kept = linear - count.vision, kept + count.vision
    if spec.get("quantizes_lm_head"):  # torch.ao quantizes every nn.Linear; a tied lm_head gets its own int8 copy
        linear, kept = linear + (count.lm_head or count.embedding), kept - count.lm_head
    if ckpt.is_moe and not spec.get("quantizes_moe_experts", False):  # (prequantized FP8 releases do quantize them)
        linear, kept = linear - count.mlp, kept + count.mlp  # 3D expert tensors are not nn.Linear: they stay 16-bit
    if "group_size" in spec:
        scales = linear / spec["group_size"] * spec["scale_bytes"]
    else:  # one scale per output row: rows ~ linear / hidden
        scales = linear / ckpt.text_config["hidden_size"] * spec["scale_bytes"]
    return int(linear * spec["weight_bytes"] + scales + kept * spec["unquantized_bytes"])


def overhead_bytes(model: str | catalog.Checkpoint, precision: str, context: int, batch: int, weights: int,
                   route: str | None = None) -> int:
    """Prefill activations (MLP and hidden states for every prompt token), last-token fp32 logits, allocator slack."""
    c = catalog.get(model).text_config
    act_bytes = precision_spec(precision, route).get("activation_bytes", 4 if precision == "fp32" else 2)
    inter = c.get("moe_intermediate_size", 0) * c.get("num_experts_per_tok", 0) or c["intermediate_size"]
    inter += c.get("shared_expert_intermediate_size", 0) if "num_experts" in c else 0
    activations = batch * context * (2 * inter + 4 * c["hidden_size"]) * act_bytes
    logits = batch * c["vocab_size"] * 4
    slack = load_json("precisions.json")["overhead"]["allocator_slack"] * weights
    return int(activations + logits + slack)


def estimate(model: str | catalog.Checkpoint, precision: str = "bf16", context: int = 4096, batch: int = 1,
             route: str | None = None) -> Estimate:
    """Weights + KV cache + overhead for `batch` sequences of `context` tokens (`route`: a CPU quantization route).

    `context=0` answers "what do the weights alone take": weights and overhead, no KV cache."""
    ckpt = catalog.get(model)
    if isinstance(context, bool) or int(context) != context or context < 0:
        raise ValueError(f"context must be a whole number of tokens >= 0 (0: weights only), got {context!r}")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    limit = ckpt.max_context
    if limit and context > limit:
        raise ValueError(f"{ckpt.id} supports at most {limit:,} tokens of context; {context:,} asked")
    spec = precision_spec(precision, route)  # a clear error for an unknown or mismatched route
    route = None if route == precision else route
    weights = weights_bytes(ckpt, precision, route)
    kv = cache_bytes(ckpt, precision, context, batch, route)
    state = batch * state_bytes(ckpt, precision, route) if context else 0
    overhead = overhead_bytes(ckpt, precision, context, batch, weights, route)
    download = download_bytes(ckpt, "fp8" if precision == "fp8" else "bf16")
    est = Estimate(ckpt.id, precision, int(context), int(batch), catalog.param_count(ckpt).total, weights, kv,
                   overhead, route, state, download)
    est.breakdown, est.notes = _breakdown(ckpt, spec, est), _notes(ckpt, est)
    return est


def _tower_bytes(params: int, spec: dict, quantized: bool) -> int:
    """A vision or audio tower at a precision: quantized like the other linear layers, or kept in 16 bits."""
    if not spec["quantized"]:
        return int(params * spec["weight_bytes"])
    if not quantized:
        return int(params * spec["unquantized_bytes"])
    return int(params * (spec["weight_bytes"] + spec["scale_bytes"] / spec.get("group_size", 1024)))


def _breakdown(ckpt: catalog.Checkpoint, spec: dict, est: Estimate) -> dict:
    """What the estimate counted, part by part (label -> bytes); the parts sum to `total_bytes`."""
    count, c = catalog.param_count(ckpt), ckpt.text_config
    towers = {"weights: vision tower": _tower_bytes(count.vision, spec, spec.get("quantizes_vision", True)),
              "weights: audio encoder": _tower_bytes(count.audio, spec, True)}
    towers = {label: n for label, n in towers.items() if n}
    what = f"all {c['num_experts']} experts resident" if ckpt.is_moe else "embedding, layers, head"
    parts = {f"weights: language model ({what})": est.weights_bytes - sum(towers.values()), **towers}
    full, layers = ckpt.layer_types.count("full_attention"), c["num_hidden_layers"]
    of = f" of {layers}" if full < layers else ""
    parts[f"KV cache: {full}{of} layers x {est.context:,} tokens x {est.batch}"] = est.kv_cache_bytes - est.state_bytes
    if ckpt.is_hybrid:
        parts[f"Gated DeltaNet state: {layers - full} layers, fixed per sequence"] = est.state_bytes
    parts["overhead: prefill activations, logits, allocator"] = est.overhead_bytes
    return parts


def _notes(ckpt: catalog.Checkpoint, est: Estimate) -> list[str]:
    """The assumptions behind an estimate, in words a lesson can print."""
    c, count, notes = ckpt.text_config, catalog.param_count(ckpt), []
    if ckpt.is_hybrid:
        full = ckpt.layer_types.count("full_attention")
        notes.append(f"hybrid: only {full} of {c['num_hidden_layers']} layers keep K and V; each Gated DeltaNet layer "
                     "holds a fixed convolution window and a recurrent state (fp32 even in a 16-bit model)")
    if ckpt.is_moe:
        shared = " + 1 shared" if c.get("shared_expert_intermediate_size") else ""
        notes.append(f"MoE: all {c['num_experts']} experts stay in memory; {c['num_experts_per_tok']} routed{shared} "
                     f"per token use {count.active / 1e9:.1f}B of {count.total / 1e9:.1f}B parameters")
    mtp = catalog.download_params(ckpt) - count.total
    what = f"{ckpt.fp8} (FP8)" if est.precision == "fp8" else "the bf16 release"
    notes.append(f"download: {what}" + (f", with an MTP layer of {mtp / 1e9:.2f}B parameters transformers does not "
                                         "load" if mtp else ""))
    if est.context == 0:
        notes.append("context 0: weights only, no cache")
    if not ckpt.verified:
        notes.append("unverified catalog row: its config numbers are assumptions (see the catalog notes)")
    return notes


def download_bytes(model: str | catalog.Checkpoint, variant: str = "bf16") -> int:
    """Bytes of a released checkpoint: "bf16" (how Qwen ships weights) or "fp8" (Qwen's -FP8 release: linear
    weights of the language model in 1 byte with an fp32 scale per 128x128 block, the rest bf16); MTP included."""
    ckpt = catalog.get(model)
    mtp = catalog.download_params(ckpt) - catalog.param_count(ckpt).total
    if variant == "bf16":
        return 2 * catalog.download_params(ckpt)
    if variant != "fp8" or not ckpt.fp8:
        raise ValueError(f"{ckpt.id} has no {variant!r} release in the catalog" if variant == "fp8" else
                         f"unknown checkpoint variant {variant!r}; use bf16 or fp8")
    spec = precision_spec("fp8")
    return weights_bytes(ckpt, "fp8") + int(mtp * (spec["weight_bytes"] + spec["scale_bytes"] / spec["group_size"]))


def longest_context(est: Estimate, budget: int) -> int:
    """The longest context (a multiple of 256) at which the same model and precision fit `budget`; 0 if none."""
    low, high = 0, est.context // 256
    while low < high:  # total bytes grow with context, so bisect
        mid = (low + high + 1) // 2
        if estimate(est.model_id, est.precision, mid * 256, est.batch, est.route).total_bytes <= budget:
            low = mid
        else:
            high = mid - 1
    return low * 256


def duration(seconds: float) -> str:
    """A download time in words: minutes, or hours past 90 minutes."""
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{max(1, round(seconds / 60))} min"


# What a loaded model really occupies, to check the estimates above against.
def _storages(tensor, seen: set, out: list) -> None:
    """Every distinct storage behind a tensor, looking inside quantized and subclass tensors."""
    import torch

    if isinstance(tensor, (list, tuple)):
        for t in tensor:
            _storages(t, seen, out)
        return
    if not isinstance(tensor, torch.Tensor):
        return
    if hasattr(tensor, "__tensor_flatten__") and type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        names, _ = tensor.__tensor_flatten__()
        for name in names:
            _storages(getattr(tensor, name), seen, out)
        return
    if tensor.is_quantized:  # torch.ao qint8: int8 data plus per-channel scales and zero points
        if tensor.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            _storages([tensor.q_per_channel_scales(), tensor.q_per_channel_zero_points()], seen, out)
        key = ("q", tensor.data_ptr())
        if key not in seen:
            seen.add(key)
            out.append(tensor.numel() * tensor.element_size())
        return
    storage = tensor.untyped_storage()
    key = (tensor.device.type, storage.data_ptr())
    if key not in seen:
        seen.add(key)
        out.append(storage.nbytes())


def loaded_bytes(model) -> int:
    """Measured bytes of the loaded weights and buffers (tied weights counted once, packed int8 included)."""
    seen, sizes = set(), []
    for value in model.state_dict().values():
        _storages(value, seen, sizes)
    return int(sum(sizes))


def measured_cache_bytes(cache) -> int:
    """Measured bytes of every tensor a transformers cache holds (K/V, convolution and recurrent states), each once."""
    seen, sizes = set(), []
    for layer in getattr(cache, "layers", [cache]):
        for value in vars(layer).values():
            _storages(list(value.values()) if isinstance(value, dict) else value, seen, sizes)
    return int(sum(sizes))
