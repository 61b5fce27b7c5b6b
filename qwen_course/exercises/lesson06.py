"""Checks for lesson 06 (LoRA fine-tuning): splits, label masks, LoRA sizing, steps, own tickets, adapters, sharding."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ._check import CheckResult, check, whole_number

IGNORE = -100


def _prompts(split) -> set[str]:
    return {ex["messages"][0]["content"] for ex in split}


def check_split_overlap(answer, train, validation) -> CheckResult:
    """Easy: how many user messages (tickets) appear word for word in both the training and the validation split?

    The message then says what the number means: it also compares the ticket bodies (the problem sentence with its
    details, without greeting and closing), because identical texts are not the only way a split leaks."""
    from ..finetune import body_of

    train_texts, val_texts = _prompts(train), _prompts(validation)
    shared = len(train_texts & val_texts)
    train_bodies = {body_of(ex) for ex in train}
    repeated = sum(body_of(ex) in train_bodies for ex in validation)  # validation tickets whose body is in training

    def meaning() -> str:
        if repeated == 0:  # no shared body, so no identical text either
            return ("No ticket body is shared either, so validation measures the routing of tickets the model has not "
                    "trained on; they use the same problem sentences with other details (orders, products, months...), "
                    "so new phrasings are a separate test.")
        said = []
        if shared:
            said.append(f"those {shared} are tickets the model trains on, so a score on them measures memory")
        if repeated > shared:
            said.append(f"{repeated - shared} {'more ' if shared else ''}of the {len(validation)} validation tickets "
                        "repeat a training ticket's body with another greeting or closing, which counting identical "
                        "texts misses")
        text = "; ".join(said)
        return text[0].upper() + text[1:] + ". Validation then partly measures tickets the model has seen."

    def verify(value):
        n = whole_number(value)
        if n == shared:
            found = f"{shared} ticket texts occur" if shared else "no ticket text occurs"
            return True, f"right: {found} word for word in both splits. {meaning()}"
        if n == repeated:
            return False, (f"{n} counts shared ticket bodies (without greeting and closing); the question asks for "
                           "identical user messages.")
        sizes = {len(val_texts): "the validation split's size", len(train_texts): "the training split's size",
                 len(train_texts | val_texts): "the size of the union of both splits"}
        if n in sizes:
            return False, f"{n} is {sizes[n]}, not the overlap: intersect the two sets (&)."
        return False, f"{n} is not the number of user messages in both splits."

    return check("split overlap", answer, verify,
                 "Collect each split's user messages (messages[0]['content']) in a set and intersect the sets.")


def check_trained_text(answer, tokenizer, example) -> CheckResult:
    """Easy: decode exactly the tokens whose label is not -100."""
    trained = [tok for tok, lab in zip(example["input_ids"], example["labels"]) if lab != IGNORE]
    expected = tokenizer.decode(trained)

    everything = tokenizer.decode(example["input_ids"])
    ignored = tokenizer.decode([tok for tok, lab in zip(example["input_ids"], example["labels"]) if lab == IGNORE])

    def verify(text):
        if not isinstance(text, str):
            return False, f"expected the decoded text (a string), got {type(text).__name__}."
        if text == expected:
            return True, f"right: the loss only sees {expected!r}, the reply and the end-of-turn token that stops it."
        if text.strip() == expected.replace("<|im_end|>", "").strip():
            return False, "close: the reply is right, but the end-of-turn token is trained too (keep special tokens)."
        if text == everything:
            return False, "that is the whole example; keep only the tokens whose label is not -100."
        if text == ignored:
            return False, "that is the part the loss ignores (label -100); keep the other tokens."
        return False, f"{text!r} is not what the labels train."

    return check("trained text", answer, verify,
                 "Keep input_ids[i] where labels[i] != -100, then tokenizer.decode(...) without skipping special tokens.")


def check_lora_rank(answer, model_id: str, budget_mb: float, target_modules="all-linear",
                    ranks=(4, 8, 16, 32, 64, 128, 256)) -> CheckResult:
    """Medium: the largest rank in `ranks` whose adapter training state (16 bytes/parameter) fits `budget_mb`."""
    from ..finetune import adapter_training_bytes, lora_parameters

    fitting = [r for r in ranks if adapter_training_bytes(lora_parameters(model_id, r, target_modules)) <= budget_mb * 1e6]
    expected = max(fitting) if fitting else None

    def verify(rank):
        rank = whole_number(rank)
        if rank not in ranks:
            return False, f"choose one of the ranks {list(ranks)}."
        need = adapter_training_bytes(lora_parameters(model_id, rank, target_modules)) / 1e6
        if rank == expected:
            return True, f"right: rank {rank} needs {need:.0f} MB of the {budget_mb:g} MB budget; twice the rank would not fit."
        if need > budget_mb:
            return False, f"rank {rank} needs {need:.0f} MB, more than the {budget_mb:g} MB budget."
        return False, f"rank {rank} fits ({need:.0f} MB) but a larger rank from {list(ranks)} fits too."

    return check("LoRA rank for a memory budget", answer, verify,
                 "finetune.lora_parameters(model_id, rank, target_modules) counts the adapter; "
                 "finetune.adapter_training_bytes(...) turns it into bytes (weights + gradients + AdamW moments).")


def check_steps_per_epoch(answer, examples: int, batch_size: int, grad_accum: int) -> CheckResult:
    """Easy: optimizer steps for one pass over `examples` with this batch size and gradient accumulation."""
    expected = math.ceil(examples / (batch_size * grad_accum))

    def verify(value):
        steps = whole_number(value)
        if steps == expected:
            return True, f"right: {examples} examples / ({batch_size} x {grad_accum}) per step = {expected} steps."
        if steps == math.ceil(examples / batch_size) and grad_accum > 1:
            return False, "that counts forward passes; with gradient accumulation one optimizer step takes several."
        if steps == examples // (batch_size * grad_accum):
            return False, "that drops the last, partial step: round up."
        if steps == math.ceil(examples / grad_accum) and batch_size > 1:
            return False, "that leaves out the batch size: one step consumes batch_size x grad_accum examples."
        return False, f"{steps} steps is not one pass over {examples} examples."

    return check("steps per epoch", answer, verify,
                 "One optimizer step consumes batch_size x grad_accum examples; round up the last partial step.")


def _shipped_sentences() -> list[str]:
    """The fixed part of every shipped problem sentence (the text before its first blank), lower-cased."""
    from ..finetune import phrases

    return [s.split("{")[0].strip().lower() for sentences in phrases()["categories"].values() for s in sentences]


def check_own_tickets(answer, train=()) -> CheckResult:
    """Stretch: at least 10 tickets in the learner's own words, in the dataset's format, none using a shipped sentence."""
    from ..finetune import CATEGORIES, PRIORITIES, PROMPT
    from ..finetune import answer as reply_for

    seen, shipped, prefix = _prompts(train), _shipped_sentences(), PROMPT.format(text="")

    def verify(examples):
        if isinstance(examples, dict):
            return False, "give a list of examples, one finetune.make_example(...) per ticket."
        examples = list(examples)
        if len(examples) < 10:
            return False, f"{len(examples)} tickets are too few to read an accuracy from; write at least 10."
        texts = [ex["messages"][0]["content"] for ex in examples]
        if len(set(texts)) < len(texts):
            return False, "some tickets are repeated: write 10 different ones."
        for ex in examples:
            roles = [m["role"] for m in ex["messages"]]
            if roles != ["user", "assistant"]:
                return False, f"each example needs a user and an assistant message, got {roles}."
            content = ex["messages"][0]["content"]
            if not content.startswith(prefix):
                return False, f"{content!r} is not in the dataset's format: the user message starts {prefix!r}."
            reply = json.loads(ex["messages"][1]["content"])
            if reply.get("category") not in CATEGORIES or reply.get("priority") not in PRIORITIES:
                return False, f"{reply} is outside the schema: categories {CATEGORIES}, priorities {PRIORITIES}."
            if ex["messages"][1]["content"] != reply_for(reply["category"], reply["priority"]):
                return False, (f"{ex['messages'][1]['content']!r} is not written the way the model learned it: "
                               f"{reply_for(reply['category'], reply['priority'])!r} (exact match compares strings).")
            if content in seen or any(s and s in content.lower() for s in shipped):
                return False, f"{content!r} reuses a training phrase; use your own words."
        return True, f"{len(examples)} tickets in your own words: now measure the model on them."

    return check("own tickets", answer, verify,
                 "finetune.make_example('Ticket text.', 'billing', 'high') builds one example in the dataset's format.")


def check_adapter_config(answer, adapter_dir) -> CheckResult:
    """Medium: read the saved adapter's rank and base model from adapter_config.json."""
    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())
    expected = {"r": config["r"], "base_model_name_or_path": config["base_model_name_or_path"]}

    def verify(found):
        if not isinstance(found, dict):
            return False, "answer with a dict: {'r': ..., 'base_model_name_or_path': ...}."
        if "r" in found and found["r"] != config["r"] and found["r"] == config.get("lora_alpha"):
            return False, "that r is lora_alpha, the scaling factor; the rank is the key 'r'."
        wrong = [k for k in expected if found.get(k) != expected[k]]
        if wrong:
            return False, f"{' and '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not match the saved adapter_config.json."
        return True, "right: the adapter records its rank and the base model it must be loaded onto."

    return check("adapter config", answer, verify,
                 "json.load the adapter_config.json in the adapter folder; the keys are 'r' and 'base_model_name_or_path'.")


