"""Quantization: method table and availability, configs, the CPU precision cache the picker reads, measuring helpers, checks."""

from __future__ import annotations

import itertools
import json

import pytest

from qwen_course import quantization
from qwen_course.precision import cpu as qcpu
from qwen_course.precision import methods as q
from qwen_course.hardware import Hardware, profile


@pytest.fixture
def course_home(tmp_path, monkeypatch):
    """An empty course cache, so cached measurements of the real machine do not leak in."""
    monkeypatch.setenv("QWEN_COURSE_HOME", str(tmp_path))
    return tmp_path


def cpu_machine(**extra) -> Hardware:
    """A detected-looking CPU machine (not described), so the picker consults the measurement cache."""
    return Hardware(device="cpu", ram_total=int(16e9), ram_available=int(16e9), cores=2, **extra)


def measurement(choice="int8", routes=None, **changes) -> dict:
    rows = {
        "fp32": {"precision": "fp32", "prefill_tokens_per_s": 100.0, "decode_tokens_per_s": 8.0, "drift": 0.0, "error": None},
        "bf16": {"precision": "bf16", "prefill_tokens_per_s": 350.0, "decode_tokens_per_s": 8.5, "drift": 0.01, "error": None},
        "ao-dynamic-int8": {"precision": "int8", "prefill_tokens_per_s": 150.0, "decode_tokens_per_s": 16.0,
                            "drift": 0.1, "error": None},
    }
    saved = {"key": qcpu.cache_key(), "choice": choice, "why": "test", "routes": routes or {"fp32": "fp32", "bf16": "bf16",
             "int8": "ao-dynamic-int8"}, "results": rows}
    saved.update(changes)
    return saved


def write_cache(saved: dict) -> None:
    path = qcpu.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved))


# ---------------------------------------------------------------- methods and availability

def test_every_method_is_consistent():
    for key, m in q.METHODS.items():
        assert m.key == key
        assert m.precision in q.PRECISIONS
        assert m.route in ("dtype", "config", "post-load", "prequantized")
        assert m.devices and m.stores
    assert set(qcpu.CPU_ROUTES.values()) <= set(q.METHODS)


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="torchao-int8"):
        q.method("int3")


def test_availability_explains_why_not():
    cpu = cpu_machine()
    assert q.availability("fp32", cpu) == (True, "runs here")
    ok, why = q.availability("fp16", cpu)
    assert not ok and "GPU" in why
    ok, why = q.availability("awq", cpu)
    assert not ok and "CUDA" in why
    ok, why = q.availability("fp8", profile("t4"))  # transformers dequantizes FP8 below 8.9: it loads, as 16-bit
    assert ok and "8.9" in why and "7.5" in why and "dequantized" in why
    ok, why = q.availability("fp8", cpu)
    assert ok and "dequantized" in why and "a CPU" in why


def test_missing_package_is_named(monkeypatch):
    monkeypatch.setattr(q, "installed", lambda package: package is None)
    ok, why = q.availability("quanto-int8", cpu_machine())
    assert not ok and "optimum.quanto is not installed" in why and "pip install optimum-quanto" in why


def test_quanto_int4_on_cpu_needs_its_compiled_extension(monkeypatch):
    monkeypatch.setattr(q, "quanto_extension_ready", lambda: False)
    ok, why = q.availability("quanto-int4", cpu_machine())
    assert not ok and "C++ extension" in why and "benchmarks/quantization.py" in why
    assert q.availability("quanto-int4", cpu_machine(), allow_compile=True)[0] == q.installed("optimum.quanto")
    monkeypatch.setattr(q, "quanto_extension_ready", lambda: True)
    assert q.availability("quanto-int4", cpu_machine())[0] == q.installed("optimum.quanto")


def test_installed_handles_odd_names():
    assert q.installed(None) and q.installed("json")
    assert not q.installed("surely_not_a_module_xyz")
    assert not q.installed("surely_not.a_submodule")


