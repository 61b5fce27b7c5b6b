"""Engine handles, installs and load tests without real engines: a fake OpenAI server misbehaves on request.

Every fault ends the same way: a clear message, the server stopped, its port free, nothing left running.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from qwen_course import cli, serving
from qwen_course.serving import engines, install as ei

FAKE = Path(__file__).with_name("fake_engine.py")
ZEN4 = "processor : 0\nflags : fpu sse2 avx f16c fma bmi2 avx2 avx512f avx512vbmi avx512_vnni avx512_bf16 sha_ni\n"
HASWELL = "flags\t\t: fpu sse2 avx f16c fma bmi2 avx2\n"


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """After every test: no server of this process alive, no child process of the test run left."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    assert not serving.live_servers()
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind: {[p.cmdline()[:3] for p in left]}"


def fake(tmp_path, *flags, port=None):
    port = port or serving.free_port()
    argv = [sys.executable, str(FAKE), "--port", str(port), *flags]
    return serving.EngineServer("fake", "fake", argv, port, log_path=tmp_path / "fake.log")


def assert_gone(srv):
    assert not srv.running and not srv.leftovers() and not serving.port_in_use(srv.port)


# ---------------------------------------------------------------- the server handle and its faults

def test_start_chat_stop_keeps_the_log(tmp_path):
    with fake(tmp_path) as srv:
        assert srv.healthy() and srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        assert srv.chat("hi", max_tokens=3)["usage"]["completion_tokens"] == 3
        assert srv.memory_bytes() > 0
    assert_gone(srv)
    assert "listening" in (tmp_path / "fake.log").read_text()


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        srv = fake(tmp_path, port=s.getsockname()[1])
        with pytest.raises(serving.ServerError, match="already in use"):
            srv.start(timeout=10)
        assert srv.process is None


def test_an_engine_dying_at_start_up_gives_its_exit_code_and_log_tail(tmp_path):
    srv = fake(tmp_path, "--exit-after", "0.5")
    with pytest.raises(serving.ServerError) as err:
        srv.start(timeout=30)
    assert "exited with code 3" in str(err.value) and "cannot allocate its KV cache" in str(err.value)
    assert_gone(srv)


def test_an_engine_never_ready_times_out_and_is_stopped(tmp_path):
    srv = fake(tmp_path, "--ready-after", "60")
    begin = time.monotonic()
    with pytest.raises(serving.ServerError, match="not healthy in time"):
        srv.start(timeout=2)
    assert time.monotonic() - begin < 20
    assert_gone(srv)


def test_a_rejected_request_is_a_clear_error_and_the_with_block_stops_the_server(tmp_path):
    with pytest.raises(serving.EngineRequestError) as err:
        with fake(tmp_path) as srv:
            srv.chat("hi", ignore_eos=True)
    assert err.value.status == 422 and "ignore_eos" in str(err.value) and "fake rejected" in str(err.value)
    assert_gone(srv)


def test_stop_waits_until_killed_children_are_reaped(tmp_path):
    """The race a colleague found: right after stop(), leftovers() was briefly True until init reaped the child."""
    for _ in range(3):
        srv = fake(tmp_path, "--child")
        srv.start(timeout=30)
        children = psutil.Process(srv.pid).children(recursive=True)
        assert children
        srv.stop(grace_s=1)
        assert_gone(srv)  # immediately, with no sleep
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


def test_fixed_length_fields_per_engine():
    assert serving.fixed_length_fields("vllm", 8) == {"max_tokens": 8, "ignore_eos": True, "temperature": 0}
    t = serving.fixed_length_fields("transformers", 8)
    assert "ignore_eos" not in t and json.loads(t["generation_config"]) == {
        "max_new_tokens": 8, "min_new_tokens": 8, "do_sample": False}


