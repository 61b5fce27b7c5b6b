"""The shipped Qwen catalog (qwen_course/data/catalog.json): schema, sources, and parameter counts.

Every checkpoint's `config` is instantiated with transformers on the meta device (no memory, no weights) and
its parameter count is compared with the count the official source states. Counts are cached in the pytest
cache, keyed by the transformers/torch versions and the shape-relevant part of each config, so reruns are fast.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest

CATALOG = Path(__file__).resolve().parents[1] / "qwen_course" / "data" / "catalog.json"

HYBRID_MODEL_TYPES = {"qwen3_next", "qwen3_5", "qwen3_5_moe"}
MODEL_TYPES = {"qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe",
               "qwen3_omni_moe_thinker"} | HYBRID_MODEL_TYPES
VL_MODEL_TYPES = {"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe", "qwen3_omni_moe_thinker"}
MOE_MODEL_TYPES = {"qwen2_moe", "qwen3_moe", "qwen3_vl_moe", "qwen3_next", "qwen3_5_moe", "qwen3_omni_moe_thinker"}
TASKS = {"chat", "thinking", "vision", "coder", "math", "embedding", "rerank"}
CONFIDENCE = {"verified", "unverified"}
TEMPLATES = {"qwen3_5_think", "qwen3_5_nothink", "qwen3_6"}
THINKING = {"hybrid", "thinking-only", "none"}
MODALITIES = {"text", "image", "video", "audio"}
TOLERANCE = 0.015

REQUIRED_SERIES = {
    "Qwen", "Qwen1.5", "Qwen2", "Qwen2-Audio", "Qwen2-VL", "Qwen2.5", "Qwen2.5-Coder", "Qwen2.5-Math",
    "Qwen2.5-1M", "Qwen2.5-VL", "QwQ", "Qwen3", "Qwen3-2507", "Qwen3-VL", "Qwen3-Next", "Qwen3.5", "Qwen3.6",
}
SERIES_KEYS = {
    "id": str, "name": str, "generation": str, "release": (str, type(None)), "sizes": list, "moe_sizes": list,
    "context_native": (int, type(None)), "context_extended": (int, type(None)),
    "pretraining_tokens": (int, float, type(None)), "license": (str, type(None)), "modality": list, "tasks": list,
    "vocab_tokens": (int, type(None)), "vocab_size": (int, type(None)), "architecture": str, "notes": str,
    "sources": list,
}
CHECKPOINT_KEYS = {
    "id": str, "series": str, "release": str, "model_type": str, "tasks": list, "thinking": str,
    "license": str, "context": int, "context_max": (int, type(None)),
    "official_params": (int, float, type(None)), "official_active_params": (int, float, type(None)),
    "config": dict, "sources": list,
}
TEXT_CONFIG_KEYS = {
    "hidden_size": int, "num_hidden_layers": int, "num_attention_heads": int, "num_key_value_heads": int,
    "head_dim": int, "intermediate_size": int, "vocab_size": int, "tie_word_embeddings": bool,
    "max_position_embeddings": int, "rope_theta": (int, float),
}
MOE_CONFIG_KEYS = {"num_experts": int, "num_experts_per_tok": int, "moe_intermediate_size": int, "norm_topk_prob": bool}
VISION_CONFIG_KEYS = {
    "depth": int, "hidden_size": int, "intermediate_size": int, "num_heads": int, "patch_size": int,
    "spatial_merge_size": int, "temporal_patch_size": int, "out_hidden_size": int,
}
# Official sources give vision-language checkpoints only a size class ("7B"), so their official_params is null.
# Their language model must then reproduce the official count of the text checkpoint with the same shape.
# (Unverified rows whose text model is assumed equal to a verified checkpoint are checked the same way.)
VL_TEXT_TWIN = {
    "Qwen/Qwen2.5-VL-3B-Instruct": "Qwen/Qwen2.5-3B-Instruct",
    "Qwen/Qwen2.5-VL-7B-Instruct": "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen3-VL-2B-Instruct": "Qwen/Qwen3-1.7B",
    "Qwen/Qwen3-VL-4B-Instruct": "Qwen/Qwen3-4B",
    "Qwen/Qwen3-VL-8B-Instruct": "Qwen/Qwen3-8B",
    "Qwen/Qwen3-VL-30B-A3B-Instruct": "Qwen/Qwen3-30B-A3B",
    "Qwen/Qwen3-VL-32B-Instruct": "Qwen/Qwen3-32B",
    "Qwen/Qwen3-VL-235B-A22B-Instruct": "Qwen/Qwen3-235B-A22B",
    "Qwen/Qwen3-Omni-30B-A3B-Instruct": "Qwen/Qwen3-30B-A3B",
}
# Embedding and reranker models are Qwen3 bodies: the same transformer layers as the base model of their size.
BODY_TWIN = {f"Qwen/Qwen3-{role}-{size}": f"Qwen/Qwen3-{size}" for role in ("Embedding", "Reranker")
             for size in ("0.6B", "4B", "8B")}
# Config keys that do not change any parameter shape (left out of the count cache key).
NON_SHAPE_KEYS = {"max_position_embeddings", "rope_theta", "rope_scaling"}


@pytest.fixture(scope="module")
def catalog():
    return json.loads(CATALOG.read_text(encoding="utf-8"))


def _checkpoints():
    return json.loads(CATALOG.read_text(encoding="utf-8"))["checkpoints"]


def _by_id(catalog):
    return {c["id"]: c for c in catalog["checkpoints"]}


def _text_config(ckpt):
    return ckpt["config"].get("text_config", ckpt["config"])


def _check_types(obj, spec, where):
    missing = set(spec) - set(obj)
    assert not missing, f"{where}: missing keys {sorted(missing)}"
    for key, typ in spec.items():
        value, allowed = obj[key], typ if isinstance(typ, tuple) else (typ,)
        ok = bool in allowed if isinstance(value, bool) else isinstance(value, allowed)
        assert ok, f"{where}: {key}={value!r} should be {typ}"


def _within(computed, official, tolerance=TOLERANCE):
    return abs(computed - official) <= tolerance * official


def _truncates_to(computed, official):
    """Qwen's cards round parameter counts down (14.77B -> "14.7B", 3.35B -> "3.3B")."""
    digits = -int(math.floor(math.log10(official))) + 1  # two significant digits
    step = 10.0 ** -digits
    return math.isclose(math.floor(computed * 10.0**digits + 1e-9) * step, official, rel_tol=1e-9)


