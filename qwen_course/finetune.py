"""Fine-tuning helpers for lesson 06: the support-ticket dataset, assistant-only labels, LoRA presets, exact match.

The lesson writes the transformers / PEFT / TRL calls itself; this module prepares data, sizes the run, measures and
plots.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from ._display import Table, html_table, text_table
from ._paths import data_path, load_json

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


def make_example(text: str, category: str, priority: str) -> dict:
    """One chat: a ticket from the user, the JSON routing from the assistant; "kind" is the category."""
    return {"messages": [{"role": "user", "content": PROMPT.format(text=text)},
                         {"role": "assistant", "content": answer(category, priority)}], "kind": category}


def write_ticket(rng: random.Random, sentence: str, urgent: bool) -> str:
    """Opener, the problem sentence with its blanks filled, and a closing that sets the priority."""
    parts, fillers = phrases(), phrases()["fillers"]
    values = {k: rng.randint(*v) if isinstance(v[0], int) else rng.choice(v) for k, v in fillers.items()}
    body = sentence.format(**values)
    body = body[0].upper() + body[1:] + ("?" if body.split()[0].lower() in QUESTION_WORDS else ".")
    closing = rng.choice(parts["urgent_closings" if urgent else "calm_closings"])
    return " ".join(x for x in (rng.choice(parts["openers"]), body, closing) if x)


def generate(n: int, seed: int = 0, categories: dict | None = None, exclude: set | None = None) -> list[dict]:
    """`n` distinct tickets, cycling through categories and priorities evenly (seeded); none whose text is in `exclude`.

    `categories` maps a category to its problem sentences (default: the shipped ones).
    """
    categories = categories or phrases()["categories"]
    rng, names, seen, out = random.Random(seed), list(categories), set(exclude or ()), []
    for _ in range(200 * n):
        if len(out) == n:
            break
        category = names[len(out) % len(names)]
        urgent = (len(out) // len(names)) % 2 == 1
        text = write_ticket(rng, rng.choice(categories[category]), urgent)
        if text not in seen:
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
    """Regenerate the shipped JSONL files: seeded, categories and priorities balanced, no ticket text in both splits."""
    parts = {"train": generate(train, seed=seed)}
    parts["validation"] = generate(validation, seed=seed + 1, exclude={_text(ex) for ex in parts["train"]})
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


# ---------------------------------------------------------------- LoRA presets per machine
@dataclass(repr=False)
class LoraPreset(Table):
    """LoRA and training settings sized for one machine (data/finetune/presets.json); `why` says how it was chosen."""

    name: str
    model_id: str
    rank: int
    alpha: int
    dropout: float
    target_modules: str | list
    batch_size: int
    grad_accum: int
    learning_rate: float
    max_steps: int
    max_length: int
    precision: str
    load_in_4bit: bool
    gradient_checkpointing: bool
    eval_steps: int
    save_steps: int
    train_answer_tokens: bool = False
    why: str = ""
    _title = "LoRA preset"

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum

    def _rows(self):
        rows = [(k, v) for k, v in asdict(self).items() if k != "why"]
        return rows + [("effective batch", self.effective_batch), ("why", self.why)]

    def __repr__(self) -> str:
        return str(self)


def _preset_table() -> dict:
    return load_json(f"{DATA}/presets.json")


def preset_name(hardware, stand_in: str | None = None) -> str:
    """Which preset fits: the tiny stand-in's own, else by device and accelerator memory."""
    if stand_in:
        return "tiny-stand-in"
    if hardware.device != "cuda":
        return "mps" if hardware.device == "mps" else "cpu"
    memory_gb = (hardware.accelerator_memory_total or hardware.usable_memory) / 1e9
    for name, limit in _preset_table()["cuda_by_memory_gb"]:
        if memory_gb <= limit:
            return name
    return _preset_table()["cuda_by_memory_gb"][-1][0]