def test_vllm_kv_cache_space_must_be_whole_gib():
    assert engines.vllm_env(2, threads=1)["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert engines.vllm_env(1, threads=1)["VLLM_CPU_OMP_THREADS_BIND"] == "0"
    for bad in (1.5, 0):
        with pytest.raises(ValueError, match="whole number of GiB"):
            engines.vllm_env(bad)


def test_engine_commands_carry_threads_parsers_and_slots(tmp_path):
    argv = engines.vllm_command("/m", 8000, python="/py", served_name="m", tools="qwen3_coder")
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert "--reasoning-parser" in argv and argv[argv.index("--tool-call-parser") + 1] == "qwen3_coder"
    llama = engines.llama_command("/m.gguf", 8080, binary="/llama-server", alias="m", parallel=4, ctx_per_slot=1024,
                                  threads=1)
    assert llama[llama.index("--ctx-size") + 1] == "4096" and llama[llama.index("--threads") + 1] == "1"
    srv = serving.engine_server("transformers", tmp_path, threads=1, home=tmp_path)
    assert srv.env["OMP_NUM_THREADS"] == "1" and srv.model == str(tmp_path) and "serve" in srv.argv
    with pytest.raises(serving.ServerError, match="engine install vllm"):
        serving.engine_server("vllm", tmp_path, home=tmp_path)
    with pytest.raises(ValueError, match="unknown engine"):
        serving.engine_server("tgi", tmp_path, home=tmp_path)


def test_vllm_on_a_cpu_runs_bfloat16_only_where_the_cpu_computes_it(tmp_path, monkeypatch):
    assert engines.vllm_cpu_dtype(frozenset({"avx", "avx2"}))[0] == "float32"
    dtype, why = engines.vllm_cpu_dtype(frozenset({"avx512f", "avx512_bf16"}))
    assert dtype == "bfloat16" and "avx512_bf16" in why
    assert engines.vllm_cpu_dtype(frozenset({"amx_bf16"}))[0] == "bfloat16"
    venv = tmp_path / "engines" / "vllm" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text("")
    monkeypatch.setattr(engines, "cpu_flags", lambda: frozenset({"avx2"}))
    argv = serving.engine_server("vllm", tmp_path, home=tmp_path, threads=1).argv
    assert argv[argv.index("--dtype") + 1] == "float32"
    argv = serving.engine_server("vllm", tmp_path, home=tmp_path, threads=1, dtype="bfloat16").argv
    assert argv[argv.index("--dtype") + 1] == "bfloat16"  # a dtype asked for is kept


def test_kv_cache_facts_are_read_from_the_engine_log(tmp_path):
    srv = fake(tmp_path)
    srv.log_path.write_text("INFO Explicitly set (1.0/23.54) GiB for KV cache on node 0.\n"
                            "INFO CPU KV cache size: 2,097,152 tokens, Maximum concurrency for 4,096 tokens per "
                            "request: 512.00x\n")
    assert srv.kv_cache() == {"tokens": 2097152, "per_request": 4096, "concurrency": 512.0, "space_gib": 1.0}


# ---------------------------------------------------------------- the served model: one place decides

def test_served_model_is_the_pick_when_engines_can_load_it():
    pick = SimpleNamespace(model_id="Qwen/Qwen3-0.6B", model_path="Qwen/Qwen3-0.6B", offline=False, device="cpu")
    assert engines.served_model(pick) == engines.Served("Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B", False, "")
    moe = SimpleNamespace(model_id="Qwen/Qwen3-30B-A3B", model_path="/stand-ins/qwen3-moe", offline=True, device="cpu")
    assert engines.served_model(moe) == engines.Served("Qwen/Qwen3-30B-A3B", "/stand-ins/qwen3-moe", True, "")


def test_offline_a_qwen3_text_model_is_served_as_the_trained_stand_in(monkeypatch):
    built = []
    monkeypatch.setattr("qwen_course.offline.build", lambda kind: built.append(kind) or f"/stand-ins/{kind}")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "torchvision" else True)
    for model_id in ("Qwen/Qwen3-0.6B", "Qwen/Qwen3.5-0.8B"):  # the second through the text stand-in, as online
        served = engines.served_model(SimpleNamespace(model_id=model_id, model_path="/x", offline=True, device="cpu"))
        assert served.model_id == "Qwen/Qwen3-0.6B" and served.path == "/stand-ins/qwen3-trained" and served.offline
        assert "trained tiny Qwen3" in served.why
    assert built == ["qwen3-trained", "qwen3-trained"] and "torchvision" in served.why


