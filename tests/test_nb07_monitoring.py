"""Notebook 07 (monitoring): the exercise checks against their solutions, what the stored cells say (issue 18 items 1, 3, 5,
12, 13; issue 21), and the executed notebook's key outputs, with notebook 06's logs and without them."""

from __future__ import annotations

import math
import re

import nbformat
import pytest

from conftest import chat_prompt_modes, find_notebook, image_count, notebook_text, plain_text
from qwen_course.exercises import (
    check_best_batch, check_decode_bound, check_decode_speed, check_health_explanation, check_histogram_p95,
    check_kv_bytes, check_lowest_loss_step,
)
from qwen_course.exercises.lesson07 import CAUSES, histogram_quantile
from qwen_course.monitor.health import Finding, HealthReport

EXERCISES = 8


def status(result):
    return str(result).split("]")[0] + "]"


# the checks: placeholders, solutions, typical mistakes ---------------------------------------------------------------

def test_decode_speed_check():
    start, times = 10.0, [10.5, 10.7, 10.9, 11.5]
    assert status(check_decode_speed(None, start, times)) == "[TODO]"
    solution = (len(times) - 1) / (times[-1] - times[0])
    assert check_decode_speed(solution, start, times).passed
    with_prefill = check_decode_speed(len(times) / (times[-1] - start), start, times)
    assert not with_prefill.passed and "time to first token" in with_prefill.message
    off_by_one = check_decode_speed(len(times) / (times[-1] - times[0]), start, times)
    assert not off_by_one.passed and "gaps" in off_by_one.message
    assert check_decode_speed("fast", start, times).passed is False  # a wrong type is a message, not a traceback


@pytest.fixture
def sweep():
    pd = pytest.importorskip("pandas")
    return pd.DataFrame({
        "batch_size": [1, 1, 2, 2, 4, 4],
        "decode_tokens_per_s": [20.0, 22.0, 15.0, 15.0, 9.0, 9.0],
        "throughput_tokens_per_s": [19.0, 21.0, 28.0, 28.0, 34.0, 36.0],
    })


def test_best_batch_check(sweep):
    by_batch = sweep
    assert status(check_best_batch(None, by_batch)) == "[TODO]"
    my_best_batch = int(by_batch.groupby("batch_size")["throughput_tokens_per_s"].median().idxmax())
    assert my_best_batch == 4 and check_best_batch(my_best_batch, by_batch).passed
    per_sequence = check_best_batch(1, by_batch)
    assert not per_sequence.passed and "per sequence" in per_sequence.message
    assert "not in the sweep" in check_best_batch(8, by_batch).message


def test_decode_bound_check():
    params, bw = 596_049_920, 10e9
    my_ceiling = bw / (params * 2)
    assert check_decode_bound(my_ceiling, params, 2, bw).passed
    fp32 = check_decode_bound(bw / (params * 4), params, 2, bw)
    assert not fp32.passed and "fp32" in fp32.message
    bits = check_decode_bound(bw * 8 / (params * 2), params, 2, bw)
    assert not bits.passed and "bits" in bits.message
    assert status(check_decode_bound(None, params, 2, bw)) == "[TODO]"


