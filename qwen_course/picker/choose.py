"""Choose the Qwen checkpoint, precision and load settings that fit a machine, and say why."""

from __future__ import annotations

import json
from pathlib import Path

from .. import catalog
from .. import hardware as detection  # looked up at call time, so tests can replace detect/online_status there
from .._display import gb
from ..hardware import Hardware
from ..memory import Estimate, estimate, estimate_route, longest_context
from ..precision import compute_dtype, precisions_for, route_for
from .result import NothingFitsError, Pick
from .rules import download_seconds, rules


def memory_budget(hw: Hardware) -> int:
    """Bytes a model may take: a share of the usable memory; on a detected CPU, after the Python/torch runtime."""
    table = rules()
    usable = hw.usable_memory
    if hw.device == "cpu" and not hw.described:  # a described machine's memory is already what the model may use
        usable -= table["cpu_runtime_bytes"]
    return int(usable * table["headroom"].get(hw.device, 0.8))


def _candidates(task: str, context: int) -> list[catalog.Checkpoint]:
    """The task's preference order, verified catalog rows only (an unverified one is used only when named)."""
    if task not in rules()["tasks"]:
        raise NothingFitsError(f"no automatic {task} pick: name a model (model=...) from `qwen-course models`")
    listed = [c for c in map(catalog.find, rules()["tasks"][task]["order"]) if c and c.max_context >= context]
    if listed and not any(c.verified for c in listed):
        raise NothingFitsError(f"every {task} model in the catalog is unverified, so none is chosen automatically; "
                               f"name one to use it anyway: {', '.join(c.id for c in listed)}")
    return [c for c in listed if c.verified]


def _fits(est: Estimate, hw: Hardware, max_weights: int | None) -> bool:
    if est.total_bytes > memory_budget(hw):
        return False
    return max_weights is None or est.weights_bytes <= max_weights


def _with_path(p: Pick, ckpt: catalog.Checkpoint | None, build: bool = True) -> Pick:
    """Online the real id; offline the local tiny stand-in of the same architecture class."""
    online, why = detection.online_status()
    if online or ckpt is None:
        return p
    cached = _cached_snapshot(p.download_id or ckpt.id)
    if cached:  # a workshop bundle or an earlier download: the real weights, no network needed
        p.model_path, p.offline_reason = cached, f"{why}; the real checkpoint is in the local Hugging Face cache"
        return p
    from .. import offline

    kind = offline.kind_for(ckpt.model_type, ckpt.template or None, p.task)  # same template: thinks by default as
    # the real one; an embedding or rerank pick gets a stand-in with the same head (Qwen3Model, yes/no logits)
    p.offline, p.offline_reason, p.stand_in = True, why, kind
    p.model_path = str(offline.build(kind) if build else offline.path_for(kind))
    return p