def gpus_for_full_finetune(parameters: int, gpu_gb: float, usable: float = 0.8, bytes_per_param: int = 16) -> int:
    """GPUs FSDP needs to shard a full fine-tune's weights, gradients and AdamW state (activations not counted)."""
    return math.ceil(parameters * bytes_per_param / (gpu_gb * 1e9 * usable))


def check_fsdp_gpus(answer, model_id: str, gpu_gb: float) -> CheckResult:
    """Stretch: how many `gpu_gb` GPUs does FSDP need for a full fine-tune (16 bytes/param, 80 % of each GPU usable)?"""
    from .. import catalog

    parameters = catalog.param_count(model_id).total
    expected = gpus_for_full_finetune(parameters, gpu_gb)

    need, usable = parameters * 16 / 1e9, gpu_gb * 0.8

    def verify(value):
        n = whole_number(value)
        if n == expected:
            return True, (f"right: {parameters / 1e9:.1f}B parameters x 16 bytes = {need:.0f} GB, "
                          f"over {expected} GPUs of {gpu_gb:g} GB (80 % usable each).")
        if n < 1:
            return False, f"{n} GPUs cannot hold anything."
        if n == math.ceil(parameters * 2 / (gpu_gb * 1e9 * 0.8)):
            return False, "that fits the bf16 weights only; training also keeps gradients and AdamW state (16 bytes)."
        if n < expected:
            return False, (f"{n} GPUs hold {n * usable:.0f} GB (80 % of {gpu_gb:g} GB each), less than the {need:.0f} GB "
                           "of weights, gradients and AdamW state: round up.")
        return False, f"{n} GPUs is more than the {need:.0f} GB need at {usable:.0f} GB per GPU."

    return check("GPUs for a sharded full fine-tune", answer, verify,
                 "parameters x 16 bytes (bf16 weights and gradients, fp32 master weights and two AdamW moments), "
                 "divided by 80 % of one GPU's memory, rounded up.")


