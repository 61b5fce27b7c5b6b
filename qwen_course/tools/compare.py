"""Render tool conversations with two chat templates and report every place they differ (a reusable test oracle)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from .._paths import load_json

Renderer = Callable[..., str]
GENERATION = [{"add_generation_prompt": True}, {"add_generation_prompt": False}]
THINKING = [{}, {"enable_thinking": True}, {"enable_thinking": False}]


@dataclass(frozen=True)
class Mismatch:
    """One conversation and option set where the candidate renders differently from the reference."""

    chat: str
    options: dict
    expected: str
    got: str

    @property
    def first_difference(self) -> int:
        """Character offset where the two renderings part, to print the neighbourhood."""
        pairs = zip(self.expected, self.got)
        return next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(self.expected), len(self.got)))

    def __str__(self) -> str:
        at = self.first_difference
        return (f"{self.chat} {self.options}: differ at {at}: expected {self.expected[at - 20:at + 40]!r}, "
                f"got {self.got[at - 20:at + 40]!r}")


def load_chats(name: str = "tool_chats.json") -> tuple[list[dict], dict[str, list[dict]]]:
    """(tools, {chat name: messages}) from the shipped conversation set."""
    data = copy.deepcopy(load_json(f"tools/{name}"))  # a copy: callers may change the messages
    return data["tools"], data["chats"]


def reference_template(name: str) -> str:
    """Qwen's original template as TRL ships it byte-identical (qwen3, qwen3_5_think, qwen3_5_nothink, qwen3_6, ...)."""
    import importlib.resources

    return (importlib.resources.files("trl") / "chat_templates" / f"{name}.jinja").read_text(encoding="utf-8")


def renderer(template: str) -> Renderer:
    """A function messages -> prompt text for a Jinja template, as apply_chat_template(tokenize=False) renders it."""
    from transformers.utils.chat_template_utils import render_jinja_template

    def render(messages: list[dict], **options) -> str:
        return render_jinja_template(conversations=[messages], chat_template=template, **options)[0][0]

    return render


def tokenizer_renderer(tokenizer) -> Renderer:
    """The same, through a tokenizer's own chat template (what a learner's code calls)."""
    return lambda messages, **options: tokenizer.apply_chat_template(messages, tokenize=False, **options)


def options(*axes: list[dict]) -> list[dict]:
    """Every combination of the option axes, each merged into one keyword dict."""
    combos = [{}]
    for axis in axes:
        combos = [{**combo, **choice} for combo in combos for choice in axis]
    return combos


def outcome(render: Renderer, messages: list[dict], **kwargs) -> str:
    """The rendered text, or the error a template raises (both templates must then raise)."""
    try:
        return render(messages, **kwargs)
    except Exception as error:  # a template's raise_exception is part of its behaviour
        return f"<raised {type(error).__name__}>"


def compare(candidate: Renderer | str, reference: Renderer | str, chats: dict[str, list[dict]],
            combos: list[dict]) -> list[Mismatch]:
    """Every (conversation, options) where the candidate does not render exactly like the reference."""
    ours = renderer(candidate) if isinstance(candidate, str) else candidate
    theirs = renderer(reference) if isinstance(reference, str) else reference
    mismatches = []
    for chat, messages in chats.items():
        for kwargs in combos:
            expected, got = outcome(theirs, messages, **kwargs), outcome(ours, messages, **kwargs)
            if got != expected:
                mismatches.append(Mismatch(chat, kwargs, expected, got))
    return mismatches


def assistant_turns(prompt: str) -> list[str]:
    """The assistant turns of a rendered prompt, for round-trip tests of the parser."""
    turns = prompt.split("<|im_start|>assistant\n")[1:]
    return [turn.split("<|im_end|>")[0] for turn in turns if "<|im_end|>" in turn]
