"""Qwen VL arithmetic and helpers: visual-token counts, a memory-derived token budget, grounding boxes, course images.

The counting rule is the one `Qwen2VLImageProcessor` applies (transformers 5.24): round each side to a multiple of
patch_size * merge_size, then rescale into [min_pixels, max_pixels]; every merge_size x merge_size block of patches
becomes one token in the language model's prompt.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ._display import Table, gb
from ._paths import DATA_DIR

IMAGES_DIR = DATA_DIR / "images"
MAX_ASPECT = 200  # the processor refuses thinner images


class VisualBudgetError(ValueError):
    """Images that would cost more visual tokens than the memory allows."""


class GroundingError(ValueError):
    """A grounding answer that cannot be read (raised only with strict=True)."""


@dataclass(frozen=True)
class VisionSpec:
    """What decides a generation's visual-token count, and how its grounding answers express coordinates."""

    name: str
    patch_size: int
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 1280
    video_min_pixels: int = 128 * 28 * 28
    video_max_pixels: int = 768 * 28 * 28
    coordinates: str | None = None  # "absolute" (pixels of the resized image), "relative" (0-1000) or unknown

    @property
    def factor(self) -> int:
        """Pixels per token side: 28 for Qwen2/2.5-VL, 32 for Qwen3-VL."""
        return self.patch_size * self.merge_size

    def pixels_for(self, tokens: int) -> int:
        """The max_pixels value that allows `tokens` visual tokens."""
        return int(tokens) * self.factor**2


# Image bounds are the checkpoints' preprocessor_config.json values (secondary copies, see the notebook); video bounds
# are the transformers 5.24 video-processor defaults for Qwen2.5-VL and the shipped video config for Qwen3-VL.
GENERATIONS = {
    "qwen2-vl": VisionSpec("qwen2-vl", 14, min_pixels=3136, max_pixels=12845056),
    "qwen2.5-vl": VisionSpec("qwen2.5-vl", 14, min_pixels=3136, max_pixels=12845056, coordinates="absolute"),
    "qwen3-vl": VisionSpec("qwen3-vl", 16, min_pixels=65536, max_pixels=16777216, video_min_pixels=4096,
                           video_max_pixels=25165824, coordinates="relative"),
}
_ALIASES = {"qwen3-vl": ("qwen3-vl", "qwen3_vl"), "qwen2.5-vl": ("qwen2.5-vl", "qwen2_5_vl"),
            "qwen2-vl": ("qwen2-vl", "qwen2_vl")}


def _from_processor(base: VisionSpec, patch: int, merge: int, size, min_pixels=None, max_pixels=None) -> VisionSpec:
    """`base` with a processor's own patch, merge and pixel bounds (size dict, SizeDict or the older keys)."""
    size = size or {}
    get = size.get if isinstance(size, dict) else (lambda k: getattr(size, k, None))
    return replace(base, patch_size=patch or base.patch_size, merge_size=merge or base.merge_size,
                   min_pixels=get("shortest_edge") or min_pixels or base.min_pixels,
                   max_pixels=get("longest_edge") or max_pixels or base.max_pixels)


def spec(model) -> VisionSpec:
    """A VisionSpec from a generation name, model id, Pick, checkpoint folder, processor or image processor."""
    if isinstance(model, VisionSpec):
        return model
    if hasattr(model, "image_processor"):  # a full processor: its image processor knows the real bounds
        model = model.image_processor
    if hasattr(model, "patch_size") and hasattr(model, "merge_size"):  # an image processor
        base = GENERATIONS["qwen3-vl" if model.patch_size == 16 else "qwen2.5-vl"]
        return _from_processor(base, model.patch_size, model.merge_size, getattr(model, "size", None),
                               getattr(model, "min_pixels", None), getattr(model, "max_pixels", None))
    named = getattr(model, "model_id", None) or getattr(model, "id", None)  # a picker.Pick or catalog.Checkpoint
    text = str(named or model)
    folder = Path(text)
    if (folder / "preprocessor_config.json").is_file() and (folder / "config.json").is_file():  # a checkpoint
        cfg = json.loads((folder / "preprocessor_config.json").read_text())
        base = spec(json.loads((folder / "config.json").read_text()).get("model_type", ""))
        return _from_processor(base, cfg.get("patch_size"), cfg.get("merge_size"), cfg.get("size"),
                               cfg.get("min_pixels"), cfg.get("max_pixels"))
    lowered = text.lower()
    for name, keys in _ALIASES.items():
        if any(k in lowered for k in keys):
            return GENERATIONS[name]
    raise ValueError(f"{model!r} is not a Qwen vision-language model; use one of {', '.join(GENERATIONS)}, "
                     "a Qwen VL model id, or its processor")


