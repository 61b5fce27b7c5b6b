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
    assert dated == sorted(dated) and len(dated) >= len(series) - 1
    assert all(set(s["sources"]) <= set(catalog.sources()) for s in series)


@pytest.mark.slow
def test_formula_matches_transformers_on_meta_device():
    """Our no-torch arithmetic must equal what transformers builds, part for part, for every checkpoint."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    for ckpt in catalog.checkpoints():
        cfg = AutoConfig.for_model(ckpt.model_type, **ckpt.config)
        auto = AutoModelForImageTextToText if ckpt.is_vision else AutoModelForCausalLM
        with torch.device("meta"):
            model = auto.from_config(cfg)
        real = sum(p.numel() for p in model.parameters())
        assert catalog.param_count(ckpt).total == real, ckpt.id


def test_checkpoint_renders():
    c = catalog.get("Qwen/Qwen3-0.6B")
    assert "0.596B" in str(c) and "<table>" in c._repr_html_()
