"""What visual tokens cost in memory, how many fit, and a guard that keeps a prompt's images within that budget."""

from __future__ import annotations

from dataclasses import dataclass

from .._display import Table, gb


class VisualBudgetError(ValueError):
    """Images that would cost more visual tokens than the memory allows."""


@dataclass
class VisualMemory(Table):
    """Estimated bytes for a prompt with `tokens` visual tokens: the language model's share and the vision tower's."""

    model_id: str
    tokens: int
    language_model_bytes: int  # weights + KV cache + prefill activations (memory.estimate)
    vision_activation_bytes: int
    attention_score_bytes: int  # only when the attention kernel materialises scores (eager)

    @property
    def total_bytes(self) -> int:
        return self.language_model_bytes + self.vision_activation_bytes + self.attention_score_bytes

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Estimated memory: {self.model_id} with {self.tokens:,} visual tokens"

    def _rows(self):
        return [("language model (weights, KV cache, activations)", gb(self.language_model_bytes)),
                ("vision tower activations", gb(self.vision_activation_bytes)),
                ("vision attention scores", gb(self.attention_score_bytes)), ("total", gb(self.total_bytes))]


def visual_memory(model_id: str, tokens: int, precision: str = "bf16", text_tokens: int = 256,
                  attention: str = "sdpa", largest_image_tokens: int | None = None) -> VisualMemory:
    """Estimate from the catalog's config numbers; eager attention adds heads x patches^2 scores per image."""
    from .. import catalog, memory

    ckpt = catalog.get(model_id)
    if not ckpt.is_vision:
        raise ValueError(f"{ckpt.id} has no vision tower")
    v = ckpt.config["vision_config"]
    act = 4 if precision == "fp32" else 2
    merge = v.get("spatial_merge_size", 2) ** 2
    patches = tokens * merge
    per_patch = (6 * v["hidden_size"] + 2 * v["intermediate_size"]) * act  # one block's live tensors
    largest = (largest_image_tokens or tokens) * merge
    scores = v["num_heads"] * largest**2 * (act + 4) if attention == "eager" else 0  # plus the fp32 softmax
    lm = memory.estimate(ckpt, precision, context=text_tokens + tokens).total_bytes
    return VisualMemory(ckpt.id, int(tokens), lm, patches * per_patch, scores)


@dataclass
class TokenBudget(Table):
    """How many visual tokens fit in `memory_bytes`, and the max_pixels that enforces it for one image."""

    model_id: str
    memory_bytes: int
    tokens: int
    max_pixels: int
    needed_without_images: int
    note: str = ""

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Visual-token budget: {self.model_id} in {gb(self.memory_bytes)}"

    def _rows(self):
        return [("memory available", gb(self.memory_bytes)), ("model + text prompt", gb(self.needed_without_images)),
                ("visual tokens that fit", f"{self.tokens:,}"), ("max_pixels for one image", f"{self.max_pixels:,}"),
                ("note", self.note)]


def token_budget(model_id: str, memory_bytes: float | None = None, precision: str = "bf16", text_tokens: int = 256,
                 attention: str = "sdpa", cap: int | None = None) -> TokenBudget:
    """The most visual tokens whose estimated memory fits (memory defaults to what this machine can use)."""
    if memory_bytes is None:
        from ..hardware import detect
        memory_bytes = detect().usable_memory
    from .tokens import spec

    s = spec(model_id)
    cost = lambda t: visual_memory(model_id, t, precision, text_tokens, attention).total_bytes  # noqa: E731
    base = cost(0)
    cap = cap or s.max_pixels // s.factor**2
    low, high = 0, cap
    while low < high:  # the largest t with cost(t) <= memory
        mid = (low + high + 1) // 2
        low, high = (mid, high) if cost(mid) <= memory_bytes else (low, mid - 1)
    note = "the processor's maximum fits" if low == cap else "fits" if low >= s.min_pixels // s.factor**2 else (
        f"the model and prompt alone need {gb(base)}: pick a smaller model or precision" if base > memory_bytes
        else "room for fewer visual tokens than the processor's minimum")
    return TokenBudget(model_id, int(memory_bytes), low, s.pixels_for(low), base, note)


@dataclass
class Guarded:
    """The images to send (downsized where needed) and what each costs before and after."""

    images: list
    tokens_before: list[int]
    tokens_after: list[int]
    message: str

    def __str__(self) -> str:
        return self.message


def guard(images, model, max_tokens: int, downsize: bool = True) -> Guarded:
    """Keep a prompt's images within `max_tokens` visual tokens: shrink them proportionally, or refuse clearly."""
    from PIL import Image

    from .tokens import fit_to_grid, image_tokens, spec

    images = list(images) if isinstance(images, (list, tuple)) else [images]
    s = spec(model)
    before = [image_tokens(*im.size, s).tokens for im in images]
    total = sum(before)
    if total <= max_tokens:
        return Guarded(images, before, before, f"{total:,} visual tokens: within the budget of {max_tokens:,}.")
    floor = s.min_pixels // s.factor**2
    why = (f"{len(images)} image(s) cost {total:,} visual tokens on {s.name}; the budget here is {max_tokens:,}.")
    if not downsize or max_tokens < floor * len(images):
        raise VisualBudgetError(f"{why} Pass fewer or smaller images, or set the processor's max_pixels to "
                                f"{s.pixels_for(max(max_tokens // len(images), floor)):,} (one image).")
    out, after = [], []
    for im, cost in zip(images, before):
        share = max(floor, max_tokens * cost // total)
        h, w = fit_to_grid(im.height, im.width, s.factor, s.min_pixels, s.pixels_for(share))
        out.append(im if (w, h) == im.size else im.resize((w, h), Image.BICUBIC))
        after.append(image_tokens(w, h, s).tokens)
    if sum(after) > max_tokens:
        raise VisualBudgetError(f"{why} Even at the processor's minimum size they cost {sum(after):,}; "
                                "send fewer images.")
    return Guarded(out, before, after, f"{why} Downsized to {sum(after):,} tokens: "
                   + ", ".join(f"{a.size[0]}x{a.size[1]}" for a in out) + ".")
