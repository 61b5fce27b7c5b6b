"""The hybrid cache (Qwen3.5 / 3.6 / Qwen3-Next): only full-attention layers grow with the context; every Gated DeltaNet
layer holds a fixed convolution window (model dtype) and a recurrent state (fp32 even in a bf16 model).

The slow test builds narrow models with the exact attention geometry of real checkpoints (layers, heads, KV heads,
head_dim, linear heads, conv kernel; hidden size and vocabulary shrunk, which no cache tensor depends on), prefills
several lengths on CPU, and sums the tensors the DynamicCache really holds.
"""

from __future__ import annotations

import pytest

from qwen_course import catalog, memory

# Measured in transformers 5.24 on CPU (batch 1): K/V after 1,024 tokens, conv state, recurrent state.
MEASURED = {
    ("Qwen/Qwen3.5-0.8B", "bf16"): (12_582_912, 884_736, 18_874_368),
    ("Qwen/Qwen3.5-0.8B", "fp32"): (25_165_824, 1_769_472, 18_874_368),
    ("Qwen/Qwen3.5-9B", "bf16"): (33_554_432, 1_572_864, 50_331_648),
    ("Qwen/Qwen3.5-35B-A3B", "bf16"): (20_971_520, 1_966_080, 62_914_560),
}


@pytest.mark.parametrize("model_id, precision", list(MEASURED))
def test_formula_equals_the_measured_bytes(model_id, precision):
    kv_1024, conv, recurrent = MEASURED[(model_id, precision)]
    assert memory.kv_bytes_per_token(model_id, precision) * 1024 == kv_1024
    assert memory.state_bytes(model_id, precision) == conv + recurrent
    assert memory.cache_bytes(model_id, precision, 1024) == kv_1024 + conv + recurrent


def test_recurrent_state_stays_fp32_in_a_16_bit_model():
    bf16, fp32 = memory.state_bytes("Qwen/Qwen3.5-9B", "bf16"), memory.state_bytes("Qwen/Qwen3.5-9B", "fp32")
    assert fp32 - bf16 == 1_572_864  # only the conv window doubles; the recurrent state is fp32 in both


def test_hybrid_cache_is_a_quarter_of_the_dense_one():
    """The issue's example: at 128K Qwen3.5-9B caches 4.3 GB in bf16, a Qwen3-8B-style model 19 GB."""
    hybrid = memory.estimate("Qwen/Qwen3.5-9B", "bf16", 131072).kv_cache_bytes
    dense = memory.estimate("Qwen/Qwen3-8B", "bf16", 131072).kv_cache_bytes
    assert round(hybrid / 1e9, 1) == 4.3 and round(dense / 1e9) == 19
    assert memory.kv_bytes_per_token("Qwen/Qwen3.5-9B") == 32_768 and memory.kv_bytes_per_token("Qwen/Qwen3-8B") == 147_456


def test_dense_models_have_no_fixed_state():
    assert memory.state_bytes("Qwen/Qwen3-8B") == 0
    assert memory.cache_bytes("Qwen/Qwen3-8B", "bf16", 10) == 10 * memory.kv_bytes_per_token("Qwen/Qwen3-8B")
    assert memory.estimate("Qwen/Qwen3.5-9B", "bf16", 0).kv_cache_bytes == 0  # weights only: no cache at all


def test_estimate_says_what_it_counted():
    est = memory.estimate("Qwen/Qwen3.5-35B-A3B", "bf16", 262144)
    assert sum(est.breakdown.values()) == est.total_bytes
    labels = " | ".join(est.breakdown)
    assert "vision tower" in labels and "all 256 experts resident" in labels and "10 of 40 layers" in labels
    assert "Gated DeltaNet state" in labels and est.state_bytes == memory.state_bytes("Qwen/Qwen3.5-35B-A3B")
    notes = " ".join(est.notes)
    assert "fp32" in notes and "MTP" in notes and "8 routed + 1 shared" in notes
    assert "Gated DeltaNet state" in str(est) and est.to_dict()["breakdown"] == est.breakdown