def _active(ckpt, total):
    """total - (experts - active experts) x per-expert params x layers (SwiGLU expert: 3 x hidden x moe_inter)."""
    tc = _text_config(ckpt)
    per_expert = 3 * tc["hidden_size"] * tc["moe_intermediate_size"]
    return total - (tc["num_experts"] - tc["num_experts_per_tok"]) * per_expert * tc["num_hidden_layers"]


# ---------------------------------------------------------------------------------------------- parameter counts
def _shape_config(config):
    out = {}
    for key, value in config.items():
        if key in NON_SHAPE_KEYS:
            continue
        out[key] = _shape_config(value) if isinstance(value, dict) else value
    return out


def _loads_with(ckpt):
    from qwen_course import catalog

    return catalog.get(ckpt["id"]).loads_with


def _instantiate(ckpt):
    import torch
    import transformers
    from transformers import AutoConfig

    cfg = AutoConfig.for_model(ckpt["model_type"], **ckpt["config"])
    with torch.device("meta"):
        model = getattr(transformers, _loads_with(ckpt))._from_config(cfg)
    total = sum(p.numel() for p in model.parameters())  # shared (tied) tensors are yielded once
    named = dict(model.named_parameters())
    visual = sum(p.numel() for n, p in named.items() if ".visual." in f".{n}" or ".audio_tower." in f".{n}")
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is model.get_input_embeddings().weight
    embedding = model.get_input_embeddings().weight.numel()
    lm_head = 0 if head is None or tied else head.weight.numel()
    return {"total": total, "visual": visual, "tied": tied, "body": total - visual - embedding - lm_head}


