"""Time an image prompt's prefill at several visual-token counts and attention implementations, on the loaded model.

Memory is what `budget` estimates; time is measured here, after a warm-up, median of `repeats`: either the vision
tower alone (`part="vision"`, `model.get_image_features`: the part whose attention grows with the square of the
patches) or one forward pass over the whole prompt (`part="prompt"`: the tower, then the language model over text and
visual tokens). The image is drawn at exactly
the size that costs the asked number of tokens, and passed with pixel bounds equal to its own area, so the processor
keeps it whatever bounds it was set to.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass


@dataclass
class Prefill:
    """One measured prefill: visual tokens, the vision tower's patches, attention implementation, seconds."""

    tokens: int
    patches: int
    attention: str
    seconds: float | None
    error: str = ""


def image_for(tokens: int, model, check_bounds: bool = True) -> object:
    """A plain image of the size that costs exactly `tokens` visual tokens (nearly square), for `model`'s geometry."""
    from PIL import Image

    from .tokens import spec

    s = spec(model)
    if tokens < 1:
        raise ValueError(f"an image costs at least one visual token, not {tokens}")
    rows = max(1, math.isqrt(tokens))
    while tokens % rows:
        rows -= 1
    cols = tokens // rows
    if check_bounds and not s.min_pixels <= rows * cols * s.factor**2 <= s.max_pixels:
        raise ValueError(f"{tokens} visual tokens are outside the processor's bounds "
                         f"({s.min_pixels // s.factor**2} to {s.max_pixels // s.factor**2})")
    return Image.new("RGB", (cols * s.factor, rows * s.factor), (128, 128, 128))


def attention_implementation(model) -> str:
    """The attention implementation a loaded model runs ("sdpa", "eager", "flash_attention_2"...)."""
    return model.config._attn_implementation  # transformers keeps it here; set it with model.set_attn_implementation


def prefill_seconds(model, processor, tokens=(64, 256, 1024), attentions=("sdpa", "eager"), part: str = "vision",
                    repeats: int = 1, text: str = "Describe the picture.", clock=time.perf_counter) -> list[Prefill]:
    """Measured prefill time of one image prompt per (visual tokens, attention), restoring the model's attention."""
    if part not in ("vision", "prompt"):
        raise ValueError(f"part must be 'vision' or 'prompt', got {part!r}")
    import torch

    from .tokens import spec

    s = spec(processor)
    original = attention_implementation(model)
    rows = []
    try:
        for attention in attentions:
            try:
                model.set_attn_implementation(attention)
            except (ImportError, ValueError) as exc:  # e.g. flash_attention_2 without its package or a GPU
                rows += [Prefill(t, t * s.merge_size**2, attention, None, f"{type(exc).__name__}: {exc}") for t in tokens]
                continue
            for t in tokens:
                image = image_for(t, s, check_bounds=False)
                messages = [{"role": "user", "content": [{"type": "image", "image": image},
                                                         {"type": "text", "text": text}]}]
                exact = {"shortest_edge": image.width * image.height, "longest_edge": image.width * image.height}
                batch = processor.apply_chat_template(messages, tokenize=True, add_generation_prompt=True,
                                                      enable_thinking=False, return_dict=True, return_tensors="pt",
                                                      processor_kwargs={"size": exact}).to(model.device)
                times = []
                with torch.inference_mode():
                    for i in range(repeats + 1):  # the first pass warms up (kernels, allocations)
                        start = clock()
                        if part == "vision":
                            model.get_image_features(pixel_values=batch["pixel_values"],
                                                     image_grid_thw=batch["image_grid_thw"])
                        else:
                            model(**batch)
                        if i:
                            times.append(clock() - start)
                rows.append(Prefill(t, t * s.merge_size**2, attention, statistics.median(times)))
    finally:
        model.set_attn_implementation(original)
    return rows


def prefill_frame(rows: list[Prefill]):
    """The measurements as a table: one row per token count, one column per attention implementation (seconds)."""
    import pandas as pd

    frame = pd.DataFrame([{"visual tokens": r.tokens, "vision-tower patches": r.patches, "attention": r.attention,
                           "prefill (s)": r.seconds if r.seconds is not None else r.error[:60]} for r in rows])
    return frame.pivot(index=["visual tokens", "vision-tower patches"], columns="attention", values="prefill (s)")
