"""Grounding answers: parse boxes from a model's answer, map them to the image's pixels, draw them."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field


class GroundingError(ValueError):
    """A grounding answer that cannot be read (raised only with strict=True)."""


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
    from .tokens import image_tokens, spec

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
