"""The embedding and reranker stand-ins load the way the real checkpoints do: sentence-transformers finds last-token
pooling, normalisation and the query prompt in the folder, the tokenizer ends every text with <|endoftext|> (as
QwenLM/Qwen3-Embedding issue 122 shows for the real one), and the CrossEncoder's scores equal the model card's
yes/no computation."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paths():
    from qwen_course import offline

    return {"embedding": offline.build("qwen3-embedding"), "rerank": offline.build("qwen3-reranker")}


def test_the_picker_gives_the_stand_ins_offline(monkeypatch, paths):
    from qwen_course.picker import pick

    monkeypatch.setenv("QWEN_COURSE_OFFLINE", "1")
    emb = pick("embedding")
    assert emb.offline and emb.stand_in == "qwen3-embedding" and emb.model_path == str(paths["embedding"])
    assert emb.model_id.startswith("Qwen/Qwen3-Embedding-")
    rer = pick("rerank", model="Qwen/Qwen3-Reranker-0.6B")
    assert rer.stand_in == "qwen3-reranker" and any("unverified" in n for n in rer.notes)


def test_tokenizer_appends_endoftext_like_the_real_one(paths):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(paths["embedding"], padding_side="left")
    batch = tok(["test", "test again"], padding=True)
    assert batch["input_ids"] == [[151643, 1944, 151643], [1944, 1549, 151643]]  # issue 122's output
    assert batch["attention_mask"] == [[0, 1, 1], [1, 1, 1]]
    reranker_tok = AutoTokenizer.from_pretrained(paths["rerank"])
    assert reranker_tok("test")["input_ids"] == [1944]  # the reranker's tokenizer adds nothing


def test_sentence_transformers_reads_the_folder_like_the_real_one(paths):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    from qwen_course.retrieval import query_text

    st = SentenceTransformer(str(paths["embedding"]), device="cpu", model_kwargs={"dtype": torch.float32})
    pooling = st[1].get_config_dict()
    assert pooling["pooling_mode"] == "lasttoken" and type(st[2]).__name__ == "Normalize"
    assert st.prompts["query"] + "Explain gravity" == query_text("Explain gravity")
    texts = [query_text("Explain gravity"), "Gravity is a force.", "x"]
    vectors = st.encode(texts, convert_to_tensor=True)
    assert np.allclose(vectors.norm(dim=1).numpy(), 1, atol=1e-5)
    model = AutoModel.from_pretrained(paths["embedding"], dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(paths["embedding"], padding_side="left")
    with torch.no_grad():
        hidden = model(**tok(texts, padding=True, return_tensors="pt")).last_hidden_state[:, -1]
    assert torch.allclose(torch.nn.functional.normalize(hidden, dim=-1), vectors, atol=1e-5)
    short = st.encode(texts, truncate_dim=16, normalize_embeddings=True)
    cut = vectors.numpy()[:, :16]
    assert np.allclose(short, cut / np.linalg.norm(cut, axis=1, keepdims=True), atol=1e-5)


def test_cross_encoder_equals_the_model_cards_yes_no_score(paths):
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qwen_course.retrieval import COURSE_TASK, cross_encoder_template, rerank_text, yes_no_ids

    pairs = [("What is the capital of China?", "The capital of China is Beijing."), ("Explain gravity", "x " * 50)]
    model = AutoModelForCausalLM.from_pretrained(paths["rerank"], dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(paths["rerank"], padding_side="left")
    yes, no = yes_no_ids(tok)
    inputs = tok([rerank_text(q, d, COURSE_TASK) for q, d in pairs], padding=True, return_tensors="pt")
    with torch.no_grad():
        last = model(**inputs, logits_to_keep=1).logits[:, -1]
    by_hand = torch.log_softmax(torch.stack([last[:, no], last[:, yes]], 1), 1)[:, 1].exp().numpy()
    cross = CrossEncoder(str(paths["rerank"]), device="cpu", model_kwargs={"dtype": torch.float32},
                         processor_kwargs={"chat_template": cross_encoder_template(COURSE_TASK)})
    assert abs(cross.predict(pairs) - by_hand).max() < 1e-5
    cross.tokenizer.chat_template = cross_encoder_template("another instruction")  # the notebook switches it
    assert abs(cross.predict(pairs) - by_hand).max() > 0


def test_measure_encode(paths):
    import torch
    from sentence_transformers import SentenceTransformer

    from qwen_course.retrieval import measure_encode

    st = SentenceTransformer(str(paths["embedding"]), device="cpu", model_kwargs={"dtype": torch.float32})
    cost = measure_encode(st, [f"passage {i} about Qwen" for i in range(20)], repeats=2, batch_size=8)
    assert cost.texts == 20 and cost.dims == 64 and len(cost.runs) == 2 and cost.seconds > 0
    assert cost.per_100_texts_s == pytest.approx(cost.seconds * 5) and cost.peak_extra_bytes >= 0
    assert 30e6 < cost.weights_bytes < 50e6  # 9.7M float32 parameters, mostly the 151,936 x 64 embedding
    assert "seconds per 100 texts" in str(cost)