def test_kv_bytes_check():
    cfg = {"num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128}
    kwargs = dict(layers=28, kv_heads=8, head_dim=128, bytes_per_value=2, tokens=32768, attention_heads=16)
    my_kv_bytes = 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * cfg["head_dim"] * 2 * 32768
    assert my_kv_bytes == 3_758_096_384 and check_kv_bytes(my_kv_bytes, **kwargs).passed
    assert "keys and values" in check_kv_bytes(my_kv_bytes // 2, **kwargs).message
    assert "KV heads" in check_kv_bytes(my_kv_bytes * 2, **kwargs).message  # all 16 query heads cached
    assert status(check_kv_bytes(None, **kwargs)) == "[TODO]"


def report(*flags):
    names = ("slow_decode", "memory_near_limit", "memory_growth")
    return HealthReport([Finding(n, n not in flags, "observed", "expected", "why") for n in names])


def test_health_explanation_check():
    constrained = report("slow_decode", "memory_near_limit", "memory_growth")
    my_explanation = {flag: {"slow_decode": "a", "memory_near_limit": "b", "memory_growth": "c"}[flag]
                      for flag in constrained.flags}
    assert check_health_explanation(my_explanation, constrained).passed
    assert "explain every flag" in check_health_explanation({"slow_decode": "a"}, constrained).message
    wrong = check_health_explanation({**my_explanation, "slow_decode": "d"}, constrained)
    assert not wrong.passed and "slow_decode" in wrong.message
    assert "did not fire" in check_health_explanation({"memory_growth": "c"}, report()).message
    assert check_health_explanation({}, report()).passed
    assert not check_health_explanation(["a"], constrained).passed
    assert set(CAUSES) >= {"a", "b", "c"}


def test_lowest_loss_step_check():
    pd = pytest.importorskip("pandas")
    logs = pd.DataFrame({"tag": ["train/loss"] * 4 + ["train/learning_rate"] * 4, "step": [1, 2, 3, 4] * 2,
                         "value": [3.0, 2.5, 2.2, 2.4, 0.1, 0.2, 0.3, 0.0]})
    rows = logs[logs.tag == "train/loss"]
    my_step = int(rows.loc[rows.value.idxmin(), "step"])
    assert my_step == 3 and check_lowest_loss_step(my_step, logs, "train/loss").passed
    assert not check_lowest_loss_step(4, logs, "train/loss").passed
    assert "no train/loss" in check_lowest_loss_step(9, logs, "train/loss").message


def test_histogram_quantile_and_check():
    edges = [0.1, 0.25, 0.5, 1.0, float("inf")]
    buckets = {0.1: 2, 0.25: 10, 0.5: 19, 1.0: 20, float("inf"): 20}  # cumulative counts
    # rank 19 falls in (0.25, 0.5], exactly at its top: 0.25 + 0.25 * (19 - 10) / 9
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.5)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1 + 0.15 * 8 / 8)
    assert histogram_quantile(0.05, buckets) == pytest.approx(0.05)  # first bucket starts at 0
    assert histogram_quantile(0.99, {0.1: 0, float("inf"): 5}) == 0.1  # in +Inf: the last finite edge
    assert math.isnan(histogram_quantile(0.5, {1.0: 0, float("inf"): 0}))

    rank = 0.95 * buckets[float("inf")]
    lower, below = 0.0, 0
    for edge in edges:  # the notebook's solution
        if buckets[edge] >= rank:
            my_p95 = lower if edge == float("inf") else lower + (edge - lower) * (rank - below) / (buckets[edge] - below)
            break
        lower, below = edge, buckets[edge]
    assert check_histogram_p95(my_p95, buckets).passed
    skewed = {0.1: 2, 0.25: 10, 0.5: 12, 1.0: 20, float("inf"): 20}
    edge = check_histogram_p95(1.0, skewed)
    assert not edge.passed and "upper edge" in edge.message
    assert status(check_histogram_p95(None, buckets)) == "[TODO]"


# the stored notebook -------------------------------------------------------------------------------------------------

NB = nbformat.read(find_notebook("07"), as_version=4)
CODE = [c.source for c in NB.cells if c.cell_type == "code"]
MARKDOWN = "\n".join(c.source for c in NB.cells if c.cell_type == "markdown")


def source_cell(marker: str) -> str:
    found = [source for source in CODE if marker in source]
    assert len(found) == 1, f"{len(found)} code cells contain {marker!r}"
    return found[0]


def test_every_chat_prompt_states_its_mode_and_a_thinking_template_obeys_it():
    from qwen_course import offline

    modes = chat_prompt_modes(CODE)
    assert len(modes) >= 2 and "MISSING" not in modes, modes
    thinks = offline.load_tokenizer("qwen3.5")  # Qwen3.5's thinking-by-default template (4B and up)
    for mode in modes:
        prompt = thinks.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                            enable_thinking=mode, tokenize=False)
        assert prompt.endswith("<think>\n\n</think>\n\n" if mode is False else "<think>\n")


def test_requests_use_the_recommended_sampling_of_their_mode():
    first = source_cell('monitor.track("first request")')
    assert 'p.generate_kwargs("non-thinking")' in first and "do_sample=False" not in first
    assert "**sampling" in first


def test_the_fallback_lora_run_trains_a_separate_fresh_model():
    fallback = source_cell("lora_runs = home()")
    assert "get_peft_model(model" not in fallback and "get_peft_model(trainee" in fallback
    assert "OWN_TRAINING_RUN" in fallback and "the lesson's model is untouched" in fallback


def test_relations_are_measured_or_conditioned_not_copied():
    assert "1.69 GB/s" not in MARKDOWN and "32.4" not in MARKDOWN  # bandwidths typed into prose
    assert "decode_roofline.json" in source_cell("results = Path.cwd()")
    assert "ttft[long] / ttft[short]" in source_cell("ttft = by_length.groupby(")  # TTFT against prompt length, measured
    assert "rough_percentiles" in "\n".join(CODE) and "closed loop" in MARKDOWN


