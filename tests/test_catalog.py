"""catalog: lookups, helpful errors, and the pure-Python parameter count against transformers on the meta device."""

import pytest

from qwen_course import catalog


def test_lookup_forms():
    a = catalog.get("Qwen/Qwen3-8B")
    assert catalog.get("qwen3-8b") is a and catalog.get("Qwen3-8B") is a and catalog.get(a) is a


def test_unknown_id_suggests_near_names():
    with pytest.raises(catalog.UnknownModelError) as err:
        catalog.get("Qwen/Qwen3-8")
    assert "Qwen/Qwen3-8B" in str(err.value) and "not in the Qwen catalog" in str(err.value)


def test_tasks_filter_and_bad_task():
    assert all("vision" in c.tasks for c in catalog.checkpoints("vision"))
    assert catalog.checkpoints("vision") and catalog.checkpoints("coder")
    with pytest.raises(ValueError, match="unknown task"):
        catalog.checkpoints("poetry")


@pytest.mark.parametrize("model_id,total", [
    ("Qwen/Qwen3-8B", 8.19e9), ("Qwen/Qwen2.5-7B-Instruct", 7.62e9), ("Qwen/Qwen3-0.6B", 0.596e9),
    ("Qwen/Qwen3-30B-A3B", 30.5e9),
])
def test_official_totals(model_id, total):
    assert catalog.param_count(model_id).total == pytest.approx(total, rel=0.003)


def test_moe_active():
    count = catalog.param_count("Qwen/Qwen3-30B-A3B")
    assert count.active == pytest.approx(3.3e9, rel=0.02)


def test_tied_embeddings_counted_once():
    count = catalog.param_count("Qwen/Qwen3-0.6B")
    assert count.lm_head == 0 and count.embedding == 151936 * 1024


def test_series_are_dated_and_sourced():
    series = catalog.series()
    dated = [s["release"] for s in series if s["release"]]
    assert dated == sorted(dated)
    undated = [s for s in series if not s["release"]]  # allowed only where the notes say the month is unverified
    assert len(undated) <= 2 and all("not verified" in s["notes"].lower() or "unverified" in s["notes"].lower()
                                     for s in undated)
    assert all(set(s["sources"]) <= set(catalog.sources()) for s in series)


PARTS = (("visual", "vision"), ("audio_tower", "audio"), ("embed_tokens", "embedding"), ("lm_head", "lm_head"),
         (".linear_attn.", "attention"), (".self_attn.", "attention"), (".mlp.", "mlp"), ("norm", "norms"))


def parts_of(model) -> dict:
    """Parameters per part of a real (meta) model, by name; tied weights once, as `model.parameters()` yields them."""
    out = dict.fromkeys(["embedding", "lm_head", "attention", "mlp", "norms", "vision", "audio", "linear_attention"], 0)
    for name, p in model.named_parameters():
        part = next(part for key, part in PARTS if key in name)
        out[part] += p.numel()
        out["linear_attention"] += p.numel() if ".linear_attn." in name else 0
    return out


@pytest.mark.slow
def test_formula_matches_transformers_on_meta_device():
    """Our no-torch arithmetic must equal what transformers builds, part for part, for every checkpoint, built with
    the class that loads it (Qwen3_5ForConditionalGeneration, Qwen3NextForCausalLM, Qwen3Model for an embedding...)."""
    import torch
    import transformers
    from transformers import AutoConfig

    for ckpt in catalog.checkpoints():
        cfg = AutoConfig.for_model(ckpt.model_type, **ckpt.config)
        with torch.device("meta"):
            model = getattr(transformers, ckpt.loads_with)._from_config(cfg)
        real, ours = parts_of(model), catalog.param_count(ckpt)
        assert {part: getattr(ours, part) for part in real} == real, ckpt.id
        assert ours.total == sum(p.numel() for p in model.parameters()), ckpt.id


