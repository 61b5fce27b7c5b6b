"""Unit tests of lesson 08's helpers: the deployment planner, the managed server, the load test and the guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from qwen_course.serving import guard as serving_guard, load as serving_load, server as serving
from qwen_course.serving.edge import edge_route
from qwen_course.serving.plan import DoesNotFitError, plan_deployment, valid_tensor_parallel
from qwen_course import catalog

httpx = serving.httpx()


# ---------------------------------------------------------------- planner

def test_qwen3_32b_on_one_80gb_gpu_runs_bf16_with_a_shorter_context():
    p = plan_deployment("Qwen/Qwen3-32B", gpus=1, memory_gb=80)
    assert (p.precision, p.tensor_parallel, p.data_parallel) == ("bf16", 1, 1)
    assert p.served_model == "Qwen/Qwen3-32B"
    assert 8192 <= p.max_model_len < 32768 and p.max_model_len % 1024 == 0
    assert p.max_model_len <= p.kv_tokens
    cmd = p.vllm_command()
    assert cmd.startswith("vllm serve Qwen/Qwen3-32B ")
    for flag in ("--tensor-parallel-size 1", f"--max-model-len {p.max_model_len}", "--reasoning-parser qwen3",
                 "--host 127.0.0.1"):
        assert flag in cmd
    assert "--api-key" not in cmd  # the key travels in VLLM_API_KEY, never on the command line


def test_qwen3_32b_full_context_on_80gb_needs_fp8():
    p = plan_deployment("Qwen/Qwen3-32B", gpus=1, memory_gb=80, context=32768)
    assert p.precision == "fp8" and p.served_model == "Qwen/Qwen3-32B-FP8" and p.max_model_len == 32768


def test_qwen3_32b_on_two_24gb_gpus_is_fp8_tp2():
    p = plan_deployment("Qwen/Qwen3-32B", gpus=2, memory_gb=24)
    assert (p.precision, p.tensor_parallel, p.data_parallel) == ("fp8", 2, 1)
    assert p.max_model_len >= 8192
    assert p.weights_per_gpu < 24e9 * 0.9
    s = p.sglang_command()
    assert s.startswith("python -m sglang.launch_server --model-path Qwen/Qwen3-32B-FP8 --tp 2 ")
    assert f"--context-length {p.max_model_len}" in s and "--reasoning-parser qwen3" in s


def test_qwen3_32b_on_four_16gb_gpus_is_fp8_tp4_full_context():
    p = plan_deployment("Qwen/Qwen3-32B", gpus=4, memory_gb=16)
    assert (p.precision, p.tensor_parallel, p.max_model_len) == ("fp8", 4, 32768)
    assert "--tensor-parallel-size 4" in p.vllm_command()


def test_refuses_when_nothing_fits():
    with pytest.raises(DoesNotFitError, match="does not fit 1 x 16 GB"):
        plan_deployment("Qwen/Qwen3-32B", gpus=1, memory_gb=16)


def test_extra_gpus_become_data_parallel_replicas():
    p = plan_deployment("Qwen/Qwen3-8B", gpus=4, memory_gb=80)
    assert p.tensor_parallel == 1 and p.data_parallel == 4
    assert "--data-parallel-size 4" in p.vllm_command() and "--dp 4" in p.sglang_command()


def test_tensor_parallel_must_split_query_heads_and_kv_heads():
    moe = catalog.get("Qwen/Qwen3-30B-A3B")  # 32 query heads, 4 KV heads
    assert valid_tensor_parallel(moe, 8) == [1, 2, 4, 8]  # 8 > 4 KV heads: replicated, allowed
    assert 3 not in valid_tensor_parallel(catalog.get("Qwen/Qwen3-32B"), 4)


def test_fp8_block_rule_rejects_tp4_for_the_30b_moe():
    p = plan_deployment("Qwen/Qwen3-30B-A3B", gpus=4, memory_gb=16, compute_capability=(8, 9))
    tp4_fp8 = [o for o in p.considered if o.precision == "fp8" and o.tensor_parallel == 4]
    assert tp4_fp8 and not tp4_fp8[0].fits and "128" in tp4_fp8[0].why  # 768 / 4 = 192


def test_qwen35_hybrid_plans_count_the_fixed_state_and_carry_its_flags():
    from qwen_course import memory

    p = plan_deployment("Qwen/Qwen3.5-27B", gpus=2, memory_gb=24)
    assert p.served_model == "Qwen/Qwen3.5-27B-FP8" and p.tensor_parallel == 2
    assert p.state_per_gpu == memory.state_bytes("Qwen/Qwen3.5-27B") // 2 > 0
    assert p.kv_per_token_per_gpu == memory.kv_bytes_per_token("Qwen/Qwen3.5-27B") // 2  # 16 of 64 layers grow
    cmd, sgl = p.vllm_command(), p.sglang_command()
    assert "--reasoning-parser qwen3 --enable-auto-tool-choice --tool-call-parser qwen3_coder" in cmd
    assert "--language-model-only" in cmd and "--tool-call-parser qwen3_coder" in sgl
    assert any("fixed" in n and "Gated DeltaNet" in n for n in p.notes)
    # the hybrid cache reaches a far longer context than a dense model of the same size on the same GPUs
    assert p.max_model_len > 4 * plan_deployment("Qwen/Qwen3-32B", gpus=2, memory_gb=24).max_model_len
    per_sequence = p.kv_per_token_per_gpu * p.max_model_len + p.state_per_gpu
    assert p.concurrent_sequences == int(p.kv_budget_per_gpu // per_sequence)


def test_moe_plans_keep_every_expert_resident():
    from qwen_course import catalog

    p = plan_deployment("Qwen/Qwen3.5-35B-A3B", gpus=1, memory_gb=80)
    count = catalog.param_count("Qwen/Qwen3.5-35B-A3B")
    assert p.weights_per_gpu > count.total  # all 35B parameters in memory (bf16: 2 bytes each), not the 3.9B active
    assert any("all experts stay resident" in n for n in p.notes)


def test_tensor_parallel_also_splits_the_gated_deltanet_heads():
    qwen35 = catalog.get("Qwen/Qwen3.5-27B")  # 24 query heads, 4 KV heads, 16 key and 48 value heads in GDN
    assert valid_tensor_parallel(qwen35, 8) == [1, 2, 4, 8]
    assert 3 not in valid_tensor_parallel(qwen35, 3)  # 24 and 48 split by 3, 16 does not


def test_tool_call_parsers_follow_the_call_format():
    from qwen_course.serving import tool_call_parser

    assert tool_call_parser(catalog.get("Qwen/Qwen3-8B")) == "hermes"
    assert tool_call_parser(catalog.get("Qwen/Qwen3.5-9B")) == "qwen3_coder"
    assert tool_call_parser(catalog.get("Qwen/Qwen3-Coder-30B-A3B-Instruct")) == "qwen3_coder"
    assert plan_deployment("Qwen/Qwen3-8B", 1, 24).sglang_command().count("--tool-call-parser qwen25") == 1


def test_reasoning_parsers_follow_the_thinking_mode():
    thinking = plan_deployment("Qwen/Qwen3-30B-A3B-Thinking-2507", gpus=2, memory_gb=80)
    assert "--reasoning-parser deepseek_r1" in thinking.vllm_command()
    assert "--reasoning-parser deepseek-r1" in thinking.sglang_command()
    assert plan_deployment("Qwen/Qwen3-4B-Instruct-2507", 1, 24).reasoning_parser is None


def test_older_gpus_get_fp16_and_no_fp8():
    p = plan_deployment("Qwen/Qwen3-8B", gpus=1, memory_gb=16, compute_capability=(7, 5))
    assert p.precision != "fp8" and "--dtype half" in p.vllm_command()
    assert all(o.precision != "fp8" for o in p.considered)


def test_long_context_adds_yarn():
    p = plan_deployment("Qwen/Qwen3-8B", gpus=2, memory_gb=80, context=65536)
    assert p.max_model_len == 65536 and p.yarn_factor == 2.0
    assert '"rope_type":"yarn"' in p.vllm_command() and "--json-model-override-args" in p.sglang_command()


@pytest.mark.parametrize("kwargs, error", [
    ({"gpus": 0}, ValueError), ({"memory_gb": -1}, ValueError), ({"context": 10**7}, ValueError),
    ({"utilization": 1.5}, ValueError),
])
def test_bad_inputs(kwargs, error):
    with pytest.raises(error):
        plan_deployment("Qwen/Qwen3-8B", **kwargs)


def test_unknown_model_names_the_closest():
    with pytest.raises(catalog.UnknownModelError, match="Qwen3-32B"):
        plan_deployment("Qwen3-23B")


def test_edge_route_for_qwen3_and_unknown_gguf():
    e = edge_route("Qwen/Qwen3-8B")
    assert e.gguf_repo == "Qwen/Qwen3-8B-GGUF" and "-hf Qwen/Qwen3-8B-GGUF:Q4_K_M" in e.llama_server
    assert "--jinja" in e.llama_server and "--reasoning-format deepseek" in e.llama_server
    assert e.ollama == "ollama run qwen3:8b" and e.kv_bytes > 0
    assert "--temp 0.6 --top-k 20 --top-p 0.95 --min-p 0" in e.llama_server  # Qwen3's thinking-mode sampling
    hybrid = edge_route("Qwen/Qwen3.5-0.8B")  # thinks only when asked: its non-thinking preset
    assert "--temp 0.7" in hybrid.llama_server and hybrid.gguf_repo is None
    other = edge_route("Qwen/Qwen3-4B-Instruct-2507")
    assert other.gguf_repo is None and any("convert_hf_to_gguf" in n for n in other.notes)


# ---------------------------------------------------------------- managed server

HEALTH_SERVER = textwrap.dedent("""
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    print("serving", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


def test_serve_command_is_pinned_and_local():
    argv = serving.serve_command("/models/tiny", 8123, device="cpu", dtype="float32", continuous_batching=True,
                                 cb_num_blocks=32, cb_max_batch_tokens=256)
    line = serving.shell_line(argv)
    assert line.startswith("transformers serve /models/tiny --host 127.0.0.1 --port 8123")
    assert "--continuous-batching --cb-num-blocks 32 --cb-max-batch-tokens 256" in line
    with pytest.raises(serving.ServerError, match="no API key"):
        serving.serve_command("/models/tiny", 8123, host="0.0.0.0")


def test_managed_server_starts_and_leaves_nothing_behind(tmp_path):
    port = serving.free_port()
    server = serving.ManagedServer([sys.executable, "-c", HEALTH_SERVER, str(port)], port,
                                   log_path=tmp_path / "s.log", name="dummy")
    with server:
        assert server.running and server.healthy() and serving.port_in_use(port)
        assert server in serving.live_servers()
    assert not server.running and not server.leftovers()
    assert not serving.port_in_use(port) and server not in serving.live_servers()
    assert "serving" in server.log_tail()
    assert server.stop() == server.returncode  # idempotent


def test_default_log_lives_in_a_temp_dir_removed_after_a_clean_stop():
    port = serving.free_port()
    server = serving.ManagedServer([sys.executable, "-c", HEALTH_SERVER, str(port)], port)
    assert server.log_path is None  # nothing on disk before start
    server.start()
    folder = server.log_path.parent
    assert folder.is_dir()
    server.stop()
    assert not folder.exists() and not server.leftovers()


def test_a_server_that_dies_raises_with_its_log(tmp_path):
    port = serving.free_port()
    server = serving.ManagedServer([sys.executable, "-c", "print('boom: no model'); raise SystemExit(3)"], port,
                                   log_path=tmp_path / "s.log")
    with pytest.raises(serving.ServerError, match="boom: no model"):
        server.start(timeout=30)
    assert not server.leftovers() and server not in serving.live_servers()


def test_a_server_that_never_gets_healthy_is_stopped(tmp_path):
    port = serving.free_port()
    server = serving.ManagedServer([sys.executable, "-c", "import time; time.sleep(60)"], port,
                                   log_path=tmp_path / "s.log")
    ticks = iter(range(1000))  # a fake clock: each poll advances one "second"
    with pytest.raises(serving.ServerError, match="not healthy in time"):
        server.start(timeout=3, poll_s=0.01, clock=lambda: next(ticks))
    assert not server.leftovers()


def test_refuses_public_addresses_and_busy_ports(tmp_path):
    with pytest.raises(serving.ServerError, match="loopback"):
        serving.ManagedServer(["true"], 8000, host="0.0.0.0")
    port = serving.free_port()
    with serving.ManagedServer([sys.executable, "-c", HEALTH_SERVER, str(port)], port, log_path=tmp_path / "a.log"):
        with pytest.raises(serving.ServerError, match="already in use"):
            serving.ManagedServer(["true"], port, log_path=tmp_path / "b.log").start()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_server_dies_with_a_killed_parent(tmp_path):
    port = serving.free_port()
    parent = textwrap.dedent(f"""
        import sys, time
        from qwen_course import serving
        s = serving.ManagedServer([sys.executable, "-c", {HEALTH_SERVER!r}, "{port}"], {port},
                                  log_path={str(tmp_path / 'c.log')!r}).start()
        print(s.pid, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(serving.PACKAGE_ROOT)})
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)  # no atexit, no finally: only the kernel can stop the child now
    proc.wait()
    for _ in range(200):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the server outlived its parent")
    assert not serving.port_in_use(port)


# ---------------------------------------------------------------- load test

def _sse(texts, usage=(7, None)):
    chunks = [{"choices": [{"delta": {"role": "assistant"}, "index": 0}]}]
    chunks += [{"choices": [{"delta": {"content": t}, "index": 0}]} for t in texts]
    chunks.append({"choices": [{"delta": {}, "index": 0, "finish_reason": "length"}],
                   "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1] or len(texts)}})
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def _fake_server(status=200):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if status != 200:
            return httpx.Response(status, json={"detail": "nope"})
        return httpx.Response(200, text=_sse(["a", "b", "c"]), headers={"content-type": "text/event-stream"})

    return httpx.MockTransport(handler), seen


class StepClock:
    """Each reading is `step` seconds after the previous one: deterministic timings without sleeping."""

    def __init__(self, step=0.5):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step
        return self.t


def test_timed_chat_measures_first_chunk_gaps_and_usage():
    transport, seen = _fake_server()
    with httpx.Client(transport=transport) as client:
        m = serving_load.timed_chat(client, "http://127.0.0.1:1/v1/chat/completions",
                                    serving_load.chat_body("tiny"), clock=StepClock(), label="x")
    # clock reads: start 0.5, chunks at 1.0, 1.5, 2.0, end 2.5
    assert (m.ttft_s, m.inter_token_s, m.wall_s) == (0.5, [0.5, 0.5], 2.0)
    assert (m.prompt_tokens, m.completion_tokens, m.label) == (7, 3, "x")
    assert seen[0]["stream"] is True and seen[0]["chat_template_kwargs"] == {"enable_thinking": False}


def test_load_test_counts_requests_and_summarises():
    transport, seen = _fake_server()
    r = serving_load.load_test("http://127.0.0.1:9/v1", "tiny", clients=3, requests_per_client=2, label="t",
                               clock=StepClock(0.01), transport=transport)
    assert r.ok == 6 and not r.errors and len(seen) == 7  # + 1 warm-up request
    assert r.latency["count"] == 6 and r.requests_per_s > 0 and r.tokens_per_s > 0
    assert set(r.as_row()) >= {"p50_s", "p95_s", "tokens_per_s", "clients"}
    assert "3 clients x 2 requests" in str(r)


def test_load_test_records_http_errors():
    transport, _ = _fake_server(status=400)
    r = serving_load.load_test("http://localhost:9/v1", "tiny", clients=2, requests_per_client=1, warmup=False,
                               transport=transport)
    assert r.ok == 0 and len(r.errors) == 2 and "HTTP 400" in r.errors[0]


def test_load_test_stops_at_its_deadline():
    transport, _ = _fake_server()
    r = serving_load.load_test("http://127.0.0.1:9/v1", "tiny", clients=1, requests_per_client=50, warmup=False,
                               deadline_s=10, clock=StepClock(1.0), transport=transport)
    assert r.stopped_early and 0 < r.ok < 50


@pytest.mark.parametrize("url, kwargs", [
    ("http://example.com/v1", {}), ("http://127.0.0.1:1/v1", {"clients": 0}),
    ("http://127.0.0.1:1/v1", {"clients": 64}), ("http://127.0.0.1:1/v1", {"clients": 16, "requests_per_client": 100}),
])
def test_load_test_is_bounded_and_local(url, kwargs):
    with pytest.raises(ValueError):
        serving_load.load_test(url, "tiny", **kwargs)


def test_first_doubling():
    def result(clients, p95):
        from qwen_course.monitor import RequestMetrics
        return serving_load.LoadResult("", clients, 1, [RequestMetrics(1, 1, None, wall_s=p95)], wall_s=1)

    assert serving_load.first_doubling([result(1, 1.0), result(2, 1.5), result(4, 2.2)]) == 4
    assert serving_load.first_doubling([result(1, 1.0), result(2, 1.1)]) == 0


def test_plot_load_is_labelled():
    import matplotlib

    matplotlib.use("Agg")
    from qwen_course.monitor import RequestMetrics

    def result(clients, wall):
        return serving_load.LoadResult("", clients, 1, [RequestMetrics(1, 4, 0.1, wall_s=wall)], wall_s=wall)

    fig = serving_load.plot_load({"a": [result(1, 1.0), result(2, 2.0)], "b": [result(1, 1.0), result(2, 1.2)]})
    lat, tp = fig.axes
    assert lat.get_xlabel() == tp.get_xlabel() == "concurrent clients"
    assert "(s)" in lat.get_ylabel() and "per second" in tp.get_ylabel() and fig._suptitle.get_text()
    assert len(lat.lines) == 4 and len(tp.lines) == 2
    frame = serving_load.frame({"a": [result(1, 1.0)]})
    assert list(frame["mode"]) == ["a"] and frame["tokens_per_s"].iloc[0] == 4.0


# ---------------------------------------------------------------- guard

def test_token_bucket_refills_with_the_clock():
    now = [0.0]
    bucket = serving_guard.TokenBucket(rate_per_s=1.0, burst=2, clock=lambda: now[0])
    assert bucket.take("k") == 0 and bucket.take("k") == 0
    assert bucket.take("k") == pytest.approx(1.0)
    assert bucket.take("other") == 0  # per key
    now[0] = 1.0
    assert bucket.take("k") == 0


def _check(method="POST", path="/v1/chat/completions", key="secret", body=None, policy=None, bucket=None,
           count=None):
    body = json.dumps(body if body is not None else {"messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return serving_guard.check(method, path, headers, body, policy=policy or serving_guard.GuardPolicy(),
                               api_key="secret", bucket=bucket, count_tokens=count)


@pytest.mark.parametrize("kwargs, status", [
    ({"path": "/load_model"}, 404), ({"path": "/reset"}, 404), ({"key": None}, 401), ({"key": "wrong"}, 401),
    ({"body": {"messages": "hi"}}, 400), ({"body": {"messages": [{"role": "user", "content": "x"}],
                                                    "max_tokens": 10_000}}, 400),
    ({"body": {"messages": [{"role": "user", "content": "x" * 20_000}]}}, 413),
    ({"count": lambda text: 9999}, 400),
])
def test_guard_refusals(kwargs, status):
    with pytest.raises(serving_guard.Rejection) as info:
        _check(**kwargs)
    assert info.value.status == status and info.value.payload()["error"]["message"]


def test_guard_caps_max_tokens_and_lets_health_through():
    data = _check()
    assert data["max_tokens"] == serving_guard.GuardPolicy().max_tokens
    assert _check(method="GET", path="/health", key=None) is None


def test_guard_rate_limit_sets_retry_after():
    bucket = serving_guard.TokenBucket(1 / 60, 1, clock=lambda: 0.0)
    _check(bucket=bucket)
    with pytest.raises(serving_guard.Rejection) as info:
        _check(bucket=bucket)
    assert info.value.status == 429 and info.value.retry_after == pytest.approx(60)


def test_guard_app_forwards_allowed_requests_only():
    from fastapi.testclient import TestClient

    seen = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.content))
        return httpx.Response(200, json={"ok": True})

    app = serving_guard.build_app("http://127.0.0.1:1", api_key="secret", transport=httpx.MockTransport(upstream))
    with TestClient(app) as client:
        ok = client.post("/v1/chat/completions", headers={"Authorization": "Bearer secret"},
                         json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        assert ok.status_code == 200 and ok.json() == {"ok": True}
        assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 401
        assert client.post("/reset", headers={"Authorization": "Bearer secret"}).status_code == 404
        assert client.get("/health").status_code == 200
    forwarded = [s for s in seen if s[1] == "/v1/chat/completions"]
    assert len(forwarded) == 1 and json.loads(forwarded[0][2])["max_tokens"] == 128


def test_guard_command_keeps_the_key_out_of_argv():
    argv = serving_guard.guard_command("http://127.0.0.1:8000", 9000, tokenizer_dir="/m")
    assert "secret" not in " ".join(argv) and "--max-tokens" in argv and argv[-2:] == ["--tokenizer", "/m"]
    with pytest.raises(SystemExit):  # exposing the model without a key is refused
        env = dict(os.environ)
        os.environ.pop(serving_guard.KEY_ENV, None)
        try:
            serving_guard.main(["--upstream", "http://127.0.0.1:8000", "--host", "0.0.0.0", "--port", "9"])
        finally:
            os.environ.clear()
            os.environ.update(env)