def test_methods_table_lists_every_method_with_a_reason():
    table = quantization.methods(cpu_machine())
    frame = table.to_frame()
    assert list(frame.columns) == ["method", "precision", "route", "runs here", "why / why not"]
    assert len(frame) == len(q.METHODS)
    assert "fp32" in table.runnable() and "fp16" not in table.runnable()
    assert "bitsandbytes" in str(table) and "<table" in table._repr_html_()
    assert len(quantization.methods(cpu_machine(), include_prequantized=False).keys) < len(q.METHODS)


# ---------------------------------------------------------------- configs and the post-load step

def test_configs_per_route():
    from transformers import BitsAndBytesConfig, QuantoConfig

    for key in ("fp32", "bf16", "fp16", "ao-dynamic-int8", "awq", "fp8"):
        assert q.quantization_config(key) is None
    assert isinstance(q.quantization_config("quanto-int4"), QuantoConfig)
    assert q.quantization_config("quanto-int4").weights == "int4"
    nf4 = q.quantization_config("bnb-nf4")
    assert isinstance(nf4, BitsAndBytesConfig) and nf4.bnb_4bit_quant_type == "nf4" and nf4.load_in_4bit
    assert q.quantization_config("bnb-int8").load_in_8bit


@pytest.mark.skipif(not q.installed("torchao"), reason="torchao not installed")
def test_torchao_configs():
    from transformers import TorchAoConfig

    for key in ("torchao-int8", "torchao-int8-dynamic", "torchao-int4"):
        config = q.quantization_config(key)
        assert isinstance(config, TorchAoConfig)
    assert type(q.quantization_config("torchao-int8").quant_type).__name__ == "Int8WeightOnlyConfig"
    assert q.quantization_config("torchao-int4").quant_type.group_size == 128


def test_load_dtypes():
    import torch

    assert q.load_dtype("fp32") is torch.float32 and q.load_dtype("bf16") is torch.bfloat16
    assert q.load_dtype("ao-dynamic-int8", "cpu") is torch.float32
    assert q.load_dtype("torchao-int4", "cpu") is torch.bfloat16
    assert q.load_dtype("bnb-nf4", "cuda") is torch.bfloat16


def test_post_load_int8_on_a_toy_model():
    import torch

    toy = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 32))
    x = torch.randn(4, 64)
    expected = toy(x)
    same = q.apply_post_load(toy, "bf16")
    assert same is toy
    quantized = q.apply_post_load(toy, "ao-dynamic-int8")
    assert "Quantized" in type(quantized[0]).__module__ + type(quantized[0]).__name__ or "quantized" in type(quantized[0]).__module__
    assert torch.allclose(quantized(x), expected, atol=0.05)
    with pytest.raises(ValueError, match="float32"):
        q.apply_post_load(torch.nn.Linear(8, 8).to(torch.bfloat16), "ao-dynamic-int8")


# ---------------------------------------------------------------- the picker's CPU precision

def test_no_cache_means_no_precision(course_home):
    assert qcpu.cpu_precision() is None
    assert qcpu.cpu_route("int8") == "ao-dynamic-int8"
    assert qcpu.cpu_route("bf16") == "bf16"


def test_cached_measurement_is_used(course_home):
    write_cache(measurement("bf16"))
    assert qcpu.cpu_precision() == "bf16"
    assert qcpu.cached_measurement()["choice"] == "bf16"


@pytest.mark.parametrize("change", [
    {"key": {"cpu": "another CPU", "cores": 2, "torch": "2.0"}},
    {"choice": "int3"},
    {"routes": "ao-dynamic-int8"},
])
def test_stale_or_broken_cache_is_ignored(course_home, change):
    write_cache(measurement(**change))
    assert qcpu.cpu_precision() is None


def test_unreadable_cache_is_ignored(course_home):
    qcpu.cache_path().parent.mkdir(parents=True, exist_ok=True)
    qcpu.cache_path().write_text("{not json")
    assert qcpu.cpu_precision() is None


def test_cached_only_false_measures_once(course_home, monkeypatch):
    calls = []

    def fake_measure(**kwargs):
        calls.append(kwargs)
        saved = measurement("int8")
        write_cache(saved)
        return saved

    monkeypatch.setattr(qcpu, "measure_cpu_precisions", fake_measure)
    assert qcpu.cpu_precision(cached_only=False) == "int8"
    assert qcpu.cpu_precision(cached_only=False) == "int8"
    assert len(calls) == 1


