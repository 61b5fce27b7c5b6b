"""Qwen's architecture counted on meta-device models: parameters per part, KV cache, compute against memory."""

from __future__ import annotations

from dataclasses import replace

from .. import catalog
from ..memory import estimate, kv_bytes_per_token, weights_bytes

PARTS = ("embedding", "lm_head", "attention", "mlp", "norms", "vision", "audio")


def meta_model(model_id: str, **overrides):
    """The real transformers model class built from the catalog's config numbers on the meta device (no memory used)."""
    import torch
    import transformers
    from transformers import AutoConfig

    ckpt = catalog.get(model_id)
    config = AutoConfig.for_model(ckpt.model_type, **{**ckpt.config, **overrides})
    with torch.device("meta"):  # the class that loads the checkpoint: Qwen3_5ForConditionalGeneration, Qwen3Model...
        return getattr(transformers, ckpt.loads_with)._from_config(config)


_NAME_PARTS = (("visual", "vision"), ("audio_tower", "audio"), ("embed_tokens", "embedding"), ("lm_head", "lm_head"),
               (".self_attn.", "attention"), (".linear_attn.", "attention"), (".mlp.", "mlp"),
               ("norm", "norms"))  # first match wins: a q_norm inside self_attn (or linear_attn) is attention


def part_of(name: str) -> str:
    """Which part of the model a parameter belongs to, from its name."""
    part = next((part for key, part in _NAME_PARTS if key in name), None)
    if part is None:
        raise ValueError(f"unclassified parameter {name!r}")
    return part


def breakdown(model) -> dict[str, int]:
    """Parameters per part of a (meta) model; tied weights count once, as in `model.num_parameters()`."""
    parts = dict.fromkeys(PARTS, 0)
    for name, p in model.named_parameters():
        parts[part_of(name)] += p.numel()
    return parts


def features(model) -> dict:
    """The architecture choices visible in a model: GQA ratio, head width, QKV bias, QK-norm, tying, experts."""
    names = [n for n, _ in model.named_parameters()]
    cfg = model.config.get_text_config()
    experts = f"{cfg.num_experts} ({cfg.num_experts_per_tok})" if hasattr(cfg, "num_experts") else "-"
    return {"query heads": cfg.num_attention_heads, "KV heads": cfg.num_key_value_heads,
            "head_dim": getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads,
            "QKV bias": any(n.endswith("q_proj.bias") for n in names), "QK-norm": any(".q_norm." in n for n in names),
            "tied embeddings": bool(cfg.tie_word_embeddings), "experts (active)": experts}


def kv_cache(model_ids, context: int = 32768, precision: str = "bf16") -> list[dict]:
    """KV cache per token and at `context`, as shipped (GQA) and as if every query head had its own K and V (MHA)."""
    rows = []
    for mid in model_ids:
        ckpt = catalog.get(mid)
        tc = ckpt.text_config
        mha_config = {**tc, "num_key_value_heads": tc["num_attention_heads"]}
        mha = replace(ckpt, config={**ckpt.config, "text_config": mha_config} if ckpt.is_vision else mha_config)
        gqa_b, mha_b = kv_bytes_per_token(ckpt, precision), kv_bytes_per_token(mha, precision)
        rows.append({"model": ckpt.name, "series": ckpt.series, "query heads": tc["num_attention_heads"],
                     "KV heads": tc["num_key_value_heads"], "KV bytes/token": gqa_b, "KV bytes/token if MHA": mha_b,
                     "saving": mha_b / gqa_b, f"KV GB at {context:,}": gqa_b * context / 1e9,
                     f"MHA GB at {context:,}": mha_b * context / 1e9})
    return rows


def matmul_params(model_id: str) -> int:
    """Parameters one text token multiplies by: the active ones, less the embedding (a lookup is free), plus the
    output layer once (its own matrix when untied, the embedding reused when tied, none in a bare Qwen3Model)."""
    ckpt = catalog.get(model_id)
    count = catalog.param_count(ckpt)
    tc = ckpt.text_config
    has_head = not ckpt.loads_with.endswith("Model")
    head = tc["vocab_size"] * tc["hidden_size"] if has_head else 0
    return count.active - count.embedding - count.lm_head - count.vision - count.audio + head


def compute_vs_memory(model_ids, precision: str = "bf16") -> list[dict]:
    """Memory follows the total parameters, compute the active ones: weights GB vs forward GFLOPs per token."""
    rows = []
    for mid in model_ids:
        ckpt = catalog.get(mid)
        count = catalog.param_count(ckpt)
        matmul = matmul_params(ckpt.id)
        rows.append({"model": ckpt.name, "moe": ckpt.is_moe, "total (B)": count.total / 1e9,
                     "active (B)": count.active / 1e9,
                     f"weights GB ({precision})": weights_bytes(ckpt, precision) / 1e9, "GFLOPs/token": 2 * matmul / 1e9})
    return rows


def memory_vs_context(model_id: str, precisions=("fp32", "bf16", "int8", "int4"), contexts=None,
                      budget_bytes: int | None = None, ax=None):
    """Total estimated memory of `model_id` against context length, one line per precision, with the budget."""
    import matplotlib.pyplot as plt

    ckpt = catalog.get(model_id)
    limit = ckpt.max_context
    contexts = [c for c in (contexts or [2 ** k for k in range(9, 19)]) if c <= limit] or [limit]
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for precision in precisions:
        totals = [estimate(ckpt, precision, c).total_bytes / 1e9 for c in contexts]
        ax.plot(contexts, totals, marker="o", label=precision)
    if budget_bytes:
        ax.axhline(budget_bytes / 1e9, color="black", linestyle="--",
                   label=f"the picker's budget here ({budget_bytes / 1e9:.1f} GB)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(contexts, [f"{c // 1024}K" if c >= 1024 else str(c) for c in contexts], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("context length (tokens, log scale)")
    ax.set_ylabel("estimated memory (GB)")
    full, layers = ckpt.layer_types.count("full_attention"), len(ckpt.layer_types)
    cache = f"cache (K/V in {full} of {layers} layers + fixed state)" if ckpt.is_hybrid else "KV cache"
    ax.set_title(f"{ckpt.name}: weights + {cache} + overhead")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax
