"""Notebook 00's key outputs: packages, hardware table, picks per task, memory plot, a generated answer, exercises."""

import pytest

from conftest import image_count, notebook_text, plain_text


@pytest.mark.slow
def test_notebook_00(run_notebook):
    res = run_notebook("00")
    text = notebook_text(res["nb"])
    assert "All required packages are installed." in text
    assert "memory a model may use" in text
    for task in ("chat", "thinking", "vision", "coder", "math"):
        assert task in text
    assert "offline stand-in" in text and "Qwen3ForCausalLM loaded" in text
    assert "tokens/s" in text and "<|im_start|>assistant" in text
    assert "4.83 GB" in text  # the Qwen3-8B KV cache at 32K
    assert image_count(res["nb"]) >= 1
    assert plain_text(res["nb"]).count("[TODO]") == 3  # the exercises start unanswered and say so
