"""Lesson 06's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason, and the
leakage check's message is true whatever the splits share."""

import json
import math
import re
from types import SimpleNamespace

import nbformat
import pytest

from conftest import fails, find_notebook, folded_solutions, passes
from qwen_course import catalog, finetune, offline
from qwen_course.exercises import (
    check_adapter_config, check_fsdp_gpus, check_json_score, check_lora_rank, check_own_tickets, check_split_overlap,
    check_steps_per_epoch, check_trained_text, lesson06,
)
from qwen_course.offline import trained

CALLS = [  # the notebook's check calls, in order
    "check_split_overlap(shared_tickets, train_examples, finetune.load_split(\"validation\"))",
    "check_trained_text(trained_text, tokenizer, example)",
    "check_lora_rank(my_rank, \"Qwen/Qwen3-1.7B\", budget_mb=300, target_modules=\"all-linear\")",
    "check_steps_per_epoch(steps_per_epoch, len(train_examples), preset.batch_size, preset.grad_accum)",
    "check_own_tickets(my_tickets, train_examples)",
    "check_json_score(my_json_score, test_chats[0])",
    "check_adapter_config(adapter_info, adapter_dir)",
    "check_fsdp_gpus(gpus_needed, \"Qwen/Qwen3-8B\", gpu_gb=80)",
]


@pytest.fixture(scope="module")
def train():
    return finetune.load_split("train")


@pytest.fixture(scope="module")
def validation():
    return finetune.load_split("validation")


@pytest.fixture(scope="module")
def tokenizer():
    return offline.load_tokenizer("qwen3")


@pytest.fixture(scope="module")
def example(tokenizer, train):
    return finetune.build_example(tokenizer, train[0]["messages"])


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapter")
    (folder / "adapter_config.json").write_text(json.dumps(
        {"r": 8, "lora_alpha": 16, "base_model_name_or_path": "Qwen/Qwen3-0.6B", "peft_type": "LORA"}))
    return folder


@pytest.fixture(scope="module")
def chat():
    return trained.reserved_chats(1, seed=1, split="test")[0]


@pytest.fixture(scope="module")
def solved(train, tokenizer, example, adapter_dir, chat):
    ns = {"finetune": finetune, "catalog": catalog, "train_examples": train, "tokenizer": tokenizer, "example": example,
          "test_chats": [chat],
          "preset": SimpleNamespace(batch_size=4, grad_accum=2), "adapter_dir": adapter_dir, "display": lambda x: None,
          **{name: globals()[name] for name in (c.split("(")[0] for c in CALLS)}}
    codes = [code for _, code in folded_solutions("06")]
    source = "\n".join(c.source for c in nbformat.read(find_notebook("06"), as_version=4).cells if c.cell_type == "code")
    assert len(codes) == len(CALLS) and all(call in source for call in CALLS)
    results = []
    for code, call in zip(codes, CALLS):
        exec("\n".join(line for line in code.splitlines() if "exact_match" not in line), ns)  # noqa: S102 - no model here
        results.append(eval(call, ns))  # noqa: S307 - the notebook's own check call
    return ns, results


def test_every_folded_solution_passes_its_notebook_call(solved):
    for result in solved[1]:
        passes(result)


def test_placeholders_are_not_answered_yet(train, validation, tokenizer, example, adapter_dir, chat):
    for placeholder in (None, ...):
        for result in (check_split_overlap(placeholder, train, validation),
                       check_trained_text(placeholder, tokenizer, example),
                       check_lora_rank(placeholder, "Qwen/Qwen3-1.7B", budget_mb=300),
                       check_steps_per_epoch(placeholder, 480, 4, 2), check_own_tickets(placeholder, train),
                       check_json_score(placeholder, chat), check_adapter_config(placeholder, adapter_dir),
                       check_fsdp_gpus(placeholder, "Qwen/Qwen3-8B", 80)):
            assert result.passed is None and "not answered yet" in str(result)


def test_split_overlap_on_the_shipped_splits(train, validation):
    result = check_split_overlap(0, train, validation)
    passes(result)
    assert "No ticket body is shared either" in result.message  # true since the generator deduplicates bodies
    fails(check_split_overlap(len(validation), train, validation), "validation split's size")
    fails(check_split_overlap(len(train), train, validation), "training split's size")
    fails(check_split_overlap(len(train) + len(validation), train, validation), "union")
    fails(check_split_overlap(0.4, train, validation), "could not check")  # was int()-truncated to 0 and passed
    fails(check_split_overlap(False, train, validation), "could not check")


