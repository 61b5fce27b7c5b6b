"""Notebook 05 (vision-language): each exercise's solution passes its check; an offline run shows the key outputs."""

from __future__ import annotations

import re

import nbformat
import pytest

from conftest import find_notebook, folded_solutions, image_count, notebook_text
from qwen_course import exercises, vision

SOLVED_BY = {  # the answer variable each exercise asks for -> its check
    "answer_1080p": exercises.check_image_tokens_1080p,
    "max_pixels_4gb": exercises.check_max_pixels_for_budget,
    "clip_tokens": exercises.check_video_tokens,
    "box_to_pixels": exercises.check_box_to_pixels,
    "padding_side": exercises.check_padding_side,
}


def solutions() -> dict:
    """Run every folded solution's code block, as a learner pasting it would; return the answers it defines."""
    namespace = {"vision": vision}
    for _, block in folded_solutions("05"):
        exec(block, namespace)  # noqa: S102 - our own notebook's solution text
    return namespace


def test_every_exercise_starts_unanswered_and_its_solution_passes():
    answers = solutions()
    cells = nbformat.read(find_notebook("05"), as_version=4).cells
    source = "\n".join(c.source for c in cells if c.cell_type == "code")
    for name, check in SOLVED_BY.items():
        assert re.search(rf"^{name} = None", source, re.M), f"{name} must start as None in the notebook"
        assert f"{check.__name__}({name})" in source
        unanswered = check(None)
        assert unanswered.passed is None and "not answered yet" in str(unanswered)
        result = check(answers[name])
        assert result.passed, f"{name}: {result}"


@pytest.mark.parametrize("check, wrong, says", [
    (exercises.check_image_tokens_1080p, {"qwen2.5-vl": 2644, "qwen3-vl": 2025}, "rounding"),
    (exercises.check_image_tokens_1080p, {"qwen2.5-vl": 2691, "qwen3-vl": 8100}, "patches"),
    (exercises.check_max_pixels_for_budget, 1000, "multiple of 32x32"),
    (exercises.check_max_pixels_for_budget, 1024 * 1000, "throwing detail away"),
    (exercises.check_max_pixels_for_budget, 1024 * 16384, "over the 4 GB"),
    (exercises.check_video_tokens, 4400, "two consecutive frames"),
    (exercises.check_box_to_pixels, lambda bbox, generation, width, height: bbox, "0-1000 scale"),
    (exercises.check_box_to_pixels, lambda *args: None, "could not check"),
    (exercises.check_padding_side, "right", "pad tokens"),
    (exercises.check_image_tokens_1080p, "2691", "could not check"),
])
def test_wrong_answers_get_a_reason_not_a_traceback(check, wrong, says):
    result = check(wrong)
    assert result.passed is False and says in str(result)
    assert "hint:" in str(result)


@pytest.mark.slow
def test_offline_run_shows_the_lesson(run_notebook):
    result = run_notebook("05")
    nb, text = result["nb"], notebook_text(result["nb"])
    assert "Traceback" not in text
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert "offline stand-in for Qwen/" in text
    # the processor's <|image_pad|> count equals the prediction
    pads, predicted = re.search(r"<\|image_pad\|> tokens in the prompt: (\d+)\s+vision.image_tokens predicted: (\d+)",
                                text).groups()
    assert pads == predicted
    # the tokens-vs-resolution table, both generations
    assert re.search(r"1920x1080\s+2\.1 \|\s+1932x1092\s+2,691 \|\s+1920x1088\s+2,040", text)
    capped = re.search(r"max 256 tokens\s+1600x1000 -> \d+x\d+, ([\d,]+) tokens", text)
    assert int(capped.group(1).replace(",", "")) <= 256  # max_pixels in practice
    assert "refused:" in text  # the guard, asked not to downsize
    # grounding: the illustrative answers land on the true boxes, the misread one does not
    for name in ("qwen2.5-vl", "qwen3-vl"):
        found = re.search(rf"{name}: 4 boxes, IoU with the true boxes ([\d., ]+)", text).group(1)
        ious = [float(x) for x in found.split(", ")]
        assert min(ious) > 0.85, (name, ious)
    misread = re.search(r"read as pixels: IoU ([\d., ]+)", text).group(1).split(", ")
    assert max(float(x) for x in misread) < 0.5
    assert "the answer was cut off" in text and "no readable JSON" in text
    assert "padding per row: [0, " in text
    assert set(re.findall(r"\[TODO\] (check_\w+): not answered yet", text)) == {c.__name__ for c in SOLVED_BY.values()}
    assert image_count(nb) >= 4