def test_a_qwen35_pick_is_served_through_the_text_stand_in_with_the_reason(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "torchvision" else True)
    pick = SimpleNamespace(model_id="Qwen/Qwen3.5-0.8B", model_path="/x", offline=False, device="cpu")
    served = engines.served_model(pick)
    assert served.model_id == served.path == "Qwen/Qwen3-0.6B" and "torchvision" in served.why


# ---------------------------------------------------------------- installs: flags, resume, refusals

def test_cpu_flags_and_cmake_options_never_enable_amx():
    zen4 = ei.llama_cmake_flags(ei.cpu_flags(ZEN4), machine="x86_64")
    assert "-DGGML_NATIVE=OFF" in zen4 and "-DGGML_AVX512=ON" in zen4 and "-DGGML_AVX512_BF16=ON" in zen4
    assert all(f"-D{o}=OFF" in zen4 for o in ei.ALWAYS_OFF) and "-DLLAMA_USE_PREBUILT_UI=OFF" in zen4
    haswell = ei.llama_cmake_flags(ei.cpu_flags(HASWELL), machine="x86_64")
    assert "-DGGML_AVX2=ON" in haswell and "-DGGML_AVX512=OFF" in haswell
    assert "-DGGML_NATIVE=OFF" not in ei.llama_cmake_flags(frozenset(), machine="aarch64")
    assert ei.cpu_flags("no flags here") == frozenset()


@pytest.mark.parametrize("engine, device, machine, system, kw, match", [
    ("vllm", "cpu", "x86_64", "Darwin", {}, "vLLM runs on Linux"),
    ("vllm", "cpu", "aarch64", "Linux", {}, "built for x86_64"),
    ("tgi", "cpu", "x86_64", "Linux", {}, "unknown engine"),
    ("llama.cpp", "cpu", "x86_64", "Linux", {"tools": lambda t: None}, "needs cmake and c\\+\\+"),
    ("vllm", "cpu", "x86_64", "Linux", {"free_disk": 10**9}, "needs about 4.0 GB of disk"),
])
def test_machines_that_cannot_run_an_engine_are_refused_with_a_reason(engine, device, machine, system, kw, match):
    with pytest.raises(ei.InstallError, match=match):
        ei.check_supported(engine, device, machine, system, **kw)


def fake_steps(calls, fail_at=None):
    def make(name):
        def run(ctx):
            if name == fail_at:
                raise ei.InstallError(f"{name} broke")
            calls.append(name)
        return ei.Step(name, run)
    return lambda device: [make("a"), make("b"), make("c")]


def test_install_resumes_after_a_failed_step(tmp_path, monkeypatch):
    calls, seen = [], []
    monkeypatch.setitem(ei.STEPS, "llama.cpp", fake_steps(calls, fail_at="b"))
    with pytest.raises(ei.InstallError, match="b broke"):
        ei.install("llama.cpp", tmp_path, on="cpu", progress=lambda *a: None)
    record = json.loads((tmp_path / "engines" / "llama.cpp" / "install.json").read_text())
    assert record["done"] == ["a"] and not record["ready"]
    monkeypatch.setitem(ei.STEPS, "llama.cpp", fake_steps(calls))
    record = ei.install("llama.cpp", tmp_path, on="cpu", progress=lambda *a: seen.append(a))
    assert calls == ["a", "b", "c"] and record["ready"]
    assert seen[0] == (1, 3, "a", "already done") and seen[-1][:2] == (3, 3)


