"""Notebook 06 (LoRA fine-tuning) run offline: it learns measurably, keeps its work, resumes exactly, and shows it."""

from __future__ import annotations

import re

import pytest
from conftest import folded_solutions, image_count, notebook_text, plain_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(run_notebook):
    return run_notebook("06")


@pytest.fixture(scope="module")
def text(run):
    return notebook_text(run["nb"])


def test_runs_offline_on_the_stand_in(text):
    assert "OFFLINE: fine-tuning the tiny random stand-in (qwen3) of Qwen/" in text
    assert "trainer: TrainedPositionsSFTTrainer" in text  # the CPU loss path
    assert "trainable params:" in text


def test_validation_loss_falls_by_a_third_and_exact_match_rises(text):
    loss = re.search(r"Validation loss ([\d.]+) \(step 0\) -> ([\d.]+) \(step (\d+)\): (\d+)% lower", text)
    assert loss, "the notebook prints the validation loss before and after"
    start, end = float(loss.group(1)), float(loss.group(2))
    assert (start - end) / start >= 0.30, (start, end)
    match = re.search(r"Exact match ([\d.]+)% -> ([\d.]+)% \((\d+) -> (\d+) of (\d+)\)", text)
    assert match, "the notebook prints exact match before and after"
    before, after = int(match.group(3)), int(match.group(4))
    assert after > before, (before, after)


def test_the_labels_are_shown_and_train_only_the_reply(text):
    assert "chat template has {% generation %} markers: False" in text
    assert re.search(r"\d+ tokens, 13 of them trained", text)
    assert "trained tokens per example: 13-13" in text


def test_loss_curve_and_tensorboard_logs(run):
    from qwen_course import home

    assert image_count(run["nb"]) >= 1
    assert any((home() / "runs" / "06_lora").rglob("events.out.tfevents.*")), "notebook 07 reads these"


def test_saved_reloaded_merged_and_resumed(text):
    assert "adapter_model.safetensors" in text and "adapter_config.json" in text
    assert "reloaded adapter gives the same answers: True" in text
    assert "merged model gives the same answers:    True" in text
    resumed = re.search(r"resumed from checkpoint-(\d+), reached step (\d+) of (\d+); largest difference from the "
                        r"uninterrupted adapter: ([\d.e+-]+)", text)
    assert resumed, "the resume demonstration reports its result"
    assert resumed.group(2) == resumed.group(3) and int(resumed.group(1)) < int(resumed.group(2))
    assert float(resumed.group(4)) <= 1e-5


def test_scaling_out_configs_and_nothing_published(text):
    assert "distributed_type: FSDP" in text and "fsdp_transformer_layer_cls_to_wrap: Qwen3DecoderLayer" in text
    assert "accelerate launch --config_file" in text
    assert "not publishing (PUSH_TO_HUB is empty)" in text
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", text), "never print a token"


def test_exercises_wait_for_answers_and_solutions_compile(run):
    shown = plain_text(run["nb"])
    assert shown.count("[TODO]") == 7 and "[FAIL]" not in shown and "could not check" not in shown
    solutions = folded_solutions("06")
    assert len(solutions) == 7
    for _, code in solutions:
        compile(code, "<solution>", "exec")
