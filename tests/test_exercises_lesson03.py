"""Lesson 03's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason."""

import nbformat
import pytest
from transformers import BitsAndBytesConfig, QuantoConfig

from conftest import fails, find_notebook, folded_solutions, passes
from qwen_course import catalog, exercises, precision
from qwen_course.exercises import (
    check_fastest_method, check_first_accuracy_drop, check_fp8_on_t4_gb, check_int4_bytes_per_weight,
    check_int4_weights_gb, check_q8_0_file_gb, check_quanto_int4_config, check_turn_choice,
)
from qwen_course.quantization import Result

# A measured comparison as the notebook's cell leaves it: one method did not run, one failed, three were timed.
RESULTS = [Result("fp32", "fp32 (reference)", "fp32", True, decode_tokens_per_s=9.0),
           Result("bf16", "bf16", "bf16", True, decode_tokens_per_s=6.0),
           Result("ao-dynamic-int8", "torch.ao dynamic int8", "int8", True, decode_tokens_per_s=14.0),
           Result("quanto-int4", "optimum-quanto int4", "int4", False, reason="failed here"),
           Result("bnb-nf4", "bitsandbytes NF4", "int4", False, reason="needs CUDA")]
# cpu["results"]: int8 decodes fastest, but bf16 prefills so much faster that it wins a 2,000-token prompt.
CPU = {"results": {
    "fp32": {"precision": "fp32", "prefill_tokens_per_s": 200.0, "decode_tokens_per_s": 4.0, "error": None},
    "bf16": {"precision": "bf16", "prefill_tokens_per_s": 800.0, "decode_tokens_per_s": 5.0, "error": None},
    "ao-dynamic-int8": {"precision": "int8", "prefill_tokens_per_s": 150.0, "decode_tokens_per_s": 8.0, "error": None},
    "torchao-int8": {"precision": "int8", "prefill_tokens_per_s": 100.0, "decode_tokens_per_s": 3.0, "error": None},
    "torchao-int8-dynamic": {"precision": "int8", "error": "RuntimeError: no kernel"},
}}
# heldout_rows: the reference first, then most bits to fewest; int8 agrees less than int4 but keeps the accuracy, and
# int4 is the first below the reference (a method that failed to run has no row).
HELDOUT = [{"method": "fp32", "label": "fp32 (reference)", "accuracy": 0.5, "top1_agreement": 1.0, "chats": 14},
           {"method": "bf16", "label": "bf16", "accuracy": 0.5, "top1_agreement": 0.998, "chats": 14},
           {"method": "ao-dynamic-int8", "label": "torch.ao dynamic int8", "accuracy": 0.5, "top1_agreement": 0.98,
            "chats": 14},
           {"method": "torchao-int4", "label": "torchao int4 weight-only", "accuracy": 3 / 7, "top1_agreement": 0.99,
            "chats": 14},
           {"method": "bnb-nf4", "label": "bitsandbytes NF4", "accuracy": 2 / 7, "top1_agreement": 0.97, "chats": 14}]


@pytest.fixture(scope="module")
def solved():
    ns = {"catalog": catalog, "precision": precision, "QuantoConfig": QuantoConfig, "results": RESULTS, "cpu": CPU,
          "heldout_rows": HELDOUT}
    # In this notebook each folded solution comes before its exercise's code cell, so pair them with these calls.
    calls = ["check_int4_bytes_per_weight(int4_bytes)", "check_int4_weights_gb(int4_gb)",
             "check_quanto_int4_config(my_config)", "check_fastest_method(my_prediction, results)",
             "check_first_accuracy_drop(first_drop, heldout_rows)", "check_turn_choice(long_prompt_choice, cpu)", "check_q8_0_file_gb(q8_0_gb)",
             "check_fp8_on_t4_gb(fp8_on_t4_gb)"]
    codes = [code for _, code in folded_solutions("03")]
    source = "\n".join(c.source for c in nbformat.read(find_notebook("03"), as_version=4).cells if c.cell_type == "code")
    assert len(codes) == len(calls) and all(call in source for call in calls)
    ns.update({name: getattr(exercises, name) for name in exercises.__all__})
    results = []
    for call, code in zip(calls, codes):
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
        results.append(eval(call, ns))  # noqa: S307 - the notebook's own check call
    return ns, results


def test_every_folded_solution_passes_its_notebook_call(solved):
    for result in solved[1]:
        passes(result)


@pytest.mark.parametrize("check, args", [
    (check_int4_bytes_per_weight, ()), (check_int4_weights_gb, ()), (check_quanto_int4_config, ()),
    (check_fastest_method, (RESULTS,)), (check_first_accuracy_drop, (HELDOUT,)), (check_turn_choice, (CPU,)), (check_q8_0_file_gb, ()), (check_fp8_on_t4_gb, ()),
])
def test_placeholders_are_not_answered_yet(check, args):
    for placeholder in (None, ...):
        result = check(placeholder, *args)
        assert result.passed is None and "not answered yet" in str(result)


def test_int4_bytes_per_weight():
    passes(check_int4_bytes_per_weight(0.5 + 4 / 128))
    fails(check_int4_bytes_per_weight(0.5), "4-bit values only")
    fails(check_int4_bytes_per_weight(4.25), "bits")
    fails(check_int4_bytes_per_weight(0.5 + 2 / 128), "off by")  # forgot the zero point