def test_measured_int8_route_is_used_unless_uninstalled(course_home, monkeypatch):
    write_cache(measurement("int8", routes={"int8": "torchao-int8"}))
    assert qcpu.cpu_route("int8", measured=False) == "ao-dynamic-int8"  # a described machine: the default
    monkeypatch.setattr(q, "installed", lambda package: True)
    assert qcpu.cpu_route("int8") == "torchao-int8"
    monkeypatch.setattr(q, "installed", lambda package: package is None)
    assert qcpu.cpu_route("int8") == "ao-dynamic-int8"  # torchao uninstalled since: back to the built-in route
    write_cache(measurement("int8", routes={"int8": "no-such-route"}))
    assert qcpu.cpu_route("int8") == "ao-dynamic-int8"


def test_bad_precision_is_rejected():
    with pytest.raises(ValueError, match="int4"):
        qcpu.cpu_route("int3")


@pytest.mark.parametrize("choice, route", [("int8", "torchao-int8-dynamic"), ("bf16", "bf16"), ("fp32", "fp32")])
def test_picker_uses_the_measured_cpu_precision(course_home, choice, route):
    from qwen_course.picker import pick

    write_cache(measurement(choice, routes={choice: route}))
    p = pick("chat", hardware=cpu_machine(), model="Qwen/Qwen3-0.6B")
    assert p.precision == choice
    assert "measured" in p.reason


def test_picker_adopts_a_post_load_int8_winner(course_home):
    """torch.ao dynamic int8 won: the pick says int8, loads fp32 without a config, and after_load quantizes."""
    import torch

    from qwen_course import memory
    from qwen_course.picker import pick

    write_cache(measurement("int8", routes={"int8": "ao-dynamic-int8"}))
    p = pick("chat", hardware=cpu_machine(bf16_fast=False), model="Qwen/Qwen3-0.6B")
    assert (p.precision, p.route) == ("int8", "ao-dynamic-int8") and "measured" in p.reason
    assert p.torch_dtype is torch.float32 and p.quantization_config is None
    assert "quantize_dynamic" in p.post_load and "after loading" in str(p)
    assert p.estimate.weights_bytes == memory.weights_bytes("Qwen/Qwen3-0.6B", "int8", route="ao-dynamic-int8")
    assert p.to_dict()["route"] == "ao-dynamic-int8" and p.to_dict()["dtype"] == "float32"
    toy = torch.nn.Sequential(torch.nn.Linear(16, 16))
    assert type(p.after_load(toy)[0]).__module__.startswith("torch.ao.nn.quantized")


def test_picker_trains_with_the_faster_measured_16_or_32_bit(course_home):
    from qwen_course.picker import pick

    write_cache(measurement("int8"))  # bf16: 256/350 + 128/8.5 = 15.8 s per turn; fp32: 256/100 + 128/8 = 18.6 s
    p = pick("chat", hardware=cpu_machine(bf16_fast=False), model="Qwen/Qwen3-0.6B", training=True)
    assert p.precision == "bf16" and "training" in p.reason and p.post_load is None


def test_config_routes_need_no_step_after_loading(course_home):
    from qwen_course.picker import pick

    write_cache(measurement("int8", routes={"int8": "quanto-int8"}))
    p = pick("chat", hardware=cpu_machine(), model="Qwen/Qwen3-0.6B")
    if not q.installed("optimum.quanto"):
        assert p.route == "ao-dynamic-int8"  # an uninstalled measured route falls back to the default
        return
    assert p.route == "quanto-int8" and p.post_load is None and p.quantization_config.weights == "int8"
    toy = torch_linear = __import__("torch").nn.Linear(4, 4)
    assert p.after_load(toy) is torch_linear


def test_described_machines_take_the_reference_cpus_route(course_home):
    from qwen_course.picker import pick

    write_cache(measurement("fp32", routes={"fp32": "fp32"}))  # this CPU's result must not leak into a described one
    p = pick("chat", hardware=profile("laptop-8gb"))
    assert (p.precision, p.route) == ("int8", "ao-dynamic-int8") and "reference CPU" in p.reason
    assert "measured on this CPU" not in p.reason
    assert pick("chat", hardware=profile("laptop-8gb"), training=True).precision == "bf16"


