"""Notebook 08 offline: the engines start, answer, batch under load, export to the edge, and leave nothing behind.

The default run uses every engine installed here (in CI all of them: QWEN_COURSE_REQUIRE_ENGINES=1 turns a missing
engine into a failure); a second run with ENGINE="transformers" checks the fallback a machine without engines gets.
"""

from __future__ import annotations

import ast
import os
import re

import nbformat
import pytest
from conftest import find_notebook, folded_solutions, notebook_text

from qwen_course import serving

REQUIRE = os.environ.get("QWEN_COURSE_REQUIRE_ENGINES") == "1"


def _cell_text(nb, fragment: str) -> str:
    """The outputs of the first code cell whose source contains `fragment`."""
    for cell in nb.cells:
        if cell.cell_type == "code" and fragment in cell.source:
            return notebook_text(nbformat.v4.new_notebook(cells=[cell]))
    raise AssertionError(f"no cell contains {fragment!r}")


def _stored():
    return nbformat.read(find_notebook("08"), as_version=4)


@pytest.fixture(scope="module")
def run(run_notebook):
    """The notebook executed offline once for this module, with every engine installed here."""
    return run_notebook("08")


@pytest.fixture(scope="module")
def engines_here(run):
    text = _cell_text(run["nb"], "served = serving.served_model(p)")
    return {name for name in ("vllm", "llama.cpp", "onnxruntime") if re.search(rf"{re.escape(name)}\s+ready", text)}


@pytest.mark.slow
def test_serves_the_text_stand_in_and_says_why(run):
    text = _cell_text(run["nb"], "served = serving.served_model(p)")
    assert "Offline (" in text and "tiny trained stand-in of Qwen/Qwen3-0.6B" in text and "answers are real" in text
    assert "needs torchvision" in text  # the one line saying why not the Qwen3.5 pick
    assert "transformers serve " in notebook_text(run["nb"]) and "--host 127.0.0.1" in notebook_text(run["nb"])
    assert re.search(r"transformers serve healthy after [\d.]+ s", notebook_text(run["nb"]))


@pytest.mark.slow
def test_engines_run_in_ci(engines_here):
    if REQUIRE:
        assert engines_here == {"vllm", "llama.cpp", "onnxruntime"}


@pytest.mark.slow
def test_clients_thinking_mode_and_error_statuses(run):
    nb = run["nb"]
    assert "GET /health -> {'status': 'ok'}" in _cell_text(nb, 'http.get("/health")')
    assert re.search(r"\d+ content chunks; first after", _cell_text(nb, "stream=True"))
    thinking = re.search(r"thinking on: (\d+), off: (\d+)", _cell_text(nb, '"enable_thinking": True}}'))
    assert thinking and int(thinking.group(2)) > int(thinking.group(1))  # the empty think block reached the template
    errors = _cell_text(nb, "def attempt(")
    for status in ("400 BadRequestError", "422 UnprocessableEntityError", "500 InternalServerError"):
        assert status in errors
    assert re.search(r"field this engine refuses\s+422 .*ignore_eos", errors)
    assert re.search(r"long prompt \(~800 tokens\)\s+200 OK", errors)


def test_every_chat_request_states_its_thinking_mode():
    """Issue 18 item 1 over HTTP: each chat request carries chat_template_kwargs (directly or via NO_THINKING)."""
    calls = []
    for index, cell in enumerate(_stored().cells):
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("chat.completions.create"):
                calls.append((index, ast.unparse(node)))
    assert len(calls) >= 8
    for index, call in calls:
        if "**request" in call:  # attempt(): its request dict carries extra_body=NO_THINKING
            continue
        assert "chat_template_kwargs" in call or "NO_THINKING" in call or "my_extra_body" in call, (index, call)
    source = "\n".join(c.source for c in _stored().cells if c.cell_type == "code")
    assert '"extra_body": NO_THINKING' in source and "**NO_THINKING" in source


