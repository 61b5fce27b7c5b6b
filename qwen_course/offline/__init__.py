"""Offline mode: tiny stand-ins of each Qwen architecture with the real tokenizer and Qwen's chat templates.

`kinds` lists the stand-ins and what each imitates; `tokenizer` builds the real vocabularies (151k and 248k) into
fast tokenizers with our templates; `checkpoint` writes a seeded checkpoint folder; `processor` adds the VL image
processor; `store` keeps the cache on disk atomic and fingerprinted. transformers 5.24 cannot build a Qwen VL
processor without torchvision (its video part needs it), so `load_processor` returns the same class without video.
`retrieval` adds what a Qwen3-Embedding folder holds for sentence-transformers (pooling, prompts, end-of-text suffix).
`trained` is the trained stand-in (kind "qwen3-trained"): its corpus, training, compact checkpoint and gate; `train`
reruns its recipe (`qwen-course offline train`).
"""

from .checkpoint import SEED, build, build_all, is_built, path_for
from .kinds import EOS_IDS, KINDS, MODEL_TYPE_TO_KIND, TASK_KINDS, TOKEN_IDS, Kind, kind, kind_for
from .processor import load_processor
from .store import MARKER, read_marker
from .trained import command as train
from .tokenizer import FLAVOURS, TEMPLATES, build_tokenizer, chat_template, flavour, load_tokenizer, tokenizer_dir

__all__ = [
    "SEED", "build", "build_all", "is_built", "path_for", "EOS_IDS", "KINDS", "MODEL_TYPE_TO_KIND", "TASK_KINDS", "TOKEN_IDS", "Kind", "kind",
    "kind_for", "load_processor", "MARKER", "read_marker", "FLAVOURS", "TEMPLATES", "build_tokenizer",
    "chat_template", "flavour", "load_tokenizer", "tokenizer_dir", "train",
]  # fmt: skip
