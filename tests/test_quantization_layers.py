"""quantization.layers and quantization.fp8: what each method really quantizes in the hybrid and MoE models (decided
by transformers' own code on the meta device, checked against real loads of the stand-ins), the memory estimate
against it, and what transformers does with an FP8 checkpoint on a CPU."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qwen_course import memory, offline, quantization

HYBRID_MOE = "Qwen/Qwen3.5-35B-A3B"
# One model per architecture the estimate must get right: Qwen3 MoE, hybrid dense (tied, vision), hybrid MoE with a
# shared expert (vision), Qwen3-Next (fused Gated DeltaNet projections), Qwen3-VL MoE.
ESTIMATED = ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3.5-2B", HYBRID_MOE, "Qwen/Qwen3-Next-80B-A3B-Instruct",
             "Qwen/Qwen3-VL-30B-A3B-Instruct"]


@pytest.mark.parametrize("name, expected", [
    ("model.language_model.layers.0.linear_attn.in_proj_qkv.weight", "Gated DeltaNet projections"),
    ("model.layers.0.linear_attn.in_proj_qkvz.weight", "Gated DeltaNet projections"),  # Qwen3-Next fuses them
    ("model.layers.0.linear_attn.in_proj_ba.weight", "Gated DeltaNet projections"),
    ("model.language_model.layers.0.linear_attn.out_proj.weight", "Gated DeltaNet projections"),
    ("model.language_model.layers.0.linear_attn.conv1d.weight", "Gated DeltaNet conv1d"),
    ("model.language_model.layers.0.linear_attn.A_log", "Gated DeltaNet A_log, dt_bias"),
    ("model.language_model.layers.0.linear_attn.norm.weight", "norms"),
    ("model.language_model.layers.3.self_attn.q_proj.weight", "full attention q/k/v/o"),
    ("model.language_model.layers.3.self_attn.q_norm.weight", "norms"),
    ("model.language_model.layers.1.mlp.experts.gate_up_proj", "MoE experts (3D tensors)"),
    ("model.language_model.layers.1.mlp.gate.weight", "MoE router"),
    ("model.language_model.layers.1.mlp.shared_expert.up_proj.weight", "shared expert + its gate"),
    ("model.language_model.layers.1.mlp.shared_expert_gate.weight", "shared expert + its gate"),
    ("model.layers.0.mlp.gate_proj.weight", "dense MLP"),
    ("model.visual.blocks.0.attn.qkv.weight", "vision tower"),
    ("lm_head.weight", "lm_head"),
    ("model.embed_tokens.weight", "embedding"),
])
def test_parameter_names_fall_in_their_part(name, expected):
    assert quantization.part(name) == expected


def test_an_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="unclassified"):
        quantization.part("model.something_new.weight")


def test_bitsandbytes_leaves_the_fused_moe_experts_and_the_small_hybrid_parts():
    plan = quantization.plan(HYBRID_MOE, "bnb-nf4")
    parts = plan.parts
    for quantized in ("full attention q/k/v/o", "Gated DeltaNet projections", "shared expert + its gate"):
        assert parts[quantized].kept == 0 and parts[quantized].quantized_by == {"Linear4bit"}, quantized
    for kept in ("MoE experts (3D tensors)", "MoE router", "Gated DeltaNet conv1d", "Gated DeltaNet A_log, dt_bias",
                 "lm_head", "embedding", "norms"):
        assert parts[kept].quantized == 0, kept
    assert parts["MoE experts (3D tensors)"].kept_in == {"Qwen3_5MoeExperts"}
    assert 0.9 < parts["vision tower"].quantized / (parts["vision tower"].quantized + parts["vision tower"].kept) < 1
    assert plan.quantized / (plan.quantized + plan.kept) < 0.1  # 32B of the 35B are experts
    assert "lm_head" in plan.skipped


def test_fp8_releases_quantize_the_experts_too():
    plan = quantization.plan(HYBRID_MOE, "fp8")
    assert plan.parts["MoE experts (3D tensors)"].quantized_by == {"FP8Experts"}
    assert plan.parts["MoE experts (3D tensors)"].kept == 0
    assert plan.parts["Gated DeltaNet projections"].quantized_by == {"FP8Linear"}
    assert plan.quantized / (plan.quantized + plan.kept) > 0.9


def test_dtype_and_prequantized_methods():
    assert quantization.plan("Qwen/Qwen3-0.6B", "bf16").quantized == 0
    with pytest.raises(ValueError, match="their own layout"):
        quantization.plan("Qwen/Qwen3-0.6B", "awq")


@pytest.mark.parametrize("model_id", ESTIMATED)
@pytest.mark.parametrize("method, precision, route", [("bnb-nf4", "int4", None), ("bnb-int8", "int8", None),
                                                      ("ao-dynamic-int8", "int8", "ao-dynamic-int8")])
def test_the_memory_estimate_agrees_with_what_the_quantizer_does(model_id, method, precision, route):
    """memory.weights_bytes against the bytes of transformers' own decision, module by module (within 1%)."""
    decided = quantization.plan(model_id, method).bytes_as(precision, route)
    estimated = memory.weights_bytes(model_id, precision, route)
    assert abs(estimated - decided) / decided < 0.01, (model_id, method, estimated, decided)


