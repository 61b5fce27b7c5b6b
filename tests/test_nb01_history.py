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
def stored():
    return nbformat.read(find_notebook("01"), as_version=4)


def test_fact_links_point_to_public_sources():
    """Issue 18 item 12: every link is a public source the catalog or the lesson's source list names; no citation of
    files outside the repository (QWEN_FACTS)."""
    from qwen_course import family

    nb = stored()
    text = "\n".join(line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                     if not line.startswith("[![Open in Colab]"))  # badges are not sources
    urls = set(re.findall(r"\]\((https?://[^)]+)\)", text))
    known = {s["url"] for s in family.sources().values()}
    assert len(urls) >= 25 and urls <= known, sorted(urls - known)
    everything = "\n".join(c.source for c in nb.cells)
    assert "QWEN_FACTS" not in everything and "HYBRID_FACTS" not in everything and "§" not in everything
    for key in ("PAPER/gated-deltanet", "BLOG/qwen3-next", "BLOG/qwen3.5", "HF-CARD/Qwen3.5-9B"):
        assert family.sources()[key]["url"] in urls, key  # issue 21: the hybrid section cites its public sources
    checks = sum(c.source.count("check_") // 2 for c in nb.cells if c.cell_type == "code" and "my_" in c.source)
    assert checks == 10  # one import and one call per exercise


def test_pick_hint_agrees_with_the_picker():
    """Issue 18: the predict-the-pick hint said 'under 4 GB ... fp32'; the picker caps CPU weights at 5 GB and gives a
    described CPU the reference benchmark's route (int8 via torch.ao)."""
    from qwen_course.picker import rules
    from qwen_course.precision.choice import reference_cpu

    cell = next(c.source for c in stored().cells if c.cell_type == "markdown" and "check_predicted_pick" not in c.source
                and "choose(\"coder\", 8, 8192" in c.source)
    hint = cell.split("<details>")[0]
    assert f"{rules()['cpu_max_weights_bytes'] / 1e9:g} GB" in hint and "4 GB" not in hint
    ref = reference_cpu()
    assert ref["precision"] in hint and "torch.ao" in hint and "fp32 unless" not in hint


def test_prose_states_no_unmeasured_relations():
    """Second read: relations between measured numbers are printed by code, not typed into the prose."""
    md = "\n".join(c.source for c in stored().cells if c.cell_type == "markdown")
    for stale in ("does about a tenth of Qwen3-32B's arithmetic", "halves Hindi", "1.4 to 1.6 times as many",
                  "The catalog has no configs for these models yet", "not plotted.", "under 4 GB"):
        assert stale not in md, stale


# ---- the executed notebook ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_notebook_01(run_notebook):
    from qwen_course.widgets import choose

    res = run_notebook("01")
    text = notebook_text(res["nb"])
    assert "Traceback" not in text
    assert f"{len(catalog.series())} series, {len(catalog.checkpoints())} checkpoints" in text
    assert "Dated by their checkpoints' month on the Hub (the series month is not verified): Qwen3.6" in text
    assert "Not plotted (neither the series nor a verified checkpoint has a month): Qwen3-Omni" in text
    assert "Qwen/Qwen3.8-27B" in text and "Qwen3.8 in the course catalog: False" in text  # shown with its caveat
    assert "151,643 BPE ranks + 26 special tokens = 151,669" in text
    assert "248,044 BPE ranks + 33 special tokens = 248,077" in text
    assert "['<tool_response>', '</tool_response>', '<think>', '</think>']" in text
    assert "on meta" in text and "Qwen3RMSNorm" in text or "Qwen3_5RMSNorm" in text  # the meta-device printout
    assert "155,582,464 more parameters (+26%)" in text  # untying Qwen3-0.6B
    assert "57344" in text and "401408" in text  # Qwen2.5-7B KV bytes per token, GQA and MHA
    assert re.search(r"Qwen3-30B-A3B: 6\.1 GFLOPs per token, 10% of Qwen3-32B's 64\.0 and less than Qwen3-4B's 8\.0", text)  # lm_head once
    # the hybrid section: both layer kinds, the narrow models measured against the formula, the fp32 state
    assert "Qwen3.5-9B                     32 layers = 24 Gated DeltaNet +  8 full attention" in text
    assert "Qwen3_5GatedDeltaNet" in text and "out_features=8192" in text
    assert "measured equals computed, to the byte, in every row: True" in text
    assert "recurrent state fp32" in text and "conv state bf16" in text
    assert "below 453 tokens its cache is the larger one" in text
    assert re.search(r"262,144 tokens: +38\.65 GB dense vs +8\.64 GB hybrid", text)
    assert re.search(r"Hindi +331 -> +149 +4.66 -> 2.10 +-55%", text)
    assert "Today's vocabulary has 64% more BPE ranks. It cuts Hindi the most (-55%)" in text
    assert "agree on every text: True" in text
    assert "https://arxiv.org/abs/2505.09388" in text  # generation tables link their sources
    assert "Qwen/Qwen3.6-27B-FP8" in text and "post-trained, hybrid thinking" in text  # reading Hub names
    plan = choose("coder", 8, CONTEXT_01, "CPU only (RAM)")
    assert plan.model_id in text  # the chooser plan for an 8 GB CPU
    for frozen in ("Writing model shards", "Loading weights", "0%|"):  # issue 18 item 13
        assert frozen not in text, frozen
    assert image_count(res["nb"]) >= 8
    plain = [o["data"].get("text/plain", "") for c in res["nb"].cells for o in c.get("outputs", []) if "data" in o]
    assert sum(p.startswith("[TODO]") for p in plain) == 10  # every exercise starts unanswered and says so


CONTEXT_01 = 8192  # the notebook's CONTEXT parameter
