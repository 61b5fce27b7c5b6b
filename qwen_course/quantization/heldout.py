"""Drift that means something: each method against the reference precision on held-out chats of a trained model.

Teacher-forced: each chat's correct answer is fed whole, and at every answer token the method's next-token
distribution is compared with the reference model's (top-1 agreement, mean KL per answer token), the way the trained
stand-in's own int8 record is taken (`offline/trained/measure.py`). Only the answer positions go through `lm_head`
(`logits_to_keep`): with a 151,936-token vocabulary that projection is most of a small model's work. Greedy accuracy
is the other half: `accuracy` and `same_answers` read the rows of `trained.score`. No torch import at module level.
"""

from __future__ import annotations

from ..precision import METHODS, availability
from .measure import drift

# The methods lesson 03 measures on held-out chats by default, per device: the 16-bit format, the int8 and the 4-bit
# route that device runs well (bitsandbytes on a CPU was many times slower here; pass its keys to measure it).
DEFAULT_METHODS = {
    "cpu": ("bf16", "ao-dynamic-int8", "torchao-int4"),
    "cuda": ("fp16", "bnb-int8", "bnb-nf4"),
    "mps": ("fp16", "quanto-int8"),
}
STORED = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
ROWS = 16  # answer tokens compared at once: fast on a busy 2-core CPU and in little memory (measured, lesson 03)
BITS = {"fp32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8, "int4": 4}


def reference_method(path: str) -> str:
    """The method that loads a checkpoint exactly as it is stored (its config's dtype): the reference for the others."""
    from transformers import AutoConfig

    dtype = str(getattr(AutoConfig.from_pretrained(path), "dtype", None)).replace("torch.", "")
    if dtype not in STORED:
        raise ValueError(f"{path} is stored as {dtype}; a reference needs fp32, bf16 or fp16 weights")
    return STORED[dtype]


def heldout_methods(hardware=None, reference: str = "bf16", keys=None) -> list[str]:
    """The methods to compare with `reference` here, most bits first: `keys` or this device's defaults, less those
    that cannot run here."""
    device = getattr(hardware, "device", None) or "cpu"
    keys = DEFAULT_METHODS.get(device, ()) if keys is None else keys
    runs = [k for k in dict.fromkeys(keys) if k != reference and availability(k, hardware)[0]]
    return sorted(runs, key=lambda k: -BITS[METHODS[k].precision])  # most bits first: where does accuracy drop?


def answer_ids(tokenizer, chat) -> tuple[list[int], int]:
    """The chat rendered by its template, cut before the answer's <|im_end|>, and how many answer tokens it predicts."""
    from ..offline.trained.dataset import IGNORE, encode

    encoded = encode(tokenizer, [chat])[0]  # the training labels: the answer's tokens, <|im_end|> included
    return encoded.input_ids[:-1], sum(label != IGNORE for label in encoded.labels)


def answer_logits(model, tokenizer, chats):
    """fp32 next-token logits at the answer positions of each chat (row i predicts answer token i), one tensor per
    chat, lazily: `list()` them to keep a reference, or pass them straight to `answer_drift` (one chat in memory)."""
    import torch

    for chat in chats:
        ids, n = answer_ids(tokenizer, chat)
        with torch.no_grad():  # not inference_mode: optimum-quanto's int4 unpacking fails on inference tensors
            logits = model(input_ids=torch.tensor([ids], device=model.device), logits_to_keep=n).logits
        yield logits[0].float().cpu()


def answer_drift(reference: list, logits) -> dict:
    """Top-1 agreement and mean KL(reference || method) in nats over all answer tokens, and how many tokens that is."""
    logits = iter(logits)
    tokens = agree = kl = 0.0
    for ref in reference:
        got = next(logits, None)
        if got is None:
            raise ValueError("fewer logits tensors than reference chats")
        if got.shape != ref.shape:
            raise ValueError(f"logits shapes differ: reference {tuple(ref.shape)} vs {tuple(got.shape)}")
        if got is ref:  # the reference itself: agreement 1 and KL 0 by definition, without a pass over the vocabulary
            tokens, agree = tokens + ref.shape[0], agree + ref.shape[0]
            continue
        for i in range(0, ref.shape[0], ROWS):  # a few tokens at a time: fp64 copies of 151,936 logits are large
            d, n = drift(ref[i:i + ROWS], got[i:i + ROWS]), ref[i:i + ROWS].shape[0]
            tokens, agree, kl = tokens + n, agree + d["top1_agreement"] * n, kl + d["kl"] * n
    if next(logits, None) is not None:
        raise ValueError("more logits tensors than reference chats")
    if not tokens:
        raise ValueError("no answer tokens to compare")
    return {"top1_agreement": agree / tokens, "kl": kl / tokens, "answer_tokens": int(tokens)}


def accuracy(rows: list[dict]) -> dict:
    """Share correct of scored replies (`trained.score` rows): overall and per thinking mode (None if it has none)."""
    if not rows:
        raise ValueError("no scored replies")
    out = {"accuracy": sum(r["correct"] for r in rows) / len(rows)}
    for mode, flag in (("thinking", True), ("direct", False)):
        mine = [r["correct"] for r in rows if r["thinking"] == flag]
        out[f"accuracy {mode}"] = sum(mine) / len(mine) if mine else None
    return out


def same_answers(rows: list[dict], reference_rows: list[dict]) -> int:
    """How many chats got exactly the reference method's visible answer: did the method change any answer?"""
    if len(rows) != len(reference_rows) or not rows:
        raise ValueError(f"need the same chats on both sides, got {len(rows)} and {len(reference_rows)}")
    return sum(a["answer"] == b["answer"] for a, b in zip(rows, reference_rows))
