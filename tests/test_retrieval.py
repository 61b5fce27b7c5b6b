"""qwen_course.retrieval without models: the course as chunks, BM25, recall@k/MRR/chance, the Qwen3-Embedding and
Qwen3-Reranker formats as their model cards write them, and citations."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_course.retrieval import (
    COURSE_TASK, DEFAULT_TASK, RERANK_PREFIX, RERANK_SUFFIX, Bm25, Chunk, Question, chance, citations, course_chunks,
    cross_encoder_template, evaluate, find_notebooks, first_hit, index_bytes, load_questions, notebook_chunks,
    query_prompt, query_text, rag_messages, rerank_content, rerank_text, sources_block, words, yes_no_ids,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
THIS = "11_embeddings_rag_and_evaluation.ipynb"


@pytest.fixture(scope="module")
def chunks():
    return course_chunks(NOTEBOOKS, exclude=(THIS,))


def test_import_is_light():
    code = "import sys, qwen_course.retrieval, qwen_course.evaluation; print(sorted(m for m in ('torch', " \
           "'transformers', 'sentence_transformers', 'lm_eval', 'faiss') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------ the corpus


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    nb = {"cells": [{"cell_type": kind, "metadata": {}, "source": text, **({"outputs": [], "execution_count": None}
                                                                           if kind == "code" else {})}
                    for kind, text in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def test_chunks_keep_headings_drop_badges_and_code(tmp_path):
    long = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(5))
    path = write_notebook(tmp_path / "42_demo.ipynb", [
        ("markdown", "# 42 · Demo\n\n[![Open in Colab](https://x/badge.svg)](https://colab/x) Intro text."),
        ("code", "print('never indexed')"),
        ("markdown", "## 1. Section one\n\nShort."),
        ("markdown", long),
    ])
    chunks = notebook_chunks(path, max_words=130)
    assert "Colab" not in chunks[0].text and chunks[0].title == "42 · Demo"
    assert all("never indexed" not in c.text for c in chunks)
    assert [c.title for c in chunks[1:]] == ["1. Section one"] * (len(chunks) - 1)  # the nearest heading above
    assert len(chunks) >= 4 and all(c.words <= 130 for c in chunks[2:])  # the long cell is cut at paragraph ends
    assert len({c.id for c in chunks}) == len(chunks) and chunks[0].source == "42_demo.ipynb"
    assert chunks[1].cite() == "42_demo.ipynb · 1. Section one"


def test_the_course_corpus(chunks):
    sources = {c.source for c in chunks}
    assert "catalog.json" in sources and THIS not in sources
    assert {p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")} - {THIS} <= sources
    qwen3 = next(c for c in chunks if c.title == "Qwen/Qwen3-0.6B")
    assert "28 layers" in qwen3.text and "8 key/value heads" in qwen3.text and "40,960" not in qwen3.text


def test_find_notebooks(tmp_path, monkeypatch):
    from qwen_course.retrieval import corpus

    assert find_notebooks(NOTEBOOKS) == NOTEBOOKS and find_notebooks(ROOT) == NOTEBOOKS
    assert find_notebooks(tmp_path) == NOTEBOOKS  # the repository of the installed package, from anywhere
    assert {c.source for c in course_chunks(tmp_path)} == {"catalog.json"}  # a folder without notebooks
    monkeypatch.setattr(corpus, "find_notebooks", lambda: None)  # installed without the notebooks (Colab)
    with pytest.raises(FileNotFoundError, match="no course notebooks"):
        course_chunks()


# ------------------------------------------------------------------ BM25


def test_bm25_by_hand():
    texts = ["the cat sat on the mat", "dogs and cats", "a quantized qwen3.5 model", "cat cat cat"]
    bm = Bm25(texts)
    scores = bm.scores("cat")
    assert scores[1] == 0 and scores[2] == 0  # "cats" is another word: no stemming
    assert scores[3] > scores[0] > 0  # more occurrences score higher, with diminishing returns
    assert bm.rank("qwen3.5 quantized")[0] == 2
    assert words("What is the Q8_0 size of Qwen3.5-9B?") == ["q8_0", "size", "qwen3.5-9b"]
    assert bm.scores("zebra") == [0.0] * 4
    with pytest.raises(ValueError):
        Bm25([])


def test_bm25_matches_the_formula():
    import math

    texts = ["a b b", "b c", "c c c d"]
    bm, k1, b = Bm25(texts, k1=1.2, b=0.5), 1.2, 0.5
    lengths = [2, 2, 4]  # "a" is a stop word: the documents are (b, b), (b, c), (c, c, c, d)
    avg = sum(lengths) / 3
    idf_b = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    expected = idf_b * 2 * (k1 + 1) / (2 + k1 * (1 - b + b * lengths[0] / avg))
    assert bm.scores("b")[0] == pytest.approx(expected)


# ------------------------------------------------------------------ metrics


def test_relevant_chunks_and_first_hit():
    chunks = [Chunk("a", "x.ipynb", "t", "About LoRA merges"), Chunk("b", "y.ipynb", "t", "About LoRA merges"),
              Chunk("c", "x.ipynb", "t", "nothing")]
    q = Question("q", "How to merge?", "x.ipynb", "lora merge")
    assert q.relevant(chunks) == {0}  # right file and phrase (case-insensitive)
    assert first_hit([2, 1, 0], {0}) == 3 and first_hit([2, 1], {0}) is None


def test_evaluate_and_its_errors():
    chunks = [Chunk(str(i), "f", "t", f"text {i}") for i in range(10)]
    qs = [Question("a", "?", "f", "text 3"), Question("b", "?", "f", "text 7")]
    score = evaluate([[3, 1, 2], [0, 1, 2, 4, 5, 6, 8, 9]], qs, chunks, "m")
    assert score.recall == {1: 0.5, 5: 0.5, 10: 0.5} and score.mrr == pytest.approx(0.5)
    assert score.row()["recall@1"] == 0.5
    with pytest.raises(ValueError, match="2 questions"):
        evaluate([[1]], qs, chunks)
    with pytest.raises(ValueError, match="no chunk"):
        evaluate([[1], [2]], [qs[0], Question("c", "?", "f", "absent")], chunks)


def test_chance_is_exact():
    """The closed form agrees with random rankings, sampled."""
    chunks = [Chunk(str(i), "f", "t", "hit" if i in (3, 11) else f"miss {i}") for i in range(20)]
    qs = [Question("a", "?", "f", "hit")]
    exact = chance(qs, chunks, ks=(1, 5))
    rng, trials, hits5, rr = random.Random(0), 20000, 0, 0.0
    for _ in range(trials):
        order = rng.sample(range(20), 20)
        first = first_hit(order, {3, 11})
        hits5 += first <= 5
        rr += 1 / first
    assert exact.recall[1] == pytest.approx(2 / 20)
    assert exact.recall[5] == pytest.approx(hits5 / trials, abs=0.01)
    assert exact.mrr == pytest.approx(rr / trials, abs=0.01)


def test_every_question_has_an_answer_in_the_live_course(chunks):
    """If this fails, a notebook lost the passage a question in data/retrieval/questions.json points to: update it."""
    questions = load_questions()
    assert len(questions) >= 15 and len({q.id for q in questions}) == len(questions)
    for q in questions:
        assert q.relevant(chunks), f"{q.id}: no chunk of {q.source} contains {q.phrase!r}"
        assert q.text.endswith("?") and q.answer


def test_bm25_is_far_above_chance_on_the_course(chunks):
    """The lexical baseline must show something real offline (the notebook prints it)."""
    questions = load_questions()
    bm = Bm25([f"{c.title}\n{c.text}" for c in chunks])
    score = evaluate([bm.rank(q.text) for q in questions], questions, chunks, "BM25")
    assert score.recall[5] >= 0.7 and score.mrr > 10 * chance(questions, chunks).mrr


# ------------------------------------------------------------------ the model cards' formats


def test_query_format_is_the_model_cards():
    assert query_text("Explain gravity") == ("Instruct: Given a web search query, retrieve relevant passages that "
                                            "answer the query\nQuery:Explain gravity")
    assert query_prompt(COURSE_TASK).endswith("\nQuery:") and DEFAULT_TASK in query_prompt()


def test_reranker_format_is_the_model_cards():
    text = rerank_text("q?", "d.")
    assert text.startswith('<|im_start|>system\nJudge whether the Document meets the requirements based on the Query '
                           'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
                           '<|im_start|>user\n<Instruct>: Given a web search query')
    assert text.endswith("\n<Query>: q?\n<Document>: d.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert text == RERANK_PREFIX + rerank_content("q?", "d.") + RERANK_SUFFIX


def test_the_whole_reranker_string_tokenizes_like_the_cards_three_parts():
    """The card tokenizes prefix, content and suffix separately; one string gives the same ids."""
    from qwen_course import offline

    tok = offline.load_tokenizer("qwen3")
    for q, d in (("What is the capital of China?", "The capital of China is Beijing."), ("x", "  spaced\n\ntext ")):
        parts = [tok.encode(t, add_special_tokens=False) for t in (RERANK_PREFIX, rerank_content(q, d), RERANK_SUFFIX)]
        assert tok.encode(rerank_text(q, d), add_special_tokens=False) == sum(parts, [])
    assert yes_no_ids(tok) == (9693, 2152)
    assert tok.decode([9693]) == "yes" and tok.decode([2152]) == "no"


def test_yes_no_ids_refuse_a_foreign_tokenizer():
    class Other:
        unk_token_id = 0

        def convert_tokens_to_ids(self, tokens):
            return [0, 5]

    with pytest.raises(ValueError, match="not a Qwen reranker"):
        yes_no_ids(Other())


@pytest.mark.parametrize("instruction", [DEFAULT_TASK, COURSE_TASK, "It's a \"quoted\" \\ task"])
def test_cross_encoder_template_renders_the_reranker_prompt(instruction):
    """What sentence-transformers' CrossEncoder renders for a (query, document) pair is exactly rerank_text."""
    from transformers.utils.chat_template_utils import render_jinja_template

    messages = [{"role": "query", "content": "q?"}, {"role": "document", "content": "d."}]
    rendered, _ = render_jinja_template([messages], chat_template=cross_encoder_template(instruction))
    assert rendered[0] == rerank_text("q?", "d.", instruction)


# ------------------------------------------------------------------ RAG and sizes


def test_sources_messages_and_citations():
    chunks = [Chunk("a", "06.ipynb", "Merge", "merge_and_unload " * 300), Chunk("b", "catalog.json", "Qwen/X", "x")]
    block = sources_block(chunks, max_words=5)
    assert block.startswith("[1] 06.ipynb · Merge\nmerge_and_unload") and block.count("merge_and_unload") == 5
    assert "...\n\n[2] catalog.json · Qwen/X\nx" in block
    messages = rag_messages("How?", chunks)
    assert [m["role"] for m in messages] == ["system", "user"] and "[2]" in messages[0]["content"]
    assert citations("Merge it [1]. See [2, 1] and [7] [2]", 2) == [1, 2]
    assert citations("no sources", 3) == []


def test_index_bytes():
    assert index_bytes(1_000_000, 1024) == 4_096_000_000
    assert index_bytes(10, 256, bytes_per_value=1) == 2560
