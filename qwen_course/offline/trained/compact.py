"""Store a trained stand-in in a few megabytes and rebuild the full-vocabulary model from it, bit for bit.

The compact file holds the used embedding rows, their token ids and the layer weights (safetensors, fp32). The full
model puts the rows back at their ids in an all-zero 151,936-row matrix, so it computes exactly what was trained.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from ..._paths import DATA_DIR
from .train import Recipe, Trained, config

SHIPPED = DATA_DIR / "qwen3-trained"  # the checkpoint the package ships (qwen-course offline train writes it)
WEIGHTS = "standin.safetensors"
MANIFEST = "manifest.json"
EMBED = "model.embed_tokens.weight"
USED = "used_ids"
CURVE_POINTS = 60  # the manifest keeps the loss curve subsampled to about this many points


def sha256(path: Path) -> str:
    """Hex digest of a file (the manifest pins the weights with it)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def subsample(curve: list, points: int = CURVE_POINTS) -> list:
    """Every k-th (step, loss) point, the last one always kept."""
    step = max(1, len(curve) // points)
    kept = curve[::step]
    return kept if kept[-1] == curve[-1] else kept + [curve[-1]]


def save(trained: Trained, folder: Path, extra: dict | None = None) -> dict:
    """Write the compact weights and a manifest (recipe, seed, steps, loss curve, sha256; `extra` is merged in)."""
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous().float() for k, v in trained.state.items()}
    tensors[USED] = torch.tensor(trained.used, dtype=torch.int64)
    save_file(tensors, folder / WEIGHTS, metadata={"format": "qwen-course trained stand-in"})
    manifest = {
        "recipe_version": trained.recipe.version, "recipe": asdict(trained.recipe), "seed": trained.recipe.seed,
        "architecture": "Qwen3ForCausalLM", "vocab_size": _full_vocab(),
        "used_ids": len(trained.used), "chats": trained.n_chats, "steps": trained.losses[-1][0] if trained.losses else 0,
        "tokens": trained.tokens, "two_thread_share": trained.threads, "train_seconds": round(trained.seconds, 1),
        "final_loss": round(trained.losses[-1][1], 5) if trained.losses else None,
        "loss_curve": [[s, round(v, 5)] for s, v in subsample(trained.losses)] if trained.losses else [],
        "weights": WEIGHTS, "bytes": (folder / WEIGHTS).stat().st_size, "sha256": sha256(folder / WEIGHTS),
    }  # fmt: skip
    manifest.update(extra or {})
    write_manifest(folder, manifest)
    return manifest


def _full_vocab() -> int:
    """Embedding rows of the full model (the kind's vocab_size)."""
    from ..kinds import kind

    return kind("qwen3-trained").config["vocab_size"]


def write_manifest(folder: Path, manifest: dict) -> None:
    """The manifest as indented JSON (its sha256 pins the weights, so the file can be amended safely)."""
    (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def load_manifest(folder: Path = SHIPPED) -> dict:
    """The manifest of a compact stand-in."""
    return json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))


def recipe_of(manifest: dict) -> Recipe:
    """The Recipe a manifest records."""
    return Recipe(**manifest["recipe"])


def load_compact(folder: Path = SHIPPED) -> tuple[dict, list[int]]:
    """The compact tensors and the used ids, after checking the manifest's sha256."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if sha256(folder / WEIGHTS) != load_manifest(folder)["sha256"]:
        raise ValueError(f"{folder / WEIGHTS} does not match its manifest's sha256")
    tensors = load_file(folder / WEIGHTS)
    return tensors, tensors.pop(USED).tolist()


def full_model(folder: Path = SHIPPED):
    """The full-vocabulary Qwen3ForCausalLM rebuilt from the compact file (unused rows exactly zero), fp32."""
    import torch
    from transformers import Qwen3ForCausalLM

    tensors, used = load_compact(folder)
    rows = tensors.pop(EMBED)
    embed = torch.zeros(_full_vocab(), rows.shape[1], dtype=rows.dtype)
    embed[torch.tensor(used)] = rows
    tensors[EMBED] = embed
    model = Qwen3ForCausalLM(config(_full_vocab())).float()
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"weights do not fit the shape: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return model.eval()


def compact_model(folder: Path = SHIPPED):
    """The compact model (vocabulary = used ids) and its used ids, as trained: for fast exact comparisons."""
    from transformers import Qwen3ForCausalLM

    tensors, used = load_compact(folder)
    model = Qwen3ForCausalLM(config(len(used))).float()
    model.load_state_dict(tensors, strict=False)
    model.tie_weights()
    return model.eval(), used
