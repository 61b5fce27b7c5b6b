"""The whole recipe as one call (what `qwen-course offline train` runs): train, store compactly, rebuild, evaluate,
measure, and write the manifest next to the weights.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from . import compact as K
from . import gate as E
from .train import Recipe, train

EVAL_PER_TASK = 40  # held-out prompts per task and mode in the manifest's table


def rebuild_difference(folder: Path, tokenizer, chats: int = 16) -> dict:
    """Max |logit difference| between the compact model as trained and the full model rebuilt from the file, and the
    largest |logit| of an unused (all-zero) row; both 0.0 when the rebuild is exact."""
    import torch

    from . import dataset as D

    small, used = K.compact_model(folder)
    full = K.full_model(folder)
    lookup = {t: i for i, t in enumerate(used)}
    unused = torch.ones(full.config.vocab_size, dtype=torch.bool)
    unused[torch.tensor(used)] = False
    diff = zero = 0.0
    with torch.no_grad():
        for e in D.encode(tokenizer, D.heldout_chats(2, seed=5))[:chats]:
            a = small(input_ids=torch.tensor([[lookup[t] for t in e.input_ids]])).logits[0]
            b = full(input_ids=torch.tensor([e.input_ids])).logits[0]
            diff = max(diff, (a - b[:, torch.tensor(used)]).abs().max().item())
            zero = max(zero, b[:, unused].abs().max().item())
    return {"max_abs_logit_diff": diff, "max_abs_unused_logit": zero}


def run(out: Path = K.SHIPPED, steps: int = 0, chats: int | None = None, measure: bool = True,
        eval_per_task: int = EVAL_PER_TASK, progress=print) -> dict:  # fmt: skip
    """Train with the recipe (optionally fewer `steps`/`chats`), save to `out`, then `finish` it."""
    from ..tokenizer import load_tokenizer

    recipe = Recipe(steps=steps, **({"chats": chats} if chats else {}))
    load = os.getloadavg()
    trained = train(recipe, load_tokenizer("qwen3"), progress=progress)
    K.save(trained, out, {"load_average_before": [round(x, 2) for x in load],
                          "load_average_after": [round(x, 2) for x in os.getloadavg()],
                          "command": "qwen-course offline train" + (f" --steps {steps}" if steps else "")
                          + (f" --chats {chats}" if chats else "")})  # fmt: skip
    return finish(out, measure, eval_per_task, progress)


def finish(out: Path = K.SHIPPED, measure: bool = True, eval_per_task: int = EVAL_PER_TASK, progress=print) -> dict:
    """Evaluate the saved checkpoint (the gate's table), check the rebuild, measure int8 and temperature, and write
    it all into the manifest (safe to rerun: the weights are not touched)."""
    from ..tokenizer import load_tokenizer

    tokenizer, manifest = load_tokenizer("qwen3"), K.load_manifest(out)
    start = time.perf_counter()
    model = K.full_model(out)
    result, _ = E.evaluate(model, tokenizer, eval_per_task)
    manifest["evaluation"] = {"per_task": eval_per_task, "greedy": True, "table": result,
                              "seconds": round(time.perf_counter() - start, 1)}
    for line in E.lines(result):
        progress(line)
    manifest["rebuild"] = rebuild_difference(out, tokenizer)
    if measure:
        from .measure import int8_drift, temperatures

        manifest["int8"] = int8_drift(model, tokenizer)
        manifest["temperature"] = temperatures(model, tokenizer, K.load_compact(out)[1])
    K.write_manifest(out, manifest)
    return manifest


def command(out: str | None = None, steps: int = 0, measure: bool = True, progress=print) -> dict:
    """`qwen-course offline train`: run the recipe into `out` (default: the shipped folder) and summarise it."""
    folder = Path(out).expanduser() if out else K.SHIPPED
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder")
    manifest = run(folder, steps=steps, measure=measure, progress=progress)
    table = manifest["evaluation"]["table"]
    return {"out": str(folder), "steps": manifest["steps"], "final_loss": manifest["final_loss"],
            "train_seconds": manifest["train_seconds"], "sha256": manifest["sha256"],
            "correct": {mode: rows["all"]["correct"] for mode, rows in table.items()}}