def probe_rows(fp32=10.0, bf16=20.0, int8=5.0, int8_drift=0.09) -> dict:
    """A probe result in milliseconds per decoded layer step (lower is faster)."""
    return {"fp32": {"decode": fp32 / 1e3, "prefill": 0.2, "drift": 0.0},
            "bf16": {"decode": bf16 / 1e3, "prefill": 0.1, "drift": 0.005},
            "ao-dynamic-int8": {"decode": int8 / 1e3, "prefill": 0.05, "drift": int8_drift}}


@pytest.fixture
def fake_probe(course_home, monkeypatch):
    """The MLP probe with chosen timings instead of a real measurement; records the shapes it was asked for."""
    from qwen_course.precision import probe

    state = {"rows": probe_rows(), "shapes": []}

    def measure(hidden, intermediate, **kwargs):
        state["shapes"].append((hidden, intermediate))
        return state["rows"]

    monkeypatch.setattr(probe, "measure", measure)
    return state


@pytest.mark.parametrize("rows, expected", [
    (probe_rows(fp32=10, bf16=20, int8=5), "int8"),
    (probe_rows(fp32=10, bf16=6, int8=8), "bf16"),
    (probe_rows(fp32=4, bf16=20, int8=5), "fp32"),
    (probe_rows(fp32=10, bf16=20, int8=2, int8_drift=0.5), "fp32"),  # fastest, but past lesson 03's drift bound
])
def test_without_lesson_03_the_probe_decides(fake_probe, rows, expected):
    from qwen_course.picker import pick

    fake_probe["rows"] = rows
    p = pick("chat", hardware=cpu_machine(bf16_fast=True), model="Qwen/Qwen3-0.6B")
    assert p.precision == expected and "probed on Qwen's MLP" in p.reason, p.reason
    assert pick("chat", hardware=cpu_machine(), model="Qwen/Qwen3-0.6B").precision == expected
    assert len(fake_probe["shapes"]) == 1  # measured once, then read from the cache


def test_training_takes_the_faster_of_fp32_and_bf16_from_the_probe(fake_probe):
    from qwen_course.picker import pick

    fake_probe["rows"] = probe_rows(fp32=10, bf16=6, int8=2)
    p = pick("chat", hardware=cpu_machine(), model="Qwen/Qwen3-0.6B", training=True)
    assert p.precision == "bf16" and "training needs unquantized weights" in p.reason


def test_probe_cache_is_per_machine_and_shape(fake_probe):
    from qwen_course.precision import probe

    first = probe.cpu_routes(1024, 3072)
    assert probe.cpu_routes(1024, 3072) == first and fake_probe["shapes"] == [(1024, 3072)]
    probe.cpu_routes(2048, 6144)
    assert fake_probe["shapes"] == [(1024, 3072), (2048, 6144)]
    saved = json.loads(probe.probe_path().read_text())
    saved["key"]["torch"] = "0.0"  # another torch (or another probe version): measure again
    probe.probe_path().write_text(json.dumps(saved))
    probe.cpu_routes(1024, 3072)
    assert fake_probe["shapes"][-1] == (1024, 3072) and len(fake_probe["shapes"]) == 3
    assert probe.cpu_routes(4096, 12288, measure_if_missing=False) is None


def test_probe_measures_real_routes_on_a_small_shape(course_home):
    """The real probe on a small shape: every route runs, fp32 has no drift, int8's drift is within the bound."""
    from qwen_course.precision import probe

    rows = probe.measure(256, 768, repeats=3)
    assert set(rows) == set(probe.ROUTES) and all("error" not in r for r in rows.values()), rows
    assert rows["fp32"]["drift"] == 0 and 0 < rows["bf16"]["drift"] < 0.02 < rows["ao-dynamic-int8"]["drift"] < 0.2
    assert probe.fastest(rows) in probe.ROUTES


# ---------------------------------------------------------------- choosing from measurements

def test_turn_seconds():
    row = {"prefill_tokens_per_s": 256.0, "decode_tokens_per_s": 128.0}
    assert qcpu.turn_seconds(row) == pytest.approx(2.0)
    assert qcpu.turn_seconds(row, 512, 0) == pytest.approx(2.0)