@pytest.mark.slow
def test_edge_exports_and_modelfile(run, engines_here):
    nb = run["nb"]
    gguf = _cell_text(nb, "serving.to_gguf(served.path, quant)")
    if "llama.cpp" in engines_here:
        assert re.search(r"Q8_0\s+[\d.]+ MB\s+tensor types \{'Q8_0'", gguf)
        assert "fell back to Q5_0/Q8_0 and the file is not really Q4_K_M" in gguf and "quantizes normally" in gguf
        assert re.search(r"healthy after [\d.]+ s", gguf)
    else:
        assert "no GGUF export" in gguf
    modelfile = _cell_text(nb, "serving.modelfile(")
    assert "problems: none" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert modelfile.count("renders the same prompt as Hugging Face's: True") == 2
    onnx = _cell_text(nb, "serving.to_onnx(")
    assert ("ONNX int4 folder" in onnx) == ("onnxruntime" in engines_here)


@pytest.mark.slow
def test_vllm_parsers_and_kv_cache_from_its_log(run, engines_here):
    nb = run["nb"]
    parsers = _cell_text(nb, "for thinking in (True, False):\n    mode")
    # the trained stand-in writes a real block, closes it and answers: the parser splits the two (vLLM only;
    # transformers serve returns the block inside content)
    assert re.search(r"enable_thinking=True : reasoning [1-9]\d* chars, content [1-9]\d* chars", parsers) or \
        "vllm" not in engines_here
    assert "reasoning: 'The question asks for the number of layers of Qwen3-8B.'" in parsers or "vllm" not in engines_here
    assert re.search(r"enable_thinking=False: reasoning 0 chars, content [1-9]\d* chars", parsers)
    assert re.search(r"content: +'Qwen3-8B has \d+ layers", parsers), parsers  # a real answer, in either mode
    calls = _cell_text(nb, "tools = [get_json_schema(f) for f in (calculator, get_model_info)]")
    assert ("finish_reason: tool_calls" in calls and "name='get_model_info'" in calls) or "vllm" not in engines_here
    kv = _cell_text(nb, "per_token = 2 *")
    if "vllm" in engines_here:
        m = re.search(r"vLLM reports ([\d,]+) tokens of KV cache, (\d+) bytes per token, rounded down \(the stand-in's config says "
                      r"(\d+)", kv)
        assert m and m.group(2) == m.group(3), kv  # vLLM's own capacity matches the arithmetic
    assert re.search(r"Qwen/Qwen3-0.6B\s+112.0 KiB per token", kv)
    assert re.search(r"Qwen/Qwen3\.5-\S+ +12\.0 KiB per token \+ [\d.]+ MiB fixed per sequence", kv)  # the pick


@pytest.mark.slow
def test_load_test_is_closed_loop_labelled_and_batching_pays_off(run, engines_here):
    nb = run["nb"]
    table = _cell_text(nb, "memory_now, results = {}, {}")
    assert "transformers serve --continuous-batching" in table and "rough" in table
    gains = dict(re.findall(r"^(.+?)\s+[\d.]+ tok/s at 1 stream -> +[\d.]+ at \d+ streams: x([\d.]+)$",
                            _cell_text(nb, "gains = {name:"), re.M))
    assert "transformers serve" in gains and "transformers serve --continuous-batching" in gains
    batching = [float(gains[k]) for k in gains if k in ("vLLM", "transformers serve --continuous-batching")]
    # batching engines gain with concurrency: at 16 streams, 1 thread each, 3 s windows, vLLM in float32 (this AVX2 CPU
    # has no bfloat16 instructions) gave x7.2 in a separate run on 2026-12-07 (x1.5 in bfloat16), transformers serve
    # --continuous-batching x4.4. Issue 25's goal: vLLM at 16 streams at least 3x its single stream.
    assert max(batching) >= 1.4, gains
    assert float(gains["transformers serve"]) < max(batching)
    if "vllm" in engines_here:
        assert "vLLM" in gains and re.search(r"vLLM ran up to \d+ requests in one batch", notebook_text(nb))
        assert float(gains["vLLM"]) >= 3.0, gains
    earlier = _cell_text(nb, "earlier = {name: serving.sweep(")
    assert re.search(r"the earlier test, repeated: continuous batching x[\d.]+ over one request at a time \(\d+ requests", earlier)
    assert re.search(r"this section's closed loop: x[\d.]+ at 4 streams; .* x[\d.]+ at 16$", earlier, re.M)
    source = "\n".join(c.source for c in _stored().cells)
    assert "closed loop" in source and "(closed loop)" in open(serving.loadplots.__file__).read()


@pytest.mark.slow
def test_open_loop_shows_the_queue_of_a_one_at_a_time_server(run, engines_here):
    text = _cell_text(run["nb"], "open_runs = {name: serving.open_loop(")
    rows = {m[0]: (int(m[1]), *map(float, m[2:])) for m in re.findall(
        r"^(transformers serve|vLLM)\s+(\d+) requests: latency p50 ([\d.]+) s, p95 ([\d.]+) s; first third of arrivals "
        r"([\d.]+) s on average, last third ([\d.]+) s$", text, re.M)}
    assert "transformers serve" in rows, text
    n, _, p95, first, last = rows["transformers serve"]
    assert n >= 3 and last > first, rows  # arrivals at twice its capacity wait for those ahead: the queue grows
    if "vllm" in engines_here:
        assert "vLLM" in rows and rows["vLLM"][2] < p95, rows  # batching keeps up with the same arrivals


@pytest.mark.slow
def test_routes_table_and_sentence_from_the_measurement(run, engines_here):
    nb = run["nb"]
    routes = _cell_text(nb, "route = []")
    assert "HTTP, 1 stream" in routes
    if "llama.cpp" in engines_here:
        assert "llama-bench, no HTTP" in routes and "GGUF Q4_K_M" in routes
    if "onnxruntime" in engines_here:
        assert "ONNX Runtime GenAI int4" in routes
    assert re.search(r"Single stream, this run: .+ decoded \d+ tok/s, [\d.]+x transformers serve", notebook_text(nb))


@pytest.mark.slow
def test_hybrid_cache_measured_and_planned(run, engines_here):
    nb = run["nb"]
    hybrid = _cell_text(nb, "hybrid_rows = []")
    if "llama.cpp" in engines_here:
        m = re.search(r"(\d) of (\d) layers keep K and V; quadrupling the context quadrupled the KV cache "
                      r"\(([\d.]+) -> ([\d.]+) MiB\)", hybrid)
        assert m and (m.group(1), m.group(2)) == ("1", "4") and float(m.group(4)) == 4 * float(m.group(3))
    compare = _cell_text(nb, 'for model in ("Qwen/Qwen3-32B", "Qwen/Qwen3.5-27B"')
    assert "Qwen/Qwen3.5-35B-A3B" in compare and "fixed state MiB per sequence" in compare
    commands = _cell_text(nb, "plan35 = plan_deployment(")
    assert "--tool-call-parser qwen3_coder" in commands and "--language-model-only" in commands
    assert "sglang.launch_server" in commands and "MoE: all experts stay resident" in commands


@pytest.mark.slow
def test_guard_refuses_before_the_model(run):
    text = _cell_text(run["nb"], 'show("with the key"')
    for line in ("with the key                       200", "no key                             401",
                 "max_tokens above the cap           400", "long prompt (~800 tokens)          400",
                 "20 kB body                         413", "admin endpoint /reset              404"):
        assert line in text
    assert "429, Retry-After" in _cell_text(run["nb"], "guarded = OpenAI(")
    assert "PASSES the filter" in _cell_text(run["nb"], "naive_filter")


@pytest.mark.slow
def test_plans_and_commands(run):
    nb = run["nb"]
    table = _cell_text(nb, "for gpus, memory_gb, context in")
    assert "Qwen/Qwen3-32B-FP8" in table and "does not fit 1 x 16 GB" in table
    assert re.search(r"after [\d.]+ GB of weights the KV cache holds [\d,]+ tokens", table)
    commands = _cell_text(nb, "plan.vllm_command()")
    assert "vllm serve Qwen/Qwen3-32B-FP8 --tensor-parallel-size 2" in commands
    assert "--reasoning-parser qwen3" in commands and "sglang.launch_server" in commands


@pytest.mark.slow
def test_exercises_start_unanswered(run):
    checks = [c for c in run["nb"].cells if c.cell_type == "code" and re.search(r"^check_\w+\(", c.source, re.M)]
    assert len(checks) == 6
    for cell in checks:
        text = notebook_text(nbformat.v4.new_notebook(cells=[cell]))
        assert "[TODO]" in text and "not answered yet" in text and "[FAIL]" not in text


@pytest.mark.slow
def test_everything_stopped_and_ports_free(run):
    text = _cell_text(run["nb"], "started = [s for s in")
    assert "still running: []" in text and "leftover processes: []" in text and "ports free again: True" in text
    for port in map(int, re.findall(r"--port (\d+)", notebook_text(run["nb"]))):
        if port not in (8000, 8080, 30000):  # the printed example commands, not servers we ran
            assert not serving.port_in_use(port)
    assert not serving.live_servers()


@pytest.mark.slow
def test_no_frozen_progress_bars_or_private_names(run):
    text = notebook_text(run["nb"])
    assert not re.search(r"\b0%\|", text) and "Loading weights" not in text  # issue 18 item 13
    source = "\n".join(c.source for c in _stored().cells if c.cell_type == "code")
    assert not re.search(r"import _\w|\._[a-z]\w*\(", source)


def test_public_sources_only():
    """Issue 18 item 12: no fact sheet outside the repository, no shorthand file names instead of public sources."""
    text = "\n".join(c.source for c in _stored().cells)
    for private in ("QWEN_FACTS", "QWEN_HYBRID_FACTS", "Q3-docs", "Q3-README"):
        assert private not in text
    for public in ("qwen.readthedocs.io", "arXiv:2309.06180", "Qwen/Qwen3.5.md", "docs.ollama.com/modelfile",
                   "VLLM_USE_MODELSCOPE", "SGLANG_USE_MODELSCOPE", "learn.microsoft.com"):
        assert public in text


@pytest.mark.slow
def test_falls_back_to_transformers_serve_without_engines(run_notebook):
    fallback = run_notebook("08", ENGINE="transformers", LOAD_SECONDS=2)
    text = notebook_text(fallback["nb"])
    assert "Traceback" not in text
    assert "vLLM: ENGINE='transformers': the vLLM cells fall back to transformers serve." in text
    assert "no GGUF export" in text and "no ONNX export" in text
    assert "finish_reason: tool_calls" in text and "name='get_model_info'" in text  # transformers serve parses it too
    assert "leftover processes: []" in text and not serving.live_servers()


# ---- every folded solution passes its check (no server needed: stand-ins for the live objects) ------------------

def _live_objects() -> dict:
    """What the solutions use from the notebook's kernel, rebuilt without starting any process."""
    from types import SimpleNamespace
    from unittest.mock import MagicMock

    from starlette.testclient import TestClient

    from qwen_course import exercises, memory
    from qwen_course.serving import guard as serving_guard
    from qwen_course.serving.loadgen import LoadRun, Sample
    from qwen_course.serving.plan import plan_deployment

    httpx = serving.server.httpx()
    upstream = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    app = serving_guard.build_app("http://127.0.0.1:1", serving_guard.GuardPolicy(max_tokens=32), api_key="k",
                                  transport=upstream)

    def result(streams, p95):
        return LoadRun("", "closed", streams, p95, [Sample(0.0, 0.1, p95, 4)])

    namespace = {name: getattr(exercises, name) for name in exercises.__all__}
    namespace.update(server=SimpleNamespace(port=8123, model="/m"), client=MagicMock(), memory=memory,
                     messages=[{"role": "user", "content": "hi"}],
                     results={"transformers serve": [result(1, 1.0), result(4, 3.9)]}, plan_deployment=plan_deployment,
                     gw=TestClient(app), auth={"Authorization": "Bearer k"},
                     ok_body={"model": "/m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})
    return namespace


def test_every_folded_solution_passes():
    pairs = folded_solutions("08")
    assert [call.split("(")[0] for call, _ in pairs] == [
        "check_base_url", "check_thinking_off", "check_kv_space", "check_p95_doubling", "check_guard_statuses",
        "check_deployment"]
    for call, solution in pairs:
        namespace = _live_objects()
        exec(solution, namespace)  # noqa: S102 - our own notebook's solution text
        result = eval(call, namespace)  # noqa: S307
        assert result.passed is True, f"{call}: {result}"
