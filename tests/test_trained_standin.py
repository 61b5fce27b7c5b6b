"""The trained stand-in (issue 20): corpus rules, the shipped checkpoint's hash, exact rebuild, the evaluation gate,
a short training run in its expected loss range, and the built folder a lesson loads."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest

from qwen_course.offline.trained import compact as K
from qwen_course.offline.trained import corpus as C
from qwen_course.offline.trained import dataset as D
from qwen_course.offline.trained import facts as F
from qwen_course.offline.trained.train import Recipe

# The gate: held-out prompts per task and mode, and the bars (the manifest has the full table, 40 per task).
# Every task must stop at <|im_end|> and keep the thinking format. Correctness is gated at the 95 % wherever the
# shipped stand-in reached it on 40 per task (thinking: sums, differences, comparisons, facts and tool calls 1.00, tool
# answers 0.975; direct: comparisons, facts and tool calls 1.00). Below it: products with thinking (0.9: 9 of the 10
# held-out pairs), direct tool answers (0.85: a held-out phrasing of a layer-count question, "How deep is ...?", read as
# a size question when no trace names what was asked), and direct two-digit arithmetic, which is not gated (0.225
# sums, 0.05 differences: without the trace the model cannot carry; that thinking helps is tested instead).
GATE_PER_TASK = 24
FORMAT_BAR = 0.95
CORRECT_BARS = {(mode, task): 0.95 for mode in ("thinking", "direct") for task in ("fact", "tool_call", "compare")}
CORRECT_BARS |= {("thinking", "add"): 0.95, ("thinking", "sub"): 0.95, ("thinking", "tool_answer"): 0.95,
                 ("direct", "tool_answer"): 0.75, ("thinking", "mul"): 0.75}
BELOW_THE_AIM = ("mul",)  # thinking on, still under 95 %: the README and the closing note say so


@pytest.fixture(scope="module")
def tokenizer():
    from qwen_course import offline

    return offline.load_tokenizer("qwen3")


@pytest.fixture(scope="module")
def model():
    return K.full_model()


# ---- corpus --------------------------------------------------------------------------------------------------------
def test_heldout_questions_never_appear_in_training():
    train = D.training_chats(20000, seed=Recipe().seed)
    held = D.heldout_chats(40)
    train_keys = {c.key for c in train}
    train_prompts = {json.dumps(c.messages[:-1]) for c in train}
    assert not [c.key for c in held if c.key in train_keys]
    assert not [c for c in held if json.dumps(c.messages[:-1]) in train_prompts]
    assert {c.task for c in held} == set(C.TASKS) and all(C.heldout(c) for c in held)


def test_held_out_facts_are_taught_in_their_other_phrasings():
    train = D.training_chats(20000, seed=1)
    taught = {c.meta["fact"] for c in train if c.task == "fact"}
    held = [c for c in D.heldout_chats(40, tasks=("fact",))]
    assert held and all(c.meta["fact"] in taught for c in held)


def test_every_held_out_product_has_its_partial_products_taught():
    """A held-out 7 * 17 needs 7 * 7, which no trained product by 10..19 contains: the times table teaches it."""
    train = D.training_chats(20000, seed=Recipe().seed)
    table = {c.key for c in train if c.meta.get("table")}
    assert len(table) == 80 and not any(C.heldout(c) for c in train if c.meta.get("table"))
    traces = {c.key: c.messages[-1].get("reasoning_content") for c in train if c.meta.get("table") and c.thinking}
    for chat in D.heldout_chats(40, tasks=("mul",)):
        a, b = map(int, chat.key.split("|")[1:])
        assert f"*1|{a}|{b % 10}" in table, chat.key
        # ... on the very line, after the same kind of line, that the product's own trace writes it
        lines = C.mul_trace(a, b).splitlines()
        assert lines[2] in traces[f"*1|{a}|{b % 10}"].splitlines() and lines[1].startswith("Tens: ")
        assert traces[f"*1|{a}|{b % 10}"].splitlines()[1].startswith(f"Tens: {a} * 0 = ")


def test_a_products_sum_is_written_as_a_sums_trace_is():
    """The held-out 8 * 18 ends with 80 + 64 added column by column, the lines every two-digit sum writes."""
    trace = C.mul_trace(8, 18).splitlines()
    assert trace[3] == "Sum: 80 + 64" and trace[4:] == C.add_trace(80, 64).splitlines()[1:]
    assert trace[4:] == ["Ones: 0 + 4 = 04", "Tens: 8 + 6 + 0 = 14"]
    assert C.mul_trace(7, 7).splitlines()[1:3] == ["Tens: 7 * 0 = 00", "Ones: 7 * 7 = 49"]


def test_a_tool_answer_names_what_was_asked_as_a_catalog_answer_does():
    import random

    rng = random.Random(4)
    for _ in range(40):
        call, answer = C.tool_use(rng, True)
        if call.meta["tool"] == "get_model_info":
            name, attribute = answer.meta["fact"].split("|")
            first = answer.messages[-1]["reasoning_content"].splitlines()[0]
            assert first == f"The question asks for {F.WORDS[attribute]} of {name}."


def test_labels_cover_only_the_last_assistant_turn(tokenizer):
    chats = D.training_chats(300, seed=3)
    for chat, e in zip(chats, D.encode(tokenizer, chats)):
        labelled = [t for t in e.labels if t != D.IGNORE]
        start = e.labels.index(labelled[0])
        assert e.labels[:start] == [D.IGNORE] * start and e.labels[start:] == e.input_ids[start:]
        text = tokenizer.decode(labelled)
        assert text.endswith(chat.answer + "<|im_end|>")
        assert text.startswith("<think>\n") == chat.thinking  # thinking off: the empty block is in the prompt
        prompt = tokenizer.decode(e.input_ids[:start])
        assert prompt.endswith("<think>\n\n</think>\n\n") != chat.thinking


def test_both_thinking_modes_and_every_task_are_in_the_mix():
    chats = D.training_chats(4000, seed=4)
    assert {(c.task, c.thinking) for c in chats} == {(t, m) for t in C.TASKS for m in (True, False)}


def test_the_reserved_task_is_never_trained_and_its_splits_are_disjoint():
    train = D.training_chats(20000, seed=1)
    assert not [c for c in train if C.RESERVED_SUFFIX.strip() in json.dumps(c.messages)]
    a, b = C.reserved_chats(300, 0, "train", kind="arithmetic"), C.reserved_chats(50, 0, "test", kind="arithmetic")
    assert not {c.key for c in a} & {c.key for c in b}
    assert C.reserved_score(b[0], b[0].answer) and not C.reserved_score(b[0], "47 + 35 = 82.")
    a, b = C.reserved_chats(None, 0, "train"), C.reserved_chats(None, 0, "test")  # facts: the default
    assert (len(a), len(b)) == (64, 64) and len({c.key for c in a}) == 64  # 8 checkpoints x 2 facts x 4 phrasings each
    assert {json.loads(c.answer)["model"] for c in b} and C.reserved_score(b[0], b[0].answer)
    assert not C.reserved_score(b[0], F.Fact(*b[0].meta["fact"].split("|"), "0").sentence)
    assert not {c.meta["fact"].split("|")[0] for c in a} & {c.meta["fact"].split("|")[0] for c in b}  # checkpoints
    with pytest.raises(ValueError, match="64 distinct"):
        C.reserved_chats(65, 0, "test")
    with pytest.raises(ValueError, match="unknown reserved task"):
        C.reserved_chats(1, 0, kind="poetry")


def test_tools_match_lesson_09s_functions():
    from transformers.utils import get_json_schema

    from qwen_course.tools import toolbox

    assert F.TOOLS == [get_json_schema(toolbox.calculator), get_json_schema(toolbox.get_model_info)]
    for name in ("Qwen3-8B", "Qwen3.5-9B", "Qwen3-235B-A22B"):
        assert F.model_record(name) == toolbox.get_model_info(name)


# ---- the shipped checkpoint ------------------------------------------------------------------------------------------
def test_shipped_weights_match_their_manifest():
    manifest = K.load_manifest()
    weights = K.SHIPPED / manifest["weights"]
    assert K.sha256(weights) == manifest["sha256"]
    assert weights.stat().st_size == manifest["bytes"] < 12e6
    assert manifest["final_loss"] < 0.05 and manifest["train_seconds"] < 1500  # 1,125 s on 2 threads
    assert manifest["recipe"] == asdict(Recipe()), "the shipped weights were trained with another recipe: retrain"


def test_rebuilt_full_model_computes_what_was_trained(tokenizer):
    from qwen_course.offline.trained.run import rebuild_difference

    diff = rebuild_difference(K.SHIPPED, tokenizer, chats=6)
    assert diff == {"max_abs_logit_diff": 0.0, "max_abs_unused_logit": 0.0}


@pytest.mark.slow
def test_evaluation_gate_on_held_out_prompts(model, tokenizer):
    from qwen_course.offline.trained import evaluate

    start = time.perf_counter()
    result, _ = evaluate(model, tokenizer, per_task=GATE_PER_TASK, seed=11)
    for mode, tasks in result.items():
        for task, m in tasks.items():
            assert m["stop"] >= FORMAT_BAR and m["format"] >= FORMAT_BAR, (mode, task, m)
    for (mode, task), bar in CORRECT_BARS.items():
        assert result[mode][task]["correct"] >= bar, (mode, task, result[mode][task])
    assert time.perf_counter() - start < 90


def test_the_manifest_reports_every_task_including_those_below_the_aim():
    table = K.load_manifest()["evaluation"]["table"]
    assert set(table) == {"direct", "thinking"}
    for mode in table:
        assert set(table[mode]) == set(C.TASKS) | {"all"} and all(table[mode][t]["n"] >= 10 for t in C.TASKS)
        assert all(table[mode][t]["stop"] == 1.0 for t in C.TASKS)
    assert max(table["thinking"][t]["correct"] for t in BELOW_THE_AIM) < 0.95, \
        "products reach 95 % now: gate them at 0.95 and say so in the README and the checkpoint's note"


def test_thinking_visibly_helps_two_digit_arithmetic():
    """The lessons say so (04 measures it again): with its trace the model carries, without it it mostly cannot."""
    table = K.load_manifest()["evaluation"]["table"]
    for task in ("add", "sub"):
        assert table["thinking"][task]["correct"] - table["direct"][task]["correct"] >= 0.5, (task, table)


@pytest.mark.slow
def test_the_reserved_task_is_one_the_model_cannot_do_yet(model, tokenizer):
    from qwen_course.offline.trained import gate as E

    chats = C.reserved_chats(16, 0, "test")
    rows = E.score(chats, E.generate(model, tokenizer, chats))
    assert sum(r["correct"] for r in rows) / len(rows) <= 0.1


@pytest.mark.slow
def test_a_short_training_run_lands_in_its_loss_range(tokenizer):
    from qwen_course.offline.trained.train import Recipe, train

    trained = train(Recipe(chats=3000, steps=120, batch_tokens=2048, warmup=20), tokenizer, progress=lambda _: None)
    first, last = trained.losses[0][1], trained.losses[-1][1]
    assert 4.0 < first < 12.0, first
    assert 1.0 < last < 2.6, last


@pytest.mark.slow
def test_build_expands_it_into_a_normal_folder(tokenizer):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qwen_course import offline

    path = offline.build("qwen3-trained")
    marker = offline.read_marker(path)
    assert marker["random_weights"] is False and marker["trained"]["sha256"] == K.load_manifest()["sha256"]
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert type(model).__name__ == "Qwen3ForCausalLM" and model.config.vocab_size == 151936
    assert model.generation_config.eos_token_id == [151645, 151643]
    messages = [{"role": "user", "content": "What is the release date of Qwen3-0.6B?"}]  # a catalog fact it learned
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=False, return_tensors="pt",
                                  return_dict=True)
    out = model.generate(**ids, max_new_tokens=24, do_sample=False)
    assert tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True) == \
        "Qwen3-0.6B was released in April 2025."
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, K.full_model()(**ids).logits)
