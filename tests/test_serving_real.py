"""Real engines on the tiny stand-in: template applied, stop token honoured, parsers on, concurrency, faults.

vLLM and llama.cpp tests skip where the engine is not installed, except under QWEN_COURSE_REQUIRE_ENGINES=1 (CI).
vLLM starts once for the module (it takes about a minute on 2 cores).
"""

from __future__ import annotations

import concurrent.futures as cf
import os

import psutil
import pytest

from qwen_course import serving

REQUIRE = os.environ.get("QWEN_COURSE_REQUIRE_ENGINES") == "1"
IM_END = 151645
PROMPT = [{"role": "user", "content": "Name three colours."}]
pytestmark = pytest.mark.slow


def needs(engine: str):
    return pytest.mark.skipif(not REQUIRE and not serving.engine_ready(engine),
                              reason=f"{engine} not installed (qwen-course engine install {engine})")


@pytest.fixture(scope="module")
def stand_in():
    from qwen_course import offline

    return offline.build("qwen3")


@pytest.fixture(scope="module", autouse=True)
def nothing_left_behind():
    """After the module (vLLM's shared server included): no server of ours alive, no child process left."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    assert not serving.live_servers()
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind: {[p.cmdline()[:3] for p in left]}"


@pytest.fixture(autouse=True)
def each_test_stops_its_servers():
    yield
    assert all(s.name == "vllm" for s in serving.live_servers())  # only the module's shared vLLM may still run


def template_tokens(model_dir, **kw) -> int:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    return len(tok.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=True, **kw)["input_ids"])


def assert_gone(srv):
    assert not srv.running and not srv.leftovers() and not serving.port_in_use(srv.port)


def check_template_and_stop(srv, model_dir):
    reply = srv.chat(PROMPT, max_tokens=8, temperature=0)
    assert reply["usage"]["prompt_tokens"] == template_tokens(model_dir)  # the engine applied Qwen's template
    stop = srv.chat(PROMPT, max_tokens=8, temperature=0, logit_bias={str(IM_END): 100})
    choice = stop["choices"][0]
    assert choice["finish_reason"] == "stop" and stop["usage"]["completion_tokens"] <= 1
    assert "<|im_end|>" not in (choice["message"].get("content") or "")


@pytest.fixture(scope="module")
def vllm_server(stand_in):
    srv = serving.engine_server("vllm", stand_in, model_id="Qwen/Qwen3-0.6B", threads=1, max_num_seqs=8)
    try:
        yield srv.start(timeout=600)
    finally:
        srv.stop()
        assert_gone(srv)


@needs("vllm")
def test_vllm_applies_the_template_and_honours_the_stop_token(vllm_server, stand_in):
    check_template_and_stop(vllm_server, stand_in)
    assert vllm_server.kv_cache()["tokens"] > 0 and vllm_server.memory_bytes() > 500e6


@needs("vllm")
def test_vllm_reasoning_and_tool_parsers_are_on(vllm_server):
    reply = vllm_server.chat(PROMPT, **vllm_server.fixed_length(12))
    assert reply["usage"]["completion_tokens"] == 12
    message = reply["choices"][0]["message"]
    assert "reasoning" in message or "reasoning_content" in message  # the qwen3 reasoning parser splits thinking
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    assert vllm_server.chat(PROMPT, max_tokens=4, tools=tools, tool_choice="auto")["choices"]
    assert "--tool-call-parser hermes" in " ".join(vllm_server.argv)


@needs("vllm")
def test_vllm_batches_concurrent_streams(vllm_server):
    fixed = vllm_server.fixed_length(32)
    one = serving.closed_loop(vllm_server.base_url, vllm_server.model, 1, duration_s=3, extra=fixed)
    many = serving.closed_loop(vllm_server.base_url, vllm_server.model, 8, duration_s=3, extra=fixed)
    assert not one.row()["errors"] and not many.row()["errors"]
    assert {s.tokens for s in many.ok} == {32}
    assert many.tokens_per_s > 1.5 * one.tokens_per_s, (one.tokens_per_s, many.tokens_per_s)


@needs("llama.cpp")
def test_llama_cpp_template_stop_and_parallel_streams(stand_in):
    with serving.engine_server("llama.cpp", stand_in, quant="Q8_0", parallel=4, ctx_per_slot=1024, threads=1) as srv:
        check_template_and_stop(srv, stand_in)
        with cf.ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda _: srv.chat(PROMPT, **srv.fixed_length(16)), range(8)))
        assert [r["usage"]["completion_tokens"] for r in replies] == [16] * 8
        assert srv.kv_cache() == {"slots": 4, "tokens_per_slot": 1024}
    assert_gone(srv)


@needs("llama.cpp")
def test_llama_cpp_serves_the_qwen35_hybrid_stand_in():
    from qwen_course import offline

    with serving.engine_server("llama.cpp", offline.build("qwen3.5-small"), quant="F16", parallel=2, threads=1) as srv:
        reply = srv.chat(PROMPT, **srv.fixed_length(8), chat_template_kwargs={"enable_thinking": False})
        assert reply["usage"]["completion_tokens"] == 8
    assert_gone(srv)


@needs("llama.cpp")
def test_llama_cpp_dying_at_start_up_is_reported(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    srv = serving.engine_server("llama.cpp", broken)
    with pytest.raises(serving.ServerError, match="exited with code"):
        srv.start(timeout=60)
    assert_gone(srv)


def test_transformers_serve_rejects_ignore_eos_clearly_and_takes_min_new_tokens(stand_in):
    with pytest.raises(serving.EngineRequestError) as err:
        with serving.engine_server("transformers", stand_in, device="cpu", threads=1) as srv:
            assert srv.chat(PROMPT, **srv.fixed_length(5))["usage"]["completion_tokens"] == 5
            srv.chat(PROMPT, max_tokens=4, ignore_eos=True)
    assert err.value.status == 422 and "ignore_eos" in str(err.value)
    assert_gone(srv)


def test_a_second_server_on_a_taken_port_is_refused(stand_in):
    with serving.engine_server("transformers", stand_in, device="cpu", threads=1) as first:
        second = serving.engine_server("transformers", stand_in, port=first.port)
        with pytest.raises(serving.ServerError, match="already in use"):
            second.start(timeout=30)
        assert second.process is None and first.healthy()
    assert_gone(first)