def _regreeted(ex, opener, closing):
    """The same ticket body with another greeting and closing: a near-copy that exact matching misses."""
    return finetune.make_example(f"{opener} {finetune.body_of(ex)} {closing}", ex["kind"], "low")


def test_split_overlap_says_what_leaks(train, validation):
    parts = finetune.phrases()
    # Identical copies only: the message says those are memorised, not that validation measures unseen tickets.
    copies = validation[:20] + train[:5]
    result = check_split_overlap(5, train, copies)
    passes(result)
    assert "5 ticket texts occur word for word" in result.message and "measures memory" in result.message
    assert "repeat a training ticket's body" not in result.message
    assert "not trained on" not in result.message
    # Near-copies: no identical text, but the bodies repeat; the right answer (0) passes and the message says so.
    near = validation[:20] + [_regreeted(ex, parts["openers"][0], parts["calm_closings"][0]) for ex in train[:30]]
    near = [ex for ex in near if ex["messages"][0]["content"] not in {t["messages"][0]["content"] for t in train}]
    shared_bodies = sum(finetune.body_of(ex) in {finetune.body_of(t) for t in train} for ex in near)
    assert shared_bodies > 0
    result = check_split_overlap(0, train, near)
    passes(result)
    assert f"{shared_bodies} of the {len(near)} validation tickets repeat a training ticket's body" in result.message
    assert "not trained on" not in result.message and "partly measures tickets the model has seen" in result.message
    # Both at once: identical copies and near-copies are counted apart.
    both = near + train[:3]
    result = check_split_overlap(3, train, both)
    passes(result)
    assert "Those 3 are tickets the model trains on" in result.message
    assert f"; {shared_bodies} more of the {len(both)} validation tickets repeat" in result.message
    fails(check_split_overlap(shared_bodies, train, near), "counts shared ticket bodies")


def test_trained_text(tokenizer, example):
    trained = [t for t, lab in zip(example["input_ids"], example["labels"]) if lab != -100]
    passes(check_trained_text(tokenizer.decode(trained), tokenizer, example))
    fails(check_trained_text(tokenizer.decode(trained, skip_special_tokens=True), tokenizer, example), "end-of-turn")
    fails(check_trained_text(tokenizer.decode(example["input_ids"]), tokenizer, example), "whole example")
    ignored = [t for t, lab in zip(example["input_ids"], example["labels"]) if lab == -100]
    fails(check_trained_text(tokenizer.decode(ignored), tokenizer, example), "the loss ignores")
    fails(check_trained_text(trained, tokenizer, example), "a string")


