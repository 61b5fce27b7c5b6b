"""Qwen3.5's native vision next to Qwen3-VL (issue 21, lesson 05): what transformers 5.24 says about each generation,
the real processor classes counting visual tokens with Qwen3.5's own token ids, and the measured prefill per
attention implementation."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from qwen_course import offline, vision

SIZES = [(640, 400), (1920, 1080), (333, 777), (64, 64), (4000, 3000)]


@pytest.fixture(scope="module")
def qwen35_processor():
    """The Qwen3.5 stand-in's processor: transformers' Qwen3VLProcessor with the 248k tokenizer (video needs torchvision)."""
    return offline.load_processor(offline.build("qwen3.5-small"))


@pytest.fixture(scope="module")
def qwen3vl_processor():
    return offline.load_processor(offline.build("qwen3-vl"))


def test_transformers_names_qwen35s_own_vision_tokens_and_qwen3vls_geometry():
    q35, q3vl = vision.library_facts("qwen3_5"), vision.library_facts("qwen3_vl")
    assert [q35[f"{n} token id"] for n in vision.TOKEN_NAMES] == [248056, 248057, 248053, 248054]
    assert [q3vl[f"{n} token id"] for n in vision.TOKEN_NAMES] == [151655, 151656, 151652, 151653]
    assert q35["processor"] == q3vl["processor"] == "Qwen3VLProcessor"  # the same processor class...
    assert q35["image processor"] == q3vl["image processor"]  # ...and image processor
    for key in ("patch_size", "spatial_merge_size", "temporal_patch_size"):
        assert q35[key] == q3vl[key]  # the same patch geometry: 16 px patches, 2x2 merge, 2 frames
    assert vision.library_facts("qwen3_5_moe")["image token id"] == 248056
    # The class default bounds are Qwen2-VL's, not a Qwen3.5 release's: the release's preprocessor_config decides.
    assert q35["image processor class default bounds"] == "3,136 to 1,003,520 pixels"


def test_a_qwen35_processor_writes_its_own_ids(qwen35_processor, qwen3vl_processor):
    ids35, ids3 = vision.token_ids(qwen35_processor), vision.token_ids(qwen3vl_processor)
    assert ids35 == {n: vision.library_facts("qwen3_5")[f"{n} token id"] for n in vision.TOKEN_NAMES}
    assert ids3 == {n: vision.library_facts("qwen3_vl")[f"{n} token id"] for n in vision.TOKEN_NAMES}
    assert qwen35_processor.image_token_id == 248056


def test_spec_of_a_qwen35_processor_is_qwen35(qwen35_processor, qwen3vl_processor):
    s = vision.spec(qwen35_processor)
    assert (s.name, s.factor, s.coordinates) == ("qwen3.5", 32, None)  # grounding format: not verified
    assert vision.spec(qwen3vl_processor).name == "qwen3-vl"
    with pytest.raises(ValueError, match="not verified"):
        vision.to_pixels([vision.Box("x", 0, 0, 10, 10)], s, (100, 100))


@pytest.mark.parametrize("size", SIZES)
def test_qwen35_visual_tokens_equal_the_real_processor(qwen35_processor, qwen3vl_processor, size):
    """The real processor classes count the same tokens for both generations; only the ids in the prompt differ."""
    image = Image.new("RGB", size)
    counts = {}
    for processor in (qwen35_processor, qwen3vl_processor):
        messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "?"}]}]
        batch = processor.apply_chat_template(messages, tokenize=True, add_generation_prompt=True,
                                              enable_thinking=False, return_dict=True, return_tensors="np")
        pads = int((batch["input_ids"] == processor.image_token_id).sum())
        predicted = vision.image_tokens(*size, processor)
        assert pads == predicted.tokens == math.prod(batch["image_grid_thw"][0]) // 4
        counts[vision.spec(processor).name] = pads
    assert counts["qwen3.5"] == counts["qwen3-vl"]


def test_image_for_costs_exactly_the_asked_tokens(qwen35_processor):
    for tokens in (64, 256, 1024, 96):
        image = vision.image_for(tokens, qwen35_processor)
        assert vision.image_tokens(*image.size, qwen35_processor).tokens == tokens
    with pytest.raises(ValueError, match="outside the processor's bounds"):
        vision.image_for(10, qwen35_processor)


def test_prefill_seconds_per_attention_restores_the_model(qwen3vl_processor):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(offline.build("qwen3-vl"), dtype="float32")
    ticks = iter(range(1000))
    rows = vision.prefill_seconds(model, qwen3vl_processor, tokens=(64,), attentions=("sdpa", "eager", "flash_attention_2"),
                                  clock=lambda: next(ticks))
    by = {r.attention: r for r in rows}
    assert by["sdpa"].seconds == by["eager"].seconds == 1 and by["sdpa"].patches == 256
    assert by["flash_attention_2"].seconds is None and "ImportError" in by["flash_attention_2"].error
    assert vision.attention_implementation(model) == "sdpa"
    frame = vision.prefill_frame(rows)
    assert list(frame.columns) == ["eager", "flash_attention_2", "sdpa"]
    with pytest.raises(ValueError, match="part must be"):
        vision.prefill_seconds(model, qwen3vl_processor, part="tower")


def test_prefill_keeps_the_asked_tokens_whatever_the_processors_bounds(qwen3vl_processor, monkeypatch):
    """Lesson 05 caps the processor at 256 tokens before it times 1,024-token images: the measurement must not shrink."""
    import copy

    from transformers import AutoModelForImageTextToText

    capped = copy.deepcopy(qwen3vl_processor)
    capped.image_processor.size = {"shortest_edge": 64 * 32 * 32, "longest_edge": 256 * 32 * 32}
    model = AutoModelForImageTextToText.from_pretrained(offline.build("qwen3-vl"), dtype="float32")
    seen = []
    original = model.get_image_features
    monkeypatch.setattr(model, "get_image_features", lambda **kw: seen.append(kw["image_grid_thw"].tolist()) or original(**kw))
    vision.prefill_seconds(model, capped, tokens=(1024,), attentions=("sdpa",))
    assert seen and all(math.prod(grid[0]) // 4 == 1024 for grid in seen)
