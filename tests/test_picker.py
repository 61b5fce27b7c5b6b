"""picker: sensible, explained picks for described machines across the five tasks, and clear refusals."""

import pytest

from qwen_course import catalog, hardware, picker
from qwen_course.picker import NothingFitsError, pick

TASKS = ("chat", "thinking", "vision", "coder", "math")


@pytest.fixture(autouse=True)
def no_stand_in_builds(monkeypatch):
    """These tests are about the decision; online mode keeps model_path == model_id and builds nothing."""
    monkeypatch.setattr("qwen_course.hardware.online_status", lambda: (True, "test"))


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
    """Qwen3.6-27B in bf16 (55 GB); Qwen3.6-35B-A3B would need all 256 experts resident (70 GB) plus the rest."""
    p = pick("chat", hardware.profile("a100-80gb"))
    assert p.model_id == "Qwen/Qwen3.6-27B" and p.precision == "bf16"
    assert p.quantization_config is None and p.download_id == p.model_id


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
    monkeypatch.setattr("qwen_course.hardware.online_status", lambda: (False, "QWEN_COURSE_OFFLINE=1"))
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo, name: str(snapshot / name) if repo == "Qwen/Qwen3.6-27B" else None)
    p = pick("chat", hardware.profile("a100-80gb"))
    assert p.model_path == str(snapshot) and not p.offline and p.stand_in is None
    assert "local Hugging Face cache" in p.offline_reason


# ---------------------------------------------------------------- the Qwen3.5 / 3.6 generation

def test_24gb_gpu_chats_with_the_newest_generation():
    """Qwen3.6-27B in 4-bit (21 GB) beats the best 16-bit fit, Qwen3.5-9B, by more than the 2x int4 rule asks."""
    p = pick("chat", hardware.profile("24gb"))
    assert p.model_id.startswith(("Qwen/Qwen3.5-", "Qwen/Qwen3.6-")) and p.estimate.total_bytes <= 24e9 * 0.9
    assert p.thinking_default is True and "thinks by default" in p.reason


def test_t4_chat_is_now_qwen3_5_in_4_bit():
    """It used to be Qwen3-14B NF4: Qwen3.5-9B in NF4 (9 GB) is the newest model at least twice Qwen3.5-4B fp16."""
    p = pick("chat", hardware.profile("t4"))
    assert (p.model_id, p.precision, p.route) == ("Qwen/Qwen3.5-9B", "int4", "bnb-nf4")


@pytest.mark.parametrize("context", [131072, 262144])
def test_long_context_uses_the_hybrid_cache(context):
    """At 128K/256K only one layer in four keeps K and V: a 24 GB GPU still gets a Qwen3.5 model."""
    from qwen_course import memory

    p = pick("chat", hardware.describe("cuda", 24, compute_capability=(8, 9)), context=context)
    assert p.model_id.startswith("Qwen/Qwen3.5-") and p.estimate.context == context
    assert p.estimate.kv_cache_bytes == memory.cache_bytes(p.model_id, p.precision, context)
    dense_kv = memory.kv_bytes_per_token("Qwen/Qwen3-8B") * context
    assert p.estimate.kv_cache_bytes < dense_kv / 4


def test_fp8_release_on_gpus_that_run_fp8():
    """Compute capability 8.9+: Qwen's -FP8 release is tried, and taken where it fits a much larger model."""
    h100 = hardware.describe("cuda", 80, compute_capability=(9, 0))
    p = pick("chat", h100, context=131072)
    assert p.precision == "fp8" and p.model_id == "Qwen/Qwen3.6-27B" and p.download_id == "Qwen/Qwen3.6-27B-FP8"
    assert p.model_path == p.download_id and p.dtype_name == "bfloat16" and p.quantization_config is None
    assert p.download_bytes < 0.6 * catalog.download_params(p.model_id) * 2
    assert any(a["precision"] == "fp8" for a in pick("chat", h100).alternatives)
    a100 = pick("chat", hardware.profile("a100-80gb"), context=131072)  # compute capability 8.0: no FP8
    assert a100.precision != "fp8" and all(a["precision"] != "fp8" for a in a100.alternatives)


def test_download_size_and_time_at_the_stated_bandwidth():
    import json

    from qwen_course import _paths

    mbit = json.loads(_paths.data_path("picker.json").read_text())["download_mbit_per_s"]
    p = pick("chat", hardware.profile("t4"))
    assert p.download_bytes == 2 * catalog.download_params("Qwen/Qwen3.5-9B")  # bf16 release, MTP layer included
    assert p.download_seconds == pytest.approx(p.download_bytes * 8 / (mbit * 1e6))
    assert f"{mbit} Mbit/s" in str(p) and p.to_dict()["download_bytes"] == p.download_bytes