def test_lora_rank():
    need = {r: finetune.adapter_training_bytes(finetune.lora_parameters("Qwen/Qwen3-1.7B", r, "all-linear")) / 1e6
            for r in (4, 8, 16, 32, 64, 128, 256)}
    right = max(r for r, mb in need.items() if mb <= 300)
    passes(check_lora_rank(right, "Qwen/Qwen3-1.7B", budget_mb=300))
    fails(check_lora_rank(right * 2, "Qwen/Qwen3-1.7B", budget_mb=300), "more than the 300 MB")
    fails(check_lora_rank(right // 2, "Qwen/Qwen3-1.7B", budget_mb=300), "a larger rank")
    # 2 bytes per parameter (weights only) would allow a far larger rank
    weights_only = max(r for r in need if need[r] / 8 <= 300)
    fails(check_lora_rank(weights_only, "Qwen/Qwen3-1.7B", budget_mb=300), "more than the 300 MB")
    fails(check_lora_rank(100, "Qwen/Qwen3-1.7B", budget_mb=300), "choose one of the ranks")
    fails(check_lora_rank(float(right) + 0.5, "Qwen/Qwen3-1.7B", budget_mb=300), "could not check")


def test_steps_per_epoch():
    passes(check_steps_per_epoch(math.ceil(100 / 12), 100, 4, 3))
    fails(check_steps_per_epoch(100 // 12, 100, 4, 3), "round up")
    fails(check_steps_per_epoch(math.ceil(100 / 4), 100, 4, 3), "forward passes")
    fails(check_steps_per_epoch(math.ceil(100 / 3), 100, 4, 3), "leaves out the batch size")
    fails(check_steps_per_epoch(100, 100, 4, 3), "not one pass")
    passes(check_steps_per_epoch(60, 480, 4, 2))  # the notebook's CPU preset


def test_own_tickets(solved, train):
    right = solved[0]["my_tickets"]
    passes(check_own_tickets(right, train))
    fails(check_own_tickets(right[:9], train), "too few")
    fails(check_own_tickets([right[0]] * 10, train), "repeated")
    fails(check_own_tickets(right[:9] + [train[0]], train), "reuses a training phrase")
    shipped = finetune.make_example("Hello, I was charged twice for my Pro subscription. Thanks.", "billing", "low")
    fails(check_own_tickets(right[:9] + [shipped], train), "reuses a training phrase")
    outside = finetune.make_example("My screen is purple.", "hardware", "low")
    fails(check_own_tickets(right[:9] + [outside], train), "outside the schema")
    bare = {"messages": [{"role": "user", "content": "My screen is purple."}, right[0]["messages"][1]]}
    fails(check_own_tickets(right[:9] + [bare], train), "dataset's format")
    swapped = json.dumps({"priority": "low", "category": "bug"})
    reordered = {"messages": [right[-1]["messages"][0], {"role": "assistant", "content": swapped}]}
    fails(check_own_tickets(right[:9] + [reordered], train), "exact match compares strings")
    fails(check_own_tickets(right[0], train), "a list of examples")


def test_adapter_config(adapter_dir):
    passes(check_adapter_config({"r": 8, "base_model_name_or_path": "Qwen/Qwen3-0.6B"}, adapter_dir))
    fails(check_adapter_config({"r": 16, "base_model_name_or_path": "Qwen/Qwen3-0.6B"}, adapter_dir), "lora_alpha")
    fails(check_adapter_config({"r": 4, "base_model_name_or_path": "Qwen/Qwen3-0.6B"}, adapter_dir), "r does not match")
    fails(check_adapter_config({"r": 8, "base_model_name_or_path": "Qwen/Qwen3-8B"}, adapter_dir), "base_model_name_or_path")
    fails(check_adapter_config({"r": "8", "base_model_name_or_path": "Qwen/Qwen3-0.6B"}, adapter_dir), "r does not match")
    fails(check_adapter_config([8, "Qwen/Qwen3-0.6B"], adapter_dir), "answer with a dict")


def test_fsdp_gpus():
    params = catalog.param_count("Qwen/Qwen3-8B").total
    right = math.ceil(params * 16 / (0.8 * 80e9))
    assert right == 3
    passes(check_fsdp_gpus(right, "Qwen/Qwen3-8B", gpu_gb=80))
    fails(check_fsdp_gpus(math.ceil(params * 16 / 80e9), "Qwen/Qwen3-8B", gpu_gb=80), "round up")  # all 80 GB usable
    fails(check_fsdp_gpus(math.ceil(params * 2 / (0.8 * 80e9)), "Qwen/Qwen3-8B", gpu_gb=80), "bf16 weights only")
    fails(check_fsdp_gpus(8, "Qwen/Qwen3-8B", gpu_gb=80), "more than")
    fails(check_fsdp_gpus(2.05, "Qwen/Qwen3-8B", gpu_gb=80), "could not check")  # not rounded
    assert re.search(r"over 3 GPUs", check_fsdp_gpus(3, "Qwen/Qwen3-8B", gpu_gb=80).message)


def test_every_check_of_the_lesson_has_its_own_test():
    from pathlib import Path

    from qwen_course.exercises import lesson06 as lesson

    source = Path(__file__).read_text()
    checks = [n for n in dir(lesson) if n.startswith("check_") and getattr(lesson, n).__module__ == lesson.__name__]
    assert checks and all(f"def test_{name[6:]}" in source for name in checks)


def test_json_score_cases_follow_the_course_scorer():
    for case in trained.reserved_chats(6, seed=3, split="test") + trained.reserved_chats(6, 3, "test", kind="arithmetic"):
        for text, right, what in lesson06.json_score_cases(case.answer):
            assert trained.reserved_score(case, text) == right, (what, text)


def test_json_score(solved, chat):
    passes(check_json_score(solved[0]["my_json_score"], chat))
    fails(check_json_score(lambda text, reference: text.strip() == reference, chat), "another order")  # strings
    fails(check_json_score(lambda text, reference: json.loads(text) == json.loads(reference), chat),
          "raised JSONDecodeError")  # no guard for replies that are not JSON

    def value_only(text, reference):  # looks at the answer alone, not at what the question was
        try:
            want = json.loads(reference)
            key = list(want)[-1]  # the answer's key ("layers", "context", "result"), not the question's
            return json.loads(text)[key] == want[key]
        except (ValueError, KeyError, TypeError):
            return False

    fails(check_json_score(value_only, chat), "a wrong model")
    fails(check_json_score(lambda text, reference: 1, chat), "return True or False")
    fails(check_json_score("json.loads", chat), "answer with a function")
