"""Notebook 01: its exercise checks (solutions pass, wrong answers explain) and its key outputs when run offline."""

from __future__ import annotations

import re

import nbformat
import pytest

from conftest import find_notebook, image_count, notebook_text
from qwen_course import catalog, exercises


# ---- the checks, against the notebook's solutions -----------------------------------------------------------------
def test_checks_start_unanswered():
    for name in ("check_pretraining_growth", "check_first_gqa_everywhere", "check_kv_bytes_per_token",
                 "check_untied_extra", "check_active_fraction", "check_tokens_per_word", "check_predicted_pick",
                 "check_special_tokens"):
        result = getattr(exercises, name)(None)
        assert result.passed is None and "not answered yet" in str(result) and "hint" in str(result)


def test_pretraining_growth():
    assert exercises.check_pretraining_growth(36 / 7)
    assert "inverse" in str(exercises.check_pretraining_growth(7 / 36))
    assert "Qwen2.5" in str(exercises.check_pretraining_growth(2.0))
    assert not exercises.check_pretraining_growth("a lot")  # wrong type: a FAIL, never a traceback


def test_first_gqa_everywhere():
    for answer in ("2", "Qwen2", 2, "qwen2"):
        assert exercises.check_first_gqa_everywhere(answer), answer
    assert "32B and 110B" in str(exercises.check_first_gqa_everywhere("1.5"))
    assert not exercises.check_first_gqa_everywhere("3")


def test_kv_bytes_per_token():
    assert exercises.check_kv_bytes_per_token(2 * 28 * 4 * (3584 // 28) * 2)
    assert "both K and V" in str(exercises.check_kv_bytes_per_token(28 * 4 * 128 * 2))
    assert "query head" in str(exercises.check_kv_bytes_per_token(2 * 28 * 28 * 128 * 2))
    assert "bits" in str(exercises.check_kv_bytes_per_token(57344 * 8))


def test_untied_extra():
    c = catalog.get("Qwen/Qwen3-1.7B").text_config
    assert exercises.check_untied_extra(c["vocab_size"] * c["hidden_size"], model_id="Qwen/Qwen3-1.7B")
    assert "vocab_size rows" in str(exercises.check_untied_extra(151669 * 2048, model_id="Qwen/Qwen3-1.7B"))
    assert "both matrices" in str(exercises.check_untied_extra(2 * 151936 * 2048, model_id="Qwen/Qwen3-1.7B"))


def test_active_fraction():
    count = catalog.param_count("Qwen/Qwen3-235B-A22B")
    assert exercises.check_active_fraction(count.active / count.total)
    assert "between 0 and 1" in str(exercises.check_active_fraction(9.4))


def test_predicted_pick():
    from qwen_course.widgets import choose

    ch = choose("coder", 8, 8192, "CPU only (RAM)")
    assert exercises.check_predicted_pick((ch.model_id, ch.precision))
    assert not exercises.check_predicted_pick(("Qwen/Qwen2.5-Coder-7B-Instruct", "int4"))


@pytest.fixture(scope="module")
def qwen3_tok():
    from qwen_course import offline

    return offline.load_tokenizer("qwen3")


def test_tokenizer_checks(qwen3_tok):
    from qwen_course import family

    assert exercises.check_special_tokens(26, tokenizer=qwen3_tok)
    assert "vocabulary size" in str(exercises.check_special_tokens(151669, tokenizer=qwen3_tok))
    text = ("Die Bibliothek in unserer Stadt öffnet um neun Uhr morgens. Jeden Samstag kommen Kinder, "
            "um Bücher über Tiere, Sterne und ferne Länder zu lesen.")
    measured = family.count_tokens(qwen3_tok, text) / family.word_count(text)
    result = exercises.check_tokens_per_word((1.7, measured), text=text, tokenizer=qwen3_tok)
    assert result and "measured" in str(result)
    assert not exercises.check_tokens_per_word((1.7, measured + 1), text=text, tokenizer=qwen3_tok)
    assert "pass the text" in str(exercises.check_tokens_per_word((1.7, 1.7), text=None, tokenizer=qwen3_tok))


# ---- the notebook as stored ---------------------------------------------------------------------------------------
def test_fact_links_point_to_catalog_sources():
    nb = nbformat.read(find_notebook("01"), as_version=4)
    text = "\n".join(line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                     if not line.startswith("[![Open in Colab]"))  # badges are not sources
    urls = set(re.findall(r"\]\((https?://[^)]+)\)", text))
    known = {s["url"] for s in catalog.sources().values()}
    assert len(urls) >= 15 and urls <= known, sorted(urls - known)
    checks = sum(c.source.count("check_") // 2 for c in nb.cells if c.cell_type == "code" and "my_" in c.source)
    assert checks == 8  # one import and one call per exercise


# ---- the executed notebook ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_notebook_01(run_notebook):
    res = run_notebook("01")
    text = notebook_text(res["nb"])
    assert "Traceback" not in text
    assert "17 series, 34 checkpoints" in text
    assert "151,643 BPE ranks + 26 special tokens = 151,669" in text
    assert "248,044 BPE ranks + 33 special tokens = 248,077" in text
    assert "['<tool_response>', '</tool_response>', '<think>', '</think>']" in text
    assert "on meta" in text and "Qwen3RMSNorm" in text  # the meta-device model and its printout
    assert "155,582,464 more parameters (+26%)" in text  # untying Qwen3-0.6B
    assert "57344" in text and "401408" in text  # Qwen2.5-7B KV bytes per token, GQA and MHA
    assert re.search(r"Hindi +331 -> +149 +4.66 -> 2.10 +-55%", text)
    assert "agree on every text: True" in text
    assert "https://arxiv.org/abs/2505.09388" in text  # generation tables link their sources
    assert "Qwen/Qwen2.5-Coder-0.5B-Instruct" in text  # the chooser plan for an 8 GB CPU
    assert image_count(res["nb"]) >= 7
    plain = [o["data"].get("text/plain", "") for c in res["nb"].cells for o in c.get("outputs", []) if "data" in o]
    assert sum(p.startswith("[TODO]") for p in plain) == 8  # every exercise starts unanswered and says so
