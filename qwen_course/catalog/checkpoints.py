"""The Qwen family from data/catalog.json: series, checkpoints with exact architecture numbers, and lookups."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache

from .._display import Table
from .._paths import load_json
from .counting import ParamCount, count, head_dim, is_hybrid, layer_types, mtp_params

TASKS = ("chat", "thinking", "vision", "coder", "math", "embedding", "rerank")
CONFIDENCE = ("verified", "unverified")


class UnknownModelError(KeyError):
    """A model id that is not in the catalog; the message names the closest ids."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0])


@dataclass(frozen=True, repr=False)
class Checkpoint(Table):
    """One released checkpoint: its id, family, limits and the architecture numbers of its config.json.

    `confidence` is "verified" when the numbers were read in sources and the computed count matches the published
    size; an "unverified" row is shown with that mark and never chosen by the picker on its own.
    """

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
    hub_params: float | None = None  # the count the Hub shows for the released tensors (MTP layer included)
    sources: tuple[str, ...] = ()
    architecture: str = ""
    confidence: str = "verified"
    thinking_default: bool | None = None
    template: str = ""
    sampling_preset: str = ""
    fp8: str | None = None
    notes: str = ""

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
    def is_hybrid(self) -> bool:
        """Gated DeltaNet layers beside full attention (Qwen3-Next, Qwen3.5/3.6): a fixed state instead of KV there."""
        return is_hybrid(self.text_config)

    @property
    def layer_types(self) -> list[str]:
        return layer_types(self.text_config)

    @property
    def verified(self) -> bool:
        return self.confidence == "verified"

    @property
    def loads_with(self) -> str:
        """The transformers class that loads this checkpoint (Qwen3Model for an embedding model)."""
        return self.architecture or _data()["model_types"][self.model_type]

    @property
    def thinks_by_default(self) -> bool:
        """Whether its chat template opens a <think> block unless told otherwise (Qwen3.5: 4B and up)."""
        return self.thinking != "none" if self.thinking_default is None else self.thinking_default

    def sampling(self, mode: str | None = None) -> dict:
        """The recommended sampling for a mode ("thinking", "non-thinking", ...; default: the template's default)."""
        presets = _data()["sampling"][self.sampling_preset or "qwen3"]
        mode = mode or ("thinking" if self.thinks_by_default else "non-thinking")
        if mode not in presets or mode.startswith("_"):
            modes = [m for m in presets if not m.startswith("_")]
            raise ValueError(f"{self.id}: no recommended sampling for mode {mode!r}; modes: {', '.join(modes)}")
        return dict(presets[mode])

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
        layers = f"{c['num_hidden_layers']}"
        if self.is_hybrid:
            full = self.layer_types.count("full_attention")
            layers += f" ({full} full attention, {c['num_hidden_layers'] - full} Gated DeltaNet)"
        rows = [
            ("id", self.id), ("confidence", self.confidence), ("series", self.series), ("released", self.release),
            ("tasks", ", ".join(self.tasks)),
            ("thinking", f"{self.thinking} (default {'on' if self.thinks_by_default else 'off'})"),
            ("license", self.license), ("context (native / max)", f"{self.context} / {self.context_max}"),
            ("parameters (computed)", f"{count.total / 1e9:.3f}B" + (f", {count.active / 1e9:.2f}B active" if self.is_moe else "")),
            ("layers / hidden / heads / kv heads / head_dim",
             f"{layers} / {c['hidden_size']} / {c['num_attention_heads']} / {c['num_key_value_heads']} / {head_dim(c)}"),
            ("tied embeddings", c.get("tie_word_embeddings", False)),
            ("sources", ", ".join(self.sources)),
        ]
        return rows

    @property
    def _title(self) -> str:  # type: ignore[override]
        return self.id


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


def sampling_presets() -> dict:
    """Recommended sampling per preset and mode, with each preset's source."""
    return _data()["sampling"]


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


def find(model_id: str) -> Checkpoint | None:
    """A checkpoint by id, or None when the catalog does not list it (a local folder, another model)."""
    try:
        return get(model_id)
    except UnknownModelError:
        return None


def param_count(model: str | Checkpoint) -> ParamCount:
    """Parameters computed from the config numbers alone (no torch), by part, for the class that loads it."""
    ckpt = get(model)
    return count(ckpt.model_type, ckpt.config, has_lm_head=not ckpt.loads_with.endswith("Model"))


def download_params(model: str | Checkpoint) -> int:
    """Parameters in the released safetensors: what transformers loads plus layers it skips (the MTP head)."""
    ckpt = get(model)
    return param_count(ckpt).total + mtp_params(ckpt.model_type, ckpt.config)
