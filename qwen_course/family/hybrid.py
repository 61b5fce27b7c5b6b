"""Hybrid attention measured: narrow models with a checkpoint's exact cache geometry, what their cache holds, and the
cache against context for a dense and a hybrid Qwen, computed (memory.cache_bytes) beside measured.

A cache tensor's shape depends on layers, layer types, KV heads, head_dim, Gated DeltaNet heads and widths and the
convolution kernel, never on the hidden size, the MLP or the vocabulary; so a model with the real values of the former
and tiny values of the latter builds in a second on a CPU and fills exactly the cache the real checkpoint fills.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

from .. import catalog
from ..memory import cache_bytes, kv_bytes_per_token, state_bytes

CACHE_MODELS = ("Qwen/Qwen3-8B", "Qwen/Qwen3.5-9B")  # a dense Qwen3 and the hybrid Qwen3.5 of about the same size
_TEXT_CLASSES = {  # model_type -> (text config type, the text-only class with the same decoder layers)
    "qwen3": ("qwen3", "Qwen3ForCausalLM"),
    "qwen3_moe": ("qwen3_moe", "Qwen3MoeForCausalLM"),
    "qwen3_next": ("qwen3_next", "Qwen3NextForCausalLM"),
    "qwen3_5": ("qwen3_5_text", "Qwen3_5ForCausalLM"),
    "qwen3_5_moe": ("qwen3_5_moe_text", "Qwen3_5MoeForCausalLM"),
}
NARROW = {"hidden_size": 64, "intermediate_size": 32, "vocab_size": 128}  # no cache tensor depends on these
_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
_SHORT = {f"torch.{name}": short for short, name in _DTYPES.items()}  # torch.bfloat16 -> "bf16"


def narrow_model(model_id: str, precision: str = "bf16", seed: int = 0):
    """A randomly initialised text model with `model_id`'s exact cache geometry and tiny widths (see the module)."""
    import torch
    import transformers
    from transformers import AutoConfig

    ckpt = catalog.get(model_id)
    if ckpt.model_type not in _TEXT_CLASSES:
        raise ValueError(f"{ckpt.id} ({ckpt.model_type}): narrow models exist for {', '.join(_TEXT_CLASSES)}; Qwen2 "
                         "derives head_dim from the hidden size, so shrinking it would change the cache")
    if precision not in _DTYPES:
        raise ValueError(f"precision must be one of {', '.join(_DTYPES)}, got {precision!r}")
    config = dict(ckpt.text_config, **NARROW)
    if "num_experts" in config:  # experts hold no cache: four tiny ones keep the router's code path
        config.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16)
        if config.get("shared_expert_intermediate_size"):
            config["shared_expert_intermediate_size"] = 16
    config_type, class_name = _TEXT_CLASSES[ckpt.model_type]
    torch.manual_seed(seed)
    model = getattr(transformers, class_name)(AutoConfig.for_model(config_type, **config))
    return model.to(getattr(torch, _DTYPES[precision])).eval()


@contextmanager
def one_thread():
    """Run narrow models on one CPU thread: their matrices are too small to split, and on a busy 2-core machine two
    threads waiting on each other made lesson 01's measurement eight times slower (116 s against 15 s, measured)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def cache_parts(cache) -> dict:
    """Measured bytes of a transformers cache by kind (K/V, convolution window, recurrent state) and their dtypes."""
    parts, dtypes = {"K/V": 0, "conv state": 0, "recurrent state": 0}, {}
    kinds = (("keys", "K/V"), ("values", "K/V"), ("conv_states", "conv state"), ("recurrent_states", "recurrent state"))
    for layer in getattr(cache, "layers", []):
        for attribute, kind in kinds:
            value = getattr(layer, attribute, None)
            for tensor in (value.values() if isinstance(value, dict) else [value]):
                if tensor is not None and hasattr(tensor, "element_size"):
                    parts[kind] += tensor.numel() * tensor.element_size()
                    dtypes[kind] = _SHORT.get(str(tensor.dtype), str(tensor.dtype))
    return {**parts, "dtypes": dtypes}


def crossover(dense: str = CACHE_MODELS[0], hybrid: str = CACHE_MODELS[1], precision: str = "bf16") -> float:
    """The context (tokens) beyond which the hybrid's cache is smaller than the dense one's: its fixed state divided
    by how much less it adds per token. Below it the fixed state makes the hybrid's cache the larger one."""
    per_token = kv_bytes_per_token(dense, precision) - kv_bytes_per_token(hybrid, precision)
    if per_token <= 0:
        return math.inf
    return (state_bytes(hybrid, precision) - state_bytes(dense, precision)) / per_token


def plot_cache(measured: list[dict], model_ids=CACHE_MODELS, precision: str = "bf16", max_context: int = 262144,
               ax=None):
    """Cache bytes against context, log-log: computed lines (memory.cache_bytes) and measured points (rows with
    "model_id", "tokens", "measured"), the hybrid's fixed state and the crossover marked."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(9, 5))[1]
    contexts = sorted({2 ** k for k in range(0, int(math.log2(max_context)) + 1)} | {max_context})
    colours = dict(zip(model_ids, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for mid in model_ids:
        ckpt = catalog.get(mid)
        full, layers = ckpt.layer_types.count("full_attention"), len(ckpt.layer_types)
        label = f"{ckpt.name}: K/V in {full} of {layers} layers" + (" + fixed state" if ckpt.is_hybrid else "")
        ax.plot(contexts, [cache_bytes(mid, precision, c) / 1e6 for c in contexts], color=colours[mid],
                label=f"{label} (computed)")
        points = [r for r in measured if r["model_id"] == mid]
        if points:
            ax.scatter([r["tokens"] for r in points], [r["measured"] / 1e6 for r in points], color=colours[mid],
                       edgecolor="black", zorder=3, s=45, label=f"{ckpt.name} (measured, narrow model)")
        if ckpt.is_hybrid:
            ax.axhline(state_bytes(mid, precision) / 1e6, color=colours[mid], ls=":", lw=1,
                       label=f"{ckpt.name}: fixed Gated DeltaNet state ({state_bytes(mid, precision) / 1e6:.1f} MB)")
    if len(model_ids) == 2 and math.isfinite(cross := crossover(*model_ids, precision)):
        ax.axvline(cross, color="grey", ls="--", lw=1, label=f"caches equal at {cross:,.0f} tokens")
    ax.set_xscale("log", base=2)
    ticks = [t for t in (1, 16, 256, 4096, 32768, 262144) if t <= max_context]
    ax.set_xticks(ticks, [f"{t // 1024}K" if t >= 1024 else str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel("context (tokens in the cache, one sequence, log scale)")
    ax.set_ylabel(f"cache ({precision} model), MB, log scale")
    ax.set_title("Dense vs hybrid attention: what the cache holds as the context grows")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    return ax
