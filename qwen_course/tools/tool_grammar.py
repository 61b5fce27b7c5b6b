"""Lark grammars (llguidance) that force one well-formed call to one of the offered tools, in either Qwen format.

With one of these as the logits processor even a random-weight model writes a call that parses and validates.
Qwen's added tokens (<tool_call>, </tool_call>) are named as special tokens (<tool_call>), not quoted text:
quoted, llguidance's mask admits the token but its parser then rejects it.
"""

from __future__ import annotations

import json

from .schema import Tool

MAX_FREE_STRING = 200


def lark_for_tools(tools: list[Tool], flavour: str = "qwen3") -> str:
    """A grammar for exactly one <tool_call> block naming one of these tools with valid arguments."""
    if not tools:
        raise ValueError("no tools to call")
    if flavour == "qwen3":
        return _json_calls(tools)
    if flavour == "qwen3.5":
        return _xml_calls(tools)
    raise ValueError(f"unknown call format {flavour!r}; choose 'qwen3' (JSON) or 'qwen3.5' (XML)")


def _json_calls(tools: list[Tool]) -> str:
    """<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>, the arguments checked by each tool's schema."""
    choices = [{"type": "object", "properties": {"name": {"const": tool.name}, "arguments": tool.parameters},
                "required": ["name", "arguments"], "additionalProperties": False} for tool in tools]
    # the spacing Qwen3's template renders: {"name": "f", "arguments": {"x": 1}}
    options = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
    schema = {"x-guidance": options, "anyOf": choices}
    return f'start: <tool_call> "\\n" call "\\n" </tool_call>\ncall: %json {json.dumps(schema)}\n'


def _xml_calls(tools: list[Tool]) -> str:
    """<tool_call>\\n<function=NAME>\\n<parameter=KEY>\\nVALUE\\n</parameter>\\n...</function>\\n</tool_call>."""
    rules = ['start: <tool_call> "\\n" call "\\n" </tool_call>',
             "call: " + " | ".join(f"fn_{i}" for i in range(len(tools)))]
    for i, tool in enumerate(tools):
        properties = tool.parameters.get("properties", {})
        required = set(tool.parameters.get("required", []))
        parts = []
        for j, (key, schema) in enumerate(properties.items()):
            rules.append(f'p_{i}_{j}: "<parameter={key}>\\n" {_value(schema)} "\\n</parameter>\\n"')
            parts.append(f"p_{i}_{j}" if key in required else f"p_{i}_{j}?")
        rules.append(f'fn_{i}: "<function={tool.name}>\\n" {" ".join(parts)} "</function>"')
    return "\n".join(rules) + "\n"


def _value(schema: dict) -> str:
    """One parameter's text: free text for strings (no '<' or newline), the JSON spelling for everything else."""
    if schema.get("type") == "string" and "enum" in schema:
        return "(" + " | ".join(json.dumps(choice) for choice in schema["enum"]) + ")"
    if schema.get("type") == "string":
        low, high = schema.get("minLength", 1), min(schema.get("maxLength", MAX_FREE_STRING), MAX_FREE_STRING)
        return f"/[^<\\n]{{{low},{high}}}/"
    return f"%json {json.dumps(schema)}"


def call_format(template) -> str:
    """'qwen3.5' when a chat template (or a tokenizer's) asks for <function=...> calls (Qwen3.5/3.6, Qwen3-Coder),
    else 'qwen3' (JSON inside <tool_call>, Qwen2.5/Qwen3)."""
    text = getattr(template, "chat_template", template) or ""
    return "qwen3.5" if "<function=" in text else "qwen3"
