"""The course's own images (drawn here, shipped as small PNGs; nothing is downloaded) and a synthetic video clip."""

from __future__ import annotations

import json
from pathlib import Path

from .._paths import DATA_DIR
from .grounding import Box

IMAGES_DIR = DATA_DIR / "images"

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
