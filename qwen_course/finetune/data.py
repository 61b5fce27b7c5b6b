"""The lesson 06 dataset: support tickets -> a fixed JSON schema, and labels that train only the assistant's reply.

Re-exported by `finetune`, which the lesson imports. Importing this module does not import torch.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from .._display import Table, html_table, text_table
from .._paths import data_path, load_json

IGNORE = -100  # the label value PyTorch's cross-entropy skips
END_OF_TURN = "<|im_end|>"  # ChatML: every Qwen turn ends with it, so a reply that should stop must learn it
DATA = "finetune"
SPLITS = ("train", "validation")
PRIORITIES = ("low", "high")
PROMPT = "Ticket: {text}"  # the instruction names no schema: answering in exactly that JSON is the skill we teach
QUESTION_WORDS = ("why", "how", "can", "could")


@dataclass(repr=False)
class _Rows(Table):
    """A titled table with a header row."""

    title: str
    header: tuple
    rows: list

    def _rows(self):
        return self.rows

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_table(self.rows, header=self.header, title=self.title)

    def __str__(self) -> str:
        return self.title + "\n" + text_table(self.rows, header=self.header)


# ---------------------------------------------------------------- the dataset: support tickets -> a fixed JSON schema
def phrases() -> dict:
    """The building blocks of the tickets (data/finetune/ticket_phrases.json)."""
    return load_json(f"{DATA}/ticket_phrases.json")


CATEGORIES = tuple(phrases()["categories"])


def answer(category: str, priority: str) -> str:
    """The one reply that counts as right: compact JSON with the two fields in a fixed order."""
    return json.dumps({"category": category, "priority": priority})


def instructions() -> str:
    """What a prompt must say to get the schema without fine-tuning: the format, the five labels, the priority rule.

    The zero-shot baseline gets exactly this as its system message, so it is told everything the fine-tuned model
    learned from the training labels; a baseline without it would be measured on a task nobody described to it.
    """
    return ("You route customer-support tickets. Reply with one line of JSON and nothing else, exactly in the form "
            f"{answer(CATEGORIES[0], PRIORITIES[0])}. category is one of: {', '.join(CATEGORIES)}. priority is "
            f"{PRIORITIES[1]} when the customer says the matter is urgent, otherwise {PRIORITIES[0]}.")


def with_instructions(examples: list[dict], text: str | None = None) -> list[dict]:
    """The same examples with the task's instructions as a system message first (answers unchanged)."""
    system = {"role": "system", "content": text or instructions()}
    return [{**ex, "messages": [system, *ex["messages"]]} for ex in examples]


def make_example(text: str, category: str, priority: str) -> dict:
    """One chat: a ticket from the user, the JSON routing from the assistant; "kind" is the category."""
    return {"messages": [{"role": "user", "content": PROMPT.format(text=text)},
                         {"role": "assistant", "content": answer(category, priority)}], "kind": category}


def _draw(rng: random.Random, sentence: str, urgent: bool) -> tuple[str, str]:
    """(ticket text, its body): opener, the problem sentence with its blanks filled, a closing that sets the priority."""
    parts, fillers = phrases(), phrases()["fillers"]
    values = {k: rng.randint(*v) if isinstance(v[0], int) else rng.choice(v) for k, v in fillers.items()}
    body = sentence.format(**values)
    body = body[0].upper() + body[1:] + ("?" if body.split()[0].lower() in QUESTION_WORDS else ".")
    closing = rng.choice(parts["urgent_closings" if urgent else "calm_closings"])
    return " ".join(x for x in (rng.choice(parts["openers"]), body, closing) if x), body


def write_ticket(rng: random.Random, sentence: str, urgent: bool) -> str:
    """Opener, the problem sentence with its blanks filled, and a closing that sets the priority."""
    return _draw(rng, sentence, urgent)[0]


def body_of(example: dict) -> str:
    """The problem sentence of a ticket, without its opener and closing (what a split must not share)."""
    text, parts = _text(example), phrases()
    for opener in sorted(parts["openers"], key=len, reverse=True):
        if opener and text.startswith(opener + " "):
            text = text[len(opener) + 1:]
            break
    for closing in sorted(parts["urgent_closings"] + parts["calm_closings"], key=len, reverse=True):
        if closing and text.endswith(" " + closing):
            return text[: -len(closing) - 1]
    return text


def split_of(body: str) -> str:
    """The split a ticket body belongs to, fixed by its hash: one body in five is kept for validation only."""
    return "validation" if int(hashlib.sha256(body.encode()).hexdigest(), 16) % 5 == 0 else "train"