def _cached_snapshot(model_id: str) -> str | None:
    """The cached snapshot folder of a checkpoint when its config and safetensors weights are on disk, else None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    config = try_to_load_from_cache(model_id, "config.json")
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    return str(folder) if any(folder.glob("*.safetensors")) else None


def _local(path: Path, task: str, hw: Hardware, context: int, training: bool = False) -> Pick:
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").exists() else {}
    precision = precisions_for(hw, training)[0][0]
    reason = f"a local checkpoint ({config.get('model_type', 'unknown type')}); no catalog estimate for it"
    return Pick(task, str(path), str(path), precision, hw.device, None, reason, [], context,
                route=route_for(precision, hw.device, measured=not hw.described))


def pick(task: str = "chat", hardware: Hardware | None = None, context: int = 4096, model: str = "auto",
         max_weights_gb: float | None = None, training: bool = False, build_stand_in: bool = True) -> Pick:
    """The most capable Qwen checkpoint for `task` that fits `hardware` (detected if None) with `context` tokens.

    `training=True` keeps CPU precisions to fp32/bf16 (LoRA needs real weights to backpropagate through).
    `build_stand_in=False` only decides: offline, model_path is where the stand-in would be, unbuilt.
    """
    if task not in catalog.TASKS:
        raise ValueError(f"unknown task {task!r}; tasks are: {', '.join(catalog.TASKS)}")
    hw = hardware or detection.detect()
    if model != "auto" and Path(model).expanduser().is_dir():
        return _local(Path(model).expanduser(), task, hw, context, training)
    precisions, precision_why = precisions_for(hw, training)
    table = rules()
    max_weights = int(max_weights_gb * 1e9) if max_weights_gb else (
        table["cpu_max_weights_bytes"] if hw.device == "cpu" and model == "auto" else None)
    models = [_named(model, task, hw, context)] if model != "auto" else _candidates(task, context)
    if not models:
        raise NothingFitsError(f"no {task} model in the catalog supports a {context:,}-token context")
    options = []  # (checkpoint, precision, estimate) that fit, in preference order
    smallest = {}  # per model, its smallest estimate: what to say when nothing fits
    cc = tuple(hw.compute_capability or (0, 0))
    fp8 = ["fp8"] if hw.device == "cuda" and cc >= tuple(table["fp8_min_compute_capability"]) else []
    routes = {p: route_for(p, hw.device, measured=not hw.described) for p in precisions + fp8}
    for ckpt in models:  # Qwen's FP8 releases where they exist and this GPU runs FP8 (Ada, Hopper and newer)
        for precision in precisions[:1] + (fp8 if ckpt.fp8 else []) + precisions[1:]:
            est = estimate(ckpt, precision, min(context, ckpt.max_context), route=estimate_route(routes[precision], hw.device))
            if ckpt.id not in smallest or est.total_bytes < smallest[ckpt.id].total_bytes:
                smallest[ckpt.id] = est
            if _fits(est, hw, max_weights):
                options.append((ckpt, precision, est))
    if not options:
        raise NothingFitsError(_nothing_fits(task, hw, list(smallest.values()), model))
    gains = {"int4": table["int4_gain"], "fp8": table["fp8_gain"]} if hw.device == "cuda" else {}
    chosen = _choose(options, precisions[0], gains)
    ckpt, precision, est = chosen
    primary = next((o for o in options if o[1] == precisions[0]), None)  # the best fit in the preferred precision
    reason = _reason(task, hw, ckpt, precision, est, precision_why, precision != precisions[0], primary)
    larger = [o for o in options[:options.index(chosen)] if o[0] is not ckpt]
    if larger and precision not in ("int4", "fp8"):
        c, prec, _ = larger[0]
        limit = f"the CPU weight budget ({gb(max_weights)}, keeps decoding interactive)" if max_weights else "memory"
        slower = "not assumed fast on an unmeasured CPU" if hw.described and hw.device == "cpu" else f"slower than {precision} here"
        reason += f" {c.name} would fit {limit} only in {prec}, {slower}."
    alternatives = [{"model_id": c.id, "precision": p, "total_bytes": e.total_bytes}
                    for c, p, e in options if (c, p) != (ckpt, precision)][:6]
    source = ckpt.fp8 if precision == "fp8" else ckpt.id
    notes = ([] if ckpt.verified else [f"{ckpt.name} is an unverified catalog row: its numbers are assumptions"]) + (
        [table["hybrid_cpu_note"]] if ckpt.is_hybrid and hw.device == "cpu" else [])
    chosen_pick = Pick(task, ckpt.id, source, precision, hw.device, est, reason, alternatives, context,
                       route=routes[precision], download_id=source, download_bytes=est.download_bytes,
                       download_seconds=download_seconds(est.download_bytes), notes=notes, compute=compute_dtype(hw))
    return _with_path(chosen_pick, ckpt, build_stand_in)


# Tasks a checkpoint cannot do unless it was built for them: no vision tower, no embedding or yes/no head.
NEEDS_THE_TASK = ("vision", "embedding", "rerank")


def _named(model: str, task: str, hw: Hardware, context: int) -> catalog.Checkpoint:
    """A named checkpoint, refused for a task it cannot do (a text model for vision), naming ones that would fit."""
    ckpt = catalog.get(model)
    if task in ckpt.tasks or (task not in NEEDS_THE_TASK and "chat" in ckpt.tasks):
        return ckpt
    try:
        fitting = pick(task, hw, context, build_stand_in=False)
        names = [fitting.model_id] + [a["model_id"] for a in fitting.alternatives if a["model_id"] != fitting.model_id]
        fit = f"{task} models that fit here: {', '.join(dict.fromkeys(names))}"
    except NothingFitsError:
        fit = f"no {task} model fits this machine"
    raise ValueError(f"{ckpt.id} cannot do the {task} task (it does: {', '.join(ckpt.tasks)}); {fit}")


def _choose(options, primary: str, gains: dict):
    """The first model that fits at the preferred precision, unless FP8 or 4-bit fits one `gains[precision]` times
    larger (CUDA); between those, the larger model, FP8 on a tie (near-lossless, run natively)."""
    at_primary = [o for o in options if o[1] == primary]
    if not at_primary:
        return options[0]
    best = at_primary[0]
    larger = [next((o for o in options if o[1] == p and o[2].parameters >= gain * best[2].parameters), None)
              for p, gain in sorted(gains.items())]  # fp8 before int4
    larger = [o for o in larger if o]
    return max(larger, key=lambda o: o[2].parameters) if larger else best


def _reason(task, hw, ckpt, precision, est, precision_why, fallback, primary=None) -> str:
    where = f"{gb(memory_budget(hw))} usable on {hw.accelerator or hw.device}"
    parts = [f"{ckpt.name} is the most capable {task} model that fits ({gb(est.total_bytes)} needed of {where})."]
    if precision == "int4":
        if primary and primary[0] is not ckpt:
            parts.append(f"In 4-bit NF4 it fits with {est.parameters / 1e9:.1f}B parameters; in "
                         f"{primary[1]} the largest that fits is {primary[0].name} ({primary[2].parameters / 1e9:.1f}B).")
        else:
            parts.append("4-bit NF4 is what makes it fit.")
        if ckpt.is_moe:
            sixteen = estimate(ckpt, "bf16", est.context).weights_bytes
            parts.append(f"Its experts stay 16-bit under bitsandbytes (3D parameters, not nn.Linear), so NF4 stores "
                         f"{gb(est.weights_bytes)} of weights against {gb(sixteen)} in bf16.")
        if compute_dtype(hw) == "float16":
            cc = hw.compute_capability or (0, 0)
            parts.append(f"Its matmuls run in fp16: compute capability {cc[0]}.{cc[1]} has no fast bf16 (Ampere, 8.0, "
                         "brought it).")
    elif precision == "fp8":
        parts.append(f"Qwen's FP8 release ({ckpt.fp8}) runs natively on compute capability 8.9+ and fits a larger "
                     "model than 16-bit does.")
    elif fallback:
        parts.append(f"{precision} because the preferred precision does not fit ({precision_why}).")
    else:
        parts.append(f"{precision}: {precision_why}.")
    parts.append(rules()["tasks"][task]["why"])
    if ckpt.thinking != "none":
        on = ckpt.thinks_by_default
        parts.append(f"It {'thinks' if on else 'does not think'} by default (enable_thinking={not on} switches).")
    return " ".join(parts)


def _nothing_fits(task: str, hw: Hardware, estimates: list[Estimate], model: str) -> str:
    """The option that fits the longest shorter context (else the smallest one): what it needs, and that context."""
    what = f"{model}" if model != "auto" else f"the smallest {task} option"
    longest = {id(e): longest_context(e, memory_budget(hw)) for e in estimates}
    smallest = max(estimates, key=lambda e: (longest[id(e)] >= 512, longest[id(e)], -e.total_bytes), default=None)
    need = f"{smallest.model_id} in {smallest.precision} needs {gb(smallest.total_bytes)}" if smallest else "nothing"
    shorter = longest[id(smallest)] if smallest else 0
    hint = (f" With context={shorter:,} it would fit." if shorter >= 512 else " Free memory or use a larger machine.")
    return (f"Not enough memory: {what} does not fit in {gb(memory_budget(hw))} usable on this "
            f"{hw.device} (of {gb(hw.usable_memory)}); {need} with a {smallest.context if smallest else 0:,}-token "
            f"context.{hint}")
