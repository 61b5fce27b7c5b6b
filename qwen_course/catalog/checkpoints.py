"""The Qwen family from data/catalog.json: series, checkpoints with exact architecture numbers, and lookups."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache

from ._display import Table
from ._paths import load_json

TASKS = ("chat", "thinking", "vision", "coder", "math")


class UnknownModelError(KeyError):
    """A model id that is not in the catalog; the message names the closest ids."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0])


@dataclass(frozen=True)
class ParamCount:
    """Parameters by part; `total` counts tied embeddings once, `active` is per token (MoE)."""

    embedding: int
    lm_head: int
    attention: int
    mlp: int
    norms: int
    vision: int = 0

    @property
    def total(self) -> int:
        return self.embedding + self.lm_head + self.attention + self.mlp + self.norms + self.vision

    active: int = 0


@dataclass(frozen=True, repr=False)
class Checkpoint(Table):
    """One released checkpoint: its id, family, limits and the architecture numbers of its config.json."""

    id: str
    series: str
    model_type: str
    tasks: tuple[str, ...]
    config: dict = field(repr=False)
    release: str = ""
    thinking: str = "none"
    license: str = ""
    context: int | None = None
    context_max: int | None = None
    official_params: float | None = None
    official_active_params: float | None = None
    sources: tuple[str, ...] = ()

    @property
    def text_config(self) -> dict:
        """The language-model numbers (nested under text_config for VL models)."""
        return self.config.get("text_config", self.config)

    @property
    def is_moe(self) -> bool:
        return "num_experts" in self.text_config

    @property
    def is_vision(self) -> bool:
        return "vision_config" in self.config

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[-1]

    @property
    def max_context(self) -> int:
        """The longest context this checkpoint supports (with YaRN where the source gives it)."""
        return self.context_max or self.context or self.text_config.get("max_position_embeddings", 0)

    def _rows(self):
        c = self.text_config
        count = param_count(self)
        rows = [
            ("id", self.id), ("series", self.series), ("released", self.release), ("tasks", ", ".join(self.tasks)),
            ("thinking", self.thinking), ("license", self.license),
            ("context (native / max)", f"{self.context} / {self.context_max}"),
            ("parameters (computed)", f"{count.total / 1e9:.3f}B" + (f", {count.active / 1e9:.2f}B active" if self.is_moe else "")),
            ("layers / hidden / heads / kv heads / head_dim",
             f"{c['num_hidden_layers']} / {c['hidden_size']} / {c['num_attention_heads']} / {c['num_key_value_heads']} / {head_dim(c)}"),
            ("tied embeddings", c.get("tie_word_embeddings", False)),
            ("sources", ", ".join(self.sources)),
        ]
        return rows

    @property
    def _title(self) -> str:  # type: ignore[override]
        return self.id


def head_dim(cfg: dict) -> int:
    """Per-head width: explicit in Qwen3 configs, hidden/heads in Qwen2 ones."""
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


@lru_cache(maxsize=1)
def _data() -> dict:
    return load_json("catalog.json")


@lru_cache(maxsize=1)
def _index() -> dict[str, Checkpoint]:
    out = {}
    for raw in _data()["checkpoints"]:
        item = dict(raw)
        item["tasks"] = tuple(item.get("tasks", ()))
        item["sources"] = tuple(item.get("sources", ()))
        known = Checkpoint.__dataclass_fields__
        out[item["id"]] = Checkpoint(**{k: v for k, v in item.items() if k in known})
    return out


def sources() -> dict:
    """Short source name -> {title, url}."""
    return _data()["sources"]


def series() -> list[dict]:
    """Every open Qwen series, oldest first (a series whose month is unverified goes last)."""
    return sorted(_data()["series"], key=lambda s: s["release"] or "9999")