def preset(hardware=None, stand_in: str | None = None, model_id: str | None = None) -> LoraPreset:
    """The LoRA preset for this machine (detected if None); `stand_in` (a Pick's offline kind) selects the tiny run."""
    if hardware is None:
        from .hardware import detect

        hardware = detect()
    name = preset_name(hardware, stand_in)
    spec = dict(_preset_table()["presets"][name])
    if hardware.device == "cuda" and spec["precision"] == "bf16" and not hardware.bf16_fast:
        spec["precision"], spec["why"] = "fp16", spec["why"] + " fp16 because this GPU has no fast bf16."
    if model_id:
        spec["model_id"] = model_id
    return LoraPreset(name=name, **spec)


def lora_parameters(model_id: str, rank: int, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")) -> int:
    """Parameters a LoRA adapter adds to a catalog model: rank * (in + out) for each targeted linear layer."""
    from . import catalog

    cfg = catalog.get(model_id).text_config
    hidden, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    head_dim = cfg.get("head_dim") or hidden // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * head_dim, cfg["num_key_value_heads"] * head_dim
    shapes = {"q_proj": (hidden, q), "k_proj": (hidden, kv), "v_proj": (hidden, kv), "o_proj": (q, hidden),
              "gate_proj": (hidden, inter), "up_proj": (hidden, inter), "down_proj": (inter, hidden)}
    targets = list(shapes) if target_modules == "all-linear" else list(target_modules)
    unknown = [t for t in targets if t not in shapes]
    if unknown:
        raise ValueError(f"unknown target modules {unknown}; choose from {list(shapes)} or 'all-linear'")
    return layers * sum(rank * sum(shapes[t]) for t in targets)


BYTES_PER_TRAINED_PARAM = 16  # fp32 weight + fp32 gradient + two fp32 Adam moments


def adapter_training_bytes(parameters: int) -> int:
    """Memory the adapter's training state takes (weights, gradients, AdamW moments), activations not included."""
    return parameters * BYTES_PER_TRAINED_PARAM


def sharding_table(model_id: str, gpus: int, rank: int = 16, target_modules="all-linear") -> _Rows:
    """Training memory (weights + gradients + optimizer, no activations) per GPU: one GPU, DDP copies, FSDP shards."""
    from . import catalog

    params = catalog.param_count(model_id).total
    lora = adapter_training_bytes(lora_parameters(model_id, rank, target_modules))
    plans = {"full fine-tune (16 B/param)": params * BYTES_PER_TRAINED_PARAM,
             f"LoRA r={rank} on a bf16 base (2 B/param + adapter)": params * 2 + lora}
    gb = lambda n: f"{n / 1e9:.1f} GB"  # noqa: E731
    rows = [(what, gb(total), gb(total), gb(total / gpus)) for what, total in plans.items()]
    return _Rows(f"{model_id}: training state per GPU", ("method", "1 GPU", f"DDP, {gpus} GPUs (each)",
                                                           f"FSDP, {gpus} GPUs (each)"), rows)


# ---------------------------------------------------------------- measuring: exact match before and after
@dataclass(repr=False)
class Accuracy(Table):
    """Exact-match accuracy on a set of examples, overall and per kind, with every prediction kept."""

    label: str
    predictions: list[str]
    expected: list[str]
    kinds: list[str]

    @property
    def correct(self) -> int:
        return sum(p == e for p, e in zip(self.predictions, self.expected))

    @property
    def accuracy(self) -> float:
        return self.correct / len(self.expected) if self.expected else 0.0

    def by_kind(self) -> dict[str, float]:
        out: dict[str, list[int]] = {}
        for p, e, k in zip(self.predictions, self.expected, self.kinds):
            out.setdefault(k, []).append(p == e)
        return {k: sum(v) / len(v) for k, v in sorted(out.items())}

    def by_field(self) -> dict[str, float]:
        """Partial credit: replies that parse as JSON, and each field of the expected JSON that the reply got right."""
        counts: dict[str, int] = {"valid JSON": 0}
        for p, e in zip(self.predictions, self.expected):
            got, want = _parse(p), json.loads(e)
            counts["valid JSON"] += got is not None
            for key in want:
                counts[f"{key} right"] = counts.get(f"{key} right", 0) + (got is not None and got.get(key) == want[key])
        return {k: v / len(self.expected) for k, v in counts.items()} if self.expected else {}

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Exact match: {self.label}"

    def __repr__(self) -> str:
        return str(self)

    def _rows(self):
        rows = [("exact match", f"{self.accuracy:.1%} ({self.correct}/{len(self.expected)})")]
        return rows + [(k, f"{v:.1%}") for k, v in self.by_field().items()]


def _parse(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def generate_answers(model, tokenizer, examples: list[dict], max_new_tokens: int = 16, batch_size: int = 128,
                     enable_thinking: bool = False) -> list[str]:
    """Greedy replies to each example's prompt (its messages minus the reply), batched with left padding."""
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    answers = []
    try:
        model.eval()
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            prompts = [tokenizer.apply_chat_template(ex["messages"][:-1], tokenize=False, add_generation_prompt=True,
                                                     enable_thinking=enable_thinking) for ex in chunk]
            batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                     top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id)
            new = out[:, batch["input_ids"].shape[1]:]
            answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
    return answers


def exact_match(model, tokenizer, examples: list[dict], label: str = "", **kwargs) -> Accuracy:
    """Generate for every example and score: a reply counts only if it equals the reference exactly."""
    predictions = generate_answers(model, tokenizer, examples, **kwargs)
    expected = [ex["messages"][-1]["content"] for ex in examples]
    return Accuracy(label, predictions, expected, [ex.get("kind", "") for ex in examples])


def compare_accuracy(before: Accuracy, after: Accuracy) -> _Rows:
    """Exact match overall, partial credit per field, and exact match per kind, before and after, as one table."""
    pct = lambda v: f"{v:.1%}"  # noqa: E731
    rows = [("exact match, all", pct(before.accuracy), pct(after.accuracy))]
    bf, af = before.by_field(), after.by_field()
    rows += [(k, pct(bf.get(k, 0)), pct(af.get(k, 0))) for k in af]
    bk, ak = before.by_kind(), after.by_kind()
    rows += [(f"exact match, {k}", pct(bk.get(k, 0)), pct(ak.get(k, 0))) for k in ak]
    return _Rows("Validation accuracy before and after fine-tuning", ("measure", before.label, after.label), rows)


def side_by_side(examples: list[dict], before: Accuracy, after: Accuracy, n: int = 8, width: int = 48) -> _Rows:
    """The first `n` examples, one per kind first, with answers cut to `width` characters."""
    cut = lambda s: s if len(s) <= width else s[: width - 1] + "…"  # noqa: E731
    order, seen = [], set()
    for i, ex in enumerate(examples):  # one of each kind, then the rest
        if ex.get("kind") not in seen:
            seen.add(ex.get("kind"))
            order.append(i)
    order += [i for i in range(len(examples)) if i not in order]
    rows = [(examples[i]["messages"][0]["content"], after.expected[i], cut(before.predictions[i]) or "(empty)",
             cut(after.predictions[i]) or "(empty)", "yes" if after.predictions[i] == after.expected[i] else "no")
            for i in order[:n]]
    header = ("prompt", "expected", "before", "after", "right after?")
    return _Rows("Before and after fine-tuning (validation examples)", header, rows)


def loss_points(log_history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """(step, loss) pairs from a Trainer's log_history: "train" and "validation"."""
    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    val = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    return {"train": train, "validation": val}


def plot_losses(log_history: list[dict], title: str = "LoRA fine-tuning: loss"):
    """Train and validation loss per optimizer step (cross-entropy over the trained tokens, nats per token)."""
    import matplotlib.pyplot as plt

    points = loss_points(log_history)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, style in (("train", "-"), ("validation", "o-")):
        if points[name]:
            steps, losses = zip(*points[name])
            ax.plot(steps, losses, style, label=name)
    ax.set(title=title, xlabel="optimizer step", ylabel="loss (nats per trained token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def relative_drop(start: float, end: float) -> float:
    """How much a loss fell, as a fraction of where it started (0.3 = 30 % lower)."""
    if start <= 0 or math.isnan(start):
        raise ValueError(f"a starting loss must be positive, got {start}")
    return (start - end) / start