def test_int4_weights_gb():
    count = catalog.param_count("Qwen/Qwen3-8B")
    linear, kept = count.attention + count.mlp, count.embedding + count.lm_head + count.norms
    by_hand = (linear * 0.5 + linear / 64 * 4 + kept * 2) / 1e9  # the formula the exercise states
    assert by_hand == pytest.approx(6.40, abs=0.005)
    passes(check_int4_weights_gb(by_hand))
    fails(check_int4_weights_gb(count.total * 0.5 / 1e9), "every parameter in 4 bits")
    fails(check_int4_weights_gb(count.total * 2 / 4e9), "every parameter in 4 bits")
    fails(check_int4_weights_gb((linear * 0.5 + kept * 2) / 1e9), "leaves out the scales")
    fails(check_int4_weights_gb((linear * 0.5 + linear / 128 * 4 + kept * 2) / 1e9), "half as large")
    fails(check_int4_weights_gb((count.total * 0.5 + linear / 64 * 4) / 1e9), "stay at 2 bytes")
    fails(check_int4_weights_gb(5.5), "off by")


def test_quanto_int4_config():
    passes(check_quanto_int4_config(QuantoConfig(weights="int4")))
    fails(check_quanto_int4_config(QuantoConfig(weights="int8")), "4-bit weights")
    fails(check_quanto_int4_config(QuantoConfig(weights="int4", activations="int8")), "activations")
    fails(check_quanto_int4_config(BitsAndBytesConfig(load_in_4bit=True)), "QuantoConfig")
    fails(check_quanto_int4_config({"weights": "int4"}), "QuantoConfig")


def test_fastest_method():
    passes(check_fastest_method("ao-dynamic-int8", RESULTS))
    passes(check_fastest_method("torch.ao dynamic int8", RESULTS))  # the label works as well as the key
    fails(check_fastest_method("fp32", RESULTS), "measured here it is torch.ao dynamic int8")
    fails(check_fastest_method("bnb-nf4", RESULTS), "not a measured method")  # did not run here
    fails(check_fastest_method("int8", RESULTS), "not a measured method")
    fails(check_fastest_method("bf16", []), "run the comparison cell first")


def test_first_accuracy_drop():
    passes(check_first_accuracy_drop("torchao-int4", HELDOUT))
    passes(check_first_accuracy_drop("torchao int4 weight-only", HELDOUT))  # the label works as well as the key
    fails(check_first_accuracy_drop("ao-dynamic-int8", HELDOUT), "kept the reference's accuracy")  # lowest top-1 so far
    fails(check_first_accuracy_drop("bnb-nf4", HELDOUT), "with more bits, already does")  # the lowest accuracy
    fails(check_first_accuracy_drop("none", HELDOUT), "is below the reference")
    fails(check_first_accuracy_drop("fp32", HELDOUT), "is the reference")
    fails(check_first_accuracy_drop("quanto-int8", HELDOUT), "not a method in the table")  # it did not run
    fails(check_first_accuracy_drop("bf16", []), "run the measurement cell first")
    steady = [dict(r, accuracy=0.5) for r in HELDOUT if "accuracy" in r]
    passes(check_first_accuracy_drop("none", steady))
    passes(check_first_accuracy_drop("None", steady))
    fails(check_first_accuracy_drop("bf16", steady), "kept the reference's accuracy")


def test_turn_choice():
    times = {k: precision.turn_seconds(r, 2000, 50) for k, r in CPU["results"].items() if r.get("error") is None}
    assert min(times, key=times.get) == "bf16"
    passes(check_turn_choice("bf16", CPU))
    fails(check_turn_choice("int8", CPU), "decodes fastest")  # the decode-only answer
    fails(check_turn_choice("ao-dynamic-int8", CPU), "decodes fastest")
    fails(check_turn_choice("fp32", CPU), "the times are")
    fails(check_turn_choice("int4", CPU), "was not measured")
    fails(check_turn_choice("torchao-int8-dynamic", CPU), "was not measured")  # it failed to run
    fails(check_turn_choice("bf16", {"results": {}}), "run the measurement cell first")


def test_q8_0_file_gb():
    params = catalog.param_count("Qwen/Qwen3-0.6B").total
    passes(check_q8_0_file_gb(params * 34 / 32 / 1e9))
    fails(check_q8_0_file_gb(params / 1e9), "one byte per weight")
    fails(check_q8_0_file_gb(params * 2 / 1e9), "off by")  # bf16
    fails(check_q8_0_file_gb(params * 36 / 32 / 1e9), "off by")  # a 4-byte scale


def test_fp8_on_t4_gb():
    from qwen_course.memory import download_bytes, weights_bytes

    params = catalog.param_count("Qwen/Qwen3.5-27B").total
    passes(check_fp8_on_t4_gb(params * 2 / 1e9))
    fails(check_fp8_on_t4_gb(weights_bytes("Qwen/Qwen3.5-27B", "fp8") / 1e9), "FP8 size")
    fails(check_fp8_on_t4_gb(download_bytes("Qwen/Qwen3.5-27B", "fp8") / 1e9), "FP8")
    fails(check_fp8_on_t4_gb(params / 1e9), "one byte per weight")
    fails(check_fp8_on_t4_gb(params * 4 / 1e9), "fp32")


def test_int4_solution_comment_states_the_computed_answer():
    """Issue 18 item 9: the folded solution's comment says the number its own code computes (6.40 GB, not 5.5)."""
    import re

    code = next(code for call, code in folded_solutions("03") if "int4_gb =" in code)
    ns = {"catalog": catalog}
    exec(code, ns)  # noqa: S102 - the notebook's own solution text
    stated = re.search(r"#\s*([\d.]+) GB", code)
    assert stated, code
    assert float(stated.group(1)) == round(ns["int4_gb"], 2)


def test_every_check_of_the_lesson_has_its_own_test():
    from pathlib import Path

    from qwen_course.exercises import lesson03 as lesson

    source = Path(__file__).read_text()
    checks = [n for n in dir(lesson) if n.startswith("check_") and getattr(lesson, n).__module__ == lesson.__name__]
    assert checks and all(f"def test_{name[6:]}" in source for name in checks)