def test_choose_fastest_within_bound():
    results = measurement()["results"]
    choice, why, routes = qcpu.choose(results)
    assert choice == "int8" and routes["int8"] == "ao-dynamic-int8"
    assert "ao-dynamic-int8" in why and "256-token prompt" in why


def test_choose_excludes_lossy_routes_and_errors():
    results = measurement()["results"]
    results["ao-dynamic-int8"]["drift"] = 0.5
    results["torchao-int8"] = {"precision": "int8", "error": "RuntimeError: no kernel"}
    choice, why, routes = qcpu.choose(results)
    assert choice == "bf16" and "int8" not in routes
    assert "excluded for drift: ao-dynamic-int8" in why


def test_choose_picks_the_fastest_route_per_precision():
    results = measurement()["results"]
    results["torchao-int8-dynamic"] = {"precision": "int8", "prefill_tokens_per_s": 300.0, "decode_tokens_per_s": 20.0,
                                       "drift": 0.03, "error": None}
    choice, _, routes = qcpu.choose(results)
    assert choice == "int8" and routes["int8"] == "torchao-int8-dynamic"


def test_choose_with_nothing_usable():
    assert qcpu.choose({"fp32": {"precision": "fp32", "error": "boom"}})[0] == "fp32"


def test_slice_keeps_the_widths_and_the_lm_head_share():
    config = qcpu.slice_config("Qwen/Qwen3-0.6B", layers=4)
    assert (config.hidden_size, config.intermediate_size, config.num_key_value_heads, config.head_dim) == (1024, 3072, 8, 128)
    assert config.num_hidden_layers == 4
    assert config.vocab_size % 128 == 0 and abs(config.vocab_size - 151936 * 4 / 28) < 128
    assert qcpu.slice_config("Qwen/Qwen3-0.6B", layers=99).num_hidden_layers == 28


@pytest.mark.slow
def test_measure_cpu_precisions_writes_a_valid_cache(course_home):
    ticks = itertools.count()
    saved = qcpu.measure_cpu_precisions(layers=1, prompt_tokens=8, new_tokens=2, repeats=1,
                                        candidates={"fp32": ("fp32",), "bf16": ("bf16",), "int8": ("ao-dynamic-int8",)},
                                        clock=lambda: next(ticks) * 0.001)
    assert set(saved["results"]) == {"fp32", "bf16", "ao-dynamic-int8"}
    assert saved["results"]["fp32"]["drift"] == 0.0
    assert all(r["error"] is None for r in saved["results"].values())
    assert saved["shape"]["layers"] == 1
    assert qcpu.cached_measurement() == json.loads(qcpu.cache_path().read_text())
    assert qcpu.cpu_precision() == saved["choice"]


# ---------------------------------------------------------------- measuring helpers

def test_weights_bytes_counts_tied_once_and_quantized_small():
    import torch

    from qwen_course.memory import loaded_bytes as weights_bytes

    linear = torch.nn.Linear(256, 512)
    assert weights_bytes(linear) == (256 * 512 + 512) * 4
    tied = torch.nn.Module()
    tied.embed = torch.nn.Embedding(100, 16)
    tied.head = torch.nn.Linear(16, 100, bias=False)
    tied.head.weight = tied.embed.weight
    assert weights_bytes(tied) == 100 * 16 * 4
    quantized = q.apply_post_load(torch.nn.Sequential(torch.nn.Linear(256, 512)), "ao-dynamic-int8")
    size = weights_bytes(quantized)
    assert 256 * 512 <= size < 256 * 512 * 1.2 + 512 * 4 + 512 * 16 + 64


def test_drift_and_perplexity():
    import torch

    from qwen_course.quantization.measure import drift, perplexity

    logits = torch.randn(10, 50)
    same = drift(logits, logits.clone())
    assert same["top1_agreement"] == 1.0 and same["kl"] == pytest.approx(0.0, abs=1e-12)
    other = drift(logits, -logits)
    assert other["top1_agreement"] < 0.5 and other["kl"] > 0.1
    with pytest.raises(ValueError, match="shapes differ"):
        drift(logits, logits[:5])
    assert perplexity(torch.zeros(9, 50), torch.zeros(1, 10, dtype=torch.long)) == pytest.approx(50.0)