def fit_to_grid(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) the processor resizes to: multiples of `factor`, area within bounds, aspect kept closely."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image sides must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.0f}:1 is over the processor's "
                         f"limit of {MAX_ASPECT}:1; crop or pad the image first")
    new_h, new_w = round(height / factor) * factor, round(width / factor) * factor
    if new_h * new_w > max_pixels:  # shrink by the same ratio on both sides, rounding down
        scale = math.sqrt(height * width / max_pixels)
        new_h = max(factor, math.floor(height / scale / factor) * factor)
        new_w = max(factor, math.floor(width / scale / factor) * factor)
    elif new_h * new_w < min_pixels:  # grow, rounding up
        scale = math.sqrt(min_pixels / (height * width))
        new_h = math.ceil(height * scale / factor) * factor
        new_w = math.ceil(width * scale / factor) * factor
    return new_h, new_w


@dataclass
class VisualTokens(Table):
    """An image's (or clip's) cost: the size the processor resizes to, its patch grid and its prompt tokens."""

    generation: str
    width: int
    height: int
    resized_width: int
    resized_height: int
    grid: tuple[int, int, int]  # (t, h, w) in patches, as in image_grid_thw / video_grid_thw
    tokens: int
    frames: int = 1

    @property
    def patches(self) -> int:
        return math.prod(self.grid)

    @property
    def resized(self) -> tuple[int, int]:
        return self.resized_width, self.resized_height

    @property
    def _title(self) -> str:  # type: ignore[override]
        what = f"{self.frames} frames of " if self.frames > 1 else ""
        return f"{self.generation}: {what}{self.width}x{self.height}"

    def _rows(self):
        return [("resized to (w x h)", f"{self.resized_width}x{self.resized_height}"),
                ("patch grid (t, h, w)", self.grid), ("patches", f"{self.patches:,}"),
                ("visual tokens", f"{self.tokens:,}")]


