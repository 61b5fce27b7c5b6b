"""Lesson 01's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason."""

import pytest

from conftest import fails, folded_solutions, passes
from qwen_course import catalog, family, memory, offline
from qwen_course.exercises import (
    check_active_fraction, check_first_gqa_everywhere, check_hub_name, check_hybrid_crossover, check_kv_bytes_per_token,
    check_predicted_pick, check_pretraining_growth, check_special_tokens, check_tokens_per_word, check_untied_extra,
)
from qwen_course.widgets import choose

CHECKS = {  # each check in notebook order -> the variable its folded solution sets
    "check_pretraining_growth": "my_growth", "check_special_tokens": "my_specials", "check_untied_extra": "my_extra",
    "check_first_gqa_everywhere": "my_generation", "check_kv_bytes_per_token": "my_kv_bytes",
    "check_active_fraction": "my_fraction", "check_hybrid_crossover": "my_crossover",
    "check_tokens_per_word": "my_answer", "check_hub_name": "my_reading", "check_predicted_pick": "my_pick",
}


@pytest.fixture(scope="module")
def tok():
    return offline.load_tokenizer("qwen3")


@pytest.fixture(scope="module")
def tok35():
    return offline.load_tokenizer("qwen3.5")


@pytest.fixture(scope="module")
def solved(tok, tok35):
    """The notebook's folded solutions run in a namespace like the notebook's, with each call evaluated in it."""
    ns = {"catalog": catalog, "family": family, "memory": memory, "qwen3_tok": tok, "qwen35_tok": tok35,
          "choose": choose, **CHECKS_NS}
    pairs = folded_solutions("01")
    assert [call.split("(")[0] for call, _ in pairs] == list(CHECKS)
    results = {}
    for call, code in pairs:
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
        results[call.split("(")[0]] = eval(call, ns)  # noqa: S307 - the notebook's own check call
    return ns, results


CHECKS_NS = {name: globals()[name] for name in CHECKS}


def test_every_folded_solution_passes_its_notebook_call(solved):
    _, results = solved
    for name, result in results.items():
        passes(result)


@pytest.mark.parametrize("name", list(CHECKS))
def test_placeholders_are_not_answered_yet(name, tok):
    check = CHECKS_NS[name]
    for placeholder in (None, ...):
        result = check(placeholder, tokenizer=tok) if name == "check_special_tokens" else check(placeholder)
        assert result.passed is None and "not answered yet" in str(result)


def test_pretraining_growth():
    passes(check_pretraining_growth(36 / 7))
    passes(check_pretraining_growth(5.1))
    fails(check_pretraining_growth(7 / 36), "inverse")
    fails(check_pretraining_growth(2.0), "Qwen2.5")  # Qwen3 against Qwen2.5 (36T / 18T)
    fails(check_pretraining_growth(18 / 7), "Qwen2.5")
    fails(check_pretraining_growth(12), "off by")  # 36T against Qwen1's 3T


def test_special_tokens(tok):
    passes(check_special_tokens(len(tok) - tok.vocab_size, tokenizer=tok))
    passes(check_special_tokens(26))  # the default tokenizer is the same Qwen3 vocabulary
    fails(check_special_tokens(len(tok), tokenizer=tok), "vocabulary size")
    fails(check_special_tokens(tok.vocab_size, tokenizer=tok), "vocabulary size")
    fails(check_special_tokens(-26, tokenizer=tok), "other way round")
    fails(check_special_tokens(22, tokenizer=tok), "not it")
    fails(check_special_tokens(26.5, tokenizer=tok), "could not check")  # was truncated to 26 and passed
    fails(check_special_tokens(True, tokenizer=tok), "could not check")