def _source() -> str:
    return "\n".join(c.source for c in nbformat.read(find_notebook("05"), as_version=4).cells)


def test_every_chat_prompt_states_its_thinking_mode_and_samples():
    """Issue 18 item 1 / issue 21: Qwen3.5 from 4B thinks by default; no greedy decoding anywhere in the lesson."""
    cells = [c.source for c in nbformat.read(find_notebook("05"), as_version=4).cells if c.cell_type == "code"]
    calls = [m for src in cells for m in re.findall(r"apply_chat_template\((?:[^()]|\([^()]*\))*\)", src, re.S)]
    prompts = [call for call in calls if "add_generation_prompt=True" in call]
    assert len(prompts) >= 8
    for call in prompts:
        assert "enable_thinking=" in call or "chat_template_kwargs" in call or "**thinking" in call, call
    source = "\n".join(cells)
    assert "do_sample=False" not in source
    generates = re.findall(r"model\.generate\([^\n]*\)", source)
    assert generates and all("**sampling" in g for g in generates), generates
    assert 'sampling = p.generate_kwargs("non-thinking")' in source
    # the token-counting cell compares two processors and renders no generation prompt, so it needs no switch
    assert "add_generation_prompt=False,\n" in source


def test_public_sources_and_public_names_only():
    """Issue 18 items 12 and 13."""
    source = _source()
    assert "QWEN_FACTS" not in source and "HYBRID_FACTS" not in source
    assert not re.search(r"import[^\n]*\b_\w+|from qwen_course[\w.]*\._", source)
    assert "disable_progress_bar()" in source


def test_qwen35_vision_is_taught_with_what_is_verified():
    source = _source()
    assert "248056" in source and "**Verified**" in source and "**Assumed**" in source
    assert "**not verified by the course**" in source  # Qwen3.5's grounding format
    for kernel in ("sdpa", "eager", "flash_attention_2"):
        assert f'"{kernel}"' in source


@pytest.mark.slow
def test_offline_run_shows_qwen35_beside_qwen3vl_and_the_attention_kernels(run_notebook):
    result = run_notebook("05")
    text = notebook_text(result["nb"])
    assert "Loading weights" not in text  # issue 18 item 13
    assert "'qwen3_5': 'Qwen3_5ForConditionalGeneration'" in text  # AutoModelForImageTextToText's mapping, printed
    assert "248056" in text and "151655" in text  # library_facts for Qwen3.5 and Qwen3-VL
    lines = re.findall(r"\((qwen[\w.-]+)\): image_grid_thw (\[[\d, ]+\]), (\d+) x <\|image_pad\|> = id (\d+).*predicted (\d+)",
                       text)
    assert {line[0] for line in lines} == {"qwen3.5", "qwen3-vl"}
    assert len({line[1] for line in lines}) == 1 and len({line[2] for line in lines}) == 1  # same grid, same count
    assert {line[3] for line in lines} == {"248056", "151655"}  # different ids
    assert all(line[2] == line[4] for line in lines)
    assert re.search(r"sdpa: \d+x the visual tokens took [\d.]+x the time", text)
    assert re.search(r"eager: \d+x the visual tokens took [\d.]+x the time", text)
    assert "flash_attention_2 here: ImportError" in text
    assert "grounding format not verified; reading its boxes as qwen3-vl's" in text
    assert "this lesson asks enable_thinking=False and samples with {'do_sample': True" in text