def test_hybrid_generation_is_catalogued():
    """Qwen3.5 / 3.6 / Qwen3-Next: 3 Gated DeltaNet layers per full-attention layer, 262,144 tokens, vision built in."""
    ids = {c.id for c in catalog.checkpoints()}
    for size in ("0.8B", "2B", "4B", "9B", "27B", "35B-A3B", "122B-A10B", "397B-A17B"):
        assert f"Qwen/Qwen3.5-{size}" in ids
    assert {"Qwen/Qwen3.6-27B", "Qwen/Qwen3.6-35B-A3B", "Qwen/Qwen3-Next-80B-A3B-Instruct"} <= ids
    c = catalog.get("Qwen/Qwen3.5-9B")
    assert c.is_hybrid and c.is_vision and not c.is_moe and c.max_context == 262144
    assert c.layer_types[:4] == ["linear_attention"] * 3 + ["full_attention"] and c.layer_types.count("full_attention") == 8
    assert c.loads_with == "Qwen3_5ForConditionalGeneration" and catalog.get("Qwen3.5-35B-A3B").is_moe
    assert catalog.get("Qwen/Qwen3-Next-80B-A3B-Thinking").loads_with == "Qwen3NextForCausalLM"
    assert catalog.get("Qwen/Qwen3-Embedding-0.6B").loads_with == "Qwen3Model"


@pytest.mark.parametrize("model_id,total,download", [
    # computed from config numbers; the download adds the MTP layer, and equals the count the Hub shows
    ("Qwen/Qwen3.5-0.8B", 0.853e9, 0.87e9), ("Qwen/Qwen3.5-9B", 9.410e9, 9.65e9), ("Qwen/Qwen3.5-27B", 27.357e9, 27.78e9),
    ("Qwen/Qwen3.5-35B-A3B", 35.107e9, 35.95e9), ("Qwen/Qwen3.5-397B-A17B", 396.802e9, 403e9),
])
def test_hybrid_counts_and_download(model_id, total, download):
    assert catalog.param_count(model_id).total == pytest.approx(total, rel=5e-4)
    assert catalog.download_params(model_id) == pytest.approx(download, rel=5e-3)


def test_moe_counts_all_experts_and_shared_expert():
    count = catalog.param_count("Qwen/Qwen3.5-35B-A3B")
    assert count.active == pytest.approx(3.902e9, rel=1e-3) and count.total > 8 * count.active
    assert 0 < count.linear_attention < count.attention and count.vision > 0.4e9


def test_thinking_defaults_follow_the_shipped_templates():
    """TRL 1.16: qwen3_5_think is shipped by Qwen3.5-4B and larger, qwen3_5_nothink by 2B and smaller."""
    for size, thinks in (("0.8B", False), ("2B", False), ("4B", True), ("9B", True), ("27B", True), ("35B-A3B", True)):
        c = catalog.get(f"Qwen/Qwen3.5-{size}")
        assert c.thinks_by_default is thinks and c.template == ("qwen3_5_think" if thinks else "qwen3_5_nothink")
    assert catalog.get("Qwen/Qwen3.6-27B").template == "qwen3_6" and catalog.get("Qwen/Qwen3-8B").thinks_by_default
    assert not catalog.get("Qwen/Qwen3-Coder-30B-A3B-Instruct").thinks_by_default


def test_recommended_sampling_per_mode():
    c = catalog.get("Qwen/Qwen3.5-9B")
    assert c.sampling() == c.sampling("thinking") and c.sampling()["temperature"] == 1.0
    assert c.sampling("non-thinking")["top_p"] == 0.8 and c.sampling("thinking-coding")["temperature"] == 0.6
    assert catalog.get("Qwen/Qwen3.5-2B").sampling()["temperature"] == 0.7  # non-thinking by default
    assert catalog.get("Qwen/Qwen3-8B").sampling() == {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}
    with pytest.raises(ValueError, match="modes: thinking"):
        c.sampling("creative")


def test_unverified_rows_are_marked():
    unverified = {c.id for c in catalog.checkpoints() if not c.verified}
    assert {"Qwen/Qwen3-Omni-30B-A3B-Instruct", "Qwen/Qwen3-VL-32B-Instruct"} <= unverified
    assert "Qwen/Qwen3.5-9B" not in unverified and all(c.confidence in catalog.CONFIDENCE for c in catalog.checkpoints())
    assert "unverified" in str(catalog.get("Qwen/Qwen3-Omni-30B-A3B-Instruct"))


def test_checkpoint_renders():
    c = catalog.get("Qwen/Qwen3-0.6B")
    assert "0.596B" in str(c) and "<table>" in c._repr_html_()
