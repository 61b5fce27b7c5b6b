"""picker: sensible, explained picks for described machines across the five tasks, and clear refusals."""

import pytest

from qwen_course import catalog, hardware, picker
from qwen_course.picker import NothingFitsError, pick

TASKS = ("chat", "thinking", "vision", "coder", "math")


@pytest.fixture(autouse=True)
def no_stand_in_builds(monkeypatch):
    """These tests are about the decision; online mode keeps model_path == model_id and builds nothing."""
    monkeypatch.setattr(picker, "online_status", lambda: (True, "test"))


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("machine", ["cpu-2gb", "t4", "24gb", "a100-80gb"])
def test_every_pick_fits_and_suits_the_task(machine, task):
    hw = hardware.profile(machine)
    try:
        p = pick(task, hw)
    except NothingFitsError as exc:  # 2 GB: vision never fits; Qwen3 (thinking, math) fits a shorter context
        assert machine == "cpu-2gb" and task in ("vision", "thinking", "math"), exc
        if task != "vision":
            shorter = int(str(exc).split("With context=")[1].split(" ")[0].replace(",", ""))
            assert 512 <= shorter < 4096 and pick(task, hw, context=shorter).estimate.total_bytes <= hw.usable_memory
        return
    ckpt = catalog.get(p.model_id)
    assert task in ckpt.tasks
    assert p.estimate.total_bytes <= hw.usable_memory
    assert p.model_path == p.model_id and p.reason and p.device == hw.device
    assert all(a["model_id"] != p.model_id or a["precision"] != p.precision for a in p.alternatives)


def test_a100_runs_the_largest_in_bf16():
    p = pick("chat", hardware.profile("a100-80gb"))
    assert p.model_id == "Qwen/Qwen3-32B" and p.precision == "bf16"
    assert p.quantization_config is None


def test_t4_uses_fp16_or_4bit_never_bf16():
    for task in TASKS:
        p = pick(task, hardware.profile("t4"))
        assert p.precision in ("fp16", "int4")
    p = pick("chat", hardware.profile("t4"))
    assert "compute capability 7.5" in p.reason or "4-bit" in p.reason


def test_4bit_only_when_it_buys_a_much_larger_model():
    p = pick("chat", hardware.profile("24gb"))
    if p.precision == "int4":
        best16 = next(a for a in p.alternatives if a["precision"] == "bf16")
        assert catalog.param_count(p.model_id).total >= 2 * catalog.param_count(best16["model_id"]).total
    assert p.precision in ("bf16", "int4")


def test_cpu_2gb_gets_a_small_model_and_says_why():
    p = pick("chat", hardware.profile("cpu-2gb"))
    assert catalog.param_count(p.model_id).total < 1e9
    assert "fits" in p.reason


def test_context_is_counted_and_bounded():
    short = pick("chat", hardware.profile("24gb"), context=4096)
    long = pick("chat", hardware.profile("a100-80gb"), context=131072)
    assert long.estimate.kv_cache_bytes > pick("chat", hardware.profile("a100-80gb")).estimate.kv_cache_bytes
    assert catalog.get(long.model_id).max_context >= 131072
    assert short.estimate.context == 4096
    with pytest.raises(NothingFitsError, match="context"):
        pick("math", hardware.profile("a100-80gb"), context=10**7)


def test_nothing_fits_says_what_is_needed():
    hw = hardware.describe("cpu", 0.5)
    with pytest.raises(NothingFitsError, match=r"needs \d+\.\d+ GB with a 4,096-token context\. Free memory"):
        pick("chat", hw)


def test_named_model_and_unknown_model():
    p = pick("chat", hardware.profile("24gb"), model="Qwen/Qwen3-8B")
    assert p.model_id == "Qwen/Qwen3-8B" and p.precision == "bf16"
    with pytest.raises(catalog.UnknownModelError, match="Did you mean"):
        pick("chat", hardware.profile("24gb"), model="Qwen/Qwen3-9B")
    with pytest.raises(NothingFitsError, match="Qwen/Qwen3-32B"):
        pick("chat", hardware.profile("t4"), model="Qwen/Qwen3-32B")


def test_bad_task():
    with pytest.raises(ValueError, match="tasks are"):
        pick("poetry", hardware.profile("t4"))


def test_cpu_precision_follows_measurement(monkeypatch, tmp_path):
    """The cached lesson-03 measurement decides on a detected CPU; without one the MLP probe does (never the bf16
    flag of a 256x256 matmul, which chose bf16 on a CPU where int8 decodes twice as fast)."""
    import json

    from qwen_course.precision import cpu as quantization_cpu
    from qwen_course.precision import probe

    monkeypatch.setenv("QWEN_COURSE_HOME", str(tmp_path))
    rows = {"fp32": {"decode": 0.01, "prefill": 0.2, "drift": 0.0}, "bf16": {"decode": 0.02, "prefill": 0.1, "drift": 0.005},
            "ao-dynamic-int8": {"decode": 0.005, "prefill": 0.05, "drift": 0.09}}
    monkeypatch.setattr(probe, "measure", lambda hidden, intermediate, **kw: rows)
    hw = hardware.Hardware(device="cpu", ram_total=int(16e9), ram_available=int(16e9), cores=2, bf16_fast=True)
    path = quantization_cpu.cache_path()
    path.parent.mkdir(parents=True)
    row = {"precision": "int8", "prefill_tokens_per_s": 150.0, "decode_tokens_per_s": 16.0, "drift": 0.1, "error": None}
    path.write_text(json.dumps({"key": quantization_cpu.cache_key(), "choice": "int8", "routes": {"int8": "ao-dynamic-int8"},
                                "results": {"ao-dynamic-int8": row}}))
    p = pick("chat", hw)
    assert p.precision == "int8" and "measured" in p.reason and p.post_load
    assert pick("chat", hw, training=True).precision in ("fp32", "bf16")
    path.unlink()
    assert pick("chat", hw).precision == "int8"  # bf16_fast is True, but int8 decodes fastest here


def test_pick_renders_and_serialises():
    p = pick("vision", hardware.profile("24gb"))
    d = p.to_dict()
    assert set(d) >= {"model_id", "model_path", "precision", "device", "estimate", "reason", "alternatives"}
    assert "why" in str(p) and "<table>" in p._repr_html_()


def test_offline_uses_a_cached_real_checkpoint(monkeypatch, tmp_path):
    """A workshop bundle (or an earlier download) in the HF cache beats the stand-in when there is no network."""
    import huggingface_hub

    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").write_bytes(b"")
    monkeypatch.setattr(picker, "online_status", lambda: (False, "QWEN_COURSE_OFFLINE=1"))
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo, name: str(snapshot / name) if repo == "Qwen/Qwen3-32B" else None)
    p = pick("chat", hardware.profile("a100-80gb"))
    assert p.model_path == str(snapshot) and not p.offline and p.stand_in is None
    assert "local Hugging Face cache" in p.offline_reason
