"""Lesson 00's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason."""

import pytest

from conftest import fails, folded_solutions, passes
from qwen_course import catalog
from qwen_course.exercises import check_kv_cache_gb, check_t4_pick, check_weights_gb
from qwen_course.hardware import profile
from qwen_course.picker import pick


@pytest.fixture(scope="module")
def solved():
    """The answers the notebook's folded solutions compute, by the variable each exercise asks for."""
    ns = {"catalog": catalog, "pick": pick, "profile": profile}
    pairs = folded_solutions("00")
    assert [call.split("(")[0] for call, _ in pairs] == ["check_weights_gb", "check_kv_cache_gb", "check_t4_pick"]
    for _, code in pairs:
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
    return ns


@pytest.mark.parametrize("check", [check_weights_gb, check_kv_cache_gb, check_t4_pick])
def test_placeholders_are_not_answered_yet(check):
    for placeholder in (None, ...):
        result = check(placeholder)
        assert result.passed is None and "not answered yet" in str(result)


def test_weights_gb(solved):
    by_hand = catalog.param_count("Qwen/Qwen2.5-7B-Instruct").total * 2 / 1e9
    passes(check_weights_gb(solved["my_weights_gb"]))
    passes(check_weights_gb(by_hand))
    passes(check_weights_gb(15.2))  # 7.62B x 2 rounded, as the question's numbers give it
    fails(check_weights_gb(by_hand / 2), "one byte per parameter")
    fails(check_weights_gb(by_hand * 2), "fp32")
    fails(check_weights_gb(by_hand * 1e9 / 2**30), "GiB")
    fails(check_weights_gb(7.62), "one byte per parameter")
    fails(check_weights_gb(20), "off by")
    fails(check_weights_gb("fifteen"), "could not check")


def test_kv_cache_gb(solved):
    c = catalog.get("Qwen/Qwen3-8B").text_config
    by_hand = 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * c["head_dim"] * 2 * 32768 / 1e9
    passes(check_kv_cache_gb(solved["my_kv_gb"]))
    passes(check_kv_cache_gb(by_hand))
    fails(check_kv_cache_gb(by_hand / 2), "both K and V")
    fails(check_kv_cache_gb(by_hand * c["num_attention_heads"] / c["num_key_value_heads"]), "query head")
    fails(check_kv_cache_gb(by_hand * 2), "fp32")
    fails(check_kv_cache_gb(by_hand * 1e9 / 2**30), "GiB")


def test_t4_pick(solved):
    q = pick("chat", profile("t4"), build_stand_in=False)
    assert (q.model_id, q.precision) == ("Qwen/Qwen3.5-9B", "int4")  # the notebook's prose explains this pick
    assert q.dtype_name == "float16"  # issue 16 item 12: no bf16 below compute capability 8.0, NF4 computes in fp16
    passes(check_t4_pick(solved["my_t4_pick"]))
    passes(check_t4_pick(["Qwen/Qwen3.5-9B", "int4"]))
    passes(check_t4_pick(("Qwen3.5-9B", "int4")))  # the short name is read as Qwen/...
    fails(check_t4_pick(("Qwen/Qwen3.5-9B", "bf16")), "no fast bf16")  # the right model in a precision a T4 lacks
    fails(check_t4_pick(("Qwen/Qwen3.5-9B", "fp16")), "more than the 14.40 GB")  # does not fit in 16-bit
    fails(check_t4_pick(("Qwen/Qwen3.5-27B", "int4")), "more than")
    fails(check_t4_pick(("Qwen/Qwen3.5-4B", "int4")), "most capable")
    fails(check_t4_pick(("Qwen/Qwen3.5-4B", "fp16")), "switches to 4-bit")  # fits in 16-bit, but 4-bit fits a 9B
    fails(check_t4_pick(("Qwen/Qwen3-14B", "int4")), "not one of the picker's chat models")  # the old pick
    fails(check_t4_pick(("Qwen/Qwen2.5-Coder-7B-Instruct", "int4")), "not one of the picker's chat models")
    fails(check_t4_pick(("Qwen/Qwen9-1B", "int4")), "not a checkpoint in the course catalog")
    fails(check_t4_pick((None, None)), "something fits")
    fails(check_t4_pick("Qwen/Qwen3.5-9B"), "could not check")


def test_every_check_of_the_lesson_has_its_own_test():
    from pathlib import Path

    from qwen_course.exercises import lesson00 as lesson

    source = Path(__file__).read_text()
    checks = [n for n in dir(lesson) if n.startswith("check_") and getattr(lesson, n).__module__ == lesson.__name__]
    assert checks and all(f"def test_{name[6:]}" in source for name in checks)
