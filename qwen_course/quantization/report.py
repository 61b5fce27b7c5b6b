"""The model a comparison runs on, the comparison loop the benchmark uses, and its tables and figures.

Offline, `real_shape_checkpoint` writes a random-weight checkpoint with the exact shape of a catalog model (built
from `catalog.get(id).config`, no download), so speed and memory mean something while drift stays illustrative.
"""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path

from .._paths import home
from ..memory import loaded_bytes
from ..precision import METHODS, apply_post_load, availability, load_dtype, quantization_config
from .measure import Result, next_token_logits, perplexity, speed, text_ids
from .measure import drift as drift_of

MARKER = "qwen_course_real_shape.json"
MB = 1e6


def real_shape_checkpoint(model_id: str = "Qwen/Qwen3-0.6B", seed: int = 0) -> Path:
    """A local checkpoint (bf16 safetensors, Qwen tokenizer) with the exact shape of `model_id` and random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from .. import catalog, offline

    ckpt = catalog.get(model_id)
    if ckpt.is_vision:
        raise ValueError(f"{ckpt.id} is a vision-language model; measure quantization on a text model")
    folder = home() / "real-shape" / ckpt.name
    marker = folder / MARKER
    if marker.exists() and json.loads(marker.read_text()).get("seed") == seed:
        return folder
    config = AutoConfig.for_model(ckpt.model_type, **{k: v for k, v in ckpt.config.items() if k != "model_type"})
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    stand_in = offline.build(offline.kind_for(ckpt.model_type, ckpt.template or None))  # its template and tokenizer
    folder.mkdir(parents=True, exist_ok=True)
    model.generation_config = type(model.generation_config).from_pretrained(stand_in)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(stand_in).save_pretrained(folder)
    marker.write_text(json.dumps({"model_id": ckpt.id, "seed": seed, "random_weights": True}))
    return folder


def measuring_model(model_id: str = "Qwen/Qwen3-0.6B", real_shape: bool = False) -> tuple[str, str, str]:
    """(path, what it is, caveat): the real checkpoint online, else the real shape or the tiny stand-in offline."""
    from .. import catalog, offline
    from ..hardware import online_status

    online, why = online_status()
    if online:
        return model_id, f"{model_id} (the real checkpoint)", "speed, memory and drift are all real"
    if real_shape:
        return (str(real_shape_checkpoint(model_id)), f"{model_id} shape with random weights (offline: {why})",
                "speed and memory are real for this shape; drift on random weights is illustrative only")
    ckpt = catalog.get(model_id)
    kind = offline.kind_for(ckpt.model_type, ckpt.template or None)  # the stand-in that renders like the real one
    return (str(offline.build(kind)), f"tiny {kind} stand-in (offline: {why})",
            "every code path runs, but a tiny random model's speed and drift are illustrative only")


def load(path: str, key: str, device: str = "cpu"):
    """`from_pretrained` with the method's dtype and quantization config, then its post-load step."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=load_dtype(key, device), device_map=device,
                                                 quantization_config=quantization_config(key))
    return apply_post_load(model, key).eval()


def estimated_bytes(model_id: str, key: str, device: str = "cpu") -> int | None:
    """memory.weights_bytes for a method: the CPU route's own layout where there is one; None for prequantized."""
    from ..memory import estimate_route
    from ..memory import weights_bytes as estimated_weights

    m = METHODS[key]
    if m.route == "prequantized":
        return None
    return estimated_weights(model_id, m.precision, estimate_route(key, device))


def compare(path: str, keys=None, hardware=None, new_tokens: int = 16, repeats: int = 3, prompt_tokens: int = 64,
            real_weights: bool = False, estimate_for: str | None = None, allow_compile: bool = False,
            log=print) -> list[Result]:
    """Every method on one model: weights bytes, load time, TTFT, decode speed, drift (and perplexity if real)."""
    from transformers import AutoTokenizer

    device = getattr(hardware, "device", "cpu")
    keys = list(keys or [k for k, m in METHODS.items() if m.route != "prequantized"])
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = text_ids(tokenizer)
    reference, results = None, []
    for key in ["fp32"] + [k for k in keys if k != "fp32"]:
        m = METHODS[key]
        ok, why = availability(key, hardware, allow_compile)
        result = Result(key, m.label, m.precision, ok, why)
        results.append(result)
        if not ok:
            log(f"{m.label:34s} skipped: {why}")
            continue
        try:
            start = time.perf_counter()
            model = load(path, key, device)
            result.load_s = time.perf_counter() - start
            result.weights_bytes = loaded_bytes(model)
            logits = next_token_logits(model, ids)
            reference = logits if reference is None else reference
            result.__dict__.update(drift_of(reference, logits))
            if real_weights:
                result.perplexity = perplexity(logits, ids)
            result.__dict__.update(speed(model, ids[:, :prompt_tokens], new_tokens, repeats))
        except Exception as exc:  # a method that fails here is reported with its error, like one that cannot run
            result.ran, result.reason = False, f"failed here: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        if estimate_for:
            result.estimate_bytes = estimated_bytes(estimate_for, key, device)
        model = None
        gc.collect()
        log(_line(result))
    return results


def _line(r: Result) -> str:
    if not r.ran:
        return f"{r.label:34s} not run: {r.reason}"
    return (f"{r.label:34s} {r.weights_bytes / MB:9.1f} MB  ttft {r.ttft_s * 1000:7.1f} ms  "
            f"{r.decode_tokens_per_s:7.1f} tok/s  top-1 {r.top1_agreement:.3f}  KL {r.kl:.2e}")


def frame(results: list[Result]):
    """The comparison as a pandas DataFrame with readable units (MB, ms, tokens/s)."""
    import pandas as pd

    rows = []
    for r in results:
        if not r.ran:  # numbers from a method that failed part-way would mislead
            r = Result(r.method, r.label, r.precision, False, r.reason, estimate_bytes=r.estimate_bytes)
        rows.append({
            "method": r.label, "precision": r.precision, "ran": r.ran,
            "weights MB": None if r.weights_bytes is None else round(r.weights_bytes / MB, 1),
            "estimate MB": None if r.estimate_bytes is None else round(r.estimate_bytes / MB, 1),
            "TTFT ms": None if r.ttft_s is None else round(r.ttft_s * 1000, 1),
            "decode tok/s": None if r.decode_tokens_per_s is None else round(r.decode_tokens_per_s, 1),
            "top-1 agreement": None if r.top1_agreement is None else round(r.top1_agreement, 3),
            "KL (nats)": r.kl, "perplexity": r.perplexity, "note": "" if r.ran else r.reason,
        })
    return pd.DataFrame(rows)


def plot(results: list[Result], title: str):
    """Three labelled panels: weight memory, decode speed and drift (KL) per method that ran."""
    import matplotlib.pyplot as plt

    ran = [r for r in results if r.ran and r.weights_bytes is not None]
    labels = [r.label for r in ran]
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.45 * len(ran) + 2), sharey=True)
    panels = [([r.weights_bytes / MB for r in ran], "weights in memory (MB)", "Memory"),
              ([r.decode_tokens_per_s or 0 for r in ran], "decode speed (tokens/s, median)", "Speed"),
              ([max(r.kl or 0, 1e-12) for r in ran], "KL divergence from fp32 (nats, log scale)", "Drift")]
    for ax, (values, xlabel, name) in zip(axes, panels):
        ax.barh(labels, values, color="#4c72b0")
        ax.set_xlabel(xlabel)
        ax.set_title(name)
        if name == "Drift":
            ax.set_xscale("log")
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
