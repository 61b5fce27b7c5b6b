"""How much memory a Qwen model needs: weights, KV cache and an honest overhead term, in bytes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
        return [
            ("parameters", f"{self.parameters / 1e9:.3f}B"),
            ("weights", gb(self.weights_bytes)),
            ("KV cache", gb(self.kv_cache_bytes)),
            ("overhead (activations, logits, allocator)", gb(self.overhead_bytes)),
            ("total", gb(self.total_bytes)),
        ]


def kv_bytes_per_token(model: str | catalog.Checkpoint, precision: str = "bf16", route: str | None = None) -> int:
    """K and V for every layer and KV head, for one token of one sequence."""
    c = catalog.get(model).text_config
    kv = precision_spec(precision, route)["kv_bytes"]
    return 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * catalog.head_dim(c) * kv


def weights_bytes(model: str | catalog.Checkpoint, precision: str = "bf16", route: str | None = None) -> int:
    """Weight storage; quantized precisions keep embeddings, norms, biases (and usually lm_head) unquantized."""
    ckpt = catalog.get(model)
    spec = precision_spec(precision, route)
    count = catalog.param_count(ckpt)
    if not spec["quantized"]:
        return int(count.total * spec["weight_bytes"])
    linear = count.attention + count.mlp + count.vision
    kept = count.embedding + count.lm_head + count.norms
    if spec.get("quantizes_lm_head"):  # torch.ao quantizes every nn.Linear; a tied lm_head gets its own int8 copy
        linear, kept = linear + (count.lm_head or count.embedding), kept - count.lm_head
    if ckpt.is_moe and not spec.get("quantizes_moe_experts", False):
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
    precision_spec(precision, route)  # a clear error for an unknown or mismatched route
    route = None if route == precision else route
    weights = weights_bytes(ckpt, precision, route)
    kv = kv_bytes_per_token(ckpt, precision, route) * context * batch
    return Estimate(ckpt.id, precision, int(context), int(batch), catalog.param_count(ckpt).total, weights, kv,
                    overhead_bytes(ckpt, precision, context, batch, weights, route), route)


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
