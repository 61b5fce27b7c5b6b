"""Constrained decoding: a logits processor that lets only tokens keeping the output inside a JSON schema.

Two backends, both run on CPU with transformers 5: llguidance (one 3 MB wheel, no dependencies; the course installs it)
and xgrammar (optional: install with --no-deps plus apache-tvm-ffi; its triton dependency only serves CUDA kernels).
Whitespace is fixed (compact JSON): with flexible whitespace a random or weak model can emit spaces forever.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

BACKENDS = ("llguidance", "xgrammar")


@dataclass
class Vocabulary:
    """A tokenizer prepared once for a backend (the slow step: every token's bytes are indexed)."""

    backend: str
    handle: object = field(repr=False)
    vocab_size: int  # rows of the model's logits (Qwen pads its embedding past the tokenizer)
    seconds: float
    stops: list[int] = field(default_factory=list)


@dataclass
class Grammar:
    """A schema compiled against a Vocabulary; make one JsonProcessor from it per generate() call."""

    vocabulary: Vocabulary = field(repr=False)
    handle: object = field(repr=False)
    seconds: float

    def processor(self) -> "JsonProcessor":
        """A fresh logits processor (it keeps parser state, so never reuse one across generate calls)."""
        return JsonProcessor(self)


def prepare(tokenizer, backend: str = "llguidance", vocab_size: int | None = None,
            stop_ids: list[int] | None = None) -> Vocabulary:
    """Index a tokenizer's vocabulary for one backend; vocab_size is the model's (config.vocab_size)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown grammar backend {backend!r}; choose one of {BACKENDS}")
    size = vocab_size or len(tokenizer)
    stops = stop_ids or [tokenizer.eos_token_id]
    started = time.perf_counter()
    if backend == "llguidance":
        import llguidance.hf

        handle = llguidance.hf.from_tokenizer(tokenizer, n_vocab=len(tokenizer), eos_token=stops)
    else:
        import xgrammar

        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=size, stop_token_ids=stops)
        handle = xgrammar.GrammarCompiler(info)  # caches compiled schemas: the same schema again costs ~nothing
    return Vocabulary(backend, handle, size, time.perf_counter() - started, stops)


def compile_json(vocabulary: Vocabulary, schema: dict) -> Grammar:
    """Compile a JSON schema (compact whitespace) for a prepared vocabulary."""
    started = time.perf_counter()
    if vocabulary.backend == "llguidance":
        from llguidance import LLMatcher

        return _llguidance(vocabulary, LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": False}), started)
    handle = vocabulary.handle.compile_json_schema(json.dumps(schema), any_whitespace=False)
    return Grammar(vocabulary, handle, time.perf_counter() - started)


def compile_lark(vocabulary: Vocabulary, lark: str) -> Grammar:
    """Compile a Lark grammar (llguidance only), e.g. a whole <tool_call> block around a JSON schema."""
    if vocabulary.backend != "llguidance":
        raise ValueError("Lark grammars are an llguidance feature; use backend='llguidance'")
    from llguidance import LLMatcher

    return _llguidance(vocabulary, LLMatcher.grammar_from_lark(lark), time.perf_counter())


def _llguidance(vocabulary: Vocabulary, source: str, started: float) -> Grammar:
    """Build llguidance's matcher once (where its real compile work happens); processors copy it."""
    from llguidance import LLMatcher

    matcher = LLMatcher(vocabulary.handle, source, log_level=0)
    if matcher.is_error():
        raise ValueError(f"llguidance cannot use this grammar: {matcher.get_error()}")
    matcher.compute_bitmask()  # the first mask builds the lexer: count it as compile time
    return Grammar(vocabulary, matcher, time.perf_counter() - started)


class JsonProcessor:
    """The logits processor: after each sampled token, advance the parser and mask every token it forbids."""

    def __init__(self, grammar: Grammar):
        self.grammar = grammar
        self.matchers: list = []
        self.mask_seconds: list[float] = []  # time spent per generated token, for the overhead measurement

    def __call__(self, input_ids, scores):
        import torch

        started = time.perf_counter()
        if not self.matchers:
            self.matchers = [_matcher(self.grammar) for _ in range(input_ids.shape[0])]
        else:
            for row, matcher in enumerate(self.matchers):
                _advance(self.grammar.vocabulary.backend, matcher, int(input_ids[row, -1]))
        allowed = torch.stack([_allowed(self.grammar, matcher) for matcher in self.matchers])
        scores = scores.masked_fill(~allowed[:, :scores.shape[1]], float("-inf"))
        self.mask_seconds.append(time.perf_counter() - started)
        return scores

    def errors(self) -> list[str]:
        """Parser errors (a token the grammar forbade got through, e.g. a processor placed after sampling)."""
        if self.grammar.vocabulary.backend == "llguidance":
            return [m.get_error() for m in self.matchers if m.is_error()]
        return []


def _matcher(grammar: Grammar):
    """A parser state for one sequence."""
    if grammar.vocabulary.backend == "llguidance":
        return grammar.handle.deep_copy()
    import xgrammar

    return xgrammar.GrammarMatcher(grammar.handle)


def _advance(backend: str, matcher, token: int) -> None:
    """Feed the token sampled last step to the parser (ignored once the grammar is complete)."""
    if backend == "llguidance":
        if not matcher.is_stopped():
            matcher.consume_token(token)
    elif not matcher.is_terminated():
        matcher.accept_token(token)


def _allowed(grammar: Grammar, matcher):
    """A bool row over the model's vocabulary: True where the token may come next."""
    import numpy as np
    import torch

    size = grammar.vocabulary.vocab_size
    llguidance = grammar.vocabulary.backend == "llguidance"
    if (matcher.is_error() if llguidance else matcher.is_terminated()):  # broken or finished: only stop may follow
        allowed = torch.zeros(size, dtype=torch.bool)
        allowed[grammar.vocabulary.stops] = True
        return allowed
    if llguidance:
        bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
    else:
        import xgrammar

        words = xgrammar.allocate_token_bitmask(1, size)
        matcher.fill_next_token_bitmask(words, 0)
        bits = words.numpy().view(np.uint8).reshape(-1)
    allowed = np.unpackbits(bits, bitorder="little")[:size].astype(bool)
    if allowed.shape[0] < size:  # padded embedding rows are never real tokens
        allowed = np.concatenate([allowed, np.zeros(size - allowed.shape[0], dtype=bool)])
    return torch.from_numpy(allowed)
