"""Measure what a quantization method costs and buys on one model: memory, speed and drift from the fp32 reference.

`memory.loaded_bytes` counts what the loaded weights really occupy (quantized tensors, scales and packed params
included, tied tensors once). `speed` times `model.generate` with the course monitor after a warm-up and takes medians.
`drift` compares next-token distributions with the reference over a shipped text. Nothing here imports torch at
module level.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

# A paragraph written for the course, used as the shared text for drift and perplexity.
DRIFT_TEXT = (
    "A lighthouse keeper kept a notebook of every ship that passed the point. On calm mornings he wrote the names "
    "in neat columns; on stormy nights he wrote only the time and the colour of the lights. Over forty years the "
    "notebook grew into twelve volumes. When the lighthouse was automated, the harbour museum asked for the books. "
    "Visitors now read them to learn which ships were lost, which came back, and how the keeper's handwriting "
    "changed with the weather. The last entry, dated the morning he left, says only: fog lifting, sea quiet, "
    "lamp cleaned and ready for whoever comes next."
)


def text_ids(tokenizer, text: str = DRIFT_TEXT, max_tokens: int | None = None):
    """The shipped text as a (1, n) tensor of token ids."""
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    return ids[:, :max_tokens] if max_tokens else ids


def next_token_logits(model, ids):
    """fp32 logits for every position of `ids` (row i predicts token i+1)."""
    import torch

    with torch.no_grad():  # not inference_mode: optimum-quanto's int4 unpacking fails on inference tensors
        return model(ids.to(model.device)).logits[0, :-1].float().cpu()


_REFERENCE: dict = {}  # the last reference's fp64 log-probabilities and probabilities, while that tensor lives


def _reference_logp(reference):
    """fp64 (log p, p) of the reference, computed once per reference tensor: a comparison reuses it for every method."""
    import weakref

    import torch

    cached = _REFERENCE.get("ref")
    if cached is None or cached() is not reference:
        logp = torch.log_softmax(reference.double(), -1)
        _REFERENCE.clear()
        _REFERENCE.update(ref=weakref.ref(reference, lambda _: _REFERENCE.clear()), logp=logp, p=logp.exp())
    return _REFERENCE["logp"], _REFERENCE["p"]


def drift(reference, logits) -> dict:
    """How far a method's next-token distributions are from the reference: top-1 agreement and mean KL (nats)."""
    import torch

    if reference.shape != logits.shape:
        raise ValueError(f"logits shapes differ: reference {tuple(reference.shape)} vs {tuple(logits.shape)}")
    ref_logp, ref_p = _reference_logp(reference)
    terms = torch.log_softmax(logits.double(), -1).sub_(ref_logp).neg_().mul_(ref_p)  # p_ref * (log p_ref - log p)
    kl = terms.sum(-1).mean()
    top1 = (reference.argmax(-1) == logits.argmax(-1)).double().mean()
    return {"top1_agreement": float(top1), "kl": max(0.0, float(kl))}


def perplexity(logits, ids) -> float:
    """exp(mean cross-entropy) of the text under the model: meaningful only for real trained weights."""
    import torch

    targets = ids[0, 1:1 + logits.shape[0]]
    return float(math.exp(torch.nn.functional.cross_entropy(logits, targets).item()))


def speed(model, ids, new_tokens: int = 16, repeats: int = 3, monitor=None) -> dict:
    """Median time to first token and decode tokens/s of greedy `generate`, after one warm-up call."""
    from ..monitor import Monitor

    monitor = monitor or Monitor(gpu=None)
    ids = ids.to(model.device)
    mask = ids.new_ones(ids.shape)
    model.generate(ids, attention_mask=mask, generation_config=greedy_config(model, 2))  # warm-up: kernels, allocations
    ttft, gaps = [], []
    for _ in range(max(1, repeats)):
        with monitor.track("quantization") as tracker:
            model.generate(ids, attention_mask=mask, generation_config=greedy_config(model, new_tokens),
                           streamer=tracker.streamer)
        ttft.append(tracker.metrics.ttft_s)
        gaps.extend(tracker.metrics.inter_token_s)
    gap = statistics.median(gaps) if gaps else None
    return {"ttft_s": statistics.median(ttft), "decode_tokens_per_s": (1 / gap) if gap else None}


def greedy_config(model, new_tokens: int):
    """Greedy decoding of exactly `new_tokens` tokens; the sampling values are neutral so none is flagged as unused."""
    from transformers import GenerationConfig

    eos = model.generation_config.eos_token_id
    pad = eos[0] if isinstance(eos, list) else eos
    return GenerationConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, temperature=1.0,
                            top_p=1.0, top_k=50, eos_token_id=eos, pad_token_id=pad)


@dataclass
class Result:
    """One method measured on one model (or why it could not run here)."""

    method: str
    label: str
    precision: str
    ran: bool
    reason: str = ""
    weights_bytes: int | None = None
    estimate_bytes: int | None = None
    load_s: float | None = None
    ttft_s: float | None = None
    decode_tokens_per_s: float | None = None
    top1_agreement: float | None = None
    kl: float | None = None
    perplexity: float | None = None
    extra: dict = field(default_factory=dict)

    def row(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        data.update(self.extra)
        return data