def checkpoints(task: str | None = None) -> list[Checkpoint]:
    """All checkpoints, or those suited to a task."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks are: {', '.join(TASKS)}")
    return [c for c in _index().values() if task is None or task in c.tasks]


def suggest(model_id: str, n: int = 3) -> list[str]:
    """The catalog ids closest to a mistyped one (case-insensitive, with or without the Qwen/ prefix)."""
    ids = list(_index())
    lowered = {i.lower(): i for i in ids}
    lowered.update({i.split("/", 1)[-1].lower(): i for i in ids})
    close = difflib.get_close_matches(model_id.lower(), list(lowered), n=n * 2, cutoff=0.5)
    return list(dict.fromkeys(lowered[c] for c in close))[:n]


def get(model_id: str | Checkpoint) -> Checkpoint:
    """A checkpoint by id ("Qwen/Qwen3-8B"; the "Qwen/" prefix and case are optional)."""
    if isinstance(model_id, Checkpoint):
        return model_id
    index = _index()
    if model_id in index:
        return index[model_id]
    for cid, ckpt in index.items():
        if model_id.lower() in (cid.lower(), cid.split("/", 1)[-1].lower()):
            return ckpt
    near = suggest(model_id)
    hint = f" Did you mean: {', '.join(near)}?" if near else ""
    raise UnknownModelError(f"{model_id!r} is not in the Qwen catalog.{hint} `qwen-course models` lists them all.")


def _vision_params(v: dict, out_hidden: int) -> int:
    """Vision tower: 3D patch embedding, ViT blocks (biases everywhere), and the 2x2 patch merger."""
    h, i, depth = v["hidden_size"], v["intermediate_size"], v["depth"]
    patch = v.get("in_channels", 3) * v.get("temporal_patch_size", 2) * v["patch_size"] ** 2 * h
    merge = v.get("spatial_merge_size", 2) ** 2
    attn = h * 3 * h + 3 * h + h * h + h
    gated = "window_size" in v  # Qwen2.5-VL uses a SwiGLU MLP; Qwen3-VL a plain GELU MLP
    mlp = (2 * (h * i + i) + i * h + h) if gated else (h * i + i + i * h + h)
    norms = (2 * h) if gated else (4 * h)  # RMSNorm weight vs LayerNorm weight+bias
    merger_in = h * merge
    merger = merger_in * merger_in + merger_in + merger_in * out_hidden + out_hidden + (h if gated else 2 * h)
    extra = 0
    if not gated:  # Qwen3-VL: learned position embeddings, patch bias and deepstack mergers
        extra = v.get("num_position_embeddings", 0) * h + h
        merger += len(v.get("deepstack_visual_indexes", ())) * (merger - 2 * h + 2 * merger_in)
    return patch + depth * (attn + mlp + norms) + merger + extra


def param_count(model: str | Checkpoint) -> ParamCount:
    """Parameters computed from the config numbers alone (no torch), by part."""
    ckpt = get(model)
    c = ckpt.text_config
    h, layers, vocab = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    heads, kv, hd = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    qkv_bias = ckpt.model_type.startswith(("qwen2",))  # Qwen2/2.5 have q/k/v biases; Qwen3 drops them
    qk_norm = 2 * hd if ckpt.model_type.startswith("qwen3") else 0
    attn = h * heads * hd + 2 * h * kv * hd + heads * hd * h + qk_norm
    attn += (heads * hd + 2 * kv * hd) if qkv_bias else 0
    if "num_experts" in c:
        expert = 3 * h * c["moe_intermediate_size"]
        mlp_layer = c["num_experts"] * expert + h * c["num_experts"]
        active_mlp = c["num_experts_per_tok"] * expert + h * c["num_experts"]
    else:
        mlp_layer = active_mlp = 3 * h * c["intermediate_size"]
    tied = c.get("tie_word_embeddings", ckpt.config.get("tie_word_embeddings", False))
    embedding = vocab * h
    lm_head = 0 if tied else vocab * h
    norms = layers * 2 * h + h
    vision = _vision_params(ckpt.config["vision_config"], c["hidden_size"]) if ckpt.is_vision else 0
    total_attn, total_mlp = layers * attn, layers * mlp_layer
    active = embedding + lm_head + total_attn + layers * active_mlp + norms + vision
    return ParamCount(embedding, lm_head, total_attn, total_mlp, norms, vision, active=active)