def test_plans_frame_has_one_column_per_method():
    frame = quantization.plans_frame(HYBRID_MOE, ["bnb-nf4", "fp8"])
    assert list(frame.columns) == ["parameters (B)", "bitsandbytes NF4", "FP8 (Qwen's prequantized)"]
    assert frame.loc["MoE experts (3D tensors)", "bitsandbytes NF4"].startswith("kept")
    assert frame.loc["MoE experts (3D tensors)", "FP8 (Qwen's prequantized)"].startswith("quantized")


def _load_stand_in(key):
    from transformers import AutoModelForImageTextToText

    path = offline.build("qwen3.5-moe")
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=quantization.load_dtype(key, "cpu"), device_map="cpu",
                                                        quantization_config=quantization.quantization_config(key))
    return quantization.apply_post_load(model, key)


@pytest.mark.parametrize("key, marker", [("ao-dynamic-int8", "qint8"), ("bnb-nf4", "uint8")])
def test_the_meta_plan_matches_a_real_load_of_the_stand_in(key, marker):
    """The parts a real load quantizes (the stand-in has the exact Qwen3_5Moe class) are the parts the plan names."""
    if not quantization.availability(key)[0]:
        pytest.skip(quantization.availability(key)[1])
    measured = quantization.parts_of(_load_stand_in(key))
    really = {name for name, row in measured.items() if marker in row["stored as"]}
    planned = {name for name, p in quantization.plan(HYBRID_MOE, key).parts.items() if p.quantized}
    assert really == planned
    assert measured["MoE experts (3D tensors)"]["stored as"] == (["float32"] if key == "ao-dynamic-int8" else ["bfloat16"])


def test_measuring_model_takes_the_stand_in_with_the_checkpoints_template(monkeypatch):
    monkeypatch.setenv("QWEN_COURSE_OFFLINE", "1")
    path, what, _ = quantization.measuring_model("Qwen/Qwen3.5-2B")
    assert "qwen3.5-small stand-in" in what  # Qwen3.5-2B does not think by default: the non-thinking template
    assert offline.read_marker(Path(path))["kind"] == "qwen3.5-small"


def test_an_fp8_checkpoint_on_a_cpu_is_dequantized_to_bf16():
    """transformers 5.24 without a GPU: a warning, weights dequantized while loading, no quantization left."""
    import io

    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    source = offline.build("qwen3")
    path = quantization.fp8_checkpoint(source)
    with safe_open(path / "model.safetensors", "pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes["model.layers.0.mlp.up_proj.weight"] == "F8_E4M3"
    assert dtypes["model.layers.0.mlp.up_proj.weight_scale_inv"] == "F32"
    assert dtypes["model.embed_tokens.weight"] == "BF16"
    said = io.StringIO()
    handler = logging.StreamHandler(said)
    logging.getLogger("transformers").addHandler(handler)  # transformers' logger does not propagate to pytest's
    hf_logging.warning_once.cache_clear()  # the loader warns once per process; this test must see it
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype="auto", device_map="cpu")
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert "dequantizing the model to bf16" in said.getvalue()
    assert type(model.model.layers[0].mlp.up_proj) is torch.nn.Linear
    assert model.model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    assert not hasattr(model.config, "quantization_config")
    original = AutoModelForCausalLM.from_pretrained(source, dtype="auto", device_map="cpu")
    assert memory.loaded_bytes(model) == memory.loaded_bytes(original)  # the bf16 size, not the FP8 one
    w, w8 = (m.model.layers[0].mlp.up_proj.weight.detach().float() for m in (original, model))
    assert 0 < float((w - w8).norm() / w.norm()) < 0.1  # e4m3 keeps 3 mantissa bits


