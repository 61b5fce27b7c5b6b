"""What constrained decoding costs and buys, measured here: per-token overhead (A/B) and schema-valid outputs.

The other grammar libraries' numbers are data (data/tools/grammar_libraries.json), each with the conditions it was
measured under, so a notebook can print them next to this run's own measurements.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field

from .._display import html_table, text_table
from .._paths import load_json

# A string no generation finishes within its token budget: every step is constrained, none can stop early.
ENDLESS_STRING = {"type": "string", "minLength": 4000, "maxLength": 4000}


@dataclass(frozen=True)
class Overhead:
    """Milliseconds per new token without and with the grammar processor, same prompt and token count, medians."""

    unconstrained_ms: float
    constrained_ms: float
    processor_ms: float  # the processor's own time per token (mask computation and apply)
    tokens: int
    repeats: int

    @property
    def overhead_ms(self) -> float:
        return self.constrained_ms - self.unconstrained_ms

    @property
    def overhead_percent(self) -> float:
        return 100 * self.overhead_ms / self.unconstrained_ms

    def __str__(self) -> str:
        return (f"{self.unconstrained_ms:.2f} ms/token unconstrained, {self.constrained_ms:.2f} with the grammar: "
                f"{self.overhead_ms:+.2f} ms ({self.overhead_percent:+.1f}%); the processor itself "
                f"{self.processor_ms:.2f} ms/token (medians of {self.repeats} runs of {self.tokens} tokens)")


@dataclass
class Validity:
    """How many sampled outputs parse as JSON and satisfy the schema (and how many ran into the token limit)."""

    n: int
    json: int = 0
    valid: int = 0
    hit_limit: int = 0
    samples: list[str] = field(default_factory=list, repr=False)

    def __str__(self) -> str:
        return f"{self.valid}/{self.n} valid, {self.json}/{self.n} parse as JSON, {self.hit_limit} hit the token limit"


def _generate(model, inputs: dict, tokens: int, processors: list, exact: bool, stop_ids: list[int], **sampling):
    """New token ids and seconds for one generate call (exact: exactly `tokens` new tokens)."""
    import torch

    lengths = {"max_new_tokens": tokens, **({"min_new_tokens": tokens} if exact else {})}
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, logits_processor=processors, eos_token_id=stop_ids, pad_token_id=stop_ids[-1],
                             **lengths, **sampling)
    return out[0, inputs["input_ids"].shape[1]:].tolist(), time.perf_counter() - started


def per_token_overhead(model, inputs: dict, grammar, stop_ids: list[int], tokens: int = 32,
                       repeats: int = 3) -> Overhead:
    """A/B: greedy generation of exactly `tokens` tokens, without and with `grammar` (an ENDLESS_STRING one),
    interleaved in every repeat after one warm-up of each, so machine load hits both arms alike."""
    _generate(model, inputs, 4, [], True, stop_ids, do_sample=False)
    _generate(model, inputs, 4, [grammar.processor()], True, stop_ids, do_sample=False)
    plain, constrained, inside = [], [], []
    for _ in range(repeats):
        _, seconds = _generate(model, inputs, tokens, [], True, stop_ids, do_sample=False)
        plain.append(seconds / tokens)
        processor = grammar.processor()
        _, seconds = _generate(model, inputs, tokens, [processor], True, stop_ids, do_sample=False)
        constrained.append(seconds / tokens)
        inside.append(statistics.median(processor.mask_seconds[1:] or processor.mask_seconds))
    return Overhead(1000 * statistics.median(plain), 1000 * statistics.median(constrained),
                    1000 * statistics.median(inside), tokens, repeats)


def validity(model, tokenizer, inputs: dict, schema: dict, stop_ids: list[int], make_processor=None, n: int = 4,
             max_new_tokens: int = 64, seed: int = 0) -> Validity:
    """Sample n outputs (temperature 1, no top-k/top-p) and count those that are JSON and satisfy the schema."""
    import torch
    from jsonschema import Draft202012Validator

    checker, counts = Draft202012Validator(schema), Validity(n)
    for i in range(n):
        torch.manual_seed(seed + i)
        processors = [make_processor()] if make_processor else []
        new, _ = _generate(model, inputs, max_new_tokens, processors, False, stop_ids, do_sample=True,
                           temperature=1.0, top_k=0, top_p=1.0)
        counts.hit_limit += not new or new[-1] not in stop_ids
        text = tokenizer.decode([t for t in new if t not in stop_ids])
        counts.samples.append(text)
        try:
            value = json.loads(text)
        except ValueError:
            continue
        counts.json += 1
        counts.valid += not any(checker.iter_errors(value))
    return counts


class LibraryReport:
    """The grammar libraries as measured for this course (data/tools/grammar_libraries.json), with conditions."""

    HEADER = ("library", "works here", "prepare 151k vocab (s)", "prepare 248k vocab (s)", "overhead 151k",
              "overhead 248k", "schema-valid", "note")

    def __init__(self):
        self.data = load_json("tools/grammar_libraries.json")

    @property
    def conditions(self) -> str:
        return self.data["conditions"]

    def library(self, name: str) -> dict:
        """One library's entry, or a KeyError naming the ones measured."""
        for entry in self.data["libraries"]:
            if entry["name"] == name:
                return entry
        raise KeyError(f"{name!r} was not measured; measured: {[e['name'] for e in self.data['libraries']]}")

    def rows(self) -> list[tuple]:
        rows = []
        for e in self.data["libraries"]:
            if not e["works"]:
                rows.append((f"{e['name']} {e['version']}", "no", "", "", "", "", "", e["why"]))
                continue
            prep = [f"{min(e['prepare_s'][v]):.1f}-{max(e['prepare_s'][v]):.1f}" for v in ("151k", "248k")]
            over = [f"+{e['overhead_ms'][v]:.2f} ms (+{e['overhead_percent'][v]:.1f}%)" for v in ("151k", "248k")]
            valid = f"{e['valid']['151k']}, {e['valid']['248k']}"
            rows.append((f"{e['name']} {e['version']}", "yes", *prep, *over, valid, e["note"]))
        return rows

    def summary(self) -> list[str]:
        """One line per library: what it cost, or why it did not work."""
        lines = []
        for name, works, prep151, prep248, over151, over248, valid, _ in self.rows():
            lines.append(f"{name}: prepare {prep151} s (151k) / {prep248} s (248k); per token {over151} / {over248}; "
                         f"schema-valid {valid}" if works == "yes" else f"{name}: does not work here")
        return lines

    def _repr_html_(self) -> str:
        return html_table(self.rows(), self.HEADER, title="Grammar libraries on CPU, measured for this course") + (
            f"<p><small>{self.conditions}</small></p>")

    def __str__(self) -> str:
        return text_table(self.rows(), self.HEADER) + "\n" + self.conditions

    __repr__ = __str__
