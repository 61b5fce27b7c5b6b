"""The training mix, the held-out set, and chats rendered to token ids with assistant-only labels.

Rendering uses the stand-in's own chat template exactly as inference does: the prompt is the chat without its last
turn, with the generation prompt (so Qwen3's empty think block of enable_thinking=False is prompt, not answer); the
labels are the last assistant turn through its <|im_end|>, everything before it is -100.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import corpus as C

IGNORE = -100
MIX = {"add": 20, "sub": 20, "mul": 14, "compare": 14, "fact": 12, "tool": 2.5}
# Thinking on for most arithmetic: without its trace the model cannot carry (it only memorises trained pairs), so direct
# examples teach the direct format and little else; a quarter of them is enough for that.
THINKING_SHARE = {"add": 0.75, "sub": 0.75, "mul": 0.75, "compare": 0.6}  # other tasks: half
TABLE_SHARE = 0.3  # of the products: one-digit ones, the times table the others' traces use
SYSTEM_SHARE = 0.15  # some chats start with a system prompt, as lessons often do
HISTORY_SHARE = 0.10  # some follow an earlier exchange, so multi-turn prompts look familiar


@dataclass(frozen=True)
class Encoded:
    """One rendered chat: token ids, labels (-100 outside the last assistant turn) and its task."""

    input_ids: list
    labels: list
    task: str


def draw(rng: random.Random, task: str, thinking: bool) -> list[C.Chat]:
    """One example of a task (two for a tool round trip: the call and the answer)."""
    if task == "mul" and rng.random() < TABLE_SHARE:
        return [C.times_table(rng, thinking)]
    if task in ("add", "sub", "mul"):
        return [C.arithmetic(rng, {"add": "+", "sub": "-", "mul": "*"}[task], thinking)]
    if task == "compare":
        return [C.compare(rng, thinking)]
    if task == "fact":
        return [C.fact(rng, thinking)]
    return C.tool_use(rng, thinking)


def decorate(rng: random.Random, chat: C.Chat) -> C.Chat:
    """Sometimes add a system prompt or an earlier exchange (its visible answer only, as chat history keeps it)."""
    if chat.tools is not None:
        return chat
    messages = list(chat.messages)
    if rng.random() < HISTORY_SHARE:
        earlier = draw(rng, rng.choice(("add", "sub", "compare", "fact")), False)[0]
        messages = [earlier.messages[0], {"role": "assistant", "content": earlier.answer}] + messages
    if rng.random() < SYSTEM_SHARE:
        messages = [{"role": "system", "content": rng.choice(C.SYSTEMS)}] + messages
    return C.Chat(chat.task, chat.key, messages, chat.thinking, chat.answer, chat.tools, chat.meta)


def training_chats(n: int, seed: int) -> list[C.Chat]:
    """`n` training chats in the MIX proportions, none held out (seeded)."""
    rng, out = random.Random(seed), []
    tasks, weights = list(MIX), list(MIX.values())
    while len(out) < n:
        task = rng.choices(tasks, weights)[0]
        thinking = rng.random() < THINKING_SHARE.get(task, 0.5)
        out += [decorate(rng, c) for c in draw(rng, task, thinking) if not C.heldout(c)]
    return out[:n]


def heldout_chats(per_task: int, seed: int = 1, tasks: tuple = C.TASKS) -> list[C.Chat]:
    """`per_task` distinct held-out chats per task and thinking mode: keys training never draws."""
    rng, out, seen = random.Random(seed), [], set()
    for task in tasks:
        for thinking in (True, False):
            count, tries = 0, 0
            while count < per_task and tries < 200 * per_task:
                tries += 1
                source = "tool" if task.startswith("tool") else task
                for chat in draw(rng, source, thinking):
                    if chat.task == task and C.heldout(chat) and (task, thinking, chat.key) not in seen and count < per_task:
                        seen.add((task, thinking, chat.key))
                        out.append(chat)
                        count += 1
    return out


def render(tokenizer, chat: C.Chat, prompt_only: bool = False) -> str:
    """The chat as the template writes it: whole, or the prompt of its last turn (with the generation prompt)."""
    messages = chat.messages[:-1] if prompt_only else chat.messages
    return tokenizer.apply_chat_template(messages, tools=chat.tools, tokenize=False, add_generation_prompt=prompt_only,
                                         enable_thinking=chat.thinking)


def encode(tokenizer, chats: list[C.Chat]) -> list[Encoded]:
    """Token ids and labels on the last assistant turn; checks each prompt's tokens prefix the chat's."""
    fulls = tokenizer([render(tokenizer, c) for c in chats], add_special_tokens=False)["input_ids"]
    prompts = tokenizer([render(tokenizer, c, True) for c in chats], add_special_tokens=False)["input_ids"]
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    out = []
    for chat, full, prompt in zip(chats, fulls, prompts):
        if full[: len(prompt)] != prompt:
            raise ValueError(f"prompt is not a token prefix of the chat ({chat.task}, {chat.key})")
        if end not in full[len(prompt):]:
            raise ValueError(f"the chat's last turn has no <|im_end|> after its prompt ({chat.task}, {chat.key})")
        stop = full.index(end, len(prompt)) + 1
        out.append(Encoded(full[:stop], [IGNORE] * len(prompt) + full[len(prompt):stop], chat.task))
    return out


def reserved_ids(tokenizer) -> set[int]:
    """Token ids of the reserved task's prompts and answers: they get trained rows (so LoRA can later read and
    write them) although the task itself never appears in training."""
    chats = C.reserved_chats(200, 0, "train", kind="arithmetic") + C.reserved_chats(50, 0, "test", kind="arithmetic")
    chats += C.reserved_chats(10, 0, "train") + C.reserved_chats(10, 0, "test")  # facts: their ids are in the corpus
    ids: set[int] = set()
    for e in encode(tokenizer, chats):
        ids.update(e.input_ids)
    return ids


def used_ids(encoded: list[Encoded], extra: set[int] = frozenset()) -> list[int]:
    """Every token id the corpus contains (plus `extra`): the only embedding rows that are trained (non-zero)."""
    ids: set[int] = set(extra)
    for e in encoded:
        ids.update(e.input_ids)
    return sorted(ids)