def test_the_quoted_fp8_loader_rule_is_the_installed_code():
    lines = quantization.fp8_loader_rule()
    assert "if not torch.cuda.is_available() and not is_torch_xpu_available():" in lines
    assert "if (major < 8) or (major == 8 and minor < 9):" in lines
    assert lines.count("self.quantization_config.dequantize = True") == 2


def test_blockwise_fp8_roundtrip_and_grid():
    import torch

    w = torch.randn(256, 384)
    q, scale = quantization.fp8.quantize_blockwise(w)
    assert q.dtype == torch.float8_e4m3fn and tuple(scale.shape) == (2, 3)
    back = (q.float().reshape(2, 128, 3, 128) * scale[:, None, :, None]).reshape(256, 384)
    assert float((back - w).norm() / w.norm()) < 0.05


def test_bnb_cpu_blockers_name_the_layers_with_odd_row_counts():
    assert quantization.bnb_cpu_blockers("Qwen/Qwen3.5-2B") == {
        "model.language_model.layers.*.linear_attn.in_proj_b": 16, "model.language_model.layers.*.linear_attn.in_proj_a": 16}
    moe = quantization.bnb_cpu_blockers(HYBRID_MOE)
    assert moe["model.language_model.layers.*.mlp.shared_expert_gate"] == 1
    assert quantization.bnb_cpu_blockers("Qwen/Qwen3.5-4B") == {}


def _has_avx512_bf16() -> bool:
    try:
        return "avx512_bf16" in open("/proc/cpuinfo").read()
    except OSError:
        return False


@pytest.mark.skipif(not quantization.installed("bitsandbytes") or not _has_avx512_bf16(),
                    reason="the packed CPU path runs on AVX512-BF16 CPUs with bitsandbytes installed")
@pytest.mark.parametrize("rows", [1, 16, 32, 48, 64])
def test_bitsandbytes_cpu_nf4_needs_rows_in_blocks_of_32(rows):
    """The rule bnb_cpu_blockers encodes, on the installed bitsandbytes: if this fails, bitsandbytes changed and
    lesson 03's sentence about its CPU kernel must change with it."""
    import bitsandbytes as bnb
    import torch

    layer = bnb.nn.Linear4bit(256, rows, bias=False, compute_dtype=torch.bfloat16, quant_type="nf4")
    layer.weight = bnb.nn.Params4bit(torch.randn(rows, 256, dtype=torch.bfloat16), requires_grad=False, quant_type="nf4")
    layer = layer.to("cpu").eval()
    x = torch.randn(1, 256, dtype=torch.bfloat16)
    if rows % quantization.BNB_CPU_BLOCK_ROWS:
        with pytest.raises(AssertionError, match="divisible by block_n"), torch.inference_mode():
            layer(x)
    else:
        with torch.inference_mode():
            assert layer(x).shape == (1, rows)


def test_drift_reuses_the_reference_and_matches_the_formula():
    import torch

    from qwen_course.quantization.measure import drift

    def direct(reference, logits):
        ref = torch.log_softmax(reference.double(), -1)
        return float((ref.exp() * (ref - torch.log_softmax(logits.double(), -1))).sum(-1).mean())

    g = torch.Generator().manual_seed(0)
    first, second = torch.randn(6, 40, generator=g), torch.randn(6, 40, generator=g)
    noisy = first + 0.1 * torch.randn(6, 40, generator=g)
    assert drift(first, noisy)["kl"] == pytest.approx(direct(first, noisy), rel=1e-12)
    assert drift(first, second)["kl"] == pytest.approx(direct(first, second), rel=1e-12)  # same reference, cached
    assert drift(second, noisy)["kl"] == pytest.approx(direct(second, noisy), rel=1e-12)  # a new reference, recomputed
    assert drift(first.clone(), noisy)["kl"] == pytest.approx(direct(first, noisy), rel=1e-12)
