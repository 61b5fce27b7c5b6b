"""Train the stand-in exactly but cheaply: during training only the embedding rows the corpus uses exist.

With tied embeddings an all-zero row has logit exactly 0 for every input, so the full-vocabulary softmax equals a
softmax over the used rows plus one constant logit log(V - n_used) that stands for all zero rows together. Training
the compact model with that extra logit is therefore exact for the full model, and `compact` rebuilds it.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass

from ..kinds import TRAINED_KIND as KIND, kind
from . import dataset as D
from .fast import hidden_states


@dataclass(frozen=True)
class Recipe:
    """Everything a training run depends on (the model's shape is the kind's config); it goes into the manifest."""

    version: int = 4
    seed: int = 20250429  # Qwen3's release day
    chats: int = 100000
    batch_tokens: int = 1024  # padded tokens per step: many small steps learn the digit-by-digit traces; 4096 did not
    steps: int = 0  # 0: one pass over the chats
    lr: float = 2e-3
    warmup: int = 50
    final_lr_share: float = 0.02
    embed_std: float = 0.1  # wider than transformers' 0.02: keeps the tied digit rows apart early on
    threads: int = 0  # 0: switch between 1 and 2 threads, whichever is faster at the moment (see Threads)


@dataclass
class Trained:
    """The outcome of `train`: compact weights, which full ids they belong to, and how training went."""

    state: dict
    used: list
    recipe: Recipe
    losses: list  # (step, mean loss over the logging window)
    seconds: float
    tokens: int
    n_chats: int
    threads: float = 0.0  # share of steps run with two threads


def config(vocab_size: int):
    """The Qwen3 config of the trained kind with `vocab_size` rows (the compact count, or the full 151,936)."""
    from transformers import Qwen3Config

    spec = kind(KIND)
    return Qwen3Config(**dict(spec.config, vocab_size=vocab_size), architectures=[spec.architecture])


def compact_model(recipe: Recipe, n_used: int):
    """A freshly initialised Qwen3ForCausalLM whose vocabulary is the used ids only (seeded)."""
    import torch
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(recipe.seed)
    model = Qwen3ForCausalLM(config(n_used))
    with torch.no_grad():
        model.model.embed_tokens.weight.normal_(0.0, recipe.embed_std)
    return model.float()


def exact_loss(model, ids, labels, n_zero_rows: int):
    """Cross-entropy of the full-vocabulary model, computed on the used rows plus one constant logit."""
    import torch
    import torch.nn.functional as F

    hidden = hidden_states(model, ids)[:, :-1]
    target = labels[:, 1:]
    keep = target != D.IGNORE
    logits = hidden[keep] @ model.model.embed_tokens.weight.T
    rest = torch.full((logits.shape[0], 1), math.log(n_zero_rows), dtype=logits.dtype)
    return F.cross_entropy(torch.cat([logits, rest], dim=1), target[keep])


def batches(encoded: list[D.Encoded], lookup: dict, batch_tokens: int, rng: random.Random) -> list:
    """Length-bucketed batches (sorted within random chunks, right-padded), in random order: little padding."""
    import torch

    order = list(range(len(encoded)))
    rng.shuffle(order)
    out, chunk = [], 2048
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: len(encoded[i].input_ids))
        group: list[int] = []
        for i in part + [None]:
            width = len(encoded[i].input_ids) if i is not None else 0
            if group and (i is None or (len(group) + 1) * width > batch_tokens):
                longest = max(len(encoded[j].input_ids) for j in group)
                ids = torch.zeros(len(group), longest, dtype=torch.long)
                labels = torch.full((len(group), longest), D.IGNORE, dtype=torch.long)
                for row, j in enumerate(group):
                    e = encoded[j]
                    ids[row, : len(e.input_ids)] = torch.tensor([lookup[t] for t in e.input_ids])
                    labels[row, : len(e.labels)] = torch.tensor([lookup.get(t, D.IGNORE) for t in e.labels])
                out.append((ids, labels))
                group = []
            if i is not None:
                group.append(i)
    rng.shuffle(out)
    return out


def schedule(step: int, total: int, recipe: Recipe) -> float:
    """Linear warm-up, then cosine decay to final_lr_share of the peak."""
    if step < recipe.warmup:
        return (step + 1) / recipe.warmup
    progress = min(1.0, (step - recipe.warmup) / max(1, total - recipe.warmup))
    return recipe.final_lr_share + (1 - recipe.final_lr_share) * 0.5 * (1 + math.cos(math.pi * progress))


def prepare(recipe: Recipe, tokenizer) -> tuple[list[D.Encoded], list[int]]:
    """The encoded training chats and the used token ids (corpus plus the reserved task's)."""
    encoded = D.encode(tokenizer, D.training_chats(recipe.chats, recipe.seed))
    return encoded, D.used_ids(encoded, D.reserved_ids(tokenizer))


class Threads:
    """1 or 2 intra-op threads, whichever trains faster right now. On a shared 2-core machine a second thread that
    must wait for a busy core makes each step several times slower, and the load changes during a run: every
    `every` steps the other setting is tried for `trial` steps and the faster median kept, and a setting that turns
    slow switches at once."""

    def __init__(self, fixed: int = 0, every: int = 50, trial: int = 3):
        self.fixed, self.every, self.trial, self.current = fixed, every, trial, fixed or 2
        self.times: dict[int, list[float]] = {1: [], 2: []}
        self.recent: list[float] = []  # the last `every` step times, whatever the setting
        self.since_switch = every  # steps since a slow setting was switched (the first switch may come at once)

    def before(self, step: int) -> None:
        """Choose the thread count for this step."""
        import torch

        if not self.fixed:
            phase = (step - self.trial) % self.every  # the first trial right after a few warm-up steps
            if phase == 0 and step:
                self.current = 3 - self.current
                self.times[self.current] = []
            elif phase == self.trial and step > self.trial:
                self.current = self.best()
        torch.set_num_threads(self.current)

    def after(self, seconds: float) -> None:
        """Record how long the step took; two steps in a row over twice the fastest of the last `every` steps: switch
        now, once per `every` steps (when the whole machine slows down, both settings are slow: flipping between them at
        every step made a run ten times slower under load)."""
        self.times[self.current] = (self.times[self.current] + [seconds])[-self.trial:]
        self.recent = (self.recent + [seconds])[-self.every:]
        self.since_switch += 1
        slow = len(self.times[self.current]) >= 2 and min(self.times[self.current][-2:]) > 2 * min(self.recent)
        if not self.fixed and slow and self.since_switch >= self.every:
            self.current, self.since_switch = 3 - self.current, 0
            self.times[self.current] = []

    def best(self) -> int:
        """The setting with the lower median of its recent step times (an untried one counts as fastest)."""
        def median(xs):
            return sorted(xs)[len(xs) // 2] if xs else 0.0

        return min((1, 2), key=lambda n: median(self.times[n]))


def train(recipe: Recipe, tokenizer, log_every: int = 25, progress=print) -> Trained:
    """Generate, encode and train (seeded, single process); returns compact weights and the loss curve."""
    import torch

    start = time.perf_counter()
    encoded, used = prepare(recipe, tokenizer)
    lookup = {t: i for i, t in enumerate(used)}
    rng = random.Random(recipe.seed)
    plan = batches(encoded, lookup, recipe.batch_tokens, rng)
    total = recipe.steps or len(plan)
    model = compact_model(recipe, len(used)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: schedule(s, total, recipe))
    zero_rows = kind(KIND).config["vocab_size"] - len(used)
    threads = Threads(recipe.threads or int(os.environ.get("QWEN_COURSE_TRAIN_THREADS", "0") or 0))  # speed only
    progress(f"{len(encoded)} chats, {len(used)} used ids, {total} steps, prepared in {time.perf_counter() - start:.0f} s")
    losses, window, tokens, used_threads = [], [], 0, []
    for step in range(total):
        threads.before(step)
        tick = time.perf_counter()
        ids, labels = plan[step % len(plan)]
        loss = exact_loss(model, ids, labels, zero_rows)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        window.append(loss.item())
        threads.after(time.perf_counter() - tick)
        used_threads.append(threads.current)
        tokens += ids.numel()
        if (step + 1) % log_every == 0 or step + 1 == total:
            losses.append((step + 1, sum(window) / len(window)))
            progress(f"step {step + 1}/{total} loss {losses[-1][1]:.4f} {time.perf_counter() - start:.0f} s "
                     f"({threads.current} thread{'s' if threads.current > 1 else ''})")
            window = []
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    share = round(used_threads.count(2) / max(1, len(used_threads)), 3)
    return Trained(state, used, recipe, losses, time.perf_counter() - start, tokens, len(encoded), share)
