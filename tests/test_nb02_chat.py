"""Notebook 02's key outputs: loading measured, templates rendered, sampling measured, batching identical, variants."""

import pytest

from conftest import image_count, notebook_text, plain_text


@pytest.mark.slow
def test_notebook_02(run_notebook):
    res = run_notebook("02")
    text = notebook_text(res["nb"])
    assert "loaded Qwen3ForCausalLM" in text and "weights on disk" in text
    assert "dtype='auto' -> torch.bfloat16" in text
    assert "You are Qwen, created by Alibaba Cloud. You are a helpful assistant." in text  # Qwen2.5's default system prompt
    assert "'<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'" in text  # Qwen3: none
    assert "identical to one-by-one: [True, True, True]" in text
    assert "refused: the newest message needs" in text and "dropped so far 2" in text
    assert "<|fim_prefix|>" in text and "illustrative answer -> 84" in text
    assert "entropy (bits)" in text and image_count(res["nb"]) >= 1
    assert plain_text(res["nb"]).count("[TODO]") == 3
