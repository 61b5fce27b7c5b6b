"""The maintainers' benchmark scripts: the median summary and llama-bench parsing, without running any model."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quantization_summary_is_the_median_of_runs_that_measured():
    from qwen_course.quantization.measure import Result

    bench = load("quantization")
    runs = [[Result("fp32", "fp32", "fp32", True, "runs here", decode_tokens_per_s=v, weights_bytes=10)]
            for v in (4.0, 9.0, 5.0)]
    runs.append([Result("fp32", "fp32", "fp32", False, "failed here: boom")])
    (row,) = bench.summarise(runs)
    assert row.ran and row.decode_tokens_per_s == 5.0 and row.weights_bytes == 10


def test_llama_bench_json_is_read(monkeypatch, tmp_path):
    llama = load("llama_cpp")
    rows = [{"n_prompt": 64, "n_gen": 0, "avg_ts": 120.5, "stddev_ts": 2.0, "build_commit": "abc", "cpu_info": "x"},
            {"n_prompt": 0, "n_gen": 16, "avg_ts": 30.25, "stddev_ts": 0.5, "build_commit": "abc", "cpu_info": "x"}]
    calls = []
    monkeypatch.setattr(llama, "run", lambda argv, **kw: calls.append(argv) or json.dumps(rows))
    result = llama.bench(tmp_path, tmp_path / "m.gguf", 2, 64, 16, 3)
    assert result["prefill_tokens_per_s"] == 120.5 and result["decode_tokens_per_s"] == 30.25
    assert [str(a) for a in calls[0][1:]] == ["-m", str(tmp_path / "m.gguf"), "-t", "2", "-p", "64", "-n", "16",
                                              "-r", "3", "-o", "json"]


def test_a_failing_tool_shows_its_error():
    llama = load("llama_cpp")
    with pytest.raises(RuntimeError, match="failed"):
        llama.run(["python3", "-c", "import sys; sys.exit('no such model')"])


def test_route_vs_llama_cpp_results_agree_with_themselves_and_the_readme():
    """The committed same-run comparison: ratios are the medians' ratios, medians of the rounds, and the README quotes them."""
    import statistics

    report = json.loads((ROOT / "benchmarks/results/qwen3-0.6b-route-vs-llama-cpp/cpu_route_vs_llama_cpp.json").read_text())
    for name, values in report["all_rounds"].items():
        assert report["decode_tok_s"][name] == pytest.approx(statistics.median(values), abs=0.01)
    medians, route = report["decode_tok_s"], report["pick"]["route"]
    q8 = medians["llama.cpp Q8_0"]
    assert report["pick_vs_llama_cpp_q8_0"] == pytest.approx(medians[f"{route} generate"] / q8, abs=0.001)
    assert report["fastest_route"] == max(("fp32", "bf16", "ao-dynamic-int8"), key=lambda r: medians[f"{r} generate"])
    readme = (ROOT / "README.md").read_text()
    assert f"| llama.cpp Q8_0 (llama-bench) | {q8:.1f} | 1.00 |" in readme
    assert f"`generate` | {medians[f'{route} generate']:.1f} | {report['pick_vs_llama_cpp_q8_0']:.2f} |" in readme


def test_route_vs_llama_cpp_decode_timers_run_on_a_tiny_model():
    """Both timers of the comparison return a positive speed on a 1-layer Qwen3 (no llama.cpp needed)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    bench = load("cpu_route_vs_llama_cpp")
    config = Qwen3Config(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16)
    model = Qwen3ForCausalLM(config).eval()
    ids = torch.randint(0, 128, (1, 8), generator=torch.Generator().manual_seed(0))
    assert bench.decode_generate(model, ids, 4) > 0
    assert bench.decode_loop(model, ids, 4) > 0