def test_report_frame_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    from qwen_course.quantization.measure import Result
    from qwen_course.quantization.report import frame, plot

    results = [Result("fp32", "fp32", "fp32", True, "runs here", 4_000_000, None, 0.1, 0.05, 20.0, 1.0, 0.0),
               Result("bf16", "bf16", "bf16", True, "runs here", 2_000_000, None, 0.1, 0.04, 25.0, 0.99, 1e-4),
               Result("bnb-nf4", "bitsandbytes NF4", "int4", False, "bitsandbytes is not installed")]
    table = frame(results)
    assert table.loc[0, "weights MB"] == 4.0 and table.loc[2, "note"] == "bitsandbytes is not installed"
    fig = plot(results, "test")
    assert [ax.get_xlabel() for ax in fig.axes][0] == "weights in memory (MB)"
    assert fig._suptitle.get_text() == "test"


def test_real_shape_refuses_vision_models():
    from qwen_course.quantization.report import real_shape_checkpoint

    with pytest.raises(ValueError, match="vision"):
        real_shape_checkpoint("Qwen/Qwen3-VL-2B-Instruct")


# ---------------------------------------------------------------- exercise checks (placeholder, solution, common mistakes)

def test_checks_placeholder_solution_and_mistakes():
    from qwen_course import catalog
    from qwen_course.exercises import (check_int4_bytes_per_weight, check_int4_weights_gb, check_q8_0_file_gb,
                                       check_quanto_int4_config)

    assert check_int4_bytes_per_weight(None).passed is None
    assert check_int4_bytes_per_weight(0.5 + 4 / 128).passed is True
    assert "scale" in check_int4_bytes_per_weight(0.5).message
    assert "bits" in check_int4_bytes_per_weight(4.25).message

    count = catalog.param_count("Qwen/Qwen3-8B")
    linear, kept = count.attention + count.mlp, count.embedding + count.lm_head + count.norms
    assert check_int4_weights_gb((linear * 0.5 + linear / 64 * 4 + kept * 2) / 1e9).passed is True
    assert "16-bit" in check_int4_weights_gb(count.total * 0.5 / 1e9).message
    assert check_int4_weights_gb("five").passed is False

    from transformers import QuantoConfig

    assert check_quanto_int4_config(QuantoConfig(weights="int4")).passed is True
    assert check_quanto_int4_config(QuantoConfig(weights="int8")).passed is False
    assert check_quanto_int4_config({"weights": "int4"}).passed is False

    params = catalog.param_count("Qwen/Qwen3-0.6B").total
    assert check_q8_0_file_gb(params * 34 / 32 / 1e9).passed is True
    assert "scale" in check_q8_0_file_gb(params / 1e9).message


def test_prediction_checks_use_the_measurements():
    from qwen_course.exercises import check_fastest_method, check_turn_choice
    from qwen_course.quantization.measure import Result

    results = [Result("fp32", "fp32", "fp32", True, decode_tokens_per_s=8.0),
               Result("ao-dynamic-int8", "torch.ao dynamic int8", "int8", True, decode_tokens_per_s=16.0),
               Result("fp16", "fp16", "fp16", False, "needs a GPU")]
    assert check_fastest_method(None, results).passed is None
    assert check_fastest_method("ao-dynamic-int8", results).passed is True
    assert check_fastest_method("torch.ao dynamic int8", results).passed is True
    wrong = check_fastest_method("fp32", results)
    assert wrong.passed is False and "torch.ao dynamic int8" in wrong.message
    assert "not a measured method" in check_fastest_method("fp16", results).message
    assert check_fastest_method("fp32", []).passed is False

    saved = measurement()
    times = {k: qcpu.turn_seconds(r, 2000, 50) for k, r in saved["results"].items()}
    best = min(times, key=times.get)
    assert check_turn_choice(best, saved).passed is True
    assert check_turn_choice("ao-dynamic-int8" if best != "ao-dynamic-int8" else "fp32", saved).passed is False
    assert check_turn_choice(None, saved).passed is None


