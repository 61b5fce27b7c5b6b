"""How to read a Qwen repository name on the Hub: generation, line, size, post-training, update and weight format.

The suffixes are Qwen's naming conventions as its READMEs, docs and model cards use them (sources: family.sources()).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from .. import catalog
from .._paths import load_json

# Weight formats a suffix names; no suffix: the bf16 safetensors release.
FORMATS = {"FP8": "fp8", "AWQ": "awq", "GGUF": "gguf", "GPTQ-Int4": "gptq-int4", "GPTQ-Int8": "gptq-int8", "MLX": "mlx"}
LINES = ("Coder", "Math", "VL", "Audio", "Omni", "Next", "Embedding", "Reranker", "MoE")
_NAME = re.compile(
    r"^(?:Qwen/)?(?P<family>Qwen|QwQ)(?P<generation>\d+(?:\.\d+)?)?"
    r"(?P<lines>(?:-(?:" + "|".join(LINES) + r"))*)"
    r"(?:-(?P<total>\d+(?:\.\d+)?)B)?(?:-A(?P<active>\d+(?:\.\d+)?)B)?"
    r"(?P<variant>-(?:Instruct|Thinking|Base|Chat|Preview))*"
    r"(?:-(?P<update>\d{4}))?(?:-(?P<context>1M))?"
    r"(?:-(?P<format>" + "|".join(map(re.escape, FORMATS)) + r"))?$")


@dataclass(frozen=True)
class HubName:
    """What a Qwen repository name says."""

    repo: str
    generation: str | None
    line: str | None
    total_b: float | None
    active_b: float | None
    variant: str
    update: str | None
    weights: str
    context: str | None = None  # "1M": Qwen2.5's long-context variants

    def to_dict(self) -> dict:
        return asdict(self)


def _variant(suffixes: list[str], generation: str | None, family: str, lines: list[str]) -> str:
    """The post-training a name states; with no suffix, what that means in its generation and line."""
    qwen3_on = bool(generation) and float(generation) >= 3
    if "Embedding" in lines or "Reranker" in lines:
        return "embedding model" if "Embedding" in lines else "reranker"
    if "Base" in suffixes:
        return "base (pretrained only)"
    if "Thinking" in suffixes:
        return "thinking only"
    if "Instruct" in suffixes or "Chat" in suffixes:
        return "instruct, never thinks" if qwen3_on else "instruct (chat)"
    if family == "QwQ":
        return "reasoning, always thinks"
    # from Qwen3 on a bare name is the post-trained model; before, the chat model was the -Instruct/-Chat one
    return "post-trained, hybrid thinking" if qwen3_on else "base (pretrained only)"


def read_name(repo: str) -> HubName:
    """Split a Qwen repository name into what it says ('Qwen/Qwen3-30B-A3B-Instruct-2507-FP8' -> 30B total, 3B
    active, instruct, July 2025 update, FP8 weights); a name that does not follow the pattern is a ValueError."""
    match = _NAME.match(repo.strip())
    if not match:
        raise ValueError(f"{repo!r} does not read as a Qwen repository name (Qwen<generation>[-line]-<size>B...)")
    g = match.groupdict()
    suffixes, lines = re.findall(r"-(\w+)", g["variant"] or ""), re.findall(r"-(\w+)", g["lines"] or "")
    generation = g["generation"] or ("2.5" if g["family"] == "QwQ" else None)  # QwQ is built on Qwen2.5
    return HubName(repo=repo.strip(), generation=generation, line="-".join(lines) or None,
                   total_b=float(g["total"]) if g["total"] else None,
                   active_b=float(g["active"]) if g["active"] else None,
                   variant=_variant(suffixes, g["generation"], g["family"], lines), update=g["update"],
                   weights=FORMATS.get(g["format"] or "", "bf16 safetensors"), context=g["context"])


def sources() -> dict:
    """The catalog's sources plus the ones lesson 01 cites for the hybrid generation and the naming conventions."""
    extra = load_json("family_sources.json")["sources"]
    return {**catalog.sources(), **extra}
