"""The trained stand-in (kind "qwen3-trained"): a tiny Qwen3 that really follows the template inside a narrow domain.

`corpus` writes seeded synthetic chats (arithmetic with short thinking traces, Qwen facts from the catalog, tool
calls, and a reserved task for lesson 06's LoRA); `facts` holds the catalog table and the tools; `dataset` renders
them with Qwen3's template and assistant-only labels and keeps a held-out set; `train` trains exactly but only on
the used embedding rows; `compact` stores it in a few megabytes and rebuilds the full model; `gate` is the evaluation gate;
`measure` takes int8 drift and temperature numbers; `run` is the whole recipe (`qwen-course offline train`).
"""

from .compact import SHIPPED, full_model, load_manifest
from .corpus import RESERVED, TASKS, Chat, reserved_chats, reserved_score
from .dataset import heldout_chats, render, training_chats
from .gate import evaluate, generate, parse_call, score, split_reply, table
from .facts import TOOLS
from .run import command, finish, run
from .train import Recipe

__all__ = [
    "SHIPPED", "full_model", "load_manifest", "RESERVED", "TASKS", "Chat", "reserved_chats", "reserved_score",
    "heldout_chats", "render", "training_chats", "evaluate", "generate", "parse_call", "score", "split_reply",
    "table", "TOOLS", "command", "finish", "run", "Recipe",
]  # fmt: skip
