"""Notebook 09 (tools and agents): its key outputs offline, and every folded solution passes its check."""

from __future__ import annotations

import json
import re

import pytest
from conftest import folded_solutions, notebook_text


@pytest.fixture(scope="module")
def executed(run_notebook):
    return run_notebook("09")


@pytest.fixture(scope="module")
def text(executed):
    return notebook_text(executed["nb"])


@pytest.mark.slow
def test_runs_offline_on_the_stand_in(text):
    assert "mode: offline stand-in 'qwen3' (random weights)" in text
    assert "call format: qwen3;" in text
    assert "Traceback" not in text


@pytest.mark.slow
def test_where_tools_go(text):
    assert "<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"" in text
    assert "<function=example_function_name>" in text  # Qwen3.5's call instruction
    assert "<tool_response>\nParis: sunny for 1 day(s)\n</tool_response>" in text
    assert "Qwen3.5 with arguments as a JSON string: TypeError" in text
    assert "Qwen3.5: assistant turns start with ['<think>\\nTwo cities: Paris fi', '<think>\\n\\n</think>" in text
    assert "Qwen3, after a new question: earlier reasoning kept: False" in text
    renderings = re.findall(r"Qwen3(?:\.5)?: (\d+) renderings, (\d+) differ from Qwen's template", text)
    assert len(renderings) == 2 and all(int(n) >= 60 and d == "0" for n, d in renderings)


@pytest.mark.slow
def test_parsing(text):
    assert "[invalid JSON: Expecting value at character 46]" in text
    assert "ToolCallError is a ValueError subclass: True" in text
    assert "error: could not read your tool call (unclosed <tool_call> (reply cut off?))" in text
    assert "typed from the schema in the Qwen3.5 format: {'city': 'Paris', 'days': 2}" in text
    assert "response template shipped with the tokenizer: None" in text
    assert "one broken call -> ValueError" in text


@pytest.mark.slow
def test_structured_output_is_measured_and_valid(text):
    prep = re.search(r"vocabulary of 151,669 tokens \(151,936 logits\) prepared in ([\d.]+) s", text)
    assert prep and float(prep.group(1)) > 0
    assert re.search(r"schema compiled in [\d.]+ ms", text)
    assert "without a grammar: 0/4 valid" in text  # random weights never write JSON by chance
    assert "with llguidance:   4/4 valid, 4/4 parse as JSON, 0 hit the token limit" in text
    cost = re.search(r"([\d.]+) ms/token unconstrained, ([\d.]+) with the grammar: ([+-][\d.]+) ms", text)
    assert cost and float(cost.group(1)) > 0 and float(cost.group(2)) > 0
    assert "outlines 1.3.3" in text and "lm-format-enforcer" in text and "xgrammar 0.2.9" in text
    assert re.search(r"parsed calls: 1 \| errors: 0 \| passes the argument checks: \w+", text)


@pytest.mark.slow
def test_agent_loop_local_server_and_mcp(text):
    assert "random weights: the calls were forced (well-formed, random content" in text
    assert "step limit: step_limit" in text and "timeout:    timeout" in text
    assert "calculator({\"expression\": \"36 * 4096\"}) -> '147456'" in text
    assert "--enable-auto-tool-choice --tool-call-parser hermes" in text
    assert "--tool-call-parser qwen3_coder" in text
    assert re.search(r"healthy [\d.]+ s after it was started", text)
    assert "finish_reason: length | tool_calls: None" in text  # random weights: no call over HTTP either
    assert "loop over HTTP stopped with: answer" in text
    assert "the server offers: ['calculator', 'get_model_info', 'find_models', 'read_file']" in text
    assert "calculator('17 * 23') -> 391" in text


@pytest.mark.slow
def test_safety_refuses_every_attack(executed):
    frames = [out["data"]["text/plain"] for cell in executed["nb"].cells for out in cell.get("outputs", [])
              if "message to the model" in out.get("data", {}).get("text/plain", "")]
    assert len(frames) == 1
    outcomes = re.findall(r"^\d+\s+\S+\s+.*?\s(refused|ran|error)\s*$", frames[0], flags=re.M)
    assert outcomes == ["refused"] * 9 + ["ran"]
    text = notebook_text(executed["nb"])
    assert "refused    read_file({\"path\": \"../secret.txt\"})" in text


@pytest.mark.slow
def test_closing_note_reports_this_runs_cost(text):
    note = re.search(r"llguidance: vocabulary prepared in ([\d.]+) s; JSON schema compiled in ([\d.]+) ms; "
                     r"tool-call grammar in ([\d.]+) ms\.\nper token: [\d.]+ ms/token unconstrained", text)
    assert note
    assert "schema-valid outputs: 4/4 with the grammar, 0/4 without." in text
    assert "llguidance 1.9.1: prepare 1.6-2.2 s (151k) / 2.6-4.8 s (248k); per token +0.95 ms (+7.7%)" in text


@pytest.mark.slow
def test_exercises_start_unanswered(executed):
    marks = [out["data"]["text/plain"][:6] for cell in executed["nb"].cells for out in cell.get("outputs", [])
             if "text/plain" in out.get("data", {}) and out["data"]["text/plain"].startswith("[")]
    assert marks == ["[TODO]"] * 7  # every check runs and reports "not answered yet", none fails


def test_every_folded_solution_passes():
    from qwen_course.exercises import lesson09
    from qwen_course.tools import ToolRefused

    pairs = folded_solutions("09")
    assert len(pairs) == 7 and all(call for call, _ in pairs)
    ns = {**vars(lesson09), "json": json, "ToolRefused": ToolRefused}
    for call, solution in pairs:
        exec(solution, ns)
        result = eval(call, ns)
        assert result.passed is True, f"{call}: {result}"
