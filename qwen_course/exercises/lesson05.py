"""Checks for notebook 05 (vision-language): token counts, a memory-derived max_pixels, video cost, box coordinates,
batching. Each returns a CheckResult and never raises on a learner's answer."""

from __future__ import annotations

from ._check import CheckResult, check

BUDGET_MODEL = "Qwen/Qwen3-VL-4B-Instruct"
BUDGET_BYTES = 4e9  # memory left for the image after the model and a short text prompt are loaded
CLIP = {"seconds": 10, "fps": 2, "width": 640, "height": 360, "generation": "qwen3-vl"}
BOX_CASES = [  # (bbox_2d as answered, generation, original width, height)
    ((250, 100, 750, 600), "qwen3-vl", 1920, 1080),
    ((0, 0, 1000, 1000), "qwen3-vl", 640, 480),
    ((280, 112, 840, 560), "qwen2.5-vl", 1920, 1080),
    ((14, 28, 322, 224), "qwen2.5-vl", 333, 777),
    ((32, 64, 320, 192), "qwen3-vl", 4000, 3000),
    ((100, 100, 300, 300), "qwen2.5-vl", 4000, 3000),
]


def _tokens(model, width, height):
    from ..vision import image_tokens

    return image_tokens(width, height, model).tokens


def check_image_tokens_1080p(answer) -> CheckResult:
    """Visual tokens of one 1920x1080 image: {"qwen2.5-vl": n, "qwen3-vl": m} with each checkpoint's default bounds."""
    expected = {g: _tokens(g, 1920, 1080) for g in ("qwen2.5-vl", "qwen3-vl")}

    def verify(value):
        wrong = {g: value.get(g) for g in expected if value.get(g) != expected[g]}
        if not wrong:
            return True, (f"right: {expected['qwen2.5-vl']:,} tokens on Qwen2.5-VL, "
                          f"{expected['qwen3-vl']:,} on Qwen3-VL.")
        g, got = next(iter(wrong.items()))
        side = 28 if g == "qwen2.5-vl" else 32
        if got == 1920 * 1080 // side**2:
            return False, f"{g}: {got:,} skips the rounding: each side is first rounded to a multiple of {side}."
        if got == 1920 * 1080 // (side // 2) ** 2:
            return False, f"{g}: {got:,} counts patches; four patches (2x2) merge into one token."
        if got == (1920 // side) * (1080 // side):
            return False, f"{g}: {got:,} rounds the sides down; each side goes to the nearest multiple of {side}."
        return False, f"{g}: {got!r} is not it."

    return check("check_image_tokens_1080p", answer, verify,
                 "Round each side to the nearest multiple of patch x merge (28 for Qwen2.5-VL, 32 for Qwen3-VL), then "
                 "divide the area by that factor squared. 1920x1080 is within both default pixel bounds.")


def check_max_pixels_for_budget(answer, model: str = BUDGET_MODEL, extra_bytes: float = BUDGET_BYTES) -> CheckResult:
    """A max_pixels for one image that keeps the estimated extra memory within `extra_bytes` without wasting it."""
    from ..vision import spec, token_budget, visual_memory

    base = visual_memory(model, 0).total_bytes
    best = token_budget(model, memory_bytes=base + extra_bytes)
    factor = spec(model).factor

    def verify(value):
        value = int(value)
        if value % factor**2:
            return False, (f"{value:,} is not a multiple of {factor}x{factor}: "
                           f"max_pixels counts whole tokens of {factor}x{factor} pixels.")
        tokens = value // factor**2
        extra = visual_memory(model, tokens).total_bytes - base
        if extra > extra_bytes:
            return False, (f"{tokens:,} tokens need about {extra / 1e9:.2f} GB more: "
                           f"over the {extra_bytes / 1e9:g} GB left.")
        if tokens < 0.9 * best.tokens:
            return False, f"{tokens:,} tokens fit, but up to about {best.tokens:,} would: you are throwing detail away."
        return True, (f"{value:,} pixels = {tokens:,} tokens, about {extra / 1e9:.2f} GB: "
                      f"fits (the largest is {best.max_pixels:,}).")

    return check("check_max_pixels_for_budget", answer, verify,
                 f"visual_memory({model!r}, tokens).total_bytes minus the same with 0 tokens is what the image adds; "
                 f"find the largest token count within {extra_bytes / 1e9:g} GB, then multiply by {factor}*{factor}.")


def check_video_tokens(answer, clip: dict = CLIP) -> CheckResult:
    """Visual tokens of a clip sampled at `fps` (Qwen3-VL bounds the whole clip's pixels)."""
    from ..vision import video_tokens

    frames = int(clip["seconds"] * clip["fps"])
    expected = video_tokens(frames, clip["width"], clip["height"], clip["generation"]).tokens
    per_frame = _tokens(clip["generation"], clip["width"], clip["height"])

    def verify(value):
        value = int(value)
        if value == expected:
            return True, f"right: {frames} frames in pairs, {expected:,} tokens in all."
        if value == per_frame * frames or value == expected * 2:
            return False, f"{value:,} counts every frame; two consecutive frames share one temporal patch."
        if value == frames // 2 * -(-clip["width"] // 32) * -(-clip["height"] // 32):
            return False, f"{value:,} rounds the sides up; each side goes to the nearest multiple of 32."
        return False, f"{value:,} is not it; you need {frames} frames first."

    return check("check_video_tokens", answer, verify,
                 "frames = seconds x fps; grid = (frames / 2, H/16, W/16) after rounding H and W to multiples of 32; "
                 "tokens = grid product / 4. vision.video_tokens(...) confirms it.")


def check_box_to_pixels(answer) -> CheckResult:
    """A function box_to_pixels(bbox, generation, width, height) -> (x1, y1, x2, y2) in the original image's pixels."""
    from ..vision import Box, to_pixels

    def verify(fn):
        for bbox, generation, width, height in BOX_CASES:
            want = to_pixels([Box("", *bbox)], generation, (width, height)).boxes[0]
            got = tuple(float(v) for v in fn(bbox, generation, width, height))
            if max(abs(a - b) for a, b in zip(got, (want.x1, want.y1, want.x2, want.y2))) > 1:
                why = ("Qwen3-VL numbers are on a 0-1000 scale" if generation == "qwen3-vl"
                       else "Qwen2.5-VL numbers are pixels of the resized image, not the original")
                return False, f"{bbox} from {generation} on {width}x{height}: expected about " \
                              f"{tuple(round(v) for v in (want.x1, want.y1, want.x2, want.y2))}, got {got}. {why}."
        return True, f"all {len(BOX_CASES)} boxes land on the right pixels."

    return check("check_box_to_pixels", answer, verify,
                 "Qwen3-VL: multiply x by width/1000 and y by height/1000. Qwen2.5-VL: find the resized size with "
                 "vision.image_tokens(width, height, 'qwen2.5-vl').resized and scale by original/resized.")


def check_padding_side(answer) -> CheckResult:
    """Which side a decoder-only model's batch must be padded on for generation."""

    def verify(value):
        if str(value).strip().lower() == "left":
            return True, "left: every prompt then ends right where the new tokens start."
        if str(value).strip().lower() != "right":
            return False, f"{value!r}: answer 'left' or 'right'."
        return False, f"{value!r}: with right padding the model would continue from pad tokens in shorter prompts."

    return check("check_padding_side", answer, verify,
                 "generate() appends new tokens at the end of each row; what must sit at the end of every row?")