@pytest.fixture(scope="module")
def counts(request):
    """{checkpoint id: {"total", "visual", "tied"}}, instantiating each distinct shape once."""
    from importlib.metadata import version

    versions = [version("transformers"), version("torch")]  # no import: a warm cache never loads torch
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    results, by_key = {}, {}
    for ckpt in _checkpoints():
        blob = json.dumps(
            [*versions, ckpt["model_type"], _loads_with(ckpt), _shape_config(ckpt["config"])],
            sort_keys=True,
        )
        key = hashlib.sha256(blob.encode()).hexdigest()[:24]
        if key not in by_key:
            cached = cache.get(f"qwen_course/catalog_counts/{key}", None) if cache is not None else None
            if cached is None:
                cached = _instantiate(ckpt)
                if cache is not None:
                    cache.set(f"qwen_course/catalog_counts/{key}", cached)
            by_key[key] = cached
        results[ckpt["id"]] = by_key[key]
    return results


# ---------------------------------------------------------------------------------------------- schema
def test_top_level_layout(catalog):
    assert list(catalog) == ["sources", "series", "checkpoints", "model_types", "sampling"]
    text = CATALOG.read_text(encoding="utf-8")
    assert text.startswith('{\n  "sources": {\n    "') and text.endswith("}\n"), "expected 2-space indented JSON"
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0 and "\t" not in line[: indent + 1], f"bad indentation: {line!r}"


def test_sources_are_titled_urls(catalog):
    for name, source in catalog["sources"].items():
        assert set(source) == {"title", "url"}, name
        assert source["title"].strip(), name
        assert re.match(r"https://[\w.-]+/\S+$", source["url"]), (name, source["url"])


def test_every_cited_source_exists_and_every_source_is_cited(catalog):
    known = set(catalog["sources"])
    cited = set()
    for item in catalog["series"] + catalog["checkpoints"]:
        assert item["sources"], f"{item['id']} cites nothing"
        assert len(set(item["sources"])) == len(item["sources"]), f"{item['id']} cites a source twice"
        missing = set(item["sources"]) - known
        assert not missing, f"{item['id']} cites unknown sources {sorted(missing)}"
        cited |= set(item["sources"])
    assert known == cited, f"sources never cited: {sorted(known - cited)}"


def test_series_schema(catalog):
    ids = [s["id"] for s in catalog["series"]]
    assert len(ids) == len(set(ids))
    assert REQUIRED_SERIES <= {s["name"] for s in catalog["series"]}
    for s in catalog["series"]:
        _check_types(s, SERIES_KEYS, s["id"])
        assert s["release"] is None or re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", s["release"]), s["id"]
        assert s["sizes"] or s["moe_sizes"], s["id"]
        assert set(s["modality"]) <= MODALITIES and "text" in s["modality"], s["id"]
        assert s["tasks"] and set(s["tasks"]) <= TASKS, s["id"]
        if s["context_native"] and s["context_extended"]:
            assert s["context_extended"] > s["context_native"], s["id"]
        if s["vocab_tokens"] and s["vocab_size"]:
            assert s["vocab_size"] >= s["vocab_tokens"], s["id"]
        assert s["architecture"].strip() and s["notes"].strip(), s["id"]


def test_unverified_facts_stay_null(catalog):
    """Facts QWEN_FACTS marks unverified must not be stated."""
    series = {s["id"]: s for s in catalog["series"]}
    assert series["qwen1"]["vocab_size"] is None
    assert series["qwen1.5"]["pretraining_tokens"] is None
    assert series["qwen2-audio"]["license"] is None and series["qwen2-audio"]["context_native"] is None
    assert series["qwen2-vl"]["pretraining_tokens"] is None and series["qwen2.5-vl"]["pretraining_tokens"] is None
    assert series["qwen2.5-1m"]["license"] is None
    assert series["qwen3-next"]["pretraining_tokens"] is None
    assert series["qwen3.6"]["release"] is None and series["qwen3.6"]["license"] is None
    assert series["qwen3"]["pretraining_tokens"] == 3.6e13 and series["qwen2.5"]["pretraining_tokens"] == 1.8e13
    assert series["qwen2.5-math"]["context_native"] == 4096
    assert "inconsistent" in _by_id(catalog)["Qwen/Qwen3-4B"]["notes"]
    assert "inconsistent" in series["qwen3"]["notes"]


