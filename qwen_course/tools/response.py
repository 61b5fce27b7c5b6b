"""The same parsing through transformers' own public route: tokenizer.parse_response(text, schema=...).

Qwen's tokenizers ship no response template, so we keep one per format as data and pass it in.
"""

from __future__ import annotations

from .._paths import load_json
from .parse import Reply, ToolCallError, strip_end
from .schema import ToolCall


def response_templates() -> dict:
    """Our declarative response templates ("qwen3": JSON calls, "qwen3.5": XML-ish calls), from data/tools."""
    return load_json("tools/response_templates.json")


def response_template(flavour: str) -> dict:
    """The template for one call format, or a ValueError listing the ones we have."""
    templates = response_templates()
    if flavour not in templates:
        raise ValueError(f"no response template for {flavour!r}; choose one of {sorted(templates)}")
    return templates[flavour]


def parse_with_transformers(tokenizer, text: str, prompt: str = "", tools: list[dict] | None = None,
                            flavour: str = "qwen3") -> Reply:
    """A Reply from tokenizer.parse_response; its all-or-nothing ValueError becomes one ToolCallError."""
    try:
        message = tokenizer.parse_response(text, schema=response_template(flavour), prefix=prompt, tools=tools)
    except ValueError as error:
        return Reply(strip_end(text).strip(), None, [], [ToolCallError(str(error).splitlines()[0], text)])
    calls = [ToolCall(c["function"]["name"], c["function"].get("arguments") or {})
             for c in message.get("tool_calls") or []]
    return Reply((message.get("content") or "").strip(), message.get("reasoning_content"), calls, [])
