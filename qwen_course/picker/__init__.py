"""Choose the Qwen checkpoint, precision and load settings that fit a machine (`choose.pick`), as a `Pick` that
knows how to load it here (`result`), by rules kept as data (`rules`, data/picker.json)."""

from .choose import memory_budget, pick
from .result import NothingFitsError, Pick
from .rules import download_seconds, rules

__all__ = ["memory_budget", "pick", "NothingFitsError", "Pick", "download_seconds", "rules"]
