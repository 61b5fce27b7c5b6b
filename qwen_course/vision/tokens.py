"""Qwen VL arithmetic: the VisionSpec of each generation, and the visual tokens an image or a clip costs.

The counting rule is the one `Qwen2VLImageProcessor` applies (transformers 5.24): round each side to a multiple of
patch_size * merge_size, then rescale into [min_pixels, max_pixels]; every merge_size x merge_size block of patches
becomes one token in the language model's prompt. Importing this module does not import torch or PIL.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from .._display import Table

MAX_ASPECT = 200  # the processor refuses thinner images


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
    # Qwen3.5/3.6 use Qwen3-VL's processor and patch geometry; their image bounds are assumed to be Qwen3-VL's (the
    # offline stand-ins ship those), and their grounding format is not verified.
    "qwen3.5": VisionSpec("qwen3.5", 16, min_pixels=65536, max_pixels=16777216, video_min_pixels=4096,
                          video_max_pixels=25165824),
}
QWEN3_5_IMAGE_TOKEN = 248056  # Qwen3_5Config.image_token_id in transformers 5.24; Qwen2.5-VL and Qwen3-VL use 151655
_ALIASES = {"qwen3-vl": ("qwen3-vl", "qwen3_vl"), "qwen2.5-vl": ("qwen2.5-vl", "qwen2_5_vl"),
            "qwen2-vl": ("qwen2-vl", "qwen2_vl"), "qwen3.5": ("qwen3.5", "qwen3_5", "qwen3.6")}


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
    if hasattr(model, "image_processor"):  # a full processor: its image processor knows the real bounds...
        found = spec(model.image_processor)
        if getattr(model, "image_token_id", None) == QWEN3_5_IMAGE_TOKEN:  # ...and its tokenizer the generation
            native = GENERATIONS["qwen3.5"]
            return replace(found, name=native.name, coordinates=native.coordinates,
                           video_min_pixels=native.video_min_pixels, video_max_pixels=native.video_max_pixels)
        return found
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
