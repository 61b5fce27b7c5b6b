"""lm-evaluation-harness tasks over a local JSONL file, and the numbers that come back, read honestly.

Two tasks over the same questions: `<name>_mc` scores each choice by its log-likelihood after the prompt (accuracy:
is the right choice the likeliest?), `<name>_gen` lets the model write and compares the first number it writes with
the answer (exact match). Both are plain lm-eval YAML (dataset_path: json), so no network is needed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from pathlib import Path

from .questions import write_jsonl

MC = """task: {name}_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}} Answer with the number only."
doc_to_choice: choices
doc_to_target: label
target_delimiter: "{delimiter}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1
"""
GEN = """task: {name}_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}} Answer with the number only."
doc_to_target: answer
generation_kwargs:
  until: ["<|im_end|>", "<|endoftext|>"]
  max_gen_toks: {max_tokens}
  do_sample: false
filter_list:
  - name: number
    filter:
      - function: regex
        regex_pattern: "(-?[0-9]+)"
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1
"""


def write_tasks(folder: str | Path, rows: list[dict], name: str = "course", max_tokens: int = 32,
                chat: bool = True) -> dict:
    """The JSONL file and both task YAMLs in `folder`; returns the task names and paths.

    `chat=True` scores choices right after the chat template's assistant prompt (no space before the answer);
    `max_tokens` bounds each generated answer: a thinking model needs thousands (the Qwen3 report allows 32,768).
    """
    folder = Path(folder)
    data = write_jsonl(rows, folder / f"{name}.jsonl")
    files = {}
    for kind, template in (("mc", MC), ("gen", GEN)):
        text = template.format(name=name, data=data.resolve(), max_tokens=max_tokens, delimiter="" if chat else " ")
        files[kind] = folder / f"{name}_{kind}.yaml"
        files[kind].write_text(text, encoding="utf-8")
    return {"mc": f"{name}_mc", "gen": f"{name}_gen", "data": data, "files": files, "folder": folder}


def standard_error(p: float, n: int) -> float:
    """The binomial standard error of an accuracy `p` measured on `n` independent questions."""
    if n <= 0:
        raise ValueError("n must be positive")
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def chance(rows: list[dict]) -> dict:
    """What guessing scores: multiple choice 1 / (number of choices) on average; exact match about 0."""
    return {"mc": sum(1 / len(r["choices"]) for r in rows) / len(rows), "gen": 0.0}


def scores(results: dict, arm: str = "") -> list[dict]:
    """One row per task of an lm-eval `simple_evaluate` result: metric, value, its standard error, questions."""
    rows = []
    for task, metrics in results["results"].items():
        n = results.get("n-samples", {}).get(task, {}).get("effective") or metrics.get("sample_len")
        for key, value in metrics.items():
            if "," not in key or "_stderr" in key:
                continue
            metric, filter_name = key.split(",", 1)
            stderr = metrics.get(f"{metric}_stderr,{filter_name}")
            rows.append({"arm": arm, "task": task, "metric": metric, "value": float(value),
                         "stderr": None if stderr in (None, "N/A") else float(stderr), "questions": n})
    return rows


@contextlib.contextmanager
def quiet():
    """Run the harness without its progress bars and info logs in the notebook: they would bury the table.

    lm-eval draws its bars on stderr with no switch to turn them off, so stderr is captured while the block runs
    and shown only if the block fails; datasets' bars are switched off; lm-eval logs errors only (its warnings are
    notices such as "pretrained is not a str" when a loaded model is passed on purpose).
    """
    import datasets

    logger, level = logging.getLogger("lm_eval"), logging.getLogger("lm_eval").level
    datasets.disable_progress_bars()
    logger.setLevel(logging.ERROR)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield captured
    except BaseException:
        print(captured.getvalue()[-4000:])
        raise
    finally:
        logger.setLevel(level)
