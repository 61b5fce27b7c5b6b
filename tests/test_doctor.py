"""doctor's readiness verdict and its Markdown block, on described (mocked) machines: no detection, no network."""

import json

import pytest

from qwen_course import cli, doctor, offline
from qwen_course.hardware import describe, profile


@pytest.fixture
def env(monkeypatch):
    """Everything installed, all stand-ins built, the picker online (real ids, nothing built), nothing cached."""
    import qwen_course.picker as picker

    monkeypatch.setattr("qwen_course.hardware.online_status", lambda: (True, "mocked"))
    state = {"versions": {name: "1.0" for name in doctor.PACKAGES}, "built": True, "cached": False}
    monkeypatch.setattr(doctor, "versions", lambda: dict(state["versions"]))
    monkeypatch.setattr(offline, "is_built", lambda kind: state["built"])
    monkeypatch.setattr(doctor, "_cached", lambda model_id: state["cached"])
    return state


def machine(name="t4", online=True):
    hw = profile(name)
    hw.online, hw.online_reason = online, "mocked" if online else "no route to huggingface.co"
    return hw


def status(data):
    return {c["check"]: c["status"] for c in data["checks"]}


def test_ready_on_a_t4(env):
    data, text = doctor.report(machine("t4"))
    assert data["ready"] and set(status(data).values()) == {"ok"}
    assert text.splitlines()[0] == "qwen-course doctor: READY"
    assert "Qwen/" in data["picks"]["chat"]["model_id"]


def test_missing_package_is_not_ready_with_the_fix(env):
    env["versions"]["trl"] = None
    data, text = doctor.report(machine("t4"))
    assert not data["ready"] and status(data)["required packages"] == "blocking" and data["missing"] == ["trl"]
    assert "missing: trl" in text and "pip install" in text and "[BLOCKING] required packages" in text


def test_missing_optional_package_is_graded_optional_and_ready(env):
    env["versions"]["torchao"] = None
    data, text = doctor.report(machine("laptop-8gb"))
    assert data["ready"] and status(data)["optional packages"] == "optional"
    assert "[optional] optional packages: torchao (lesson 03" in text and "READY" in text.splitlines()[0]


def test_gpu_library_is_optional_on_a_cpu_and_named_on_a_gpu(env, monkeypatch):
    env["versions"]["nvidia-ml-py"] = None
    cpu, _ = doctor.report(machine("laptop-8gb"))
    assert status(cpu)["optional packages"] == "ok"  # a CPU machine does not need GPU libraries at all
    gpu, text = doctor.report(machine("t4"))
    assert gpu["ready"] and status(gpu)["optional packages"] == "optional" and "nvidia-ml-py" in text


def test_too_little_memory_for_chat_is_not_ready(env):
    data, text = doctor.report(machine_small())
    assert not data["ready"] and status(data)["memory for the chat pick"] == "blocking"
    assert "error" in data["picks"]["chat"] and "NOT READY" in text


def machine_small():
    hw = describe("cpu", 0.3)
    hw.online = True
    return hw


def test_offline_without_stand_ins_is_ready_but_says_to_build_them(env):
    env["built"] = False  # the notebooks build them on first use, so the course still runs
    data, text = doctor.report(machine("laptop-8gb", online=False))
    checks = status(data)
    assert data["ready"] and checks["offline stand-ins"] == "optional"
    assert checks["Hub reachable or cache present"] == "optional" and "qwen-course offline build" in text


def test_online_without_stand_ins_only_warns(env):
    env["built"] = False
    data, _ = doctor.report(machine("t4", online=True))
    assert data["ready"] and status(data)["offline stand-ins"] == "optional"


def test_offline_with_the_cache_present_is_fine(env):
    env["cached"] = True
    data, _ = doctor.report(machine("t4", online=False))
    assert data["ready"] and status(data)["Hub reachable or cache present"] == "ok"


def test_markdown_block_for_an_issue(env):
    env["versions"]["peft"] = None
    data, _ = doctor.report(machine("t4"))
    md = doctor.markdown(data)
    assert md.startswith("### qwen-course doctor: NOT READY")
    assert "| required packages | **BLOCKING** | missing: peft |" in md and "| chat | Qwen/" in md
    body = md.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(body)["ready"] is False and md.rstrip().endswith("</details>")


def test_cli_markdown_and_json(env, monkeypatch, capsys):
    monkeypatch.setattr("qwen_course.hardware.detect", lambda: machine("t4"))
    assert cli.main(["doctor", "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("### qwen-course doctor: ready")
    assert cli.main(["doctor", "--json"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1 and json.loads(out)["ready"] is True


def test_cli_exit_code_is_non_zero_exactly_when_blocking(env, monkeypatch, capsys):
    monkeypatch.setattr("qwen_course.hardware.detect", lambda: machine("laptop-8gb", online=False))
    env["built"], env["versions"]["torchao"] = False, None  # optional problems only
    assert cli.main(["doctor"]) == 0
    capsys.readouterr()
    env["versions"]["transformers"] = None
    assert cli.main(["doctor"]) == 1
    captured = capsys.readouterr()
    assert "NOT READY" in captured.out and captured.err.strip().splitlines() == [
        "qwen-course doctor: NOT READY: required packages (see the report above)"]


def test_picks_show_the_route_and_lesson_03_the_cpu_measurement(env, monkeypatch, tmp_path):
    monkeypatch.setenv("QWEN_COURSE_HOME", str(tmp_path))
    data, text = doctor.report(machine("t4"))
    assert data["picks"]["chat"]["precision"] in ("fp16", "int4")  # the contract's vocabulary stays plain
    route = data["picks"]["chat"]["route"]
    assert route in ("fp16", "bnb-nf4") and (route == "fp16" or "int4 (bnb-nf4)" in text)
    data, text = doctor.report(machine("laptop-8gb"))
    assert "CPU precision not measured yet (lesson 03 measures it once)" in data["course"]["03 quantization"]
