"""Measurements the lessons quote, taken on the trained stand-in: int8 drift against fp32, and sampling temperature.

int8 is torch.ao's dynamic quantization (the course's CPU int8 route); drift is measured teacher-forced on the
held-out chats' reference answers (mean KL(fp32 || int8) per answer token, top-1 agreement) and by accuracy.
Temperature: several samples per held-out prompt with plain temperature sampling (no top-k/top-p, so the tail shows).
"""

from __future__ import annotations

from . import dataset as D
from . import gate as E


def _answer_logprobs(model, tokenizer, chats) -> list:
    """Log-probabilities at each answer position (teacher-forced on the reference chat), one tensor per chat."""
    import torch

    out = []
    with torch.no_grad():
        for e in D.encode(tokenizer, chats):
            ids = torch.tensor([e.input_ids])
            logits = model(input_ids=ids).logits[0, :-1].float()
            keep = torch.tensor(e.labels[1:]) != D.IGNORE
            out.append(torch.log_softmax(logits[keep], dim=-1))
    return out


def int8_drift(model, tokenizer, per_task: int = 6, eval_per_task: int = 10) -> dict:
    """Mean KL, top-1 agreement and held-out accuracy of torch.ao dynamic int8 against the fp32 model."""
    import copy

    import torch

    qmodel = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    chats = D.heldout_chats(per_task, seed=2)
    ref, got = _answer_logprobs(model, tokenizer, chats), _answer_logprobs(qmodel, tokenizer, chats)
    kl = torch.cat([(r.exp() * (r - g)).sum(-1) for r, g in zip(ref, got)])
    agree = torch.cat([r.argmax(-1) == g.argmax(-1) for r, g in zip(ref, got)]).float()
    accuracy = {}
    for name, m in (("fp32", model), ("int8", qmodel)):
        result, _ = E.evaluate(m, tokenizer, eval_per_task, seed=3)
        accuracy[name] = {mode: result[mode]["all"]["correct"] for mode in result}
    return {"method": "torch.ao.quantization.quantize_dynamic(nn.Linear, qint8)", "answer_tokens": len(kl),
            "mean_kl": round(kl.mean().item(), 6), "top1_agreement": round(agree.mean().item(), 4),
            "accuracy": accuracy}  # fmt: skip


def temperatures(model, tokenizer, used: list[int], temps=(0.7, 1.5), samples: int = 5, per_task: int = 4,
                 seed: int = 0) -> dict:  # fmt: skip
    """Per temperature: distinct visible answers per `samples` samples, share correct, share of sampled tokens
    that come from the unused (all-zero) vocabulary rows."""
    import torch

    chats = D.heldout_chats(per_task, seed=4)
    repeated = [c for c in chats for _ in range(samples)]
    used_set = set(used)
    out = {}
    for t in temps:
        torch.manual_seed(seed)
        replies = E.generate(model, tokenizer, repeated, batch_size=40, do_sample=True, temperature=t, top_p=1.0,
                             top_k=0)  # fmt: skip
        rows = E.score(repeated, replies)
        groups = [rows[i:i + samples] for i in range(0, len(rows), samples)]
        tokens = [tok for r in replies for tok in r["ids"]]
        out[str(t)] = {
            "distinct_answers_per_prompt": round(sum(len({r["answer"] for r in g}) for g in groups) / len(groups), 3),
            "correct": round(sum(r["correct"] for r in rows) / len(rows), 4),
            "stop": round(sum(r["stop"] for r in rows) / len(rows), 4),
            "unused_row_token_share": round(sum(tok not in used_set for tok in tokens) / max(1, len(tokens)), 4),
            "prompts": len(groups), "samples_per_prompt": samples,
        }
    return out
