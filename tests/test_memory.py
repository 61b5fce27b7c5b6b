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
    ({"context": -1}, ">= 0"),
    ({"context": 1.5}, ">= 0"),
    ({"context": True}, ">= 0"),
    ({"context": 10**7}, "at most"),
    ({"batch": 0}, "positive"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        memory.estimate("Qwen/Qwen3-0.6B", **kwargs)


def test_context_zero_is_the_weights_alone():
    est = memory.estimate("Qwen/Qwen3-8B", "bf16", 0)
    assert est.kv_cache_bytes == 0 and est.total_bytes == est.weights_bytes + est.overhead_bytes
    assert est.total_bytes < memory.estimate("Qwen/Qwen3-8B", "bf16", 1).total_bytes


def test_estimate_renders():
    est = memory.estimate("Qwen/Qwen3-0.6B")
    assert "KV cache" in str(est) and "<table>" in est._repr_html_()
    assert set(est.to_dict()) >= {"model_id", "precision", "parameters", "weights_bytes", "kv_cache_bytes",
                                  "overhead_bytes", "total_bytes"}


# ---------------------------------------------------------------- CPU routes: what each really keeps in memory

def _stand_in_checkpoint(kind: str):
    """A catalog Checkpoint for an offline stand-in, so the estimate can be checked against a real load."""
    import json

    from qwen_course import catalog, offline

    path = offline.build(kind)
    config = json.loads((path / "config.json").read_text())
    return path, catalog.Checkpoint(f"test/{kind}", "test", config["model_type"], ("chat",), config)


@pytest.mark.parametrize("kind", ["qwen3", "qwen2.5"])
def test_cpu_int8_routes_match_what_loading_takes(kind):
    """torch.ao dynamic int8 keeps the fp32 embedding and adds an int8 lm_head; torchao keeps lm_head tied."""
    import torch
    from transformers import AutoModelForCausalLM

    from qwen_course import memory, precision

    path, ckpt = _stand_in_checkpoint(kind)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    measured = memory.loaded_bytes(precision.apply_post_load(model, "ao-dynamic-int8"))
    assert memory.weights_bytes(ckpt, "int8", route="ao-dynamic-int8") == pytest.approx(measured, rel=0.01)
    assert memory.weights_bytes(ckpt, "fp32") < measured  # the stand-in is mostly embedding: int8 adds a copy
    if precision.installed("torchao"):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                     quantization_config=precision.quantization_config("torchao-int8"))
        measured = memory.loaded_bytes(model)
        assert memory.weights_bytes(ckpt, "int8", route="torchao-int8") == pytest.approx(measured, rel=0.01)


def test_cpu_int8_route_on_the_real_shape():
    """Qwen3-0.6B weights as benchmarks/quantization.py measured them on this CPU (random weights, exact shape)."""
    assert memory.weights_bytes("Qwen/Qwen3-0.6B", "int8", route="ao-dynamic-int8") / 1e6 == pytest.approx(1226.5, rel=0.005)
    assert memory.weights_bytes("Qwen/Qwen3-0.6B", "int8", route="torchao-int8") / 1e6 == pytest.approx(1064.7, rel=0.005)
    assert memory.weights_bytes("Qwen/Qwen3-0.6B", "int4", route="torchao-int4") / 1e6 == pytest.approx(545.3, rel=0.005)
    assert memory.weights_bytes("Qwen/Qwen3-0.6B", "int4", route="quanto-int4") / 1e6 == pytest.approx(870.3, rel=0.005)
    assert memory.weights_bytes("Qwen/Qwen3-0.6B", "int4") / 1e6 == pytest.approx(559.1, rel=0.005)  # bitsandbytes NF4
    est = memory.estimate("Qwen/Qwen3-0.6B", "int8", 4096, route="ao-dynamic-int8")
    assert est.kv_cache_bytes == memory.estimate("Qwen/Qwen3-0.6B", "fp32", 4096).kv_cache_bytes  # fp32 activations
    assert est.route == "ao-dynamic-int8" and "ao-dynamic-int8" in str(est)
    assert memory.estimate("Qwen/Qwen3-0.6B", "bf16", route="bf16").route is None


@pytest.mark.parametrize("precision, route, match", [("int8", "int3-magic", "unknown CPU route"),
                                                     ("int4", "ao-dynamic-int8", "is int8, not int4")])
def test_bad_routes(precision, route, match):
    with pytest.raises(ValueError, match=match):
        memory.estimate("Qwen/Qwen3-0.6B", precision, route=route)
