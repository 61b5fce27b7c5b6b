"""Lesson 05's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason."""

import pytest

from conftest import fails, folded_solutions, passes
from qwen_course import vision
from qwen_course.exercises import (
    check_box_to_pixels, check_image_tokens_1080p, check_max_pixels_for_budget, check_padding_side, check_video_tokens,
)

CHECKS = [check_image_tokens_1080p, check_max_pixels_for_budget, check_video_tokens, check_box_to_pixels,
          check_padding_side]


@pytest.fixture(scope="module")
def solved():
    ns = {"vision": vision}
    pairs = folded_solutions("05")
    assert [call.split("(")[0] for call, _ in pairs] == [c.__name__ for c in CHECKS]
    results = []
    for call, code in pairs:
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
        results.append(eval(call, {**ns, **{c.__name__: c for c in CHECKS}}))  # noqa: S307 - the notebook's call
    return ns, results


def test_every_folded_solution_passes_its_notebook_call(solved):
    for result in solved[1]:
        passes(result)


@pytest.mark.parametrize("check", CHECKS)
def test_placeholders_are_not_answered_yet(check):
    for placeholder in (None, ...):
        result = check(placeholder)
        assert result.passed is None and "not answered yet" in str(result)


def test_image_tokens_1080p():
    passes(check_image_tokens_1080p({"qwen2.5-vl": 69 * 39, "qwen3-vl": 60 * 34}))  # worked by hand in the solution
    fails(check_image_tokens_1080p({"qwen2.5-vl": 1920 * 1080 // 28**2, "qwen3-vl": 2040}), "skips the rounding")
    fails(check_image_tokens_1080p({"qwen2.5-vl": 2691, "qwen3-vl": 1920 * 1080 // 16**2}), "counts patches")
    fails(check_image_tokens_1080p({"qwen2.5-vl": 68 * 38, "qwen3-vl": 2040}), "rounds the sides down")
    fails(check_image_tokens_1080p({"qwen2.5-vl": 2691}), "None is not it")
    fails(check_image_tokens_1080p([2691, 2040]), "could not check")


def test_max_pixels_for_budget(solved):
    right = solved[0]["max_pixels_4gb"]
    passes(check_max_pixels_for_budget(right))
    fails(check_max_pixels_for_budget(right + 1024), "over the 4 GB")  # one token too many
    fails(check_max_pixels_for_budget(right // 2 // 1024 * 1024), "throwing detail away")
    fails(check_max_pixels_for_budget(right + 1), "multiple of 32x32")
    fails(check_max_pixels_for_budget(right // 1024 * 28 * 28), "multiple of 32x32")  # Qwen2.5-VL's 28x28 tokens


def test_video_tokens():
    passes(check_video_tokens(2200))
    fails(check_video_tokens(4400), "two consecutive frames")
    fails(check_video_tokens(2400), "rounds the sides up")
    fails(check_video_tokens(1100), "20 frames")
    fails(check_video_tokens("2200 tokens"), "could not check")


def test_box_to_pixels(solved):
    right = solved[0]["box_to_pixels"]
    passes(check_box_to_pixels(right))

    def everything_per_mille(bbox, generation, width, height):  # Qwen2.5-VL boxes are pixels, not per mille
        x1, y1, x2, y2 = bbox
        return x1 * width / 1000, y1 * height / 1000, x2 * width / 1000, y2 * height / 1000

    def original_pixels(bbox, generation, width, height):  # Qwen2.5-VL boxes are in the resized image
        return bbox if generation == "qwen2.5-vl" else everything_per_mille(bbox, generation, width, height)

    fails(check_box_to_pixels(everything_per_mille), "pixels of the resized image")
    fails(check_box_to_pixels(original_pixels), "pixels of the resized image")
    fails(check_box_to_pixels(lambda bbox, generation, width, height: bbox), "0-1000 scale")
    fails(check_box_to_pixels(lambda bbox: bbox), "could not check")


def test_padding_side():
    passes(check_padding_side("left"))
    passes(check_padding_side(" Left "))
    fails(check_padding_side("right"), "pad tokens")
    fails(check_padding_side("both"), "answer 'left' or 'right'")


def test_every_check_of_the_lesson_has_its_own_test():
    from pathlib import Path

    from qwen_course.exercises import lesson05 as lesson

    source = Path(__file__).read_text()
    checks = [n for n in dir(lesson) if n.startswith("check_") and getattr(lesson, n).__module__ == lesson.__name__]
    assert checks and all(f"def test_{name[6:]}" in source for name in checks)