def generate(n: int, seed: int = 0, categories: dict | None = None, exclude: set | None = None,
             split: str | None = None) -> list[dict]:
    """`n` distinct tickets, cycling through categories and priorities evenly (seeded); none whose text is in
    `exclude`; with `split`, only bodies (problem sentence with its details) that `split_of` assigns to it.

    `categories` maps a category to its problem sentences (default: the shipped ones).
    """
    categories = categories or phrases()["categories"]
    rng, names, seen, out = random.Random(seed), list(categories), set(exclude or ()), []
    for _ in range(200 * n):
        if len(out) == n:
            break
        category = names[len(out) % len(names)]
        urgent = (len(out) // len(names)) % 2 == 1
        text, body = _draw(rng, rng.choice(categories[category]), urgent)
        if text not in seen and (split is None or split_of(body) == split):
            seen.add(text)
            out.append(make_example(text, category, PRIORITIES[urgent]))
    if len(out) < n:
        raise ValueError(f"only {len(out)} distinct tickets could be written, asked for {n}")
    rng.shuffle(out)
    return out


def split_file(split: str, folder: Path | None = None) -> Path:
    """Where a split's JSONL lives: the shipped data folder unless `folder` is given."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    name = f"tickets_{split}.jsonl"
    return Path(folder) / name if folder else data_path(f"{DATA}/{name}")


def write_dataset(train: int = 480, validation: int = 120, seed: int = 6, folder: Path | None = None) -> dict[str, Path]:
    """Regenerate the shipped JSONL files: seeded, categories and priorities balanced, and no ticket body (the problem
    with its details) in both splits, so validation measures tickets the model has not seen, not new greetings."""
    parts = {"train": generate(train, seed=seed, split="train"),
             "validation": generate(validation, seed=seed + 1, split="validation")}
    for split, rows in parts.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        split_file(split, folder).write_text(text, encoding="utf-8")
    return {split: split_file(split, folder) for split in parts}


def _text(example: dict) -> str:
    return example["messages"][0]["content"].removeprefix(PROMPT.format(text=""))


def load_split(split: str = "train") -> list[dict]:
    """The shipped examples of one split: dicts with "messages" and "kind"."""
    lines = split_file(split).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# ---------------------------------------------------------------- labels: train on the assistant's reply only
def _ids(tokenizer, messages, **kwargs) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)["input_ids"])


def build_example(tokenizer, messages: list[dict], enable_thinking: bool = False) -> dict:
    """input_ids and labels for a chat ending in an assistant turn: only that reply and its <|im_end|> are trained.

    The prompt is rendered by the model's own chat template exactly as at inference (generation prompt included,
    so Qwen3's empty think block is prompt, not answer); everything before the reply and after its end-of-turn
    token gets label -100.
    """
    if not messages or messages[-1].get("role") != "assistant":
        raise ValueError("the last message must be the assistant's reply to train on")
    prompt = _ids(tokenizer, messages[:-1], add_generation_prompt=True, enable_thinking=enable_thinking)
    full = _ids(tokenizer, messages, enable_thinking=enable_thinking)
    if full[: len(prompt)] != prompt:
        raise ValueError("the chat template does not render the prompt as a prefix of the full chat, "
                         "so the reply cannot be located; check the template's generation prompt")
    reply = full[len(prompt):]
    end = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    keep = reply.index(end) + 1 if end in reply else len(reply)
    labels = [IGNORE] * len(prompt) + reply[:keep] + [IGNORE] * (len(reply) - keep)
    return {"input_ids": full, "labels": labels}


def tokenize(tokenizer, examples: list[dict], **kwargs):
    """A `datasets.Dataset` of input_ids / labels / kind, ready for SFTTrainer (it keeps given labels as they are)."""
    from datasets import Dataset

    rows = [dict(build_example(tokenizer, ex["messages"], **kwargs), kind=ex.get("kind", "")) for ex in examples]
    return Dataset.from_list(rows)


def answer_tokens(tokenizer, examples: list[dict]) -> list[int]:
    """The token ids the replies are made of (with <|im_end|>): the rows PEFT's trainable_token_indices would train."""
    ids: set[int] = set()
    for ex in examples:
        built = build_example(tokenizer, ex["messages"])
        ids.update(tok for tok, lab in zip(built["input_ids"], built["labels"]) if lab != IGNORE)
    return sorted(ids)


def expose_head_bias(model) -> None:
    """Let TRL 1.16's fused LM head read `lm_head.bias` when PEFT 0.21 wraps the head for `trainable_token_indices`.

    On a model with tied embeddings PEFT wraps the output layer too and passes only `.weight` through; TRL reads
    `.weight` and `.bias`. Giving the wrapper its layer's own bias (None for Qwen) changes nothing else.
    """
    head = model.get_output_embeddings()
    if not hasattr(head, "bias") and hasattr(head, "original_module"):
        head.bias = head.original_module.bias


def show_labels(tokenizer, example: dict) -> _Rows:
    """A table of one tokenized example: each token, its id and its label (-100 = not in the loss)."""
    rows = [(i, repr(tokenizer.decode([tok])), tok, lab if lab != IGNORE else "-100 (masked)")
            for i, (tok, lab) in enumerate(zip(example["input_ids"], example["labels"]))]
    trained = sum(lab != IGNORE for lab in example["labels"])
    return _Rows(f"{len(rows)} tokens, {trained} of them trained", ("position", "token", "input id", "label"), rows)
