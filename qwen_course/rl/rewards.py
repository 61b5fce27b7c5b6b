"""Rewards a program can check, in the shape TRL's GRPOTrainer calls them: `f(prompts, completions, **columns)`.

TRL 1.16 passes `prompts`, `completions`, `completion_ids`, every other dataset column by name (here `answer` and
`thinking`), plus `trainer_state`, `log_extra` and `log_metric`; each function returns one float per completion
(`GRPOTrainer._calculate_rewards`). A completion is a string for a plain-text dataset and a list with one assistant
message for a conversational one; `read` accepts both, and a message whose reasoning was already split off
(`reasoning_content`) too. No torch import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
BOXED = re.compile(r"\\boxed\{\s*(-?[\d,]*\d)\s*\}")
NUMBER = re.compile(r"-?\d[\d,]*")
ANSWER_LINE = re.compile(r"(?:[^=]*=\s*)?(-?[\d,]*\d)(?: is larger)?\s*\.?")  # "81 - 34 = 47.", "47", "927 is larger."


@dataclass(frozen=True)
class Reply:
    """A completion read apart: the thinking text (None when there is no block), the visible answer, and whether
    the think tags sit where Qwen's template puts them."""

    thinking: str | None
    answer: str
    tags_ok: bool


def text_of(completion) -> tuple[str, str | None]:
    """(content, reasoning already split off by a response parser or None) of a string or a conversational completion."""
    if isinstance(completion, str):
        return completion, None
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)) and completion and isinstance(completion[-1], dict):
        message = completion[-1]
        content = message.get("content") or ""
        if isinstance(content, list):  # multimodal-style parts: keep the text ones
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content), message.get("reasoning_content") or message.get("thinking")
    raise TypeError(f"a completion is a string or a list of messages, not {type(completion).__name__}")


def read(completion) -> Reply:
    """Split a completion into thinking and answer; tags are ok with one closed block first (Qwen3.5 prefills the
    `<think>` opener, so a completion may start inside the block) or no tags at all. An unclosed block answers
    nothing."""
    text, reasoning = text_of(completion)
    if reasoning is not None:
        return Reply(reasoning.strip(), text.strip(), THINK_OPEN not in text and THINK_CLOSE not in text)
    if THINK_CLOSE not in text:
        head, opened, rest = text.partition(THINK_OPEN)
        if opened:  # a block that never closed (cut off): all of it is thinking, nothing was answered
            return Reply(rest.strip(), "", False)
        return Reply(None, text.strip(), True)
    head, _, answer = text.partition(THINK_CLOSE)
    opened = head.lstrip().startswith(THINK_OPEN)
    thinking = head.lstrip()[len(THINK_OPEN):] if opened else head
    ok = THINK_OPEN not in thinking and THINK_OPEN not in answer and THINK_CLOSE not in answer
    return Reply(thinking.strip(), answer.strip(), ok)


def final_answer(text: str) -> str | None:
    """The number a reply commits to: the last `\\boxed{}` if any, else the result on the answer's last line
    ("a - b = c.", a bare "c", or "c is larger."); None when that line is not such an answer."""
    boxed = BOXED.findall(text)
    if boxed:
        return boxed[-1].replace(",", "")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    match = ANSWER_LINE.fullmatch(lines[-1].strip()) if lines else None
    return match.group(1).replace(",", "") if match else None


def _flags(n: int, thinking) -> list:
    """The per-completion `thinking` column as a list (None when the dataset has no such column)."""
    return list(thinking) if isinstance(thinking, (list, tuple)) else [thinking] * n


def correctness_reward(prompts=None, completions=(), answer=(), **kwargs) -> list[float]:
    """1.0 when the visible answer's final number equals the reference exactly, else 0.0 (numbers in the thinking do
    not count: the reply must commit to one)."""
    return [float(final_answer(read(c).answer) == str(a).strip()) for c, a in zip(completions, answer, strict=True)]


def format_reward(prompts=None, completions=(), thinking=None, **kwargs) -> list[float]:
    """1.0 for the shape the chat asked for: with thinking, one non-empty think block then an answer line; without,
    no tags and an answer line. `thinking` is the dataset column (the mode each prompt was rendered in)."""
    out = []
    for c, mode in zip(completions, _flags(len(completions), thinking), strict=True):
        r = read(c)
        block = r.thinking is not None
        shape = r.tags_ok and final_answer(r.answer) is not None
        wanted = (block and bool(r.thinking)) if mode else (not block) if mode is False else True
        out.append(float(bool(shape and wanted)))
    return out


def length_penalty(prompts=None, completions=(), completion_ids=None, limit: int = 64, **kwargs) -> list[float]:
    """0 up to `limit` tokens, then minus the share of the limit by which a completion overruns it (capped at -1);
    counts characters / 4 when token ids are not given."""
    sizes = [len(ids) for ids in completion_ids] if completion_ids is not None else \
        [len(text_of(c)[0]) // 4 for c in completions]
    return [-min(1.0, max(0, n - limit) / limit) for n in sizes]


def length_reward(prompts=None, completions=(), completion_ids=None, **kwargs) -> list[float]:
    """A reward that can be gamed: more tokens, more reward ("longer reasoning is better"), whatever they say."""
    sizes = [len(ids) for ids in completion_ids] if completion_ids is not None else \
        [len(text_of(c)[0]) // 4 for c in completions]
    return [n / 32 for n in sizes]


def number_reward(prompts=None, completions=(), **kwargs) -> list[float]:
    """A reward that can be gamed: 1.0 when the reply contains any number at all (a lazy 'did it answer?' check)."""
    return [float(NUMBER.search(text_of(c)[0]) is not None) for c in completions]


REWARDS = {"correctness": correctness_reward, "format": format_reward, "length_penalty": length_penalty,
           "length": length_reward, "any_number": number_reward}  # fmt: skip
