"""doctor's readiness verdict and its Markdown block, on described (mocked) machines: no detection, no network."""

import json

import pytest

from qwen_course import cli, doctor, offline
from qwen_course.hardware import describe, profile


@pytest.fixture
def env(monkeypatch):
    """Everything installed, all stand-ins built, the picker online (real ids, nothing built), nothing cached."""
    import qwen_course.picker as picker

    monkeypatch.setattr(picker, "online_status", lambda: (True, "mocked"))
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
    assert not data["ready"] and status(data)["packages"] == "fail" and data["missing"] == ["trl"]
    assert "missing: trl" in text and "pip install" in text


def test_too_little_memory_for_chat_is_not_ready(env):
    data, text = doctor.report(machine_small())
    assert not data["ready"] and status(data)["memory for the chat pick"] == "fail"
    assert "error" in data["picks"]["chat"] and "NOT READY" in text


def machine_small():
    hw = describe("cpu", 0.3)
    hw.online = True
    return hw


def test_offline_without_stand_ins_is_not_ready(env):
    env["built"] = False
    data, text = doctor.report(machine("laptop-8gb", online=False))
    checks = status(data)
    assert not data["ready"] and checks["offline stand-ins"] == "fail"
    assert checks["Hub reachable or cache present"] == "warn" and "qwen-course offline build" in text


def test_online_without_stand_ins_only_warns(env):
    env["built"] = False
    data, _ = doctor.report(machine("t4", online=True))
    assert data["ready"] and status(data)["offline stand-ins"] == "warn"


def test_offline_with_the_cache_present_is_fine(env):
    env["cached"] = True
    data, _ = doctor.report(machine("t4", online=False))
    assert data["ready"] and status(data)["Hub reachable or cache present"] == "ok"


def test_markdown_block_for_an_issue(env):
    env["versions"]["peft"] = None
    data, _ = doctor.report(machine("t4"))
    md = doctor.markdown(data)
    assert md.startswith("### qwen-course doctor: NOT READY")
    assert "| packages | **FAIL** | missing: peft |" in md and "| chat | Qwen/" in md
    body = md.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(body)["ready"] is False and md.rstrip().endswith("</details>")


def test_cli_markdown_and_json(env, monkeypatch, capsys):
    monkeypatch.setattr("qwen_course.hardware.detect", lambda: machine("t4"))
    assert cli.main(["doctor", "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("### qwen-course doctor: ready")
    assert cli.main(["doctor", "--json"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1 and json.loads(out)["ready"] is True


def test_picks_show_the_route_and_lesson_03_the_cpu_measurement(env, monkeypatch, tmp_path):
    monkeypatch.setenv("QWEN_COURSE_HOME", str(tmp_path))
    data, text = doctor.report(machine("t4"))
    assert data["picks"]["chat"]["precision"] in ("fp16", "int4")  # the contract's vocabulary stays plain
    route = data["picks"]["chat"]["route"]
    assert route in ("fp16", "bnb-nf4") and (route == "fp16" or "int4 (bnb-nf4)" in text)
    data, text = doctor.report(machine("laptop-8gb"))
    assert "CPU precision not measured yet (lesson 03 measures it once)" in data["course"]["03 quantization"]
