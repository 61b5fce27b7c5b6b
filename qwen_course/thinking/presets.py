"""Qwen's recommended sampling per thinking mode, and a warning when thinking would decode greedily."""

from __future__ import annotations

import warnings
from typing import Any

# Hybrid Qwen3's recommended sampling (https://huggingface.co/Qwen/Qwen3-8B, "Best Practices"). Qwen3.5/3.6 think at
# temperature 1.0: for them use the catalog's values, `pick(...).generate_kwargs(mode)`. `presence_penalty` is a server
# (vLLM/SGLang/OpenAI) knob, not a transformers `generate` argument, so it is listed apart.
SAMPLING = {
    "thinking": {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0},
    "non-thinking": {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "min_p": 0.0},
}


SERVER_EXTRAS = {"thinking": {}, "non-thinking": {"presence_penalty": 1.5}}


MODE_ALIASES = {"think": "thinking", "thinking-2507": "thinking", "no_think": "non-thinking",
                "nothinking": "non-thinking", "instruct-2507": "non-thinking", "instruct": "non-thinking"}


class GreedyThinkingWarning(UserWarning):
    """Greedy decoding in thinking mode: Qwen warns of degraded answers and endless repetition."""


def _mode(mode: str) -> str:
    key = MODE_ALIASES.get(str(mode).lower(), str(mode).lower())
    if key not in SAMPLING:
        raise ValueError(f"unknown mode {mode!r}: use 'thinking' or 'non-thinking'")
    return key


def warn_if_greedy(mode: str, settings: Any) -> bool:
    """Warn (and return True) when `settings` (dict or GenerationConfig) decode greedily in thinking mode."""
    get = settings.get if isinstance(settings, dict) else (lambda k, d=None: getattr(settings, k, d))
    greedy = not get("do_sample", False) or (get("temperature", 1.0) or 0.0) <= 0.0
    if _mode(mode) == "thinking" and greedy:
        warnings.warn("greedy decoding in thinking mode: Qwen's docs warn of performance degradation and endless "
                      "repetitions; sample with the model's thinking preset (Qwen3: temperature 0.6, top_p 0.95, top_k 20; "
                      "Qwen3.5: temperature 1.0, top_p 0.95, top_k 20; pick(...).generate_kwargs('thinking')).",
                      GreedyThinkingWarning, stacklevel=2)
        return True
    return False


def sampling(mode: str, **overrides) -> dict:
    """`generate` keyword arguments Qwen recommends for `mode`, with your overrides; warns on greedy thinking."""
    settings = {**SAMPLING[_mode(mode)], **overrides}
    warn_if_greedy(mode, settings)
    return settings
