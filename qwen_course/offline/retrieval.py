"""What a real Qwen3-Embedding folder holds beyond weights and tokenizer, so the stand-in loads the same way.

Public copies of Qwen/Qwen3-Embedding-0.6B carry sentence-transformers files: modules.json (Transformer, then Pooling,
then Normalize), 1_Pooling/config.json (last-token pooling) and config_sentence_transformers.json (a "query" prompt with
the instruction, an empty "document" prompt). Its tokenizer appends <|endoftext|> to every text (QwenLM/Qwen3-Embedding
issues 54 and 122), so the last token, whose hidden state becomes the embedding, is the same marker for every input.
The Normalize module is the usual layout for a cosine-similarity model; it was not read from the real folder here.
"""

from __future__ import annotations

import json
from pathlib import Path

ENDOFTEXT, ENDOFTEXT_ID = "<|endoftext|>", 151643
QUERY_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
PROMPTS = {"query": f"Instruct: {QUERY_INSTRUCTION}\nQuery:", "document": ""}
MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
]
POOLING_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")
# Appends <|endoftext|> after the text (and after each text of a pair), as the real tokenizer.json does.
SUFFIX = {
    "type": "TemplateProcessing",
    "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": ENDOFTEXT, "type_id": 0}}],
    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": ENDOFTEXT, "type_id": 0}},
             {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": ENDOFTEXT, "type_id": 1}}],
    "special_tokens": {ENDOFTEXT: {"id": ENDOFTEXT, "ids": [ENDOFTEXT_ID], "tokens": [ENDOFTEXT]}},
}


def embedding_files(hidden_size: int) -> dict[str, dict | list]:
    """The sentence-transformers files of an embedding folder, by relative path."""
    modes = {f"pooling_mode_{m}": m == "lasttoken" for m in POOLING_MODES}
    pooling = {"word_embedding_dimension": hidden_size, **modes, "include_prompt": True}
    return {
        "modules.json": MODULES,
        "1_Pooling/config.json": pooling,
        "config_sentence_transformers.json": {"prompts": PROMPTS, "default_prompt_name": None,
                                              "similarity_fn_name": "cosine"},
    }


def recipe(name: str, config: dict) -> list:
    """What the extra files of a kind depend on (part of its build fingerprint); [] for kinds without extras."""
    return [embedding_files(config["hidden_size"]), SUFFIX] if name in EXTRAS else []


def write_embedding_files(folder: Path, config: dict) -> None:
    """Add the sentence-transformers files and the tokenizer's end-of-text suffix to a built folder."""
    for relative, content in embedding_files(config["hidden_size"]).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2), encoding="utf-8")
    (folder / "2_Normalize").mkdir(exist_ok=True)
    tokenizer_file = folder / "tokenizer.json"
    tokenizer = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    before = tokenizer.get("post_processor")
    tokenizer["post_processor"] = {"type": "Sequence", "processors": [p for p in (before, SUFFIX) if p]}
    tokenizer_file.write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")


EXTRAS = {"qwen3-embedding": write_embedding_files}  # kind -> writer(folder, config), run after the tokenizer