def test_untied_extra():
    c = catalog.get("Qwen/Qwen3-1.7B").text_config
    right = c["vocab_size"] * c["hidden_size"]
    passes(check_untied_extra(right, model_id="Qwen/Qwen3-1.7B"))
    fails(check_untied_extra(151669 * c["hidden_size"], model_id="Qwen/Qwen3-1.7B"), "padded")  # tokenizer size
    fails(check_untied_extra(2 * right, model_id="Qwen/Qwen3-1.7B"), "both matrices")
    fails(check_untied_extra(c["hidden_size"] ** 2, model_id="Qwen/Qwen3-1.7B"), "off by")


def test_first_gqa_everywhere():
    for right in ("2", "Qwen2", "qwen 2", 2):
        passes(check_first_gqa_everywhere(right))
    fails(check_first_gqa_everywhere("1.5"), "32B and 110B")
    fails(check_first_gqa_everywhere("Qwen2.5"), "a generation earlier")
    fails(check_first_gqa_everywhere("3"), "a generation earlier")
    fails(check_first_gqa_everywhere("1"), "not a Qwen generation")


def test_kv_bytes_per_token():
    c = catalog.get("Qwen/Qwen2.5-7B-Instruct").text_config
    head_dim = c["hidden_size"] // c["num_attention_heads"]
    right = 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * head_dim * 2
    assert right == 57344
    passes(check_kv_bytes_per_token(right))
    passes(check_kv_bytes_per_token(float(right)))
    fails(check_kv_bytes_per_token(right // 2), "both K and V")
    fails(check_kv_bytes_per_token(2 * c["num_hidden_layers"] * c["num_attention_heads"] * head_dim * 2), "query head")
    fails(check_kv_bytes_per_token(right * 8), "bits")
    fails(check_kv_bytes_per_token(right + 0.5), "could not check")


def test_active_fraction():
    count = catalog.param_count("Qwen/Qwen3-235B-A22B")
    passes(check_active_fraction(count.active / count.total))
    passes(check_active_fraction(22 / 235))  # the name's numbers are close enough
    fails(check_active_fraction(100 * count.active / count.total), "percentage")
    fails(check_active_fraction(count.total / count.active), "total / active")
    fails(check_active_fraction(0.5), "off by")
    fails(check_active_fraction(-0.1), "between 0 and 1")


def test_tokens_per_word(solved, tok35):
    ns, _ = solved
    tok = tok35  # the exercise measures today's (Qwen3.5/3.6) vocabulary
    text, measured = ns["my_text"], ns["measured"]
    assert measured == family.count_tokens(tok, text) / family.word_count(text)
    passes(check_tokens_per_word((measured * 1.2, measured), text=text, tokenizer=tok))
    passes(check_tokens_per_word((measured * 0.6, measured), text=text, tokenizer=tok))  # within half: passes, says why
    assert "worth thinking about why" in check_tokens_per_word((measured * 0.6, measured), text=text, tokenizer=tok).message
    # A prediction far off is a wrong answer now, not a pass with a comment; so is a measurement that is not one.
    fails(check_tokens_per_word((measured * 3, measured), text=text, tokenizer=tok), "look again at the languages")
    fails(check_tokens_per_word((0, measured), text=text, tokenizer=tok), "positive number")
    fails(check_tokens_per_word((1.7, 1 / measured), text=text, tokenizer=tok), "words per token")
    fails(check_tokens_per_word((1.7, 2.5), text=text, tokenizer=tok), "the measurement should be")
    fails(check_tokens_per_word((1.7, measured)), "pass the text")
    fails(check_tokens_per_word(1.7, text=text, tokenizer=tok), "could not check")


def test_predicted_pick(solved):
    ns, _ = solved
    right = choose("coder", 8, 8192, "CPU only (RAM)")
    assert ns["my_pick"] == (right.model_id, right.precision)
    passes(check_predicted_pick((right.model_id, right.precision)))
    # the same model in a precision the picker does not use on an unmeasured CPU
    other = "fp32" if right.precision != "fp32" else "bf16"
    fails(check_predicted_pick((right.model_id, other)), "not a precision the picker uses on this machine")
    fails(check_predicted_pick(("Qwen/Qwen2.5-Coder-7B-Instruct", right.precision)), "more than")  # too large for 8 GB
    fails(check_predicted_pick(("Qwen/Qwen2.5-Coder-0.5B-Instruct", right.precision)), "most capable")
    fails(check_predicted_pick(("Qwen/Qwen3-4B", right.precision)), "not one of the picker's coder models")
    fails(check_predicted_pick((None, None)), "something fits")


def test_hybrid_crossover(solved):
    ns, _ = solved
    pair = {"dense": "Qwen/Qwen3-32B", "hybrid": "Qwen/Qwen3.5-27B"}  # the notebook's pair (not the plotted one)
    state = memory.state_bytes("Qwen/Qwen3.5-27B")
    per_token = memory.kv_bytes_per_token("Qwen/Qwen3-32B") - memory.kv_bytes_per_token("Qwen/Qwen3.5-27B")
    assert ns["my_crossover"] == state / per_token and round(state / per_token) == 788
    passes(check_hybrid_crossover(state / per_token, **pair))
    passes(check_hybrid_crossover(788, **pair))
    passes(check_hybrid_crossover(453))  # the plotted pair's answer, with the default models
    fails(check_hybrid_crossover(453, **pair), "off by")  # the plotted pair's answer is not this pair's
    fails(check_hybrid_crossover(state / memory.kv_bytes_per_token("Qwen/Qwen3-32B"), **pair), "grows too")
    fails(check_hybrid_crossover(state / memory.kv_bytes_per_token("Qwen/Qwen3.5-27B"), **pair), "own K/V equals its state")
    c = catalog.get("Qwen/Qwen3.5-27B").text_config
    state_16 = 48 * ((2 * 16 * 128 + 48 * 128) * 4 * 2 + c["linear_num_value_heads"] * 128 * 128 * 2)  # all in 2 bytes
    fails(check_hybrid_crossover(state_16 / per_token, **pair), "fp32 even in a bf16 model")
    fails(check_hybrid_crossover(0, **pair), "fixed state from its first token")
    fails(check_hybrid_crossover("many", **pair), "could not check")


def test_hub_name(solved):
    ns, _ = solved
    assert ns["my_reading"] == (35, 3, True, "fp8")
    passes(check_hub_name((35, 3, True, "fp8")))
    passes(check_hub_name((35.0, 3.0, True, "FP8")))
    fails(check_hub_name((3, 35, True, "fp8")), "swapped")
    fails(check_hub_name((35, 3, False, "fp8")), "think unless enable_thinking=False")
    fails(check_hub_name((35, 3, True, "bf16")), "weight format")
    fails(check_hub_name((27, 3, True, "fp8")), "the total")
    fails(check_hub_name((35, 3, "yes", "fp8")), "thinking by default")
    fails(check_hub_name((35, 3, True)), "could not check")
    # another name: the right answer follows the name and its catalog row
    passes(check_hub_name((30, 3, False, "fp8"), repo="Qwen/Qwen3-30B-A3B-Instruct-2507-FP8"))


def test_predicted_pick_names_the_cpu_weight_budget():
    big = choose("coder", 64, 8192, "CPU only (RAM)")
    fails(check_predicted_pick(("Qwen/Qwen2.5-Coder-7B-Instruct", big.precision), memory_gb=64), "CPU weight budget")


def test_predicted_pick_when_nothing_fits():
    passes(check_predicted_pick((None, None), memory_gb=1))
    fails(check_predicted_pick(("Qwen/Qwen2.5-Coder-0.5B-Instruct", "int8"), memory_gb=1), "nothing fits")


def test_every_check_of_the_lesson_has_its_own_test():
    from pathlib import Path

    from qwen_course.exercises import lesson01 as lesson

    source = Path(__file__).read_text()
    checks = [n for n in dir(lesson) if n.startswith("check_") and getattr(lesson, n).__module__ == lesson.__name__]
    assert checks and all(f"def test_{name[6:]}" in source for name in checks)
