"""qwen_course.vision: token counts against the real processor, budgets, the guard, grounding, drawing."""

from __future__ import annotations

import json
import math
import types
import warnings

import pytest
from PIL import Image

from qwen_course import vision

# Sizes chosen to hit every branch of the resize rule: exact multiples, rounding, tiny images grown to min_pixels,
# huge ones shrunk to max_pixels, portrait, landscape and extreme aspect ratios.
SIZES = [(1920, 1080), (1080, 1920), (640, 480), (28, 28), (1, 1), (10, 500), (500, 20), (333, 777), (224, 224),
         (1280, 720), (4000, 3000), (3024, 4032), (7000, 50), (1001, 999)]
BOUNDS = [None, (256 * 28 * 28, 1280 * 28 * 28), (4 * 32 * 32, 64 * 32 * 32)]


@pytest.fixture(scope="module")
def real_processor():
    """transformers' own Qwen2VLImageProcessor (the PIL backend here: no torchvision), configured independently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from transformers import Qwen2VLImageProcessor

    def make(patch: int, low: int, high: int):
        return Qwen2VLImageProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                     size={"shortest_edge": low, "longest_edge": high})

    return make


@pytest.mark.parametrize("generation, patch", [("qwen2.5-vl", 14), ("qwen3-vl", 16)])
@pytest.mark.parametrize("bounds", BOUNDS)
def test_image_tokens_equal_the_real_processor(real_processor, generation, patch, bounds):
    spec = vision.spec(generation)
    low, high = bounds or (spec.min_pixels, spec.max_pixels)
    processor = real_processor(patch, low, high)
    for width, height in SIZES:
        out = processor(images=[Image.new("RGB", (width, height))], return_tensors="np")
        grid = tuple(int(x) for x in out["image_grid_thw"][0])
        mine = vision.image_tokens(width, height, generation, min_pixels=low, max_pixels=high)
        assert mine.grid == grid, (width, height)
        assert mine.patches == out["pixel_values"].shape[0]
        assert mine.tokens == math.prod(grid) // 4
        assert mine.resized == (grid[2] * patch, grid[1] * patch)
        # the same numbers when the processor object itself is the model argument
        assert vision.image_tokens(width, height, processor).tokens == mine.tokens


def test_spec_read_from_a_processor_uses_its_bounds(real_processor):
    processor = real_processor(16, 4 * 32 * 32, 64 * 32 * 32)
    s = vision.spec(processor)
    assert (s.name, s.factor, s.min_pixels, s.max_pixels, s.coordinates) == ("qwen3-vl", 32, 4096, 65536, "relative")
    assert vision.spec(types.SimpleNamespace(image_processor=processor)) == s


def test_known_counts_and_factors():
    assert vision.image_tokens(1920, 1080, "qwen2.5-vl").tokens == 2691
    assert vision.image_tokens(1920, 1080, "qwen3-vl").tokens == 2040
    assert vision.spec("qwen2.5-vl").factor == 28 and vision.spec("qwen3-vl").factor == 32
    assert vision.spec("qwen3-vl").pixels_for(1280) == 1280 * 32 * 32


@pytest.mark.parametrize("name, expected", [
    ("Qwen/Qwen2.5-VL-3B-Instruct", "qwen2.5-vl"), ("Qwen/Qwen3-VL-2B-Instruct", "qwen3-vl"),
    ("qwen3_vl_moe", "qwen3-vl"), ("qwen2_5_vl", "qwen2.5-vl"), ("Qwen/Qwen2-VL-2B-Instruct", "qwen2-vl"),
])
def test_spec_from_names(name, expected):
    assert vision.spec(name).name == expected
    assert vision.spec(types.SimpleNamespace(model_id=name)).name == expected  # a picker.Pick


def test_spec_from_a_checkpoint_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"patch_size": 16, "merge_size": 2, "size": {"shortest_edge": 1024, "longest_edge": 8192}}))
    s = vision.spec(str(tmp_path))
    assert (s.name, s.patch_size, s.min_pixels, s.max_pixels) == ("qwen3-vl", 16, 1024, 8192)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"patch_size": 14, "min_pixels": 3136,
                                                                   "max_pixels": 100352}))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    assert vision.spec(tmp_path).max_pixels == 100352


@pytest.mark.parametrize("bad", ["Qwen/Qwen3-8B", "gpt-4o", "", None])
def test_spec_rejects_non_vl_models(bad):
    with pytest.raises(ValueError, match="not a Qwen vision-language model"):
        vision.spec(bad)


@pytest.mark.parametrize("width, height", [(0, 10), (10, -1), (2010, 10)])
def test_impossible_images_raise_clearly(width, height):
    with pytest.raises(ValueError, match="positive|aspect ratio"):
        vision.image_tokens(width, height, "qwen3-vl")


def test_video_tokens_follow_the_transformers_rules():
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize as clip_resize

    for frames in (2, 3, 4, 8, 9, 16, 33, 64, 200):
        for width, height in ((320, 180), (1920, 1080), (640, 480), (20, 300), (3840, 2160), (10, 40)):
            h, w = clip_resize(frames, height, width, temporal_factor=2, factor=32, min_pixels=4096,
                               max_pixels=25165824)
            mine = vision.video_tokens(frames, width, height, "qwen3-vl")
            assert mine.grid == (-(-frames // 2), h // 16, w // 16), (frames, width, height)
            # Qwen2.5-VL sizes each frame like an image, and pairs of frames share one grid step
            frame = vision.image_tokens(width, height, "qwen2.5-vl", 128 * 28 * 28, 768 * 28 * 28)
            assert vision.video_tokens(frames, width, height, "qwen2.5-vl").tokens == frame.tokens * -(-frames // 2)
    with pytest.raises(ValueError, match="at least 2 frames"):
        vision.video_tokens(1, 320, 180, "qwen3-vl")
    with pytest.raises(ValueError):
        vision.video_tokens(0, 320, 180, "qwen2.5-vl")


def test_visual_memory_grows_and_eager_attention_is_quadratic():
    small = vision.visual_memory("Qwen/Qwen2.5-VL-3B-Instruct", 1000)
    big = vision.visual_memory("Qwen/Qwen2.5-VL-3B-Instruct", 2000)
    assert big.total_bytes > small.total_bytes and small.attention_score_bytes == 0
    e1 = vision.visual_memory("Qwen/Qwen2.5-VL-3B-Instruct", 1000, attention="eager").attention_score_bytes
    e2 = vision.visual_memory("Qwen/Qwen2.5-VL-3B-Instruct", 2000, attention="eager").attention_score_bytes
    assert e2 == 4 * e1 > 0
    assert "vision tower" in str(small)
    with pytest.raises(ValueError, match="no vision tower"):
        vision.visual_memory("Qwen/Qwen3-0.6B", 10)


@pytest.mark.parametrize("model", ["Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen3-VL-2B-Instruct"])
def test_token_budget_is_the_largest_count_that_fits(model):
    memory = {"Qwen/Qwen2.5-VL-3B-Instruct": 9e9, "Qwen/Qwen3-VL-2B-Instruct": 6e9}[model]
    budget = vision.token_budget(model, memory_bytes=memory)
    assert 0 < budget.tokens < 16384
    assert vision.visual_memory(model, budget.tokens).total_bytes <= memory
    assert vision.visual_memory(model, budget.tokens + 1).total_bytes > memory
    assert budget.max_pixels == budget.tokens * vision.spec(model).factor ** 2
    eager = vision.token_budget(model, memory_bytes=memory, attention="eager")
    assert eager.tokens < budget.tokens


def test_token_budget_limits():
    budget = vision.token_budget("Qwen/Qwen2.5-VL-3B-Instruct", memory_bytes=1e9)
    assert budget.tokens == 0 and "alone need" in budget.note
    roomy = vision.token_budget("Qwen/Qwen3-VL-2B-Instruct", memory_bytes=80e9)
    assert roomy.tokens == 16384 and "maximum" in roomy.note and "max_pixels" in str(roomy)


def test_guard_passes_small_images_and_downsizes_big_ones():
    small = Image.new("RGB", (320, 240))
    kept = vision.guard(small, "qwen2.5-vl", max_tokens=1000)
    assert kept.images[0] is small and "within" in kept.message
    big = [Image.new("RGB", (4000, 3000)), Image.new("RGB", (1920, 1080))]
    out = vision.guard(big, "qwen2.5-vl", max_tokens=1500)
    assert sum(out.tokens_after) <= 1500 < sum(out.tokens_before)
    for im, cost in zip(out.images, out.tokens_after):
        assert im.width % 28 == 0 and im.height % 28 == 0
        assert vision.image_tokens(*im.size, "qwen2.5-vl").tokens == cost  # the processor will not resize again
    assert out.tokens_after[0] > out.tokens_after[1]  # shares follow the original costs


def test_guard_refuses_with_a_clear_message():
    big = Image.new("RGB", (4000, 3000))
    with pytest.raises(vision.VisualBudgetError, match="budget here is 500.*max_pixels"):
        vision.guard(big, "qwen3-vl", max_tokens=500, downsize=False)
    with pytest.raises(vision.VisualBudgetError):  # below Qwen3-VL's 64-token minimum per image
        vision.guard([big, big], "qwen3-vl", max_tokens=100)


GOOD = '[{"bbox_2d": [10, 20, 110, 220], "label": "cat"}, {"bbox_2d": [5, 5, 50, 50], "label": "dog"}]'


@pytest.mark.parametrize("text", [
    GOOD,
    f"Here you go:\n```json\n{GOOD}\n```\nAnything else?",
    f"```\n{GOOD}",  # fence never closed
    GOOD.replace('"', "'"),  # Python-literal quoting
    GOOD[:-1] + ",]",  # trailing comma
    f"The boxes are {GOOD} as requested.",
])
def test_parse_grounding_reads_common_shapes(text):
    found = vision.parse_grounding(text)
    assert [b.label for b in found.boxes] == ["cat", "dog"] and not found.problems
    assert found.boxes[0] == vision.Box("cat", 10, 20, 110, 220)


def test_parse_grounding_reports_damage_instead_of_crashing():
    cut = vision.parse_grounding(GOOD[:60])
    assert [b.label for b in cut.boxes] == ["cat"] and "cut off" in cut.problems[0]
    single = vision.parse_grounding('{"bbox_2d": ["1", "2", "3", "4"], "text_content": "TOTAL"}')
    assert single.boxes == [vision.Box("TOTAL", 1, 2, 3, 4)]
    mixed = vision.parse_grounding('[{"bbox_2d": [1, 2, 3]}, {"label": "x"}, 7, '
                                   '{"bbox_2d": [9, 9, 1, 1], "label": "y"}]')
    assert [b.label for b in mixed.boxes] == ["y"] and mixed.boxes[0] == vision.Box("y", 1, 1, 9, 9)
    assert len(mixed.problems) == 4 and "swapped" in mixed.problems[-1]
    for junk in ("", None, "I cannot see any objects.", "[[[", "{'bbox_2d': [1, 2, 3, 4]"):
        found = vision.parse_grounding(junk)
        assert found.boxes == [] or junk.startswith("{")
        assert found.problems
        assert "problem" in str(found)
    with pytest.raises(vision.GroundingError, match="no readable JSON"):
        vision.parse_grounding("no boxes", strict=True)


def test_to_pixels_for_each_generation():
    rel = vision.to_pixels([vision.Box("a", 100, 250, 500, 1000)], "qwen3-vl", (1920, 1080))
    assert rel.boxes == [vision.Box("a", 192, 270, 960, 1080)] and not rel.problems
    # Qwen2.5-VL answers in pixels of the resized image: 1920x1080 -> 1932x1092
    absolute = vision.to_pixels([vision.Box("a", 0, 0, 1932, 1092)], "qwen2.5-vl", (1920, 1080))
    assert absolute.boxes[0] == vision.Box("a", 0, 0, 1920, 1080)
    given = vision.to_pixels([vision.Box("a", 10, 10, 20, 20)], "qwen2.5-vl", (100, 100), resized_size=(50, 50))
    assert given.boxes[0] == vision.Box("a", 20, 20, 40, 40)
    clipped = vision.to_pixels(vision.parse_grounding('[{"bbox_2d": [-5, 0, 1200, 500], "label": "b"}]'),
                               "qwen3-vl", (100, 100))
    assert clipped.boxes[0] == vision.Box("b", 0, 0, 100, 50) and "clipped" in clipped.problems[0]
    with pytest.raises(ValueError, match="not verified"):
        vision.to_pixels([], "qwen2-vl", (10, 10))


def test_box_iou():
    a = vision.Box("a", 0, 0, 10, 10)
    assert a.iou(a) == 1 and a.iou(vision.Box("b", 20, 20, 30, 30)) == 0
    assert a.iou(vision.Box("c", 5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_draw_boxes_marks_a_copy():
    image = Image.new("RGB", (200, 100), "white")
    out = vision.draw_boxes(image, [vision.Box("thing", 20, 30, 120, 90)])
    assert out.size == image.size and out is not image
    assert image.getpixel((20, 60)) == (255, 255, 255) and out.getpixel((20, 60)) != (255, 255, 255)


def test_shipped_images_are_small_and_match_their_boxes(tmp_path):
    for name in ("chart", "receipt", "shapes"):
        image = vision.load_image(name)
        assert image.mode == "RGB" and min(image.size) >= 200
        assert (vision.IMAGES_DIR / f"{name}.png").stat().st_size < 40_000
    shapes = vision.load_image("shapes")
    for box in vision.true_boxes():
        centre = (int((box.x1 + box.x2) / 2), int(box.y1 + 0.7 * (box.y2 - box.y1)))
        assert shapes.getpixel(centre) != shapes.getpixel((2, 2)), box.label  # the shape is inside its box
    made = vision.make_images(tmp_path)
    assert set(made) == {"chart", "receipt", "shapes"}
    assert (tmp_path / "shapes.json").read_text() == (vision.IMAGES_DIR / "shapes.json").read_text()
    with pytest.raises(FileNotFoundError, match="shipped"):
        vision.load_image("nope")


def test_video_frames_move():
    frames = vision.video_frames(6, (160, 90))
    assert len(frames) == 6 and frames[0].size == (160, 90)
    assert frames[0].tobytes() != frames[-1].tobytes()
