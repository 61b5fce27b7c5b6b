"""The evaluation gate: held-out prompts, greedy decoding through the chat template, both thinking modes.

Per task and mode: the share of replies that stop at <|im_end|>, have the right thinking format (one non-empty
<think> block first when thinking is on, no think tags when off: the template already wrote the empty block) and
are correct (the visible answer equals the reference; a tool call must parse with the right name and arguments).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict

from . import corpus as C
from . import dataset as D

THINK = re.compile(r"<think>\n(.+?)\n</think>\n\n(.+)", re.DOTALL)
CALL = re.compile(r"<tool_call>\n(.*?)\n</tool_call>", re.DOTALL)
MAX_NEW = {True: 128, False: 64}
MEASURES = ("stop", "format", "correct")


def split_reply(text: str, thinking: bool) -> tuple[bool, str | None, str]:
    """(format ok, thinking text, visible answer) of a generated reply (<|im_end|> removed)."""
    if not thinking:
        return "<think>" not in text and "</think>" not in text, None, text
    match = THINK.fullmatch(text)
    if not match or "<think>" in match.group(2) or "</think>" in match.group(2):
        return False, None, text.split("</think>")[-1].lstrip("\n")
    return True, match.group(1), match.group(2)


def parse_call(text: str) -> dict | None:
    """The first <tool_call> as {"name", "arguments"}, or None when it does not parse."""
    match = CALL.search(text)
    try:
        call = json.loads(match.group(1)) if match else None
    except ValueError:
        return None
    return call if isinstance(call, dict) and {"name", "arguments"} <= set(call) else None


def correct(chat: C.Chat, answer: str) -> bool:
    """Exact visible answer; a tool call by its parsed name and arguments; the reserved task by its JSON."""
    if chat.task == "tool_call":
        call = parse_call(answer)
        return call is not None and call["name"] == chat.meta["tool"] and call["arguments"] == chat.meta["arguments"]
    if chat.task == C.RESERVED:
        return C.reserved_score(chat, answer)
    return answer.strip() == chat.answer


def reply_from_ids(row: list[int], tokenizer, end: int) -> dict:
    """One generated row (new tokens only) as a reply: the ids before <|im_end|>, whether it stopped, their text."""
    stopped = end in row
    row = row[: row.index(end)] if stopped else row
    return {"ids": row, "stopped": stopped, "text": tokenizer.decode(row, skip_special_tokens=False)}


def generate(model, tokenizer, chats: list[C.Chat], batch_size: int = 32, **sampling) -> list[dict]:
    """Replies to each chat's prompt (left-padded batches of similar length); greedy unless sampling is given."""
    import torch

    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    prompts = [D.render(tokenizer, c, prompt_only=True) for c in chats]
    lengths = [len(p) for p in prompts]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    out: list[dict] = [{} for _ in chats]
    settings = sampling or dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    try:
        for thinking in (True, False):
            idx = sorted((i for i, c in enumerate(chats) if c.thinking == thinking), key=lengths.__getitem__)
            for start in range(0, len(idx), batch_size):
                part = idx[start:start + batch_size]
                batch = tokenizer([prompts[i] for i in part], return_tensors="pt", padding=True, add_special_tokens=False)
                with torch.no_grad():
                    ids = model.generate(**batch, max_new_tokens=MAX_NEW[thinking], eos_token_id=[end],
                                         pad_token_id=tokenizer.pad_token_id, **settings)  # fmt: skip
                for i, row in zip(part, ids[:, batch["input_ids"].shape[1]:].tolist()):
                    out[i] = reply_from_ids(row, tokenizer, end)
    finally:
        tokenizer.padding_side = side
    return out


def score(chats: list[C.Chat], replies: list[dict]) -> list[dict]:
    """One row per chat: task, mode, stop, format, correct and the visible answer."""
    rows = []
    for chat, r in zip(chats, replies):
        text = r["text"].replace("<|endoftext|>", "")
        fmt, _, answer = split_reply(text, chat.thinking)
        rows.append({"task": chat.task, "thinking": chat.thinking, "stop": r["stopped"], "format": fmt,
                     "correct": r["stopped"] and fmt and correct(chat, answer), "answer": answer})  # fmt: skip
    return rows


def table(rows: list[dict]) -> dict:
    """Shares per task and mode, plus "all": {"thinking"|"direct": {task: {stop, format, correct, n}}}."""
    groups = defaultdict(list)
    for r in rows:
        mode = "thinking" if r["thinking"] else "direct"
        groups[mode, r["task"]].append(r)
        groups[mode, "all"].append(r)
    out: dict = defaultdict(dict)
    for (mode, task), rs in sorted(groups.items()):
        out[mode][task] = {k: round(sum(r[k] for r in rs) / len(rs), 4) for k in MEASURES} | {"n": len(rs)}
    return dict(out)


def evaluate(model, tokenizer, per_task: int = 20, seed: int = 1) -> tuple[dict, list[dict]]:
    """Generate and score the held-out set; returns the table and the rows."""
    chats = D.heldout_chats(per_task, seed)
    return table(rows := score(chats, generate(model, tokenizer, chats))), rows


def lines(result: dict) -> list[str]:
    """The table as aligned text lines (training logs, the CLI)."""
    return [f"{mode:8s} {task:11s} " + " ".join(f"{k} {m[k]:.3f}" for k in MEASURES) + f" n {m['n']}"
            for mode, tasks in result.items() for task, m in tasks.items()]
