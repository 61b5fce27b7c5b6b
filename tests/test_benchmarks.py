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