def test_checkpoint_schema(catalog):
    series = {s["id"]: s for s in catalog["series"]}
    ids = [c["id"] for c in catalog["checkpoints"]]
    assert len(ids) == len(set(ids))
    for c in catalog["checkpoints"]:
        where = c["id"]
        _check_types(c, CHECKPOINT_KEYS, where)
        assert c["id"].startswith("Qwen/"), where
        assert c["series"] in series, where
        assert re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", c["release"]), where
        if series[c["series"]]["release"]:
            assert c["release"] >= series[c["series"]]["release"], where
        assert c["model_type"] in MODEL_TYPES, where
        assert c["tasks"] and set(c["tasks"]) <= TASKS, where
        assert c["thinking"] in THINKING, where
        assert ("thinking" in c["tasks"]) == (c["thinking"] != "none"), where
        vl = c["model_type"] in VL_MODEL_TYPES
        assert ("vision" in c["tasks"]) == vl == ("vision_config" in c["config"]), where
        assert c["context_max"] is None or c["context_max"] > c["context"], where
        assert c["official_params"] is None or c["official_params"] > 1e8, where
        assert isinstance(c.get("notes", ""), str), where
        if c["official_active_params"] is not None:
            assert c["model_type"] in MOE_MODEL_TYPES and c["official_active_params"] < c["official_params"], where
        assert c.get("confidence", "verified") in CONFIDENCE, where
        assert c.get("template", "qwen3_5_think") in TEMPLATES, where
        assert c.get("sampling_preset", "qwen3") in catalog["sampling"], where
        assert c["model_type"] in catalog["model_types"], where


def test_checkpoint_configs_carry_the_official_keys(catalog):
    for c in catalog["checkpoints"]:
        where, config = c["id"], c["config"]
        tc = _text_config(c)
        if c["model_type"] in VL_MODEL_TYPES:
            audio = {"audio_config"} if c["model_type"] == "qwen3_omni_moe_thinker" else set()
            assert set(config) == {"tie_word_embeddings", "text_config", "vision_config"} | audio, where
            assert config["tie_word_embeddings"] == tc["tie_word_embeddings"], where
            _check_types(config["vision_config"], VISION_CONFIG_KEYS, f"{where} vision_config")
        no_dense = c["model_type"] == "qwen3_5_moe"  # every Qwen3.5 MoE layer is MoE: no intermediate_size key
        _check_types(tc, {k: v for k, v in TEXT_CONFIG_KEYS.items() if not (no_dense and k == "intermediate_size")}, where)
        assert c["context"] <= tc["max_position_embeddings"], where
        assert tc["num_attention_heads"] % tc["num_key_value_heads"] == 0, where
        if c["model_type"].startswith("qwen2"):
            assert tc["head_dim"] == tc["hidden_size"] // tc["num_attention_heads"], where
        elif c["model_type"] in HYBRID_MODEL_TYPES:
            assert tc["head_dim"] == 256 and tc["linear_key_head_dim"] == tc["linear_value_head_dim"] == 128, where
            assert tc["full_attention_interval"] == 4 and tc["max_position_embeddings"] == 262144, where
        else:
            assert tc["head_dim"] == 128, where  # explicit in every Qwen3 config
        is_moe = c["model_type"] in MOE_MODEL_TYPES
        assert is_moe == ("num_experts" in tc), where
        if is_moe:
            _check_types(tc, {k: v for k, v in MOE_CONFIG_KEYS.items() if not (no_dense and k == "norm_topk_prob")}, where)
            assert tc["num_experts_per_tok"] < tc["num_experts"], where


