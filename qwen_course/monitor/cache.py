"""What a model holds and reads, from its own config: the cache a loaded model really builds next to what `memory`
predicts for it (lesson 07's long-chat and prompt-length experiments, on a dense Qwen3 and a hybrid Qwen3.5, where
only one layer in four grows), and the weight bytes a catalog model reads per decoded token.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["checkpoint_for", "cache_precision", "plot_cache_growth", "catalog_bytes_per_token"]

_PRECISION = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def checkpoint_for(model, name: str | None = None):
    """A catalog entry built from a loaded model's own config, so `memory.cache_bytes` / `state_bytes` /
    `kv_bytes_per_token` apply to a model the catalog does not list (an offline stand-in, a local fine-tune)."""
    from .. import catalog

    config = model.config
    text = config.get_text_config()
    return catalog.Checkpoint(id=name or getattr(config, "name_or_path", "") or config.model_type, series="local",
                              model_type=text.model_type, tasks=(), config=text.to_dict())


def cache_precision(model) -> str:
    """The precision name ("fp32", "bf16", "fp16") of the cache a model builds: its activations' dtype, which an
    int8 CPU model (torch.ao dynamic quantization) keeps in fp32."""
    dtype = str(model.get_input_embeddings().weight.dtype).removeprefix("torch.")
    if dtype not in _PRECISION:
        raise ValueError(f"no cache precision for embeddings of dtype {dtype}")
    return _PRECISION[dtype]


def _unit(values: Sequence[float]) -> tuple[float, str]:
    top = max(values, default=0)
    for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if top >= scale:
            return scale, name
    return 1, "bytes"


def plot_cache_growth(frame, title: str = "Cache bytes against prompt length"):
    """Measured cache (markers) and the memory module's prediction (dashed) per model, against tokens in the cache.

    `frame` has the columns model, tokens, measured_bytes, predicted_bytes (one row per model and length).
    """
    import matplotlib.pyplot as plt

    scale, unit = _unit(list(frame.measured_bytes) + list(frame.predicted_bytes))
    fig, ax = plt.subplots(figsize=(6.8, 3.8))
    for i, (model, rows) in enumerate(frame.groupby("model", sort=False)):
        rows = rows.sort_values("tokens")
        color = f"C{i}"
        ax.plot(rows.tokens, rows.measured_bytes / scale, "o", color=color, label=f"{model}: measured")
        ax.plot(rows.tokens, rows.predicted_bytes / scale, "--", color=color, label=f"{model}: memory.cache_bytes")
    ax.set(title=title, xlabel="tokens in the cache (prompt length)", ylabel=unit)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def catalog_bytes_per_token(model_id: str, bytes_per_parameter: float = 2) -> int:
    """Weight bytes one text decode step of a catalog model reads, from its exact parameter count.

    A tied embedding is read once, as the output layer; an untied input embedding is only looked up (one row).
    A vision or audio tower is not read while decoding text, and an MoE model reads its routed experts only.
    """
    from .. import catalog

    count = catalog.param_count(model_id)
    tied = catalog.get(model_id).text_config.get("tie_word_embeddings", False)
    read = (count.active or count.total) - count.vision - count.audio - (0 if tied else count.embedding)
    return int(read * bytes_per_parameter)
