"""Small real tools for the lesson's agent: a calculator, the course catalog as a database, a folder of files.

The names and arguments of `calculator` and `get_model_info` are the ones the course's trained stand-in learned.
"""

from __future__ import annotations

import ast
import math
import operator
from pathlib import Path

from .._paths import data_path
from .safety import ToolError, ToolRefused, inside
from .schema import Tool, tool_from_function

BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
FUNCTIONS = {"sqrt": math.sqrt, "log": math.log, "exp": math.exp, "sin": math.sin, "cos": math.cos,
             "abs": abs, "round": round, "min": min, "max": max}
CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_EXPRESSION = 200
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e100
MAX_FILE_BYTES = 20_000


def evaluate(expression: str) -> float | int:
    """Arithmetic from text by walking its syntax tree: numbers, + - * / // % **, a few math functions; never eval."""
    if len(expression) > MAX_EXPRESSION:
        raise ToolRefused(f"expression is {len(expression)} characters; the limit is {MAX_EXPRESSION}")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ToolError(f"not an arithmetic expression: {expression[:60]!r}") from None
    return _value(tree.body)


def _value(node: ast.AST) -> float | int:
    """One node of the expression tree; anything not on the allow-list is refused."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolRefused(f"exponent {right} is larger than {MAX_EXPONENT}")
        try:
            return _bounded(BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise ToolError("division by zero") from None
        except OverflowError:
            raise ToolError("result too large") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
            and not node.keywords and len(node.args) <= 4):
        try:
            return _bounded(FUNCTIONS[node.func.id](*[_value(arg) for arg in node.args]))
        except (ValueError, TypeError, OverflowError) as error:
            raise ToolError(f"{node.func.id}: {error}") from None
    raise ToolRefused(f"{type(node).__name__} is not allowed in an arithmetic expression")


def _bounded(number: float | int) -> float | int:
    """The number, unless it is too large to be a sensible answer (keeps 9**9**9 from eating the machine)."""
    if isinstance(number, complex) or abs(number) > MAX_MAGNITUDE:
        raise ToolError("result out of range")
    return number


def calculator(expression: str) -> str:
    """
    Evaluate an arithmetic expression exactly, e.g. "17 * 23 + sqrt(16)".

    Args:
        expression: The expression, using numbers, + - * / // % ** and sqrt, log, exp, sin, cos, abs, round, min, max.
    """
    return str(evaluate(expression))


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # fmt: skip


def get_model_info(model: str) -> dict:
    """
    Facts about one Qwen checkpoint from the course catalog: release, parameters, context, layers, license, tasks.

    Args:
        model: The model's name, e.g. "Qwen3-8B" or "Qwen/Qwen3-8B".
    """
    from qwen_course import catalog

    try:
        checkpoint = catalog.get(model[:100])
    except catalog.UnknownModelError as error:
        raise ToolError(error.args[0]) from None
    config = checkpoint.text_config or {}
    year, _, month = (checkpoint.release or "").partition("-")
    record = {"model": checkpoint.id.split("/")[-1], "id": checkpoint.id, "series": checkpoint.series,
              "released": f"{MONTHS[int(month) - 1]} {year}" if month else year,
              "parameters": f"{checkpoint.official_params / 1e9:g}B" if checkpoint.official_params else None,
              "context": checkpoint.context, "layers": config.get("num_hidden_layers"),
              "hidden_size": config.get("hidden_size"), "attention_heads": config.get("num_attention_heads"),
              "license": checkpoint.license, "tasks": list(checkpoint.tasks), "thinking": checkpoint.thinking}
    return {key: value for key, value in record.items() if value not in (None, "")}


def find_models(task: str, max_billion_parameters: float = 1000.0) -> list[str]:
    """
    Qwen checkpoints in the course catalog that do a task, smallest first.

    Args:
        task: What the model should do (choices: ["chat", "thinking", "vision", "coder", "math"])
        max_billion_parameters: Only models with at most this many parameters, in billions.
    """
    from qwen_course import catalog

    found = [c for c in catalog.checkpoints(task) if (c.official_params or 0) <= max_billion_parameters * 1e9]
    return [c.id for c in sorted(found, key=lambda c: c.official_params or 0)]


def read_file_in(root: str | Path):
    """The plain read_file function, bound to the one folder it may read."""
    folder = Path(root)

    def read_file(path: str) -> str:
        """
        Read a UTF-8 text file from the lesson's documents folder.

        Args:
            path: The file's path relative to the documents folder, e.g. "notes/todo.txt".
        """
        target = inside(folder, path)
        if not target.is_file():
            base = folder.resolve()
            names = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
            raise ToolError(f"no file {path[:80]!r}; the folder has: {', '.join(names[:20]) or 'nothing'}")
        if target.stat().st_size > MAX_FILE_BYTES:
            raise ToolRefused(f"{path} is {target.stat().st_size} bytes; the limit is {MAX_FILE_BYTES}")
        try:
            return target.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{path} is not a UTF-8 text file") from None

    return read_file


def file_reader(root: str | Path) -> Tool:
    """A read_file tool that can only see files under root."""
    return tool_from_function(read_file_in(root), path={"maxLength": 200})


def default_tools(documents: str | Path) -> list[Tool]:
    """The lesson's toolbox: calculator, catalog lookup and search, and a reader for one folder."""
    return [
        tool_from_function(calculator, expression={"maxLength": MAX_EXPRESSION}),
        tool_from_function(get_model_info, model={"maxLength": 100}),
        tool_from_function(find_models, max_billion_parameters={"exclusiveMinimum": 0, "maximum": 1000}),
        file_reader(documents),
    ]


def sample_documents() -> Path:
    """The small folder of text files the lesson's read_file tool is pointed at (read-only, shipped with the course)."""
    return data_path("tools/documents")
