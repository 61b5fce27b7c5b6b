"""Which server flags turn Qwen's tool calls into OpenAI `tool_calls`: vLLM's tool-call parser per Qwen generation."""

from __future__ import annotations

from dataclasses import dataclass

from .._paths import load_json


@dataclass(frozen=True)
class ToolParser:
    """vLLM's parser for one call format, the flags that enable it, and where that is documented."""

    name: str
    format: str
    source: str

    @property
    def flags(self) -> list[str]:
        """--enable-auto-tool-choice lets the model decide to call (tool_choice="auto"); the parser reads the calls."""
        return ["--enable-auto-tool-choice", "--tool-call-parser", self.name]


def vllm_tool_parser(model_id: str) -> ToolParser:
    """The parser for a catalog checkpoint, or a ValueError saying which series have a documented one."""
    from .. import catalog

    series = catalog.get(model_id).series
    parsers = load_json("tools/servers.json")["vllm"]
    for name, entry in parsers.items():
        if series in entry["series"]:
            return ToolParser(name, entry["format"], entry["source"])
    known = sorted(s for entry in parsers.values() for s in entry["series"])
    raise ValueError(f"no documented vLLM tool-call parser for the {series} series; documented: {known}")
