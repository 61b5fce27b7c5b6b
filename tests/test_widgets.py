"""qwen_course.widgets: the chooser's decision (plain function) and the form that renders it."""

from __future__ import annotations

import pytest

from qwen_course import widgets
from qwen_course.hardware import describe
from qwen_course.picker import pick


@pytest.mark.parametrize("task, memory_gb, context, machine", [
    ("chat", 16, 4096, "GPU, Ampere or newer (bf16)"),
    ("coder", 8, 8192, "CPU only (RAM)"),
    ("chat", 24, 32768, "GPU, Ampere or newer (bf16)"),
])
def test_choose_is_the_pickers_decision(task, memory_gb, context, machine):
    device, cc = widgets.MACHINES[machine]
    expected = pick(task, describe(device, memory_gb, **({"compute_capability": cc} if cc else {})), context)
    got = widgets.choose(task, memory_gb, context, machine)
    assert (got.model_id, got.precision, got.total_bytes) == (expected.model_id, expected.precision,
                                                              expected.estimate.total_bytes)
    assert got.fits and got.reason == expected.reason
    assert got.alternatives == expected.alternatives[:4]


def test_older_gpus_get_no_bf16():
    got = widgets.choose("chat", 16, 4096, "GPU, older: T4 / V100 (fp16)")
    assert got.precision in ("fp16", "int4")


def test_nothing_fits_is_an_answer_not_an_error():
    got = widgets.choose("chat", 0.5, 4096, "CPU only (RAM)")
    assert not got.fits and got.model_id is None
    assert "Not enough memory" in got.reason
    assert "nothing fits" in str(got) and "nothing fits" in got._repr_html_()


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "poetry"}, "unknown task"),
    ({"machine": "TPU"}, "unknown machine"),
    ({"memory_gb": 0}, "memory must be a finite number of GB above 0"),
])
def test_bad_inputs_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.choose(**kwargs)


def test_choice_renders_as_table():
    got = widgets.choose("chat", 24, 4096)
    text, html = str(got), got._repr_html_()
    assert got.model_id in text and "why" in text and "alternative" in text
    assert got.model_id in html and html.startswith("<table>")
    assert repr(got) == text


def test_model_chooser_updates_when_a_control_changes():
    form = widgets.model_chooser("chat", 24, 8192)
    assert set(form.controls) == {"task", "machine", "memory_gb", "context"}
    assert widgets.choose("chat", 24, 8192).model_id in form.result.value
    form.controls["task"].value = "coder"
    assert widgets.choose("coder", 24, 8192).model_id in form.result.value
    form.controls["machine"].value = "CPU only (RAM)"
    form.controls["memory_gb"].value = 8
    assert widgets.choose("coder", 8, 8192, "CPU only (RAM)").model_id in form.result.value


def test_model_chooser_accepts_any_context():
    form = widgets.model_chooser(context=12000)
    assert form.controls["context"].value == 12000


def test_choose_only_plans_it_builds_no_stand_in(monkeypatch):
    """A described machine is planned for, not loaded: offline, choose() must not write a stand-in (lesson 01 showed a
    frozen 'Writing model shards' bar from it)."""
    from qwen_course import offline

    def refuse(*args, **kwargs):
        raise AssertionError("choose() built a stand-in")

    monkeypatch.setenv("QWEN_COURSE_OFFLINE", "1")
    monkeypatch.setattr(offline, "build", refuse)
    assert widgets.choose("chat", 16, 4096, "GPU, Ampere or newer (bf16)").fits
