"""Tools as data: a Python function, its JSON schema, and the calls a model makes to it."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tool:
    """A callable the model may use, with the JSON schema its arguments must satisfy."""

    name: str
    description: str
    parameters: dict
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def spec(self) -> dict:
        """The OpenAI-style entry that apply_chat_template(tools=[...]) and chat.completions expect."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": copy.deepcopy(self.parameters)}}


def strict(parameters: dict) -> dict:
    """A copy of an object schema that also refuses arguments it does not name (a model's typo is an error)."""
    closed = standard(copy.deepcopy(parameters))
    closed.setdefault("type", "object")
    closed.setdefault("properties", {})
    closed.setdefault("additionalProperties", False)
    return closed


def standard(schema: object) -> object:
    """OpenAPI's "nullable": true (what get_json_schema writes for Optional) as JSON Schema's type list, in place.

    Validators and grammar compilers ignore "nullable", so without this an Optional argument refuses None.
    """
    if isinstance(schema, dict):
        if schema.get("nullable") is True and isinstance(schema.get("type"), str):  # not a property named so
            del schema["nullable"]
            schema["type"] = [schema["type"], "null"]
        for value in schema.values():
            standard(value)
    elif isinstance(schema, list):
        for item in schema:
            standard(item)
    return schema


def tool_from_function(function: Callable[..., Any], name: str | None = None, **extra_constraints: dict) -> Tool:
    """A Tool built by transformers' get_json_schema from type hints and a Google-style docstring."""
    from transformers.utils import get_json_schema

    described = get_json_schema(function)["function"]
    parameters = strict(described["parameters"])
    for argument, constraints in extra_constraints.items():  # bounds and patterns docstrings cannot express
        parameters["properties"][argument].update(constraints)
    return Tool(name or described["name"], described["description"], parameters, function)


def specs(tools: list[Tool]) -> list[dict]:
    """The tools as the list a chat template or an OpenAI server takes."""
    return [tool.spec() for tool in tools]


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for: a tool name and its arguments, already decoded from text."""

    name: str
    arguments: dict
    id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])

    def as_dict(self) -> dict:
        """The entry for an assistant message's tool_calls (arguments as a dict: Qwen3.5's template needs that)."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    def as_openai(self) -> dict:
        """The entry an OpenAI-compatible server expects back (arguments as a JSON string)."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)}}


def assistant_message(content: str, calls: list[ToolCall], reasoning: str | None = None) -> dict:
    """The assistant turn to append to the history after the model answered."""
    message: dict = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [call.as_dict() for call in calls]
    return message


def tool_message(result: str, call: ToolCall | None = None) -> dict:
    """The tool turn that carries a result (or a refusal) back to the model."""
    message = {"role": "tool", "content": result}
    if call is not None:
        message.update(tool_call_id=call.id, name=call.name)
    return message
