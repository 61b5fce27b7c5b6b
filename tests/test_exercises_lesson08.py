"""Lesson 08's checks: the notebook's folded solutions pass, typical wrong answers fail with their reason."""

from json import dumps
from types import SimpleNamespace

import pytest

from conftest import fails, folded_solutions, passes
from qwen_course.exercises import (
    check_base_url, check_deployment, check_guard_statuses, check_kv_space, check_p95_doubling, check_thinking_off,
)
from qwen_course.serving import guard, plan_deployment

SERVER = SimpleNamespace(port=8123, model="m")


def level(clients, p50, p95):
    return SimpleNamespace(clients=clients, latency={"p50": p50, "p95": p95})


# p50 doubles at 2 clients, p95 only at 4
SEQUENTIAL = [level(1, 1.0, 1.2), level(2, 2.1, 2.0), level(4, 3.9, 4.5), level(8, 8.0, 9.0)]


class Gateway:
    """Answers like the lesson's gateway, by running the guard's own admission check."""

    def post(self, path, json=None, headers=None):
        body = b"" if json is None else dumps(json).encode()
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        try:
            guard.check("POST", path, headers, body, policy=guard.GuardPolicy(), api_key="secret", bucket=None)
            return SimpleNamespace(status_code=200)
        except guard.Rejection as exc:
            return SimpleNamespace(status_code=exc.status)


@pytest.fixture(scope="module")
def recorded():
    """Every check result the folded solutions produce (they call their checks themselves) and the notebook's calls."""
    calls = ["check_base_url", "check_thinking_off", "check_kv_space", "check_p95_doubling", "check_guard_statuses",
             "check_deployment"]
    results = []

    def recording(check):
        def call(*args, **kwargs):
            results.append(check(*args, **kwargs))
            return results[-1]
        return call

    from qwen_course import memory

    ns = {"server": SERVER, "results": {"transformers serve": SEQUENTIAL}, "memory": memory, "gw": Gateway(), "auth": {"Authorization": "Bearer secret"},
          "ok_body": {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
          "plan_deployment": plan_deployment, "p": SimpleNamespace(model_path="m"), "messages": [],
          "client": SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=lambda **kw: None))),
          **{name: recording(globals()[name]) for name in calls}}
    pairs = folded_solutions("08")
    assert [call.split("(")[0] for call, _ in pairs] == calls
    for call, code in pairs:
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
        eval(call, ns)  # noqa: S307 - the notebook's own check call
    return results


def test_every_folded_solution_passes_its_notebook_call(recorded):
    assert len(recorded) == 13  # six notebook calls, six calls inside the solutions, the planner's command
    for result in recorded:
        passes(result)


def test_placeholders_are_not_answered_yet():
    for placeholder in (None, ...):
        for result in (check_base_url(placeholder, SERVER), check_thinking_off(placeholder),
                       check_p95_doubling(placeholder, SEQUENTIAL), check_guard_statuses(placeholder),
                       check_deployment(placeholder), check_kv_space(placeholder)):
            assert result.passed is None and "not answered yet" in str(result)


def test_base_url():
    passes(check_base_url("http://127.0.0.1:8123/v1", SERVER))
    passes(check_base_url("http://localhost:8123/v1/", SERVER))
    fails(check_base_url("http://127.0.0.1:8123/v1/chat/completions", SERVER), "adds /chat/completions itself")
    fails(check_base_url("http://127.0.0.1:8123", SERVER), "ends with /v1")
    fails(check_base_url("http://127.0.0.1:8000/v1", SERVER), "listens on port 8123")
    fails(check_base_url("https://127.0.0.1:8123/v1", SERVER), "not an http URL")
    fails(check_base_url("http://0.0.0.0:8123/v1", SERVER), "on this machine")
    fails(check_base_url("http://127.0.0.1/v1"), "has no port")
    fails(check_base_url(8123, SERVER), "string URL")


def test_thinking_off():
    passes(check_thinking_off({"chat_template_kwargs": {"enable_thinking": False}}))
    fails(check_thinking_off({"enable_thinking": False}), "nest it under chat_template_kwargs")
    fails(check_thinking_off({"chat_template_kwargs": {"enable_thinking": "false"}}), "boolean False")
    fails(check_thinking_off({"chat_template_kwargs": {"thinking": False}}), "under the key 'chat_template_kwargs'")
    fails(check_thinking_off('{"chat_template_kwargs": {"enable_thinking": false}}'), "extra_body")


def test_kv_space():
    # Qwen3-0.6B keeps 114,688 bytes per token: 12 x 8,192 tokens are 10.5 GiB
    passes(check_kv_space(11, "Qwen/Qwen3-0.6B", sequences=12, tokens=8192))
    passes(check_kv_space(12.0, "Qwen/Qwen3-0.6B", sequences=12, tokens=8192))  # a little room is fine
    fails(check_kv_space(10, "Qwen/Qwen3-0.6B", sequences=12, tokens=8192), "round up")
    fails(check_kv_space(10.5, "Qwen/Qwen3-0.6B", sequences=12, tokens=8192), "not a whole number")
    fails(check_kv_space(1, "Qwen/Qwen3-0.6B", sequences=12, tokens=8192), "one conversation's worth")
    fails(check_kv_space(5, "Qwen/Qwen3-0.6B", sequences=12, tokens=8192), "is too little")
    fails(check_kv_space(64, "Qwen/Qwen3-0.6B", sequences=12, tokens=8192), "far more than")
    fails(check_kv_space("11", "Qwen/Qwen3-0.6B", sequences=12, tokens=8192), "a number of GiB")
    # a hybrid model's fixed state per sequence counts too
    passes(check_kv_space(4, "Qwen/Qwen3.5-9B", sequences=12, tokens=8192))  # 3.58 GiB with its state


