"""Build a stand-in: seeded random weights of the kind's architecture, the real tokenizer, Qwen's template, a marker."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .._paths import home
from .kinds import KINDS, Kind, kind
from .processor import write_processor_files
from .retrieval import EXTRAS, recipe
from .store import FORMAT_VERSION, MARKER, fingerprint, publish, read_marker
from .tokenizer import chat_template, install_tokenizer, tokenizer_fingerprint

SEED = 20240919  # Qwen2.5's release date: every build draws the same weights
HYBRID_NOTE = (" Its Gated DeltaNet layers run through transformers' torch code on a CPU: the fast kernels "
               "(flash-linear-attention, causal-conv1d) are GPU-only.")


def path_for(name: str) -> Path:
    """Where a kind's tiny checkpoint lives (built or not)."""
    return home() / "models" / kind(name).name


def _fingerprint(spec: Kind) -> str:
    """What a build depends on: the recipe, the template text, the seed and the tokenizer recipe."""
    extra = recipe(spec.name, spec.config)  # only kinds with extra files: the others keep their fingerprint
    if spec.name in TRAINED:
        extra = (*extra, TRAINED[spec.name]()["sha256"])  # a retrained checkpoint rebuilds the folder
    return fingerprint(asdict(spec), chat_template(spec.template), SEED, tokenizer_fingerprint(spec.flavour), *extra)


def is_built(name: str) -> bool:
    """True when the kind's folder holds a finished build of the current recipe."""
    marker = read_marker(path_for(name))
    return bool(marker) and marker.get("fingerprint") == _fingerprint(kind(name))


def build(name: str, force: bool = False) -> Path:
    """The folder of a kind's tiny checkpoint, built on first use (seeded, atomic) and reused afterwards."""
    spec = kind(name)
    if force or not is_built(name):
        publish(path_for(name), lambda folder: _write(spec, folder), lambda _: is_built(name))
    return path_for(name)


def build_all(force: bool = False) -> dict[str, Path]:
    """Build every kind (CI and workshops call this once), returning kind -> folder."""
    return {name: build(name, force=force) for name in KINDS}


def _shipped_manifest() -> dict:
    """The manifest of the trained checkpoint shipped in the package."""
    from .trained.compact import load_manifest

    return load_manifest()


TRAINED = {"qwen3-trained": _shipped_manifest}  # kinds expanded from a shipped trained checkpoint


TOP_LEVEL_KEYS = ("tie_word_embeddings", "bos_token_id", "eos_token_id")


def _config(spec: Kind):
    """The transformers config of the tiny model; VL configs nest text and vision parts, as in v5."""
    from transformers import AutoConfig

    if not spec.is_vision:
        return AutoConfig.for_model(spec.model_type, architectures=[spec.architecture], **spec.config)
    top = {key: spec.config[key] for key in TOP_LEVEL_KEYS}
    text = {key: value for key, value in spec.config.items() if key not in top}
    if spec.model_type.startswith("qwen3_5"):  # text_config carries eos and tying too: AutoModelForCausalLM loads
        text.update(eos_token_id=top["eos_token_id"], tie_word_embeddings=top["tie_word_embeddings"])  # text alone
    ids = spec.token_ids
    return AutoConfig.for_model(
        spec.model_type, architectures=[spec.architecture], text_config=text, vision_config=spec.vision,
        image_token_id=ids["image"], video_token_id=ids["video"], vision_start_token_id=ids["vision_start"],
        vision_end_token_id=ids["vision_end"], **top,
    )


def _model(spec: Kind):
    """Random weights from a fixed seed, stored in bfloat16 like Qwen's checkpoints; a trained kind's weights
    rebuilt from the package's compact file, kept in float32 (bit for bit what was trained and evaluated)."""
    import torch
    import transformers

    if spec.name in TRAINED:
        from .trained.compact import full_model

        return full_model()

    torch.manual_seed(SEED)
    model = getattr(transformers, spec.architecture)(_config(spec))
    return model.to(torch.bfloat16).eval()


def _generation_config(spec: Kind):
    """Qwen's recommended sampling, with both end-of-turn ids as eos."""
    from transformers import GenerationConfig

    ids = spec.token_ids
    return GenerationConfig(
        do_sample=True, bos_token_id=ids["bos"], pad_token_id=ids["bos"], eos_token_id=ids["eos"], **spec.sampling
    )


TRAINED_NOTE = ("Tiny Qwen3 trained on this course's synthetic chats (two-digit arithmetic and comparisons with short "
                "thinking traces, Qwen3/Qwen3.5 facts from the course catalog, calculator and get_model_info tool "
                "calls): real architecture class, tokenizer and chat template, and real behaviour inside that narrow "
                "domain only (with thinking on it gets held-out sums, differences, comparisons and most products "
                "right; without its trace it mostly cannot carry: see trained.evaluation). Words outside it have "
                "all-zero embeddings, so outside the domain it writes nonsense.")


def _marker(spec: Kind, model) -> dict:
    """What a learner (and `is_built`) reads to know this folder is a stand-in (random or trained), not the real model."""
    if spec.name in TRAINED:
        manifest = TRAINED[spec.name]()
        keep = ("recipe_version", "seed", "steps", "train_seconds", "final_loss", "sha256", "evaluation")
        return _random_marker(spec, model) | {"random_weights": False, "trained": {k: manifest.get(k) for k in keep},
                                              "note": TRAINED_NOTE}  # fmt: skip
    return _random_marker(spec, model)


def _random_marker(spec: Kind, model) -> dict:
    """The marker of a random stand-in (a trained one amends it)."""
    return {
        "format": FORMAT_VERSION,
        "fingerprint": _fingerprint(spec),
        "kind": spec.name,
        "family": spec.family,
        "stands_in_for": spec.stands_in_for,
        "architecture": spec.architecture,
        "model_type": spec.model_type,
        "tokenizer": spec.flavour,
        "chat_template": f"qwen_course/data/templates/{spec.template}.jinja",
        "parameters": sum(p.numel() for p in model.parameters()),
        "random_weights": True,
        "seed": SEED,
        "note": "Tiny random-weight stand-in for offline mode: real architecture class, tokenizer and chat "
        "template; generated text is meaningless." + (HYBRID_NOTE if spec.model_type.startswith("qwen3_5") else ""),
    }


def _write(spec: Kind, folder: Path) -> None:
    """Save model, tokenizer (+ processor), generation config and marker into `folder` (marker last)."""
    model = _model(spec)
    model.generation_config = _generation_config(spec)
    model.save_pretrained(folder)
    install_tokenizer(spec.flavour, folder, spec.template, spec.config["max_position_embeddings"])
    if spec.is_vision:
        write_processor_files(spec.model_type, spec.image_processor, folder)
    if spec.name in EXTRAS:
        EXTRAS[spec.name](folder, spec.config)
    (folder / MARKER).write_text(json.dumps(_marker(spec, model), indent=2), encoding="utf-8")
