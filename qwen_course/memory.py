"""How much memory a Qwen model needs: weights, KV cache and an honest overhead term, in bytes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import catalog
from ._display import Table, gb
from ._paths import load_json

PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int4")


def precision_spec(precision: str) -> dict:
    """Storage facts of one precision from data/precisions.json."""
    table = load_json("precisions.json")["precisions"]
    if precision not in table:
        raise ValueError(f"unknown precision {precision!r}; use one of: {', '.join(PRECISIONS)}")
    return table[precision]


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

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes

    def to_dict(self) -> dict:
        data = asdict(self)
        data["total_bytes"] = self.total_bytes
        return data

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Memory estimate: {self.model_id} in {self.precision}, context {self.context:,}, batch {self.batch}"

    def _rows(self):
        return [
            ("parameters", f"{self.parameters / 1e9:.3f}B"),
            ("weights", gb(self.weights_bytes)),
            ("KV cache", gb(self.kv_cache_bytes)),
            ("overhead (activations, logits, allocator)", gb(self.overhead_bytes)),
            ("total", gb(self.total_bytes)),
        ]


def kv_bytes_per_token(model: str | catalog.Checkpoint, precision: str = "bf16") -> int:
    """K and V for every layer and KV head, for one token of one sequence."""
    c = catalog.get(model).text_config
    return 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * catalog.head_dim(c) * precision_spec(precision)["kv_bytes"]


def weights_bytes(model: str | catalog.Checkpoint, precision: str = "bf16") -> int:
    """Weight storage; quantized precisions keep embeddings, lm_head, norms and biases in 16-bit."""
    ckpt = catalog.get(model)
    spec = precision_spec(precision)
    count = catalog.param_count(ckpt)
    if not spec["quantized"]:
        return int(count.total * spec["weight_bytes"])
    linear = count.attention + count.mlp + count.vision
    kept = count.embedding + count.lm_head + count.norms
    if ckpt.is_moe and not spec.get("quantizes_moe_experts", False):
        linear, kept = linear - count.mlp, kept + count.mlp  # 3D expert tensors are not nn.Linear: they stay 16-bit
    if "group_size" in spec:
        scales = linear / spec["group_size"] * spec["scale_bytes"]
    else:  # one scale per output row: rows ~ linear / hidden
        scales = linear / ckpt.text_config["hidden_size"] * spec["scale_bytes"]
    return int(linear * spec["weight_bytes"] + scales + kept * spec["unquantized_bytes"])


def overhead_bytes(model: str | catalog.Checkpoint, precision: str, context: int, batch: int, weights: int) -> int:
    """Prefill activations (MLP and hidden states for every prompt token), last-token fp32 logits, allocator slack."""
    c = catalog.get(model).text_config
    act_bytes = 4 if precision == "fp32" else 2
    inter = c.get("moe_intermediate_size", 0) * c.get("num_experts_per_tok", 0) or c["intermediate_size"]
    activations = batch * context * (2 * inter + 4 * c["hidden_size"]) * act_bytes
    logits = batch * c["vocab_size"] * 4
    slack = load_json("precisions.json")["overhead"]["allocator_slack"] * weights
    return int(activations + logits + slack)


def estimate(model: str | catalog.Checkpoint, precision: str = "bf16", context: int = 4096, batch: int = 1) -> Estimate:
    """Weights + KV cache + overhead for `batch` sequences of `context` tokens."""
    ckpt = catalog.get(model)
    if int(context) != context or context < 1:
        raise ValueError(f"context must be a positive number of tokens, got {context!r}")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    limit = ckpt.max_context
    if limit and context > limit:
        raise ValueError(f"{ckpt.id} supports at most {limit:,} tokens of context; {context:,} asked")
    weights = weights_bytes(ckpt, precision)
    kv = kv_bytes_per_token(ckpt, precision) * context * batch
    return Estimate(ckpt.id, precision, int(context), int(batch), catalog.param_count(ckpt).total, weights, kv,
                    overhead_bytes(ckpt, precision, context, batch, weights))
