"""Drift: a new transformers or TRL release that knows a Qwen model or chat template the course does not must fail
here, with what to do, before a learner meets the gap.

- every Qwen `model_type` in transformers' auto mapping is covered by a catalog checkpoint, or deliberately skipped
  (SKIPPED_MODEL_TYPES, each with the reason);
- every Qwen chat template TRL ships (its verbatim copies of Qwen's) is one our stand-ins render, or deliberately
  skipped (SKIPPED_TEMPLATES), and renders the same; test_offline.py checks thousands of conversations per template.
"""

from __future__ import annotations

import importlib.resources

from qwen_course import catalog
from qwen_course.offline import KINDS
from qwen_course.offline import tokenizer as ot

# model_type -> why the course does not catalogue it (delete a line when the catalog gains the model).
SKIPPED_MODEL_TYPES = {
    "colqwen2": "ColQwen2 is a document-retrieval model built on Qwen2-VL by another team, not a Qwen release",
    "qwen2_moe": "Qwen1.5-MoE-A2.7B and Qwen2-57B-A14B: the course's MoE examples are Qwen3 and Qwen3.5",
    "qwen2_vl": "Qwen2-VL: the catalog starts the VL line at Qwen2.5-VL (offline, qwen2_vl maps to the qwen2.5-vl stand-in)",
    "qwen2_audio": "Qwen2-Audio: audio-language, not taught",
    "qwen2_5_omni": "Qwen2.5-Omni: superseded by Qwen3-Omni, whose thinker the catalog lists",
    "qwen3_asr": "Qwen3-ASR: speech recognition, not taught",
    "qwen4_exp": "Qwen4-Exp: a transformers 5.24 class with no official checkpoint found (only third-party mentions)",
}
# TRL template name -> why no stand-in renders it.
SKIPPED_TEMPLATES = {
    "qwen3_instruct_2507": "Qwen3-*-Instruct-2507: its offline stand-in is the qwen3 one (same architecture), whose "
                           "template still has enable_thinking; a 2507 kind would close this gap",
    "qwen3_8": "Qwen3.8-27B is known only from test fixtures and TRL; the catalog does not list it (unverified)",
}


def transformers_qwen_types() -> set[str]:
    """Every model_type in transformers' config auto mapping whose name mentions qwen."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return {name for name in CONFIG_MAPPING_NAMES if "qwen" in name}


# Suffixes transformers gives the configs of a model's parts (qwen3_5_text, qwen3_omni_moe_talker_code_predictor...).
PARTS = {"text", "vision", "encoder", "audio_encoder", "vision_encoder", "thinker", "talker", "talker_text",
         "talker_code_predictor", "bigvgan", "dit", "token2wav"}


def parent(model_type: str, known: set[str]) -> str | None:
    """The model_type a part's config belongs to (qwen3_5_text -> qwen3_5), or None for a model of its own
    (qwen3_5 is not a part of qwen3, nor qwen3_5_moe of qwen3_5)."""
    parents = [other for other in known if model_type.startswith(other + "_") and model_type[len(other) + 1:] in PARTS]
    return max(parents, key=len) if parents else None


def test_every_qwen_model_type_in_transformers_is_catalogued_or_skipped():
    known = transformers_qwen_types()
    catalogued = {c.model_type for c in catalog.checkpoints()}
    top_level = {t for t in known if parent(t, known) is None}
    covered = {t for t in top_level if t in catalogued or any(c.startswith(t + "_") for c in catalogued)}
    missing = sorted(top_level - covered - set(SKIPPED_MODEL_TYPES))
    assert not missing, (
        f"transformers knows Qwen model types the catalog does not: {missing}. Add their checkpoints to "
        "qwen_course/data/catalog.json (with sources, a confidence mark and a meta-device count), or add each to "
        "SKIPPED_MODEL_TYPES in tests/test_drift_qwen.py with the reason the course skips it."
    )


def test_skips_and_catalog_still_exist_in_transformers():
    """A skip for a type transformers dropped, or a catalogued type it no longer has, is stale."""
    known = transformers_qwen_types()
    stale = sorted(set(SKIPPED_MODEL_TYPES) - known)
    assert not stale, f"transformers no longer has {stale}: remove them from SKIPPED_MODEL_TYPES"
    gone = sorted({c.model_type for c in catalog.checkpoints()} - known)
    assert not gone, f"catalog model types transformers does not know: {gone}"


def trl_qwen_templates() -> dict[str, str]:
    """TRL's verbatim copies of Qwen's chat templates (training variants left out), by name."""
    folder = importlib.resources.files("trl") / "chat_templates"
    return {f.name.removesuffix(".jinja"): f.read_text(encoding="utf-8") for f in folder.iterdir()
            if f.name.startswith("qwen") and f.name.endswith(".jinja") and not f.name.endswith("_training.jinja")}


def test_every_trl_qwen_template_has_a_stand_in_or_a_reason():
    shipped = trl_qwen_templates()
    missing = sorted(set(shipped) - set(ot.TEMPLATES) - set(SKIPPED_TEMPLATES))
    assert not missing, (
        f"TRL ships Qwen chat templates no stand-in renders: {missing}. Write ours in qwen_course/data/templates "
        "(test_offline.py compares them with TRL's), or add each to SKIPPED_TEMPLATES with the reason."
    )
    stale = sorted(set(SKIPPED_TEMPLATES) - set(shipped))
    assert not stale, f"TRL no longer ships {stale}: remove them from SKIPPED_TEMPLATES"
    used = {k.template for k in KINDS.values()}
    assert used <= set(shipped), f"stand-in templates without a reference in TRL: {sorted(used - set(shipped))}"


def test_our_templates_still_render_like_trl():
    """A quick pass over every shared template; a changed TRL copy (a Qwen template update) fails here first."""
    from transformers.utils.chat_template_utils import render_jinja_template

    chats = [[{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}],
             [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "<think>\nr\n</think>\n\nA"},
              {"role": "user", "content": "Q2"}]]
    for name, reference in trl_qwen_templates().items():
        if name in SKIPPED_TEMPLATES:
            continue
        for messages in chats:
            for kwargs in ({}, {"add_generation_prompt": True}, {"add_generation_prompt": True, "enable_thinking": False}):
                ours = render_jinja_template(conversations=[messages], chat_template=ot.chat_template(name), **kwargs)
                theirs = render_jinja_template(conversations=[messages], chat_template=reference, **kwargs)
                assert ours[0][0] == theirs[0][0], f"{name} with {kwargs}: our template no longer renders like TRL's"
