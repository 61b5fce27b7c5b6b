"""What the trained stand-in knows about the Qwen family (a small table read from the course catalog) and the tools
it calls, with the schemas and replies of lesson 09's `calculator` and `get_model_info` (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

SERIES = ("qwen3", "qwen3.5")  # the small table: dense and MoE Qwen3, and Qwen3.5
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # fmt: skip
QUESTIONS = {
    "layers": ("How many layers does {name} have?", "What is the number of layers in {name}?",
               "How deep is {name}?", "Tell me the layer count of {name}."),
    "context": ("What is the context length of {name}?", "How many tokens of context does {name} read?",
                "How long a context does {name} support?", "Tell me the context length of {name}."),
    "release": ("When was {name} released?", "In which month was {name} released?",
                "What is the release date of {name}?", "Tell me when {name} came out."),
    "params": ("How many parameters does {name} have?", "How big is {name}?",
               "What is the parameter count of {name}?", "Tell me the size of {name} in parameters."),
}  # fmt: skip
WORDS = {"layers": "the number of layers", "context": "the context length", "release": "the release date",
         "params": "the parameter count"}  # fmt: skip
RECORD_FIELDS = {"layers": "layers", "context": "context", "release": "released", "params": "parameters"}

# The JSON schemas transformers' get_json_schema writes for qwen_course.tools.toolbox's functions (lesson 09).
TOOLS = [
    {"type": "function", "function": {
        "name": "calculator", "description": "Evaluate an arithmetic expression exactly, e.g. \"17 * 23 + sqrt(16)\".",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string", "description":
            "The expression, using numbers, + - * / // % ** and sqrt, log, exp, sin, cos, abs, round, min, max."}},
            "required": ["expression"]}, "return": {"type": "string"}}},
    {"type": "function", "function": {
        "name": "get_model_info", "description": "Facts about one Qwen checkpoint from the course catalog: release, "
        "parameters, context, layers, license, tasks.", "parameters": {"type": "object", "properties": {"model": {
            "type": "string", "description": "The model's name, e.g. \"Qwen3-8B\" or \"Qwen/Qwen3-8B\"."}},
            "required": ["model"]}, "return": {"type": "object"}}},
]  # fmt: skip


@dataclass(frozen=True)
class Fact:
    """One catalog fact and the sentence that states it."""

    name: str
    attribute: str
    value: str

    @property
    def sentence(self) -> str:
        """The answer, the same whether recalled or read from the tool."""
        n, v = self.name, self.value
        return {"layers": f"{n} has {v} layers.", "context": f"{n} reads up to {v} tokens of context.",
                "release": f"{n} was released in {v}.", "params": f"{n} has {v} parameters."}[self.attribute]


def month(release: str) -> str:
    """"2025-04" -> "April 2025" (as get_model_info writes it)."""
    year, _, number = release.partition("-")
    return f"{MONTHS[int(number) - 1]} {year}" if number else year


def _checkpoints() -> list:
    """The catalog rows of the small table: chat checkpoints of SERIES."""
    from ...catalog import checkpoints

    return [c for c in checkpoints() if c.series in SERIES]


@lru_cache(maxsize=1)
def facts() -> tuple[Fact, ...]:
    """Every fact the stand-in learns to recall: layers, context, release and (where published) parameters."""
    out = []
    for c in _checkpoints():
        name = c.id.split("/")[-1]
        out += [Fact(name, "layers", str(c.text_config["num_hidden_layers"])), Fact(name, "context", str(c.context)),
                Fact(name, "release", month(c.release))]
        if c.official_params:
            out.append(Fact(name, "params", f"{c.official_params / 1e9:g}B"))
    return tuple(out)


def tool_facts() -> tuple[Fact, ...]:
    """The facts asked through get_model_info (the same table: the answer is read from the tool's reply)."""
    return facts()


@lru_cache(maxsize=None)
def model_record(name: str) -> dict:
    """What lesson 09's get_model_info returns for a checkpoint of the table (a test compares the two)."""
    c = next(c for c in _checkpoints() if c.id.split("/")[-1] == name)
    config = c.text_config or {}
    record = {"model": name, "id": c.id, "series": c.series, "released": month(c.release),
              "parameters": f"{c.official_params / 1e9:g}B" if c.official_params else None, "context": c.context,
              "layers": config.get("num_hidden_layers"), "hidden_size": config.get("hidden_size"),
              "attention_heads": config.get("num_attention_heads"), "license": c.license, "tasks": list(c.tasks),
              "thinking": c.thinking}  # fmt: skip
    return {key: value for key, value in record.items() if value not in (None, "")}