def json_score_cases(reference: str) -> list[tuple[str, bool, str]]:
    """Replies to one reserved-task question: (reply, right?, what it tests), built from the reference JSON answer
    (two keys: the question restated, a string such as the model's name, then the answer, a number)."""
    want = json.loads(reference)
    (first, named), (key, value) = list(want.items())
    return [
        (reference, True, "the reference itself"),
        (json.dumps({key: value, first: named}), True, "the same object with the keys in another order"),
        (json.dumps(want, separators=(",", ":")), True, "the same object without spaces"),
        (json.dumps({first: named, key: value + 1}), False, f"a wrong {key}"),
        (json.dumps({first: named + "0", key: value}), False, f"a wrong {first}"),
        (json.dumps({first: named, key: str(value)}), False, f"the {key} as a string, not a number"),
        (json.dumps({**want, "note": "easy"}), False, "an extra key"),
        (json.dumps({key: value}), False, "a missing key"),
        (f"{named}: {value}.", False, "the right answer, but not JSON"),
        (reference + " Done.", False, "JSON followed by more text"),
        (json.dumps([named, value]), False, "a JSON list, not an object"),
    ]


def check_json_score(answer, chat) -> CheckResult:
    """Medium: a scorer `answer(text, reference) -> bool` that agrees with the course's reserved-task scorer."""
    cases = json_score_cases(chat.answer)  # tests/test_finetune.py checks them against offline.trained.reserved_score

    def verify(score):
        if not callable(score):
            return False, "answer with a function: def my_json_score(text, reference): ... return True or False."
        for text, right, what in cases:
            try:
                got = score(text, chat.answer)
            except Exception as exc:  # noqa: BLE001 - the learner's function, any error
                return False, (f"your function raised {type(exc).__name__} on {text!r} ({what}); a reply that is not the "
                               "right JSON is wrong, not an error: catch json.loads's ValueError and return False.")
            if not isinstance(got, bool):
                return False, f"return True or False, got {got!r} for {text!r}."
            if got != right:
                if right:
                    return False, (f"it rejects {text!r} ({what}); parse both with json.loads and compare the objects, "
                                   "not the strings.")
                return False, f"it accepts {text!r} ({what}), which is wrong."
        return True, (f"right on all {len(cases)} replies: parsed JSON compared as objects, so key order and spacing do "
                      "not matter while every value, its type and the set of keys do.")

    return check("JSON reply scorer", answer, verify,
                 "json.loads the reply inside try/except ValueError, then compare it with json.loads(reference).")