def test_p95_doubling():
    passes(check_p95_doubling(4, SEQUENTIAL))
    fails(check_p95_doubling(2, SEQUENTIAL), "median (p50)")
    fails(check_p95_doubling(8, SEQUENTIAL), "twice 1.200 s")
    fails(check_p95_doubling(2, [level(1, 1, 1), level(4, 1, 1.5), level(8, 1, 2.5), level(16, 1, 5)]), "position")
    fails(check_p95_doubling(5, SEQUENTIAL), "were not measured")
    fails(check_p95_doubling(4.0, SEQUENTIAL), "answer with an int")
    flat = [level(1, 1.0, 1.0), level(2, 1.1, 1.2), level(4, 1.2, 1.5)]
    passes(check_p95_doubling(0, flat))
    fails(check_p95_doubling(4, flat), "twice 1.000 s")


def test_guard_statuses_match_the_gateway():
    gw, body = Gateway(), {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
    auth = {"Authorization": "Bearer secret"}
    measured = {"missing_key": gw.post("/v1/chat/completions", json=body).status_code,
                "too_many_tokens": gw.post("/v1/chat/completions", json={**body, "max_tokens": 10_000},
                                           headers=auth).status_code,
                "admin_endpoint": gw.post("/load_model", json={"model": "x"}).status_code}
    passes(check_guard_statuses(measured))  # the check's answer is what the gateway really answers
    fails(check_guard_statuses({**measured, "missing_key": 403}), "no key at all is 401")
    fails(check_guard_statuses({**measured, "admin_endpoint": 401}), "allowlist is checked before the key")
    fails(check_guard_statuses({**measured, "too_many_tokens": 413}), "byte limit")
    fails(check_guard_statuses({**measured, "too_many_tokens": 422}), "before the server's own validation")
    fails(check_guard_statuses({**measured, "missing_key": "401"}), "is not what it answers")
    fails(check_guard_statuses({"missing_key": 401}), "missing keys")
    fails(check_guard_statuses([401, 400, 404]), "expected a dict")


def test_deployment():
    planned = plan_deployment("Qwen/Qwen3-32B", gpus=2, memory_gb=24).vllm_command()
    passes(check_deployment(planned))  # with --host and --port, as the planner writes it
    awq = "vllm serve Qwen/Qwen3-32B-AWQ --tensor-parallel-size 2 --max-model-len 32768 --reasoning-parser qwen3"
    passes(check_deployment(awq))
    passes(check_deployment(awq.replace("--tensor-parallel-size 2", "--tensor-parallel-size=2")))
    passes(check_deployment(awq + " --enforce-eager"))  # a bare flag no longer shifts the parsing
    fails(check_deployment("vllm serve Qwen/Qwen3-32B --tensor-parallel-size 2 --max-model-len 8192 "
                           "--reasoning-parser qwen3"), "each GPU would need")  # bf16 weights are 65 GB
    fails(check_deployment(awq.replace("--tensor-parallel-size 2", "--tensor-parallel-size 3")), "impossible")
    fails(check_deployment(awq + " --data-parallel-size 2"), "needs 4 GPUs")
    fails(check_deployment(awq.replace("--max-model-len 32768", "--max-model-len 65536")), "YaRN")  # fits, vLLM refuses
    fails(check_deployment(awq.replace("--max-model-len 32768", "--max-model-len 262144")), "at most 131,072")
    fp8 = "vllm serve Qwen/Qwen3-32B-FP8 --tensor-parallel-size 2 --max-model-len 32768 --reasoning-parser qwen3"
    fails(check_deployment(fp8), "each GPU would need")
    fails(check_deployment(fp8 + " --gpu-memory-utilization 0.99"), "leaves 0.9 of each GPU")  # used to pass
    fails(check_deployment(fp8 + " --gpu-memory-utilization 1.5"), "not a share")
    passes(check_deployment(fp8 + " --kv-cache-dtype fp8"))  # an fp8 KV cache halves the cache
    fails(check_deployment(awq.replace(" --reasoning-parser qwen3", "")), "--reasoning-parser qwen3")
    fails(check_deployment(awq.replace("--max-model-len 32768", "--max-model-len 2048")), "no room")
    fails(check_deployment(awq.replace(" --max-model-len 32768", "")), "set --max-model-len")
    fails(check_deployment("vllm serve Qwen/Qwen3-32B-GGUF --max-model-len 8192"), "prequantized releases")
    fails(check_deployment(awq.split()), "one string")
    fails(check_deployment(awq + " extra"), "could not check")


def test_every_check_of_the_lesson_has_its_own_test():
    from pathlib import Path

    from qwen_course.exercises import lesson08 as lesson

    source = Path(__file__).read_text()
    checks = [n for n in dir(lesson) if n.startswith("check_") and getattr(lesson, n).__module__ == lesson.__name__]
    assert checks and all(f"def test_{name[6:]}" in source for name in checks)