def image_tokens(width: int, height: int, model, min_pixels: int | None = None,
                 max_pixels: int | None = None) -> VisualTokens:
    """Visual tokens one image costs, and the size the processor resizes it to (equal to the real processor's)."""
    s = spec(model)
    h, w = fit_to_grid(int(height), int(width), s.factor, min_pixels or s.min_pixels, max_pixels or s.max_pixels)
    grid = (1, h // s.patch_size, w // s.patch_size)
    return VisualTokens(s.name, int(width), int(height), w, h, grid, math.prod(grid) // s.merge_size**2)


def video_tokens(frames: int, width: int, height: int, model, min_pixels: int | None = None,
                 max_pixels: int | None = None) -> VisualTokens:
    """Visual tokens of `frames` sampled frames: pairs of frames share tokens; Qwen3-VL bounds the whole clip."""
    s = spec(model)
    if frames < 1:
        raise ValueError("a video needs at least one frame")
    low, high = min_pixels or s.video_min_pixels, max_pixels or s.video_max_pixels
    t = s.temporal_patch_size
    if s.name == "qwen3-vl":  # bounds apply to frames x height x width (transformers 5.24, uncapped default)
        if frames < t:
            raise ValueError(f"Qwen3-VL needs at least {t} frames per video")
        h, w = _clip_fit(frames, round(frames / t) * t, int(height), int(width), s.factor, low, high)
    else:  # Qwen2/2.5-VL bound each frame like an image
        h, w = fit_to_grid(int(height), int(width), s.factor, low, high)
    grid = (-(-frames // t), h // s.patch_size, w // s.patch_size)
    return VisualTokens(s.name, int(width), int(height), w, h, grid, math.prod(grid) // s.merge_size**2, frames)


def _clip_fit(frames, padded, height, width, factor, low, high):
    if height < factor or width < factor:
        grow = max(factor / height, factor / width)
        height, width = int(height * grow), int(width * grow)
    new_h, new_w = fit_to_grid(height, width, factor, 0, math.inf)
    if padded * new_h * new_w > high:
        scale = math.sqrt(frames * height * width / high)
        new_h = max(factor, math.floor(height / scale / factor) * factor)
        new_w = max(factor, math.floor(width / scale / factor) * factor)
    elif padded * new_h * new_w < low:
        scale = math.sqrt(low / (frames * height * width))
        new_h, new_w = math.ceil(height * scale / factor) * factor, math.ceil(width * scale / factor) * factor
    return new_h, new_w


# ---- memory: what visual tokens cost, and how many fit -------------------------------------------------------------

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
    from . import catalog, memory

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
        from .hardware import detect
        memory_bytes = detect().usable_memory
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


# ---- grounding: parse boxes from an answer, map them to the image, draw them ----------------------------------------

@dataclass(frozen=True)
class Box:
    """One labelled box, x1 y1 (top-left) to x2 y2 (bottom-right)."""

    label: str
    x1: float
    y1: float
    x2: float
    y2: float

    def scaled(self, sx: float, sy: float) -> "Box":
        return Box(self.label, self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)

    def iou(self, other: "Box") -> float:
        """Intersection over union: 1 for identical boxes, 0 for disjoint ones."""
        iw = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        ih = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        union = (self.x2 - self.x1) * (self.y2 - self.y1) + (other.x2 - other.x1) * (other.y2 - other.y1) - iw * ih
        return iw * ih / union if union > 0 else 0.0


@dataclass
class Grounding:
    """Boxes read from a model's answer, and what could not be read (never silently dropped)."""

    boxes: list[Box]
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{len(self.boxes)} box(es)"] + [f"  {b.label or '?'}: ({b.x1:g}, {b.y1:g}, {b.x2:g}, {b.y2:g})"
                                                  for b in self.boxes]
        return "\n".join(lines + [f"  problem: {p}" for p in self.problems])

    __repr__ = __str__


def _json_candidate(text: str) -> str | None:
    fenced = re.search(r"```(?:json)?\s*(.*?)(?:```|$)", text, re.S)
    body = fenced.group(1) if fenced else text
    starts = [i for i in (body.find("["), body.find("{")) if i >= 0]
    return body[min(starts):].strip() if starts else None


def _balanced(text: str) -> str | None:
    """The leading bracketed expression, or None when the answer stops before it closes."""
    depth, quote, escaped = 0, "", False
    for i, ch in enumerate(text):
        if quote:
            escaped, quote = (not escaped and ch == "\\"), ("" if ch == quote and not escaped else quote)
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return text[: i + 1]
    return None


def _load_loose(candidate: str) -> tuple[object, bool]:
    """(data, was_truncated): JSON, Python-literal style, trailing commas, or a list cut off mid-answer."""
    whole, truncated = _balanced(candidate), False
    if whole is None and candidate.startswith("[") and candidate.rfind("}") > 0:
        whole, truncated = candidate[: candidate.rfind("}") + 1] + "]", True
    for attempt in (whole, re.sub(r",\s*([\]}])", r"\1", whole or "")) if whole else ():
        for loads in (json.loads, ast.literal_eval):
            try:
                return loads(attempt), truncated
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
    return None, False


def parse_grounding(text: str, strict: bool = False) -> Grounding:
    """Read `[{"bbox_2d": [x1, y1, x2, y2], "label": ...}, ...]` from an answer, fenced or not, tolerating damage."""
    problems: list[str] = []
    candidate = _json_candidate(text or "")
    data, truncated = _load_loose(candidate) if candidate else (None, False)
    if data is None:
        problems.append("no readable JSON list of boxes in the answer" + (f": {text[:60]!r}..." if text else ""))
    elif truncated:
        problems.append("the answer was cut off; kept the complete boxes before the cut")
    items = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
    boxes = []
    for i, item in enumerate(items):
        coords = item.get("bbox_2d", item.get("bbox")) if isinstance(item, dict) else None
        try:
            x1, y1, x2, y2 = (float(c) for c in coords)
        except (TypeError, ValueError):
            problems.append(f"item {i}: no bbox_2d with four numbers ({item!r:.60})")
            continue
        if x1 > x2 or y1 > y2:
            problems.append(f"item {i}: corners given in the wrong order; swapped")
            x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
        label = item.get("label", item.get("text_content", ""))
        boxes.append(Box(str(label), x1, y1, x2, y2))
    if strict and problems:
        raise GroundingError("; ".join(problems))
    return Grounding(boxes, problems)


def to_pixels(found: Grounding | list[Box], model, image_size: tuple[int, int],
              resized_size: tuple[int, int] | None = None) -> Grounding:
    """Boxes in the original image's pixels: Qwen2.5-VL answers on the resized image, Qwen3-VL on a 0-1000 scale."""
    s = spec(model)
    found = found if isinstance(found, Grounding) else Grounding(list(found))
    width, height = image_size
    if s.coordinates == "relative":
        sx, sy = width / 1000, height / 1000
    elif s.coordinates == "absolute":
        rw, rh = resized_size or image_tokens(width, height, s).resized
        sx, sy = width / rw, height / rh
    else:
        raise ValueError(f"the coordinate convention of {s.name} is not verified in this course")
    boxes, problems = [], list(found.problems)
    for b in (b.scaled(sx, sy) for b in found.boxes):
        clipped = Box(b.label, min(max(b.x1, 0), width), min(max(b.y1, 0), height),
                      min(max(b.x2, 0), width), min(max(b.y2, 0), height))
        if clipped != b:
            problems.append(f"{b.label or 'a box'} reached outside the image; clipped")
        boxes.append(clipped)
    return Grounding(boxes, problems)


PALETTE = ("#911eb4", "#000000", "#f032e6", "#9a6324", "#42d4f4", "#e6194b", "#3cb44b", "#4363d8")


def draw_boxes(image, boxes: Grounding | list[Box], width: int = 3):
    """A copy of the image with each box outlined and labelled."""
    from PIL import ImageDraw, ImageFont

    boxes = boxes.boxes if isinstance(boxes, Grounding) else boxes
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(12, out.height // 30))
    for i, b in enumerate(boxes):
        colour = PALETTE[i % len(PALETTE)]
        draw.rectangle([b.x1, b.y1, b.x2, b.y2], outline=colour, width=width)
        if b.label:
            left, top, right, bottom = draw.textbbox((b.x1, b.y1), b.label, font=font)
            y = max(0, b.y1 - (bottom - top) - 4)
            draw.rectangle([b.x1, y, b.x1 + right - left + 4, y + bottom - top + 4], fill=colour)
            draw.text((b.x1 + 2, y + 2 - (top - b.y1)), b.label, fill="white", font=font)
    return out


# ---- the course's own images (drawn here, shipped as small PNGs; nothing is downloaded) ---------------------------

SHAPES = [("red circle", (60, 70, 220, 230), "#d62728"), ("blue square", (300, 60, 440, 200), "#1f77b4"),
          ("green triangle", (120, 280, 300, 440), "#2ca02c"), ("orange bar", (380, 300, 600, 380), "#ff7f0e")]
CHART = {"months": ["Jan", "Feb", "Mar", "Apr", "May", "Jun"], "visitors": [120, 135, 160, 150, 190, 240]}
RECEIPT = [("Espresso", 2.40), ("Croissant", 2.10), ("Orange juice", 3.50), ("Bagel with cheese", 3.80)]


def make_images(dest: Path | str = IMAGES_DIR) -> dict[str, Path]:
    """Draw the lesson's images (a chart, a receipt, a scene of shapes with its true boxes) into `dest`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image, ImageDraw

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths = {name: dest / f"{name}.png" for name in ("chart", "receipt", "shapes")}
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=100)
    ax.bar(CHART["months"], CHART["visitors"], color="#4363d8")
    ax.set(title="Museum visitors per month (illustrative data)", xlabel="month", ylabel="visitors (thousands)")
    fig.tight_layout()
    fig.savefig(paths["chart"], metadata={"Software": None})
    plt.close(fig)
    fig = plt.figure(figsize=(3.6, 3.1), dpi=100)
    lines = ["CAFE QWEN", "12 Market Street", "2025-05-01  09:14", "-" * 28]
    lines += [f"{item:<19}{price:>9.2f}" for item, price in RECEIPT]
    lines += ["-" * 28, f"{'TOTAL EUR':<19}{sum(p for _, p in RECEIPT):>9.2f}", "", "Thank you!"]
    fig.text(0.08, 0.95, "\n".join(lines), family="DejaVu Sans Mono", size=10, va="top", linespacing=1.6)
    fig.savefig(paths["receipt"], metadata={"Software": None})
    plt.close(fig)
    scene = Image.new("RGB", (640, 480), "#f4f1ea")
    draw = ImageDraw.Draw(scene)
    for label, (x1, y1, x2, y2), colour in SHAPES:
        if "circle" in label:
            draw.ellipse((x1, y1, x2, y2), fill=colour)
        elif "triangle" in label:
            draw.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], fill=colour)
        else:
            draw.rectangle((x1, y1, x2, y2), fill=colour)
    scene.save(paths["shapes"], optimize=True)
    truth = [{"label": label, "bbox_2d": list(box)} for label, box, _ in SHAPES]
    (dest / "shapes.json").write_text(json.dumps(truth, indent=1) + "\n")
    for name in ("chart", "receipt"):  # palette PNGs keep the shipped files small
        Image.open(paths[name]).convert("RGB").quantize(64).save(paths[name], optimize=True)
    return paths


def load_image(name: str):
    """One of the lesson's images as an RGB PIL image ("chart", "receipt", "shapes")."""
    from PIL import Image

    path = IMAGES_DIR / f"{name}.png"
    if not path.exists():
        known = sorted(p.stem for p in IMAGES_DIR.glob("*.png"))
        raise FileNotFoundError(f"no course image {name!r}; shipped: {', '.join(known) or 'none (run make_images())'}")
    with Image.open(path) as im:
        return im.convert("RGB")


def true_boxes() -> list[Box]:
    """The shapes image's real boxes, in its pixels."""
    return [Box(d["label"], *d["bbox_2d"]) for d in json.loads((IMAGES_DIR / "shapes.json").read_text())]


def video_frames(frames: int = 8, size: tuple[int, int] = (320, 180)):
    """A short synthetic clip: a ball rolling left to right, as a list of PIL frames."""
    from PIL import Image, ImageDraw

    width, height = size
    out = []
    for i in range(frames):
        frame = Image.new("RGB", size, "#dfe8f1")
        draw = ImageDraw.Draw(frame)
        draw.rectangle((0, height * 3 // 4, width, height), fill="#7a9a5a")
        x = width * (0.1 + 0.8 * i / max(1, frames - 1))
        r = height // 8
        draw.ellipse((x - r, height * 3 // 4 - 2 * r, x + r, height * 3 // 4), fill="#d62728")
        out.append(frame)
    return out