def test_the_cpu_int8_api_still_exists_and_still_packs_int8():
    """The CPU int8 route calls torch.ao.quantization.quantize_dynamic, which torch marks deprecated. It still measures
    fastest here (benchmarks/results); when a torch release removes or changes it, this test says what to do."""
    import inspect

    import torch

    hint = ("the course's CPU int8 route (qwen_course/precision/methods.py: apply_post_load) must move to torchao's "
            "Int8DynamicActivationInt8WeightConfig (the 'torchao-int8-dynamic' method): re-measure with "
            "benchmarks/quantization.py and update lesson 03's 'which API and why'")
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as exc:
        pytest.fail(f"torch {torch.__version__} no longer has torch.ao.quantization.quantize_dynamic ({exc}): {hint}")
    params = list(inspect.signature(quantize_dynamic).parameters)
    assert params[:4] == ["model", "qconfig_spec", "dtype", "mapping"] and "inplace" in params, \
        f"quantize_dynamic's signature changed in torch {torch.__version__} ({params}): {hint}"
    model = q.apply_post_load(torch.nn.Sequential(torch.nn.Linear(32, 16)).float(), "ao-dynamic-int8")
    layer = model[0]
    assert type(layer).__module__.startswith("torch.ao.nn.quantized.dynamic"), f"not a dynamic int8 Linear: {hint}"
    weight = layer.weight()
    assert weight.dtype == torch.qint8 and weight.qscheme() == torch.per_channel_affine, \
        f"quantize_dynamic no longer stores per-row int8 weights in torch {torch.__version__}: {hint}"


# ---------------------------------------------------------------- held-out drift on a trained model (lesson 03)


def test_answer_ids_end_before_the_answers_im_end():
    from qwen_course import offline
    from qwen_course.offline import trained

    tokenizer = offline.load_tokenizer("qwen3")
    for chat in trained.heldout_chats(1, seed=1, tasks=("add", "tool_call")):
        ids, n = quantization.answer_ids(tokenizer, chat)
        prompt = tokenizer(trained.render(tokenizer, chat, prompt_only=True), add_special_tokens=False)["input_ids"]
        assert ids[: len(prompt)] == prompt and len(ids) == len(prompt) + n - 1  # the last target is <|im_end|>
        assert tokenizer.decode(ids[len(prompt):]).strip().endswith(chat.messages[-1]["content"].strip())


def test_answer_ids_refuse_a_chat_without_an_answer():
    from qwen_course import offline
    from qwen_course.offline import trained

    tokenizer = offline.load_tokenizer("qwen3")
    chat = trained.heldout_chats(1, seed=1, tasks=("add",))[0]
    unanswered = trained.Chat(chat.task, chat.key, chat.messages[:-1] + [{"role": "user", "content": "and?"}],
                              chat.thinking, chat.answer, chat.tools, chat.meta)
    with pytest.raises(ValueError):
        quantization.answer_ids(tokenizer, unanswered)


def test_answer_logits_are_the_full_forward_at_the_answer_positions():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qwen_course import offline
    from qwen_course.offline import trained

    path = offline.build("qwen3")
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    chats = trained.heldout_chats(1, seed=1, tasks=("compare",))
    got = list(quantization.answer_logits(model, tokenizer, chats))
    assert len(got) == len(chats)
    for chat, logits in zip(chats, got):
        ids, n = quantization.answer_ids(tokenizer, chat)
        with torch.no_grad():
            full = model(input_ids=torch.tensor([ids])).logits[0, -n:].float()
        assert logits.shape == (n, model.config.vocab_size) and logits.dtype == torch.float32
        torch.testing.assert_close(logits, full, rtol=1e-4, atol=1e-4)
    same = quantization.answer_drift(got, quantization.answer_logits(model, tokenizer, chats))  # lazily, one at a time
    assert same["top1_agreement"] == 1.0 and same["kl"] == pytest.approx(0.0, abs=1e-9)
    assert same["answer_tokens"] == sum(t.shape[0] for t in got)