def test_vl_checkpoints_without_official_count_have_a_text_twin(catalog):
    by_id = _by_id(catalog)
    for c in catalog["checkpoints"]:
        if c["official_params"] is None and "hub_params" not in c:
            twins = {**VL_TEXT_TWIN, **BODY_TWIN}
            assert c["id"] in twins, f"{c['id']}: without official_params or hub_params a checkpoint needs a twin"
            twin = by_id[twins[c["id"]]]
            for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                        "intermediate_size", "tie_word_embeddings"):
                assert _text_config(c)[key] == _text_config(twin)[key], (c["id"], key)


# ---------------------------------------------------------------------------------------------- parameter counts
@pytest.mark.parametrize("ckpt", _checkpoints(), ids=lambda c: c["id"])
def test_parameter_count_matches_the_official_figure(ckpt, counts, catalog):
    got = counts[ckpt["id"]]
    has_head = not _loads_with(ckpt).endswith("Model")  # an embedding model (Qwen3Model) has no lm_head to tie
    assert got["tied"] == (has_head and _text_config(ckpt)["tie_word_embeddings"]), "tied embeddings not shared"
    if ckpt["model_type"] in VL_MODEL_TYPES:
        assert got["visual"] > 0
    else:
        assert got["visual"] == 0
    if ckpt["id"] in BODY_TWIN:  # the same decoder layers as the base model of its size, parameter for parameter
        assert got["body"] == counts[BODY_TWIN[ckpt["id"]]]["body"]
        return
    if ckpt["official_params"] is not None:
        total, official = got["total"], ckpt["official_params"]
    elif "hub_params" in ckpt:  # Qwen3.5/3.6: only a size class is published; the Hub counts the released tensors,
        # which include the MTP layer transformers does not build
        from qwen_course import catalog as package_catalog

        total = got["total"] + package_catalog.mtp_params(ckpt["model_type"], ckpt["config"])
        official = ckpt["hub_params"]
    else:  # VL: the language model must match its text twin's official count
        total = got["total"] - got["visual"]
        official = _by_id(catalog)[VL_TEXT_TWIN[ckpt["id"]]]["official_params"]
    assert _within(total, official), f"computed {total / 1e9:.3f}B vs official {official / 1e9:.3f}B"

    if ckpt["model_type"] in MOE_MODEL_TYPES and "shared_expert_intermediate_size" not in _text_config(ckpt):
        active_official = ckpt["official_active_params"]
        if active_official is None and ckpt["id"] in VL_TEXT_TWIN:
            active_official = _by_id(catalog)[VL_TEXT_TWIN[ckpt["id"]]]["official_active_params"]
        if active_official is not None:
            active = _active(ckpt, total)
            assert _within(active, active_official) or _truncates_to(active / 1e9, active_official / 1e9), (
                f"computed active {active / 1e9:.3f}B vs official {active_official / 1e9:.3f}B"
            )


def test_must_hold_counts(counts, catalog):
    by_id = _by_id(catalog)
    assert round(counts["Qwen/Qwen3-8B"]["total"] / 1e9, 2) == 8.19
    assert round(counts["Qwen/Qwen2.5-7B-Instruct"]["total"] / 1e9, 2) == 7.62
    assert round(counts["Qwen/Qwen3-0.6B"]["total"] / 1e9, 3) == 0.596
    total = counts["Qwen/Qwen3-30B-A3B"]["total"]
    active = _active(by_id["Qwen/Qwen3-30B-A3B"], total)
    assert round(total / 1e9, 1) == 30.5
    # 3.353B exactly; the card's "3.3B activated" is that figure rounded down (1.6% below it).
    assert math.floor(active / 1e8) == 33 and round(active / 1e9, 2) == 3.35
    # Tied embeddings are counted once: untying Qwen3-0.6B would add a second 151936 x 1024 matrix.
    assert counts["Qwen/Qwen3-0.6B"]["total"] == 596_049_920