def test_install_redoes_every_step_on_another_cpu(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(ei.STEPS, "llama.cpp", fake_steps(calls))
    ei.install("llama.cpp", tmp_path, on="cpu", progress=lambda *a: None)
    monkeypatch.setattr(ei, "cpu_flags", lambda cpuinfo=None: frozenset({"avx"}))
    ei.install("llama.cpp", tmp_path, on="cpu", progress=lambda *a: None)
    assert calls == ["a", "b", "c"] * 2


def test_a_failing_command_names_its_log_and_shows_its_tail(tmp_path):
    ctx = ei.Context("llama.cpp", tmp_path, log=tmp_path / "install.log")
    with pytest.raises(ei.InstallError) as err:
        ei._sh([sys.executable, "-c", "print('compiler says no'); raise SystemExit(4)"], ctx)
    first, *rest = str(err.value).splitlines()
    assert "failed with exit code 4" in first and str(tmp_path / "install.log") in first
    assert "compiler says no" in "\n".join(rest)


def test_llama_configure_is_redone_when_the_cpu_flags_change(tmp_path):
    ctx = ei.Context("llama.cpp", tmp_path, cpu_flags=ei.cpu_flags(ZEN4))
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "CMakeCache.txt").write_text("")
    ctx.record["cmake_flags"] = ei.llama_cmake_flags(ei.cpu_flags(HASWELL))
    assert not ei._configured(ctx)
    ctx.record["cmake_flags"] = ei.llama_cmake_flags(ctx.cpu_flags)
    assert ei._configured(ctx)


def test_status_says_what_to_run(tmp_path):
    by_name = {s.name: s for s in serving.engine_status(tmp_path)}
    assert not by_name["vllm"].ready and by_name["vllm"].fix == "qwen-course engine install vllm"
    assert not by_name["llama.cpp"].ready and by_name["onnxruntime"].fix.endswith("install onnxruntime")
    assert by_name["transformers"].ready and not by_name["transformers"].fix
    root = tmp_path / "engines" / "llama.cpp"
    (root / "build" / "bin").mkdir(parents=True)
    (root / "build" / "bin" / "llama-server").write_text("")
    (root / "install.json").write_text(json.dumps({"ready": True, "cpu_flags_used": ["avx"]}))
    llama = next(s for s in serving.engine_status(tmp_path) if s.name == "llama.cpp")
    assert not llama.ready and "another CPU" in llama.detail and "--force" in llama.fix