def test_the_cache_section_counts_full_attention_layers_only():
    chat = source_cell("history, turns = [], []")
    assert "memory.cache_bytes(own, precision, cached)" in chat and "memory.measured_cache_bytes(out.cache)" in chat
    assert "cfg.num_hidden_layers" not in chat  # the old formula counted every layer
    assert "memory.cache_bytes(twin_config" in source_cell("for kind in (\"qwen3\", \"qwen3.5\")")
    assert "QWEN_FACTS" not in MARKDOWN + "\n".join(CODE)


# the executed notebook -----------------------------------------------------------------------------------------------

def cell_text(nb, marker: str) -> str:
    """The text outputs of the code cell whose source contains `marker`."""
    cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert cells, f"no cell contains {marker!r}"
    return notebook_text(nbformat.v4.new_notebook(cells=cells))


@pytest.mark.slow
def test_notebook_07(run_notebook):
    from qwen_course import memory
    from qwen_course.picker import pick

    res = run_notebook("07")
    nb = res["nb"]
    text = notebook_text(nb)
    assert "Traceback" not in text and "Error" not in cell_text(nb, "p = pick(")
    assert "offline: a tiny random-weight stand-in of the Qwen/" in text
    assert "every request below is non-thinking (enable_thinking=False)" in text
    assert "sampling: {'do_sample': True" in text
    assert "time to first token" in cell_text(nb, "first request")
    assert "thread(s)" in cell_text(nb, "set_num_threads")
    assert "the view refreshed" in text
    assert "throughput_tokens_per_s" in cell_text(nb, "sweep = monitor.to_frame()")
    assert re.search(r"TTFT \d+ ms at \d+ prompt tokens and \d+ ms at \d+ \([\d.]+x for \d+x the tokens\)", text)
    assert "requests saved to requests.csv" in text and "inter-token p50 / p95 / p99" in text
    assert re.search(r"inter-token p50 / p95 / p99 .* \(n=\d+", text)
    roofline = cell_text(nb, "bw = measure_bandwidth(")
    assert "MB of weights per token -> ceiling" in roofline and "GB/s" in roofline
    assert "Qwen/Qwen3-8B" in cell_text(nb, "ceilings = pd.DataFrame(")
    bench = cell_text(nb, "results = Path.cwd()")
    assert "benchmarks/decode_roofline.py on " in bench and "in this notebook (load" in bench
    assert "measured cache == formula at every turn" in text
    p = pick("chat")
    est = memory.estimate(p.model_id, p.precision, context=32768, route=p.estimate.route)
    assert f"at 32,768 tokens: cache {est.kv_cache_bytes / 1e9:5.2f} GB" in text  # the pick's estimate, printed
    growth = cell_text(nb, 'for kind in ("qwen3", "qwen3.5")')
    assert "measured == memory.cache_bytes at every length" in growth
    assert "(K and V in 2 of 2 layers)" in growth and "(K and V in 1 of 4 layers)" in growth
    assert re.search(r"The hybrid holds less from [\d,]+ tokens on, and at 262,144 tokens [\d.]+x less", text)
    healthy = cell_text(nb, "healthy = health_check(")
    assert "FLAG memory_near_limit" not in healthy and "FLAG memory_growth" not in healthy
    constrained = cell_text(nb, "constrained = health_check(")
    for flag in ("slow_decode", "memory_near_limit", "memory_growth"):
        assert f"FLAG {flag}" in constrained
    training = cell_text(nb, "logs = read_tensorboard(")
    assert "scalar points from" in training and "train/loss" in training
    assert "non-finite values: 0" in text
    assert "exact p95 of the" in text
    assert image_count(nb) >= 9  # live view, 3 sweeps, latency, roofline, long chat, dense vs hybrid, training logs
    shown = plain_text(nb)
    assert "Loading weights" not in shown and "Failed to load" not in shown and not re.search(r"\b0%\|", shown)
    unanswered = [c for c in nb.cells if c.cell_type == "code" and "check_" in c.source and "[TODO]" in cell_text(nb, c.source)]
    assert len(unanswered) == EXERCISES  # every exercise starts unanswered and says so


@pytest.mark.slow
def test_notebook_07_trains_its_own_fresh_model_when_asked(run_notebook):
    """The fallback (no logs from notebook 06) runs on a CPU pick, int8 or not, and leaves the lesson's model alone."""
    res = run_notebook("07", OWN_TRAINING_RUN=True, REPEATS=1, HEALTH_RUNS=3, CHAT_TURNS=2)
    text = notebook_text(res["nb"])
    assert "Traceback" not in text
    training = cell_text(res["nb"], "logs = read_tensorboard(")
    assert "a 8-step LoRA run of the tiny Qwen3 stand-in started here" in training
    assert re.search(r"the lesson's model is untouched: \w+, adapters: False", training)
    assert "Failed to load" not in training and "is_gradient_checkpointing" not in training
    assert "{'loss'" not in training  # no printed log dicts
