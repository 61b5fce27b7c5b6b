"""hardware: detection on this machine, described machines, offline switches."""

import pytest

from qwen_course import hardware


def test_offline_variables_win(monkeypatch):
    monkeypatch.setenv("QWEN_COURSE_OFFLINE", "1")
    online, why = hardware.online_status()
    assert online is False and "QWEN_COURSE_OFFLINE" in why


def test_hf_hub_offline_is_honoured(monkeypatch):
    monkeypatch.delenv("QWEN_COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "true")
    assert hardware.online_status() == (False, "HF_HUB_OFFLINE=true")


def test_unreachable_hub_is_offline(monkeypatch):
    for var in hardware.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    hardware._probe_hub.cache_clear()
    monkeypatch.setattr(hardware, "HUB_HOST", ("127.0.0.1", 9))  # discard port: refused at once
    online, why = hardware.online_status()
    hardware._probe_hub.cache_clear()
    assert online is False and "unreachable" in why


@pytest.mark.parametrize("env,expected", [({"COLAB_RELEASE_TAG": "x"}, "colab"), ({"KAGGLE_KERNEL_RUN_TYPE": "i"}, "kaggle"),
                                          ({"BINDER_SERVICE_HOST": "h"}, "binder"), ({}, "local")])
def test_environment(monkeypatch, env, expected):
    for var in ("COLAB_RELEASE_TAG", "COLAB_GPU", "KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE", "BINDER_SERVICE_HOST", "BINDER_REPO_URL"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert hardware.environment() == expected


def test_detect_this_machine():
    hw = hardware.detect()
    assert hw.device in ("cpu", "cuda", "mps")
    assert hw.ram_total >= hw.ram_available > 0 and hw.cores >= 1
    assert hw.usable_memory > 0
    assert "<table>" in hw._repr_html_() and "RAM" in str(hw)
    assert set(hw.to_dict()) >= {"device", "bf16_fast", "online", "usable_memory", "environment"}


def test_bf16_measurement_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("QWEN_COURSE_HOME", str(tmp_path))
    first = hardware.cpu_bf16_fast()
    assert (tmp_path / "measurements" / "bf16_matmul.json").exists()
    assert hardware.cpu_bf16_fast() == first


def test_profiles_and_described_machines():
    t4 = hardware.profile("t4")
    assert t4.device == "cuda" and t4.compute_capability == (7, 5) and not t4.bf16_fast
    assert t4.usable_memory == 16e9
    a100 = hardware.profile("a100-80gb")
    assert a100.bf16_fast and a100.usable_memory == 80e9
    assert hardware.profile("cpu-2gb").usable_memory == 2e9


@pytest.mark.parametrize("args", [("tpu", 8), ("cpu", 0), ("cuda", -1)])
def test_bad_descriptions(args):
    with pytest.raises(ValueError):
        hardware.describe(*args)


def test_unknown_profile_lists_known():
    with pytest.raises(KeyError, match="t4"):
        hardware.profile("h100-typo")