def test_download_is_reported_apart_from_memory():
    est = memory.estimate("Qwen/Qwen3.5-9B", "bf16", 4096)
    assert est.download_bytes == memory.download_bytes("Qwen/Qwen3.5-9B") == 2 * catalog.download_params("Qwen/Qwen3.5-9B")
    assert est.download_bytes > est.weights_bytes  # the MTP layer is downloaded but not loaded
    # Qwen's FP8 releases: measured on disk, 482.2 GB and 31.2 GB
    assert memory.download_bytes("Qwen/Qwen3-Coder-480B-A35B-Instruct", "fp8") / 1e9 == pytest.approx(482.2, rel=2e-3)
    assert memory.download_bytes("Qwen/Qwen3-Coder-30B-A3B-Instruct", "fp8") / 1e9 == pytest.approx(31.2, rel=2e-3)
    assert memory.download_bytes("Qwen/Qwen3-Coder-480B-A35B-Instruct") / 1e9 == pytest.approx(960.3, rel=1e-3)
    with pytest.raises(ValueError, match="no 'fp8' release"):
        memory.download_bytes("Qwen/Qwen3.5-0.8B", "fp8")
    with pytest.raises(ValueError, match="use bf16 or fp8"):
        memory.download_bytes("Qwen/Qwen3.5-9B", "int3")


def test_fp8_release_keeps_embeddings_and_vision_in_bf16():
    fp8, bf16 = memory.estimate("Qwen/Qwen3.6-27B", "fp8"), memory.estimate("Qwen/Qwen3.6-27B", "bf16")
    assert 0.5 < fp8.weights_bytes / bf16.weights_bytes < 0.6
    assert fp8.breakdown["weights: vision tower"] == bf16.breakdown["weights: vision tower"]
    assert fp8.download_bytes == memory.download_bytes("Qwen/Qwen3.6-27B", "fp8")


GEOMETRIES = {  # checkpoint -> text-only class of the same layers
    "Qwen/Qwen3.5-0.8B": "Qwen3_5ForCausalLM",
    "Qwen/Qwen3.5-9B": "Qwen3_5ForCausalLM",
    "Qwen/Qwen3.5-35B-A3B": "Qwen3_5MoeForCausalLM",
}


def narrow_model(model_id: str, dtype):
    """The checkpoint's exact cache geometry with a tiny hidden size, MLP and vocabulary."""
    import torch
    import transformers
    from transformers import AutoConfig

    ckpt = catalog.get(model_id)
    config = dict(ckpt.text_config, hidden_size=64, intermediate_size=32, vocab_size=128)
    if ckpt.is_moe:
        config.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16, shared_expert_intermediate_size=16)
    torch.manual_seed(0)
    text_type = {"qwen3_5": "qwen3_5_text", "qwen3_5_moe": "qwen3_5_moe_text"}[ckpt.model_type]
    model = getattr(transformers, GEOMETRIES[model_id])(AutoConfig.for_model(text_type, **config))
    return model.to(dtype).eval()


@pytest.mark.slow
@pytest.mark.parametrize("model_id", list(GEOMETRIES))
def test_estimate_matches_the_cache_transformers_builds(model_id):
    import torch

    torch.set_num_threads(1)
    cases = [("bf16", torch.bfloat16)] + ([("fp32", torch.float32)] if model_id == "Qwen/Qwen3.5-0.8B" else [])
    for precision, dtype in cases:
        model = narrow_model(model_id, dtype)
        for length in (3, 67):  # shorter than the conv window, and past one 64-token chunk of the delta rule
            with torch.no_grad():
                out = model(torch.randint(0, 128, (1, length)), use_cache=True)
                cache = out.cache if hasattr(out, "cache") else out.past_key_values
                measured = memory.measured_cache_bytes(cache)
                assert measured == pytest.approx(memory.cache_bytes(model_id, precision, length), rel=0.01)
                assert measured == memory.cache_bytes(model_id, precision, length)  # in fact to the byte
                model(torch.randint(0, 128, (1, 1)), cache=cache, use_cache=True)  # one decode step
                grown = memory.measured_cache_bytes(cache) - measured
            assert grown == memory.kv_bytes_per_token(model_id, precision)
        recurrent = [t for layer in cache.layers for t in getattr(layer, "recurrent_states", {}).values()]
        assert recurrent and all(t.dtype == torch.float32 for t in recurrent)