def test_answer_drift_weights_every_answer_token_equally():
    import torch

    torch.manual_seed(0)
    reference = [torch.randn(37, 40), torch.randn(1, 40)]  # 37: more than one block of rows
    flipped = [reference[0] + 0.1 * torch.randn(37, 40), -reference[1]]  # the second chat's one token changes its top-1
    result = quantization.answer_drift(reference, flipped)
    assert result["answer_tokens"] == 38 and result["top1_agreement"] < 1
    whole = quantization.drift(torch.cat(reference), torch.cat(flipped))  # per token, not per chat
    assert result["kl"] == pytest.approx(whole["kl"], rel=1e-9)
    assert result["top1_agreement"] == pytest.approx(whole["top1_agreement"])
    itself = quantization.answer_drift(reference, reference)  # the reference against itself, without computing
    assert itself == {"top1_agreement": 1.0, "kl": 0.0, "answer_tokens": 38}
    assert quantization.answer_drift(reference, [t.clone() for t in reference])["kl"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("logits, says", [
    (lambda r: r[:1], "fewer"), (lambda r: r + r[:1], "more"), (lambda r: [r[0], r[1][:, :10]], "shapes differ"),
])
def test_answer_drift_needs_one_matching_tensor_per_chat(logits, says):
    import torch

    reference = [torch.randn(2, 20), torch.randn(3, 20)]
    with pytest.raises(ValueError, match=says):
        quantization.answer_drift(reference, logits(reference))
    with pytest.raises(ValueError, match="no answer tokens"):
        quantization.answer_drift([], [])


def test_accuracy_and_same_answers_read_scored_rows():
    rows = [{"thinking": True, "correct": True, "answer": "a"}, {"thinking": True, "correct": False, "answer": "b"},
            {"thinking": False, "correct": True, "answer": "c"}, {"thinking": False, "correct": True, "answer": "d"}]
    assert quantization.accuracy(rows) == {"accuracy": 0.75, "accuracy thinking": 0.5, "accuracy direct": 1.0}
    assert quantization.accuracy(rows[:2])["accuracy direct"] is None  # no direct chats
    other = [dict(r) for r in rows]
    other[1]["answer"] = "changed"
    assert quantization.same_answers(rows, rows) == 4 and quantization.same_answers(other, rows) == 3
    with pytest.raises(ValueError):
        quantization.accuracy([])
    with pytest.raises(ValueError, match="same chats"):
        quantization.same_answers(rows[:3], rows)


@pytest.mark.parametrize("dtype, key", [("float32", "fp32"), ("bfloat16", "bf16"), ("float16", "fp16")])
def test_reference_is_the_stored_precision(tmp_path, dtype, key):
    from transformers import Qwen3Config

    Qwen3Config(dtype=dtype).save_pretrained(tmp_path)
    assert quantization.reference_method(str(tmp_path)) == key


def test_reference_needs_a_stored_float_dtype(tmp_path):
    from transformers import Qwen3Config

    config = Qwen3Config()
    config.dtype = None
    config.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="a reference needs fp32, bf16 or fp16"):
        quantization.reference_method(str(tmp_path))


def test_reference_of_the_trained_stand_in_is_fp32():
    from qwen_course import offline

    assert quantization.reference_method(str(offline.build("qwen3-trained"))) == "fp32"


def test_heldout_methods_per_device_most_bits_first():
    cpu = quantization.heldout_methods(cpu_machine(), "fp32")
    assert cpu[:2] == ["bf16", "ao-dynamic-int8"] and cpu == [k for k in quantization.DEFAULT_METHODS["cpu"]
                                                             if q.availability(k, cpu_machine())[0]]
    assert "bf16" not in quantization.heldout_methods(cpu_machine(), "bf16")  # the reference is not its own method
    t4 = quantization.heldout_methods(profile("t4"), "bf16")
    assert t4[0] == "fp16" and set(t4) <= {"fp16", "bnb-int8", "bnb-nf4"}
    if q.installed("bitsandbytes"):
        assert t4 == ["fp16", "bnb-int8", "bnb-nf4"]
    chosen = quantization.heldout_methods(cpu_machine(), "fp32", ["ao-dynamic-int8", "fp16", "fp32", "bf16", "bf16"])
    assert chosen == ["bf16", "ao-dynamic-int8"]  # sorted by bits; fp16 does not run on a CPU; the reference dropped
