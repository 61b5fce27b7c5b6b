"""Plots the lessons share: memory against context, and small helpers for labelled figures."""

from __future__ import annotations

from . import catalog
from .memory import estimate


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
        ax.axhline(budget_bytes / 1e9, color="black", linestyle="--", label=f"usable here ({budget_bytes / 1e9:.1f} GB)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context length (tokens, log scale)")
    ax.set_ylabel("estimated memory (GB)")
    ax.set_title(f"{ckpt.name}: weights + KV cache + overhead")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax
