"""Notebook 08 offline: the server starts, answers the clients, survives a small load test, and leaves nothing behind."""

from __future__ import annotations

import re

import nbformat
import pytest
from conftest import folded_solutions, notebook_text

from qwen_course import serving



def _cell_text(nb, fragment: str) -> str:
    """The outputs of the first code cell whose source contains `fragment`."""
    for cell in nb.cells:
        if cell.cell_type == "code" and fragment in cell.source:
            return notebook_text(nbformat.v4.new_notebook(cells=[cell]))
    raise AssertionError(f"no cell contains {fragment!r}")


@pytest.fixture(scope="module")
def run(run_notebook):
    """The notebook executed offline once for this module (about three minutes on a loaded 2-core machine)."""
    return run_notebook("08")


@pytest.mark.slow
def test_runs_offline_with_the_stand_in(run):
    text = notebook_text(run["nb"])
    assert "Offline (" in text and "stand-in" in text
    assert "transformers serve " in text and "--host 127.0.0.1" in text
    assert re.search(r"healthy after [\d.]+ s", text)


@pytest.mark.slow
def test_clients_and_error_statuses(run):
    nb = run["nb"]
    assert "GET /health -> {'status': 'ok'}" in _cell_text(nb, "http.get(\"/health\")")
    assert re.search(r"\d+ content chunks; first after", _cell_text(nb, "stream=True"))
    thinking = re.search(r"thinking on: (\d+), off: (\d+)", _cell_text(nb, "enable_thinking\": False}})"))
    assert thinking and int(thinking.group(2)) > int(thinking.group(1))  # the empty think block reached the template
    errors = _cell_text(nb, "def attempt(")
    for status in ("400 BadRequestError", "422 UnprocessableEntityError", "500 InternalServerError"):
        assert status in errors
    assert "long prompt (~800 tokens)          200 OK" in errors


@pytest.mark.slow
def test_load_test_with_and_without_continuous_batching(run):
    nb = run["nb"]
    table = _cell_text(nb, "table = frame(results)")
    assert "one request at a time (default)" in table and "continuous batching" in table
    summary = _cell_text(nb, "fig = plot_load(")
    assert "Without continuous batching at 4 clients:" in summary and "With continuous batching at 4 clients:" in summary
    ok_errors = re.search(r"requests ok / errors\s+(\d+) / (\d+)", _cell_text(nb, "sequential = sweep("))
    assert ok_errors and int(ok_errors.group(1)) > 0 and ok_errors.group(2) == "0", "requests really succeeded"


@pytest.mark.slow
def test_guard_refuses_before_the_model(run):
    text = _cell_text(run["nb"], "show(\"with the key\"")
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
    commands = _cell_text(nb, "plan.vllm_command()")
    assert "vllm serve Qwen/Qwen3-32B-FP8 --tensor-parallel-size 2" in commands
    assert "--reasoning-parser qwen3" in commands and "sglang.launch_server" in commands
    assert re.search(r"vLLM not started: .+\.|vLLM started in", _cell_text(nb, "hw = detect()"))
    assert "llama-server -hf Qwen/" in _cell_text(nb, "edge_route(")


@pytest.mark.slow
def test_exercises_start_unanswered(run):
    checks = [c for c in run["nb"].cells if c.cell_type == "code" and re.search(r"^check_\w+\(", c.source, re.M)]
    assert len(checks) == 5
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


# ---- every folded solution passes its check (no server needed: stand-ins for the live objects) ------------------

def _live_objects() -> dict:
    """What the solutions use from the notebook's kernel, rebuilt without starting any process."""
    from types import SimpleNamespace
    from unittest.mock import MagicMock

    from starlette.testclient import TestClient

    from qwen_course import exercises
    from qwen_course.serving import guard as serving_guard
    from qwen_course.monitor import RequestMetrics
    from qwen_course.serving.load import LoadResult
    from qwen_course.serving.plan import plan_deployment

    httpx = serving.server.httpx()
    upstream = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    app = serving_guard.build_app("http://127.0.0.1:1", serving_guard.GuardPolicy(max_tokens=32), api_key="k",
                                  transport=upstream)

    def result(clients, p95):
        return LoadResult("", clients, 1, [RequestMetrics(1, 1, None, wall_s=p95)], wall_s=p95)

    namespace = {name: getattr(exercises, name) for name in exercises.__all__}
    namespace.update(server=SimpleNamespace(port=8123), client=MagicMock(), p=SimpleNamespace(model_path="/m"),
                     messages=[{"role": "user", "content": "hi"}],
                     sequential=[result(1, 1.0), result(2, 1.9), result(4, 3.9)], plan_deployment=plan_deployment,
                     gw=TestClient(app), auth={"Authorization": "Bearer k"},
                     ok_body={"model": "/m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})
    return namespace


def test_every_folded_solution_passes():
    pairs = folded_solutions("08")
    assert [call.split("(")[0] for call, _ in pairs] == [
        "check_base_url", "check_thinking_off", "check_p95_doubling", "check_guard_statuses", "check_deployment"]
    for call, solution in pairs:
        namespace = _live_objects()
        exec(solution, namespace)  # noqa: S102 - our own notebook's solution text
        result = eval(call, namespace)  # noqa: S307
        assert result.passed is True, f"{call}: {result}"
