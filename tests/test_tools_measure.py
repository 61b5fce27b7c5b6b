"""The lesson's measurements, data files, server flags, catalog tool and import weight."""

import subprocess
import sys

import pytest

from qwen_course.tools import (
    LibraryReport, Overhead, ToolError, call_format, get_model_info, sample_documents, vllm_tool_parser,
)


def test_overhead_arithmetic_and_text():
    overhead = Overhead(unconstrained_ms=12.0, constrained_ms=13.5, processor_ms=0.6, tokens=32, repeats=3)
    assert overhead.overhead_ms == pytest.approx(1.5) and overhead.overhead_percent == pytest.approx(12.5)
    assert "+1.50 ms (+12.5%)" in str(overhead) and "3 runs of 32 tokens" in str(overhead)


def test_library_report_holds_the_measured_numbers_with_conditions():
    report = LibraryReport()
    assert "2 shared CPU cores" in report.conditions and "1 thread" in report.conditions
    assert report.library("llguidance")["valid"] == {"151k": "20/20", "248k": "20/20"}
    assert report.library("xgrammar")["overhead_ms"] == {"151k": 1.38, "248k": 3.76}
    assert not report.library("outlines")["works"] and "integer bounds" in report.library("outlines")["why"]
    with pytest.raises(KeyError, match="measured"):
        report.library("guidance")
    summary = report.summary()
    assert summary[0].startswith("llguidance 1.9.1: prepare 1.6-2.2 s (151k) / 2.6-4.8 s (248k)")
    assert summary[-1] == "lm-format-enforcer (latest on PyPI then): does not work here"
    assert "<table>" in report._repr_html_() and "llguidance 1.9.1" in str(report)


@pytest.mark.parametrize("model_id, parser", [
    ("Qwen/Qwen3-8B", "hermes"), ("Qwen/Qwen2.5-7B-Instruct", "hermes"), ("Qwen/Qwen3.5-9B", "qwen3_coder"),
    ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3_coder"),
])
def test_vllm_tool_parser_per_generation(model_id, parser):
    found = vllm_tool_parser(model_id)
    assert found.name == parser and found.flags == ["--enable-auto-tool-choice", "--tool-call-parser", parser]
    assert "docs.vllm.ai" in found.source


def test_vllm_tool_parser_says_which_series_are_documented():
    with pytest.raises(ValueError, match="documented: .*qwen3.5"):
        vllm_tool_parser("Qwen/Qwen2.5-VL-7B-Instruct")


def test_get_model_info_reads_the_catalog():
    info = get_model_info("Qwen3-8B")
    assert info["id"] == "Qwen/Qwen3-8B" and info["released"] == "April 2025" and info["parameters"] == "8.2B"
    assert info["layers"] == 36 and info["context"] == 32768 and "chat" in info["tasks"]
    assert get_model_info("Qwen/Qwen3-8B") == info
    with pytest.raises(ToolError):
        get_model_info("Qwen9-1B")


def test_sample_documents_and_call_format():
    assert (sample_documents() / "workshop.txt").read_text().startswith("The Qwen workshop starts at 9:30")
    from qwen_course.offline import chat_template

    assert call_format(chat_template("qwen3")) == "qwen3" and call_format("<function=f>") == "qwen3.5"
    assert call_format(None) == "qwen3"


def test_importing_the_package_loads_no_heavy_library():
    code = ("import sys, qwen_course.tools; heavy = ('torch', 'transformers', 'llguidance', 'mcp', 'jsonschema', "
            "'numpy'); print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_measurements_run_on_the_stand_in():
    import torch
    from transformers import AutoModelForCausalLM

    from qwen_course import offline
    from qwen_course.tools import ENDLESS_STRING, compile_json, per_token_overhead, prepare, validity

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokenizer = offline.load_tokenizer("qwen3")
        model = AutoModelForCausalLM.from_pretrained(offline.build("qwen3"), dtype=torch.float32)
        stops = [151645, 151643]
        inputs = tokenizer("JSON:", return_tensors="pt")
        vocabulary = prepare(tokenizer, vocab_size=model.config.vocab_size, stop_ids=stops)
        overhead = per_token_overhead(model, inputs, compile_json(vocabulary, ENDLESS_STRING), stops, tokens=4,
                                      repeats=1)
        assert overhead.unconstrained_ms > 0 and overhead.constrained_ms > 0 and overhead.processor_ms > 0
        schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
                  "required": ["n"], "additionalProperties": False}
        counted = validity(model, tokenizer, inputs, schema, stops, compile_json(vocabulary, schema).processor, n=1,
                           max_new_tokens=24)
        assert (counted.n, counted.valid, counted.json) == (1, 1, 1) and counted.samples[0].startswith('{"n":')
    finally:
        torch.set_num_threads(threads)
