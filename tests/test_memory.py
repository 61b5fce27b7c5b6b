"""memory: weights, KV cache and overhead against hand arithmetic and the issue's reference numbers."""

import pytest

from qwen_course import memory


def test_qwen3_8b_reference_numbers():
    est = memory.estimate("Qwen/Qwen3-8B", "bf16", context=32768)
    assert est.parameters == pytest.approx(8.19e9, rel=0.002)
    assert est.weights_bytes == pytest.approx(16.4e9, rel=0.005)
    assert est.kv_cache_bytes == 36 * 8 * 128 * 2 * 2 * 32768  # layers x kv heads x head_dim x (K,V) x bytes x tokens
    assert est.kv_cache_bytes == pytest.approx(4.83e9, rel=0.002)
    assert est.total_bytes == est.weights_bytes + est.kv_cache_bytes + est.overhead_bytes
    assert 0 < est.overhead_bytes < est.weights_bytes


def test_kv_per_token_gqa():
    # Qwen2.5-7B: 28 layers, 4 KV heads of 128 -> 57,344 bytes per token in bf16
    assert memory.kv_bytes_per_token("Qwen/Qwen2.5-7B-Instruct", "bf16") == 28 * 4 * 128 * 2 * 2
    assert memory.kv_bytes_per_token("Qwen/Qwen2.5-7B-Instruct", "fp32") == 28 * 4 * 128 * 2 * 4


def test_kv_scales_with_batch_and_context():
    one = memory.estimate("Qwen/Qwen3-0.6B", "bf16", context=1024, batch=1)
    four = memory.estimate("Qwen/Qwen3-0.6B", "bf16", context=2048, batch=2)
    assert four.kv_cache_bytes == 4 * one.kv_cache_bytes
    assert four.weights_bytes == one.weights_bytes


def test_quantized_weights_keep_embeddings_in_16_bit():
    bf16 = memory.weights_bytes("Qwen/Qwen3-8B", "bf16")
    int8 = memory.weights_bytes("Qwen/Qwen3-8B", "int8")
    int4 = memory.weights_bytes("Qwen/Qwen3-8B", "int4")
    assert bf16 / 2 < int8 < bf16 * 0.6
    assert bf16 / 4 < int4 < bf16 * 0.4
    # Qwen3-8B has untied embeddings: 2 x 151936 x 4096 parameters stay 16-bit
    assert int4 > 2 * 151936 * 4096 * 2


def test_fp32_doubles_bf16():
    assert memory.weights_bytes("Qwen/Qwen3-0.6B", "fp32") == 2 * memory.weights_bytes("Qwen/Qwen3-0.6B", "bf16")


@pytest.mark.parametrize("kwargs,match", [
    ({"precision": "int3"}, "unknown precision"),
    ({"context": 0}, "positive"),
    ({"context": 10**7}, "at most"),
    ({"batch": 0}, "positive"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        memory.estimate("Qwen/Qwen3-0.6B", **kwargs)


def test_estimate_renders():
    est = memory.estimate("Qwen/Qwen3-0.6B")
    assert "KV cache" in str(est) and "<table>" in est._repr_html_()
    assert set(est.to_dict()) >= {"model_id", "precision", "parameters", "weights_bytes", "kv_cache_bytes",
                                  "overhead_bytes", "total_bytes"}
