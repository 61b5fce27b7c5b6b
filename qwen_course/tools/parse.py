"""Model text to structured tool calls, for both Qwen formats, with bad output as a value rather than a crash.

Qwen2.5/Qwen3 write JSON inside the tags:   <tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>
Qwen3.5/3.6 write XML-ish parameters:
    <tool_call>\n<function=f>\n<parameter=x>\n1\n</parameter>\n</function>\n</tool_call>
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .schema import ToolCall, assistant_message

END_MARKERS = ("<|im_end|>", "<|endoftext|>")
CALL_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
BARE_FUNCTION = re.compile(r"<function=[^>\n]+>.*?</function>", re.DOTALL)  # Qwen3.5 without the outer tags
FUNCTION = re.compile(r"\s*<function=([^>\n]+)>(.*)</function>\s*", re.DOTALL)
PARAMETER = re.compile(r"<parameter=([^>\n]+)>\n?(.*?)\n?</parameter>", re.DOTALL)
PYTHON_LITERALS = {"True": True, "False": False, "None": None}  # Qwen3.5's template renders these for bools/null


class ToolCallError(ValueError):
    """A tool call the model wrote but that cannot be read: reported back to the model, never raised past the loop."""

    def __init__(self, reason: str, raw: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.raw = raw

    def feedback(self) -> str:
        """The message the agent loop sends back, so the model can retry."""
        return (f"error: could not read your tool call ({self.reason}). "
                "Write it again in the format the tools section shows.")


@dataclass
class Reply:
    """One assistant reply taken apart: the visible text, the reasoning, the calls, and calls that failed to parse."""

    content: str
    reasoning: str | None = None
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[ToolCallError] = field(default_factory=list)

    def message(self) -> dict:
        """The assistant turn to append to the history."""
        return assistant_message(self.content, self.calls, self.reasoning)


def strip_end(text: str) -> str:
    """The reply without the end-of-turn markers a decode may keep."""
    for marker in END_MARKERS:
        text = text.split(marker)[0]
    return text


def split_reasoning(text: str, in_think: bool = False) -> tuple[str | None, str]:
    """(reasoning, rest); in_think means the prompt already opened <think> (Qwen3.5 thinking, Qwen3 forced)."""
    in_think = in_think or ("</think>" in text and "<think>" not in text)  # the prompt opened it, caller forgot
    body = text.lstrip() if not in_think else text
    if not in_think and not body.startswith("<think>"):
        return None, text
    if not in_think:
        body = body[len("<think>"):]
    if "</think>" not in body:  # thinking cut off by max_new_tokens: everything is reasoning
        return body.strip(), ""
    thought, rest = body.split("</think>", 1)
    return thought.strip(), rest.lstrip("\n")


def coerce(text: str, schema: dict | None) -> object:
    """A Qwen3.5 parameter value (always text) turned into the type its schema declares; unknown stays text."""
    types = _types(schema)
    if not types:
        return _guess(text)
    for kind in sorted(types, key=lambda t: t == "string"):  # "None" for a string-or-null is null
        value = _as(kind, text)
        if value is not _NO:
            return value
    return text  # wrong type: validation later says what was expected


def parse_call(block: str, properties: dict | None = None) -> ToolCall:
    """One <tool_call> body (either format) to a ToolCall, or ToolCallError saying what is wrong."""
    stripped = block.strip()
    if not stripped:
        raise ToolCallError("empty <tool_call> block", block)
    if stripped.startswith("<function="):
        return parse_xml_call(stripped, properties)
    return parse_json_call(stripped)


def parse_json_call(block: str) -> ToolCall:
    """The Qwen3 body {"name": ..., "arguments": {...}}."""
    try:
        data, end = json.JSONDecoder().raw_decode(block)
    except json.JSONDecodeError as error:
        truncated = error.pos >= len(block.rstrip()) - 1 or error.msg.startswith("Unterminated string")
        raise ToolCallError(("truncated JSON" if truncated else "invalid JSON") + f": {error.msg} at character "
                            f"{error.pos}", block) from None
    except (ValueError, RecursionError) as error:  # a 5000-digit number, or [[[[... nested past the stack
        raise ToolCallError(f"unreadable JSON: {str(error)[:80]}", block[:200]) from None
    if block[end:].strip():
        raise ToolCallError(f"unexpected text after the JSON object: {block[end:].strip()[:40]!r}", block)
    if not isinstance(data, dict):
        raise ToolCallError(f"expected a JSON object, got {type(data).__name__}", block)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ToolCallError('missing "name" string', block)
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # some models encode the arguments twice
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            raise ToolCallError('"arguments" is a string that is not a JSON object', block) from None
    if not isinstance(arguments, dict):
        raise ToolCallError(f'"arguments" must be an object, got {type(arguments).__name__}', block)
    return ToolCall(name, arguments)


def parse_xml_call(block: str, properties: dict | None = None) -> ToolCall:
    """The Qwen3.5 body <function=NAME><parameter=KEY>VALUE</parameter>...</function>."""
    match = FUNCTION.fullmatch(block)
    if match is None:
        reason = "missing </function>" if "</function>" not in block else "text outside <function=...>...</function>"
        raise ToolCallError(reason, block)
    name, body = match.group(1).strip(), match.group(2)
    arguments: dict = {}
    for parameter in PARAMETER.finditer(body):
        key = parameter.group(1).strip()
        if key in arguments:
            raise ToolCallError(f"parameter {key!r} given twice", block)
        arguments[key] = coerce(parameter.group(2), (properties or {}).get(name, {}).get(key))
    leftover = PARAMETER.sub("", body).strip()
    if leftover:
        reason = "unclosed <parameter=...>" if "<parameter=" in leftover else f"unexpected text {leftover[:40]!r}"
        raise ToolCallError(reason, block)
    return ToolCall(name, arguments)


def parse_reply(text: str, tools: list[dict] | None = None, in_think: bool = False) -> Reply:
    """A whole assistant reply: reasoning, text around the calls, every call, and every unreadable call."""
    reasoning, rest = split_reasoning(strip_end(text), in_think)
    properties = _properties(tools)
    calls, errors, pieces, cursor = [], [], [], 0
    for match in _blocks(rest):
        pieces.append(rest[cursor:match.start()])
        cursor = match.end()
        body = match.group(1) if match.re is CALL_BLOCK else match.group(0)
        try:
            calls.append(parse_call(body, properties))
        except ToolCallError as error:
            errors.append(error)
    tail = rest[cursor:]
    if "<tool_call>" in tail:  # opened but never closed: the reply was cut off
        head, _, unfinished = tail.partition("<tool_call>")
        errors.append(ToolCallError("unclosed <tool_call> (reply cut off?)", unfinished))
        tail = head
    pieces.append(tail)
    return Reply("".join(pieces).strip(), reasoning, calls, errors)


def _blocks(text: str) -> list[re.Match]:
    """Wrapped calls, plus bare <function=...> blocks outside any wrapper, in order."""
    wrapped = list(CALL_BLOCK.finditer(text))
    inside = [(m.start(), m.end()) for m in wrapped]
    bare = [m for m in BARE_FUNCTION.finditer(text) if not any(a <= m.start() < b for a, b in inside)]
    return sorted(wrapped + bare, key=lambda m: m.start())


def _properties(tools: list[dict] | None) -> dict:
    """tool name -> its parameters' properties, from chat-template tool specs."""
    table = {}
    for spec in tools or []:
        function = spec.get("function", spec)
        table[function["name"]] = function.get("parameters", {}).get("properties", {})
    return table


def _types(schema: dict | None) -> list[str]:
    """The JSON types a parameter schema allows (type, type lists, anyOf/oneOf, nullable)."""
    if not isinstance(schema, dict):
        return []
    declared = schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    for choice in schema.get("anyOf", []) + schema.get("oneOf", []):
        types += _types(choice)
    if schema.get("nullable"):
        types.append("null")
    return types


_NO = object()


def _as(kind: str, text: str) -> object:
    """The value as one JSON type, or _NO when it is not that type."""
    if kind == "string":
        return text  # kept exactly: leading spaces can matter
    text = text.strip()
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), _NO)
    if kind == "null":
        return None if text in ("null", "None") else _NO
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return _NO
    wanted = {"integer": int, "number": (int, float), "object": dict, "array": list}.get(kind)
    ok = wanted is not None and isinstance(value, wanted) and not isinstance(value, bool)
    return value if ok else _NO


def _guess(text: str) -> object:
    """Without a schema: JSON if it parses, Python's True/False/None, else the text itself."""
    stripped = text.strip()
    if stripped in PYTHON_LITERALS:
        return PYTHON_LITERALS[stripped]
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return text