def test_cli_engine_status_and_one_line_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QWEN_COURSE_HOME", str(tmp_path))
    assert cli.main(["engine", "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in data["engines"]} == {"vllm", "llama.cpp", "onnxruntime", "transformers"}
    assert cli.main(["engine", "install", "tgi"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "qwen-course engine: engine install takes one or more of vllm, llama.cpp, onnxruntime; unknown: tgi"]
    monkeypatch.setattr(ei, "check_supported", lambda *a, **k: (_ for _ in ()).throw(ei.InstallError("no room\nx")))
    assert cli.main(["engine", "install", "vllm"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == ["qwen-course engine: no room"]
    assert ei.ENGINE_NAMES == tuple(ei.STEPS)


def test_doctor_has_one_optional_line_per_engine(tmp_path, monkeypatch):
    from qwen_course import doctor

    monkeypatch.setenv("QWEN_COURSE_HOME", str(tmp_path))
    lines = doctor.engine_lines()
    assert [line["check"] for line in lines] == ["engine vllm", "engine llama.cpp", "engine onnxruntime",
                                                 "engine transformers"]
    assert {line["status"] for line in lines[:3]} == {"optional"} and lines[0]["fix"] == "qwen-course engine install vllm"
    text = doctor.render({"ready": True, "checks": [], "engines": lines, "packages": {}, "picks": {}, "course": {}}, "")
    assert "[optional] engine vllm: not installed  -> qwen-course engine install vllm" in text


# ---------------------------------------------------------------- load generator

def test_closed_and_open_loop_count_every_token(tmp_path):
    with fake(tmp_path) as srv:
        closed = serving.closed_loop(srv.base_url, "fake", 3, duration_s=1.0, extra={"max_tokens": 7}, label="f")
        opened = serving.open_loop(srv.base_url, "fake", 10.0, duration_s=1.0, extra={"max_tokens": 5}, seed=1)
    row = closed.row()
    assert closed.ok and not row["errors"] and {s.tokens for s in closed.ok} == {7} and closed.wall_s == 1.0
    assert row["tokens_per_s"] > 0 and closed.clients == 3 and closed.latency["count"] == len(closed.ok)
    assert all(len(s.gaps) == 6 for s in closed.ok) and closed.itl["count"] >= 6 * len(closed.ok)
    assert "latency p99" in row["rough"]  # a few hundred requests cannot pin down a p99
    assert opened.samples and all(s.tokens == 5 and s.ttft is not None for s in opened.samples)
    assert opened.row()["mode"] == "open"


def test_server_gauges_are_polled_while_the_load_runs(tmp_path):
    with fake(tmp_path, "--token-delay", "0.02") as srv:
        run = serving.closed_loop(srv.base_url, "fake", 3, duration_s=1.0, extra={"max_tokens": 10},
                                  metrics=("fake:requests_running", "fake:absent"))
    assert run.peaks["fake:requests_running"] >= 2 and "fake:absent" not in run.peaks


def test_a_window_cuts_slow_requests_and_counts_their_tokens(tmp_path):
    with fake(tmp_path, "--token-delay", "0.05") as srv:  # 40 tokens take 2 s; the window is 0.6 s
        cut = serving.closed_loop(srv.base_url, "fake", 2, duration_s=0.6, extra={"max_tokens": 40})
        drained = serving.closed_loop(srv.base_url, "fake", 2, duration_s=0.6, extra={"max_tokens": 10}, drain=True)
    assert cut.wall_s == 0.6 and not cut.ok and all(s.cut and 0 < s.tokens < 40 for s in cut.samples)
    assert cut.tokens_per_s > 0 and cut.row()["cut"] == 2 and cut.row()["requests"] == 0
    assert drained.ok and not any(s.cut for s in drained.samples) and drained.wall_s > 0.6


def test_load_errors_are_data_and_targets_stay_local(tmp_path):
    with fake(tmp_path) as srv:
        run = serving.closed_loop(srv.base_url, "fake", 1, duration_s=0.5, extra={"ignore_eos": True})
    assert run.samples and run.row()["errors"] == len(run.samples) and "HTTP 422" in run.row()["first_error"]
    assert run.tokens_per_s == 0
    for url, level in (("http://example.com/v1", 1), ("http://127.0.0.1:1/v1", 0), ("http://127.0.0.1:1/v1", 999)):
        with pytest.raises(ValueError):
            serving.closed_loop(url, "m", level, duration_s=1)


def test_queue_growth_reads_an_open_loop_as_a_user_sees_it():
    import matplotlib

    matplotlib.use("Agg")
    from qwen_course.serving.loadgen import LoadRun, Sample

    queued = LoadRun("one at a time", "open", 2.0, samples=[Sample(10.0 + i, 0.1, 1.0 + i, 8) for i in range(6)]
                     + [Sample(17.0, wall=0.5, error="HTTP 500"), Sample(18.0, wall=0.2, cut=True)])
    growth = serving.queue_growth(queued)
    assert growth["requests"] == 6 and growth["arrivals_s"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert (growth["first"], growth["last"]) == (1.5, 5.5)  # mean latency of the first and the last two arrivals
    assert serving.queue_growth(LoadRun("none", "open", 1.0))["requests"] == 0
    fig = serving.plot_open_loop({"one at a time": queued}, title="t")
    assert fig.axes[0].get_xlabel().startswith("arrival") and "2 requests/s" in fig.axes[0].get_legend_handles_labels()[1][0]


def test_plot_and_frame_are_labelled(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from qwen_course.serving.loadgen import LoadRun, Sample

    def run(n, wall):
        return LoadRun("x", "closed", n, wall, [Sample(0.0, 0.1, wall, 4, [0.01, 0.02, 0.03])])

    runs = {"a": [run(1, 1.0), run(4, 2.0)], "b": [run(1, 1.0), run(4, 1.2)]}
    fig = serving.plot_runs(runs)
    tp, lat, itl = fig.axes
    assert "closed loop" in tp.get_xlabel() and "per second" in tp.get_ylabel() and len(lat.lines) == 4
    assert list(serving.runs_frame(runs)["label"]) == ["a", "a", "b", "b"]


def test_the_no_leftovers_plugin_fails_a_session_that_leaves_a_process(tmp_path):
    import os
    import subprocess

    (tmp_path / "test_leak.py").write_text("import subprocess, sys\n\ndef test_leak():\n"
                                           "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "NO_LEFTOVERS_GRACE_S": "0.5"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no_leftovers", "-q", "test_leak.py"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "process left behind" in proc.stdout and "time.sleep(60)" in proc.stdout