def test_thinking_default_and_sampling_per_mode():
    small = pick("chat", hardware.profile("laptop-8gb"))  # Qwen3.5-2B: its template does not think by default
    assert small.model_id == "Qwen/Qwen3.5-2B" and small.thinking_default is False
    assert small.sampling() == small.sampling("non-thinking") and small.sampling("thinking")["temperature"] == 1.0
    kwargs = small.generate_kwargs("thinking")
    assert kwargs["do_sample"] and "presence_penalty" not in kwargs and kwargs["top_p"] == 0.95
    assert pick("thinking", hardware.profile("24gb")).thinking_default is True


def test_cpu_hybrid_pick_says_the_fast_kernels_are_gpu_only():
    p = pick("chat", hardware.profile("laptop-8gb"))
    assert any("GPU-only" in note for note in p.notes)
    assert not pick("chat", hardware.profile("24gb")).notes


def test_unverified_rows_are_never_chosen_by_default():
    big = hardware.describe("cuda", 1000, compute_capability=(9, 0))
    for task in ("chat", "vision", "coder", "embedding"):
        assert catalog.get(pick(task, big).model_id).verified
    with pytest.raises(NothingFitsError, match="unverified"):
        pick("rerank", big)
    named = pick("vision", big, model="Qwen/Qwen3-VL-32B-Instruct")
    assert named.model_id == "Qwen/Qwen3-VL-32B-Instruct" and "unverified" in named.notes[0]


def test_embedding_pick():
    p = pick("embedding", hardware.profile("24gb"))
    assert p.model_id == "Qwen/Qwen3-Embedding-8B" and catalog.get(p.model_id).loads_with == "Qwen3Model"


def test_offline_stand_in_renders_like_the_pick(monkeypatch):
    """Offline, a Qwen3.5-2B pick gets the non-thinking stand-in, a Qwen3.6-27B pick the Qwen3.6 one."""
    monkeypatch.setattr("qwen_course.hardware.online_status", lambda: (False, "QWEN_COURSE_OFFLINE=1"))
    monkeypatch.setattr("qwen_course.picker.choose._cached_snapshot", lambda model_id: None)
    cases = {"laptop-8gb": "qwen3.5-small", "t4": "qwen3.5", "24gb": "qwen3.6"}
    for machine, kind in cases.items():
        p = pick("chat", hardware.profile(machine), build_stand_in=False)
        assert p.offline and p.stand_in == kind and p.model_path.endswith(kind), machine


def test_a_named_model_must_be_able_to_do_the_task():
    hw = hardware.describe("cuda", 24)
    with pytest.raises(ValueError, match="cannot do the vision task") as info:
        pick("vision", hw, model="Qwen/Qwen3-8B")
    assert "vision models that fit here: Qwen/" in str(info.value)
    with pytest.raises(ValueError, match="no embedding model fits|embedding models that fit"):
        pick("embedding", hw, model="Qwen/Qwen3-8B")
    assert pick("math", hw, model="Qwen/Qwen3-8B").model_id == "Qwen/Qwen3-8B"  # a chat model can do math
    assert pick("vision", hw, model="Qwen/Qwen3-VL-8B-Instruct").model_id == "Qwen/Qwen3-VL-8B-Instruct"


@pytest.mark.parametrize("gpu, cc, compute", [("V100", "7.0", "float16"), ("T4", "7.5", "float16"),
                                              ("A100", "8.0", "bfloat16"), ("L4", "8.9", "bfloat16"),
                                              ("H100", "9.0", "bfloat16")])
def test_gpus_below_sm80_compute_in_fp16(gpu, cc, compute):
    """No bf16 before Ampere: a 16-bit pick is fp16, and a 4-bit pick dequantizes to fp16 for its matmuls."""
    import torch

    for memory_gb in (16, 80):
        p = pick("chat", hardware.describe("cuda", memory_gb, compute_capability=cc))
        if p.precision in ("int4", "int8"):
            assert p.dtype_name == compute and p.quantization_config.bnb_4bit_compute_dtype == getattr(torch, compute)
            assert ("matmuls run in fp16" in p.reason) == (compute == "float16"), p.reason
        elif p.precision != "fp8":
            assert p.dtype_name == compute, (gpu, p.precision, p.dtype_name)
    sixteen = pick("chat", hardware.describe("cuda", 80, compute_capability=cc))
    assert sixteen.precision in ("bf16", "fp16", "fp8", "int4")
    if sixteen.precision in ("bf16", "fp16"):
        assert sixteen.precision == {"float16": "fp16", "bfloat16": "bf16"}[compute]
