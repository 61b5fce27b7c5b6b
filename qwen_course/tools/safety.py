"""A tool call is untrusted input: check it against what was offered before anything runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .schema import Tool, ToolCall


class ToolRefused(Exception):
    """The call was not run (unknown tool, bad arguments, path outside the folder); the model is told why."""

    def feedback(self) -> str:
        """What the tool message says, so the model can correct itself."""
        return f"refused: {self}"


class ToolError(Exception):
    """The tool ran but could not answer (division by zero, no such model); the message goes back to the model."""

    def feedback(self) -> str:
        """What the tool message says, so the model can correct itself."""
        return f"error: {self}"


@dataclass(frozen=True)
class Limits:
    """Sizes past which a call or a result is refused or cut (a model can loop on a huge argument)."""

    max_argument_bytes: int = 4096
    max_depth: int = 6
    max_result_chars: int = 4000


def check_call(call: ToolCall, tools: dict[str, Tool], limits: Limits = Limits()) -> Tool:
    """The tool to run for this call, or ToolRefused saying exactly why not."""
    tool = tools.get(call.name)
    if tool is None:
        offered = ", ".join(sorted(tools)) or "none"
        raise ToolRefused(f"unknown tool {call.name[:60]!r}; the tools offered are: {offered}")
    size = len(json.dumps(call.arguments, ensure_ascii=False).encode())
    if size > limits.max_argument_bytes:
        raise ToolRefused(f"arguments of {call.name} are {size} bytes; the limit is {limits.max_argument_bytes}")
    if depth(call.arguments) > limits.max_depth:
        raise ToolRefused(f"arguments of {call.name} are nested deeper than {limits.max_depth} levels")
    problem = schema_problem(call.arguments, tool.parameters)
    if problem:
        raise ToolRefused(f"{call.name}: {problem}")
    return tool


def schema_problem(arguments: dict, parameters: dict) -> str | None:
    """The first way the arguments break the tool's JSON schema, in words, or None when they fit."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(parameters).iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return f"argument {where!r}: {message}" if where else message


def depth(value: object) -> int:
    """How deeply lists and objects nest (a flat object is 1)."""
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    return 0


def inside(root: Path, requested: str) -> Path:
    """The file a relative path names inside root, or ToolRefused if it leaves root (.., absolute, symlink)."""
    if not isinstance(requested, str) or not requested or "\x00" in requested:
        raise ToolRefused("path must be a non-empty relative path")
    if Path(requested).is_absolute() or requested.startswith("~"):
        raise ToolRefused(f"path {requested[:80]!r} is absolute; give a path relative to the folder")
    base = root.resolve()
    target = (base / requested).resolve()  # follows symlinks, so a link pointing outside is caught too
    if not target.is_relative_to(base):
        raise ToolRefused(f"path {requested[:80]!r} leaves the folder this tool may read")
    return target


def clip(result: str, limits: Limits = Limits()) -> str:
    """A tool result cut to the size the model is given, saying that it was cut."""
    if len(result) <= limits.max_result_chars:
        return result
    return result[:limits.max_result_chars] + f"\n[... cut: {len(result) - limits.max_result_chars} more characters]"
