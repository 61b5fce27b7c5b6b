"""Unit tests for qwen_course.monitor, monitor_health and monitor_plots: fake clocks, no timed assertions."""

from __future__ import annotations

import math

import pytest

from qwen_course.monitor import (
    Monitor, RequestMetrics, cache_bytes, latency_summary, process_rss,
)
from qwen_course.monitor.health import (
    Expectations, decode_bound, health_check, measure_bandwidth, weight_bytes_per_token,
)


class FakeClock:
    """Returns the scheduled times in order; every call advances by `step` once the schedule runs out."""

    def __init__(self, times=(), step=0.1):
        self.times, self.step, self.now = list(times), step, 0.0

    def __call__(self) -> float:
        self.now = self.times.pop(0) if self.times else self.now + self.step
        return self.now


class Shape:
    """Stands in for the tensors generate() hands a streamer."""

    def __init__(self, *shape):
        self.shape = shape


class FakeGpu:
    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1

    def peaks(self):
        return 3_000, 4_000, 1_000

    def sample(self):
        return 80.0, 150.0


def metrics(label="", speed_gap=0.1, rss_after=1_000_000, peak=1_000_000, tokens=5, ttft=0.5, **kw):
    gaps = [speed_gap] * (tokens - 1)
    return RequestMetrics(prompt_tokens=10, completion_tokens=tokens, ttft_s=ttft, inter_token_s=gaps,
                          wall_s=ttft + sum(gaps), peak_rss_bytes=peak, rss_after_bytes=rss_after, label=label, **kw)


# latency_summary -------------------------------------------------------------------------------------------------

def test_latency_summary_matches_linear_percentiles():
    s = latency_summary([0.4, 0.1, 0.3, 0.2, 0.5])
    assert s["count"] == 5 and s["p50"] == pytest.approx(0.3) and s["mean"] == pytest.approx(0.3)
    assert s["p95"] == pytest.approx(0.48) and s["p99"] == pytest.approx(0.496)
    assert s["min"] == 0.1 and s["max"] == 0.5


def test_latency_summary_agrees_with_numpy():
    np = pytest.importorskip("numpy")
    values = [0.013, 0.2, 0.07, 0.071, 1.5, 0.03, 0.09]
    s = latency_summary(values)
    for q in (50, 95, 99):
        assert s[f"p{q}"] == pytest.approx(float(np.percentile(values, q)))


def test_latency_summary_empty_and_single():
    empty = latency_summary([])
    assert empty["count"] == 0 and math.isnan(empty["p95"])
    one = latency_summary([0.25])
    assert one["p50"] == one["p99"] == 0.25


@pytest.mark.parametrize("bad, error", [([-1.0], ValueError), ([float("nan")], ValueError), (["1"], TypeError),
                                        ([True], TypeError)])
def test_latency_summary_rejects_bad_values(bad, error):
    with pytest.raises(error):
        latency_summary(bad)


# RequestMetrics --------------------------------------------------------------------------------------------------

def test_decode_speed_excludes_the_first_token():
    m = RequestMetrics(prompt_tokens=8, completion_tokens=5, ttft_s=1.0, inter_token_s=[0.25] * 4, wall_s=2.0)
    assert m.decode_s == pytest.approx(1.0)
    assert m.decode_tokens_per_s == pytest.approx(4.0)  # 4 tokens after the first, in 1 s
    assert m.throughput_tokens_per_s == pytest.approx(2.5)  # 5 tokens in 2 s of wall time


def test_decode_speed_from_chunks_uses_token_count():
    # a server streamed 9 tokens in 3 chunks: speed counts tokens, time comes from the chunk gaps
    m = RequestMetrics(prompt_tokens=8, completion_tokens=9, ttft_s=0.5, inter_token_s=[1.0, 1.0], wall_s=2.6)
    assert m.decode_tokens_per_s == pytest.approx(4.0)


def test_decode_speed_without_gaps_falls_back_to_wall_minus_ttft():
    m = RequestMetrics(prompt_tokens=1, completion_tokens=11, ttft_s=1.0, wall_s=3.0)
    assert m.decode_tokens_per_s == pytest.approx(5.0)
    assert RequestMetrics(prompt_tokens=1, completion_tokens=1, ttft_s=1.0, wall_s=1.0).decode_tokens_per_s is None


def test_batch_throughput_counts_every_sequence():
    m = RequestMetrics(prompt_tokens=4, completion_tokens=10, ttft_s=0.1, inter_token_s=[0.1] * 9, wall_s=1.0,
                       batch_size=4)
    assert m.throughput_tokens_per_s == pytest.approx(40.0)


@pytest.mark.parametrize("kwargs", [
    {"prompt_tokens": -1}, {"completion_tokens": 1.5}, {"batch_size": 0}, {"wall_s": -0.1},
    {"ttft_s": 5.0}, {"inter_token_s": [0.1, -0.2]}, {"prompt_tokens": True},
])
def test_request_metrics_rejects_bad_values(kwargs):
    base = dict(prompt_tokens=1, completion_tokens=2, ttft_s=0.1, inter_token_s=[0.1], wall_s=1.0)
    with pytest.raises(ValueError):
        RequestMetrics(**{**base, **kwargs})


def test_request_metrics_renders_as_table():
    m = metrics(label="demo")
    assert "decode speed" in str(m) and "<table>" in m._repr_html_()


# Tracker and Monitor ---------------------------------------------------------------------------------------------

def run_tracked(monitor, n_tokens=4, batch=1, prompt=7, label="t"):
    with monitor.track(label) as t:
        t.streamer.put(Shape(batch, prompt))  # the prompt
        for _ in range(n_tokens):
            t.streamer.put(Shape(batch))
        t.streamer.end()
    return t


def test_tracker_measures_ttft_and_gaps_with_a_fake_clock():
    # enter at 10.0; tokens at 10.5, 10.7, 10.9, 11.5; exit at 12.0
    clock = FakeClock([10.0, 10.5, 10.7, 10.9, 11.5, 12.0])
    rss = iter([100, 150, 180, 120, 130, 110])
    mon = Monitor(clock=clock, rss=lambda: next(rss), gpu=None)
    t = run_tracked(mon, n_tokens=4, batch=2, prompt=7)
    m = t.metrics
    assert m.prompt_tokens == 7 and m.batch_size == 2 and m.completion_tokens == 4
    assert m.ttft_s == pytest.approx(0.5)
    assert m.inter_token_s == pytest.approx([0.2, 0.2, 0.6])
    assert m.wall_s == pytest.approx(2.0)
    assert m.decode_tokens_per_s == pytest.approx(3 / 1.0)
    assert m.peak_rss_bytes == 180 and m.rss_before_bytes == 100 and m.rss_after_bytes == 110
    assert mon.history == [m]


def test_tracker_manual_api_for_http_streams():
    mon = Monitor(clock=FakeClock([0.0, 0.3, 0.5, 1.3]), rss=lambda: None, gpu=None)
    with mon.track("http") as t:
        t.prompt(12)
        t.token()
        t.token(3)  # one chunk carrying three tokens
    m = t.metrics
    assert m.ttft_s == pytest.approx(0.3) and m.completion_tokens == 4
    assert m.inter_token_s == pytest.approx([0.2])  # one gap between two arrivals
    assert m.decode_tokens_per_s == pytest.approx(3 / 0.2)
    assert m.peak_rss_bytes is None
    with Monitor(clock=FakeClock(), rss=lambda: None, gpu=None).track() as t2:
        t2.prompt(5)
        t2.token()
        t2.completion_tokens = 7  # what the server's usage field says overrides the count
    assert t2.metrics.completion_tokens == 7


def test_tracker_records_gpu_peaks_and_samples():
    gpu = FakeGpu()
    mon = Monitor(clock=FakeClock(step=0.5), rss=lambda: 1, gpu=gpu, gpu_sample_every_s=0.0)
    m = run_tracked(mon).metrics
    assert gpu.resets == 1
    assert (m.cuda_max_allocated, m.cuda_max_reserved, m.cuda_allocated_after) == (3_000, 4_000, 1_000)
    assert m.gpu_util_percent == 80.0 and m.gpu_power_w == 150.0


def test_tracker_without_streamer_explains_itself():
    mon = Monitor(clock=FakeClock(), rss=lambda: 1, gpu=None)
    with pytest.raises(RuntimeError, match="streamer"):
        with mon.track():
            pass
    assert len(mon) == 0


def test_tracker_does_not_record_a_failed_request():
    mon = Monitor(clock=FakeClock(), rss=lambda: 1, gpu=None)
    with pytest.raises(KeyError):
        with mon.track() as t:
            t.streamer.put(Shape(1, 3))
            raise KeyError("boom")
    assert len(mon) == 0


def test_tracker_feeds_a_live_view():
    from qwen_course.monitor.plots import LiveView

    clock = FakeClock(step=0.3)
    live = LiveView(every_s=0.5, clock=FakeClock(step=0.1), mode="text", overhead=1.0)
    mon = Monitor(clock=clock, rss=lambda: 2_000_000, gpu=None)
    with mon.track("live", live=live) as t:
        t.streamer.put(Shape(1, 3))
        for _ in range(6):
            t.streamer.put(Shape(1))
    # the view's clock advances 0.1 s per reading: token 1 draws at 0.1 (done 0.2, next draw from 0.7); tokens 2-5
    # read 0.3-0.6 and skip; token 6 reads 0.7 and draws; the end draws once more
    assert live.updates == 3
    assert live.draw_s == pytest.approx(0.2)
    assert live.lines[-1].startswith("done live: 6 tokens")


def test_live_view_keeps_drawing_overhead_small():
    from qwen_course.monitor.plots import LiveView

    live = LiveView(every_s=0.0, clock=FakeClock(step=1.0), mode="text", overhead=0.25)
    snap = {"tokens": 1, "elapsed_s": 1.0, "inter_token_s": []}
    for _ in range(8):
        live.update(snap)  # every clock reading takes 1 s, so a draw costs 1 s and is followed by >= 3 s without one
    assert live.updates == 3 and live.draw_s == pytest.approx(3.0)  # draws at readings 1, 5 and 9
    with pytest.raises(ValueError):
        LiveView(overhead=0)


def test_monitor_frame_csv_and_summary(tmp_path):
    pd = pytest.importorskip("pandas")
    mon = Monitor(clock=FakeClock(), rss=lambda: 5, gpu=None)
    assert mon.to_frame().empty
    mon.add(metrics(label="a", speed_gap=0.1))
    mon.add(metrics(label="b", speed_gap=0.2, batch_size=2))
    frame = mon.to_frame()
    assert list(frame["label"]) == ["a", "b"]
    assert frame["decode_tokens_per_s"].tolist() == pytest.approx([10.0, 5.0])
    assert "inter_token_s" not in frame and "itl_p95_s" in frame
    path = mon.to_csv(tmp_path / "sub" / "runs.csv")
    assert pd.read_csv(path)["batch_size"].tolist() == [1, 2]
    s = mon.summary()
    assert s["requests"] == 2 and s["inter_token_s"]["count"] == 8
    assert mon.summary("a")["decode_tokens_per_s"]["p50"] == pytest.approx(10.0)
    assert "TTFT" in str(mon)


def test_monitor_add_rejects_other_types():
    with pytest.raises(TypeError):
        Monitor(gpu=None).add({"ttft_s": 1})


def test_process_rss_is_positive():
    assert process_rss() > 0


def test_gpu_probe_detect_is_none_without_cuda():
    torch = pytest.importorskip("torch")
    from qwen_course.monitor import GpuProbe

    if not torch.cuda.is_available():
        assert GpuProbe.detect() is None


def test_cache_bytes_counts_layers_and_tuples():
    torch = pytest.importorskip("torch")

    class Layer:
        def __init__(self):
            self.keys = torch.zeros(1, 2, 5, 4)
            self.values = torch.zeros(1, 2, 5, 4)

    class Cache:
        layers = [Layer(), Layer()]

    assert cache_bytes(Cache()) == 2 * 2 * 40 * 4
    assert cache_bytes(((torch.zeros(3), torch.zeros(3)),)) == 24
    assert cache_bytes(None) == 0
    with pytest.raises(TypeError):
        cache_bytes("cache")


# health ----------------------------------------------------------------------------------------------------------

def calibration():
    return [metrics(rss_after=1_000_000 + d) for d in (0, 40_000, 10_000)]


def test_expectations_come_from_calibration():
    # limit 10 MB, memory after the last calibration run 1.01 MB: 8.99 MB of headroom
    e = Expectations.derive(calibration(), memory_limit_bytes=10_000_000, memory_source="test", horizon_requests=100)
    assert e.decode_tokens_per_s == pytest.approx(10.0)
    assert e.leak_tolerance_bytes == pytest.approx(89_900)  # headroom / 100 requests beats the 40 kB jitter
    assert "headroom" in e.leak_source and "calibration" in e.decode_source
    e2 = Expectations.derive(calibration(), 10_000_000, horizon_requests=10_000)
    assert e2.leak_tolerance_bytes == 40_000 and "jitter" in e2.leak_source
    assert "0.04 MB per request" in str(e2)


def test_expectations_reject_bad_inputs():
    with pytest.raises(ValueError):
        Expectations.derive([metrics(tokens=1)], 1_000)
    with pytest.raises(ValueError):
        Expectations(decode_tokens_per_s=0, memory_limit_bytes=1, leak_tolerance_bytes=0)
    with pytest.raises(ValueError):
        Expectations(decode_tokens_per_s=1, memory_limit_bytes=1, leak_tolerance_bytes=0, slow_fraction=1.5)
    with pytest.raises(TypeError):
        Expectations.derive([{"decode": 1}], 1_000)
    with pytest.raises(ValueError):
        Expectations.derive(calibration(), 1_000, horizon_requests=0)


def test_healthy_runs_pass_every_check():
    e = Expectations.derive(calibration(), memory_limit_bytes=10_000_000)  # tolerance: the 40 kB jitter
    runs = [metrics(rss_after=1_000_000 + d) for d in (0, 20_000, -10_000, 5_000)]
    report = health_check(runs, e)
    assert report.ok and report.flags == []
    assert "All checks passed" in report.explain()


def test_constrained_runs_raise_each_flag_with_an_explanation():
    e = Expectations.derive(calibration(), memory_limit_bytes=10_000_000)
    runs = [metrics(speed_gap=0.5, rss_after=1_000_000 + i * 2_000_000, peak=9_500_000) for i in range(4)]
    report = health_check(Monitor_with(runs), e)
    assert set(report.flags) == {"slow_decode", "memory_near_limit", "memory_growth"}
    text = report.explain()
    assert "20%" in text  # 2 tokens/s against the healthy 10
    assert "95%" in text and "per request" in text
    assert "FLAG" in str(report)


def Monitor_with(runs):
    mon = Monitor(gpu=None)
    for r in runs:
        mon.add(r)
    return mon


def test_growth_needs_a_steady_rise_not_one_jump():
    e = Expectations.derive(calibration(), memory_limit_bytes=100_000_000)
    runs = [metrics(rss_after=v) for v in (1_000_000, 9_000_000, 8_000_000, 8_500_000, 7_900_000)]
    assert "memory_growth" not in health_check(runs, e).flags
    assert health_check(runs[:2], e).findings[2].ok  # too few runs to judge


def test_gpu_memory_is_preferred_when_present():
    e = Expectations.derive(calibration(), memory_limit_bytes=10_000)
    run = metrics(peak=1, cuda_max_reserved=9_800, cuda_allocated_after=100)
    report = health_check([run], e)
    assert report.flags == ["memory_near_limit"] and "CUDA reserved" in report.findings[1].observed


def test_health_check_needs_runs():
    e = Expectations(decode_tokens_per_s=1, memory_limit_bytes=1, leak_tolerance_bytes=0)
    with pytest.raises(ValueError):
        health_check([], e)


def test_decode_bound():
    assert decode_bound(2e9, 10e9) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        decode_bound(0, 1e9)


def test_measure_bandwidth_with_a_fake_clock():
    pytest.importorskip("torch")
    # each timed call takes 0.01 s on the fake clock: 8 MiB read in 0.01 s, 16 MiB moved by the copy
    bw = measure_bandwidth(buffer_bytes=8 * 2**20, repeats=3, clock=FakeClock(step=0.01))
    assert bw.read_bytes_per_s == pytest.approx(8 * 2**20 / 0.01)
    assert bw.copy_bytes_per_s == pytest.approx(2 * 8 * 2**20 / 0.01)
    assert "GB/s" in str(bw)
    with pytest.raises(ValueError):
        measure_bandwidth(buffer_bytes=1024)


def test_weight_bytes_per_token_counts_tied_and_untied_embeddings():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Tiny(nn.Module):
        def __init__(self, tie):
            super().__init__()
            self.embed = nn.Embedding(100, 8)
            self.body = nn.Linear(8, 8, bias=False)
            self.head = nn.Linear(8, 100, bias=False)
            if tie:
                self.head.weight = self.embed.weight

        def get_input_embeddings(self):
            return self.embed

        def get_output_embeddings(self):
            return self.head

    # tied: the shared matrix is read once by the head; untied: the input embedding costs one row
    assert weight_bytes_per_token(Tiny(tie=True)) == (800 + 64) * 4
    assert weight_bytes_per_token(Tiny(tie=False)) == (800 + 64 + 8) * 4
    # torch.ao dynamic int8 (a CPU pick's after_load): the head gets its own int8 copy, the fp32 embedding one row
    from qwen_course import quantization

    q8 = quantization.apply_post_load(Tiny(tie=True), "ao-dynamic-int8")
    per_row, per_layer = 8 + 8, 4 + 8  # fp64 scale + int64 zero point per row; output scale + zero point per layer
    assert weight_bytes_per_token(q8) == 8 * 4 + (64 + 8 * per_row + per_layer) + (800 + 100 * per_row + per_layer)


# plots and TensorBoard -------------------------------------------------------------------------------------------

@pytest.fixture
def agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_plots_are_labelled(agg):
    from qwen_course.monitor import plots as mp

    mon = Monitor_with([metrics(label="a", batch_size=b, speed_gap=0.1 * b) for b in (1, 2, 4)])
    figs = [
        mp.plot_latency(mon),
        mp.plot_sweep(mon.to_frame(), x="batch_size", y=["decode_tokens_per_s", "throughput_tokens_per_s"]),
        mp.plot_roofline([("tiny", 100.0, 1000.0), ("real", 2.0, 4.0)]),
        mp.plot_kv_growth([10, 20], [1e6, 2e6], [1e6, 2e6], process=[5e8, 5e8]),
    ]
    for fig in figs:
        ax = fig.axes[0]
        assert ax.get_title() and ax.get_xlabel() is not None and ax.get_ylabel()
    with pytest.raises(ValueError):
        mp.plot_latency(Monitor(gpu=None))


def test_read_tensorboard_and_plot_scalars(tmp_path, agg):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    from qwen_course.monitor.plots import plot_scalars, read_tensorboard

    writer = SummaryWriter(str(tmp_path / "run1"))
    for step in range(1, 4):
        writer.add_scalar("train/loss", 4.0 / step, step)
        writer.add_scalar("train/learning_rate", 1e-3, step)
    writer.close()
    frame = read_tensorboard(tmp_path)
    assert set(frame["tag"]) == {"train/loss", "train/learning_rate"}
    loss = frame[frame["tag"] == "train/loss"].sort_values("step")
    assert loss["value"].tolist() == pytest.approx([4.0, 2.0, 4 / 3]) and set(frame["run"]) == {"run1"}
    fig = plot_scalars(frame)
    assert [ax.get_title() for ax in fig.axes] == ["train/learning_rate", "train/loss"]
    with pytest.raises(FileNotFoundError):
        read_tensorboard(tmp_path / "missing")
    # a second run writing into the same folder stays a separate run (its file name has a higher counter)
    writer = SummaryWriter(str(tmp_path / "run1"))
    writer.add_scalar("train/loss", 9.0, 1)
    writer.close()
    runs = read_tensorboard(tmp_path).groupby("run").size()
    assert list(runs.index) == ["run1 #1", "run1 #2"] and list(runs) == [6, 1]


def test_live_view_text_mode_prints(capsys):
    from qwen_course.monitor.plots import LiveView

    live = LiveView(every_s=0.0, clock=FakeClock(), mode="text")
    live.finish(metrics(label="x"))
    assert "done x: 5 tokens" in capsys.readouterr().out
    with pytest.raises(ValueError):
        LiveView(mode="fancy")


@pytest.mark.slow
def test_tracker_with_a_real_generate():
    torch = pytest.importorskip("torch")
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=16)
    model = Qwen3ForCausalLM(cfg).eval()
    mon = Monitor(gpu=None)
    ids = torch.randint(0, 128, (2, 6))
    with mon.track("real") as t:
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=5, min_new_tokens=5,
                             do_sample=False, streamer=t.streamer, pad_token_id=0, return_dict_in_generate=True)
    m = t.metrics
    assert (m.prompt_tokens, m.batch_size, m.completion_tokens) == (6, 2, 5)
    assert len(m.inter_token_s) == 4 and 0 <= m.ttft_s <= m.wall_s
    assert cache_bytes(out.cache) == 2 * 1 * 2 * 1 * 10 * 16 * 4  # k+v, layers, batch, heads, tokens, dim
    assert weight_bytes_per_token(model) > 0


# the hybrid cache, rough percentiles, bytes read per token (issues 18 and 21) ------------------------------------------

def test_rough_percentiles_need_ten_samples_above_the_cut():
    from qwen_course.monitor import rough_percentiles

    assert rough_percentiles(14) == ["p95", "p99"]
    assert rough_percentiles(199) == ["p95", "p99"] and rough_percentiles(200) == ["p99"]
    assert rough_percentiles(999) == ["p99"] and rough_percentiles(1000) == []
    assert rough_percentiles(50, ("p50",)) == []


def test_monitor_summary_labels_rough_percentiles():
    mon = Monitor(gpu=None)
    for _ in range(3):
        mon.add(metrics())
    text = str(mon)
    assert "(n=3; p95 and p99 rough" in text and "(n=12; p95 and p99 rough" in text  # 3 TTFTs, 12 gaps


def test_catalog_bytes_per_token_reads_what_decoding_reads():
    from qwen_course import catalog
    from qwen_course.monitor import catalog_bytes_per_token

    small = catalog.param_count("Qwen/Qwen3-0.6B")  # tied: the embedding is read once, as the head
    assert catalog_bytes_per_token("Qwen/Qwen3-0.6B") == 2 * small.total
    untied = catalog.param_count("Qwen/Qwen3-8B")  # untied: the input embedding is only looked up
    assert catalog_bytes_per_token("Qwen/Qwen3-8B", 1) == untied.total - untied.embedding
    vision = catalog.param_count("Qwen/Qwen3.5-2B")  # the vision tower runs on images only
    assert vision.vision > 0 and catalog_bytes_per_token("Qwen/Qwen3.5-2B", 1) == vision.total - vision.vision
    moe = catalog.param_count("Qwen/Qwen3.5-35B-A3B")  # routed experts only
    assert catalog_bytes_per_token("Qwen/Qwen3.5-35B-A3B", 1) == moe.active - moe.vision - moe.embedding
    assert catalog_bytes_per_token("Qwen/Qwen3.5-35B-A3B", 1) < moe.total / 5


@pytest.fixture(scope="module")
def stand_ins():
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    from qwen_course import offline

    return {kind: AutoModelForCausalLM.from_pretrained(offline.build(kind), dtype=torch.float32).eval()
            for kind in ("qwen3", "qwen3.5")}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["qwen3", "qwen3.5"])
def test_cache_bytes_and_the_memory_formula_on_a_real_cache(stand_ins, kind):
    """The whole cache, Gated DeltaNet states included, equals memory.cache_bytes on the model's own config."""
    import torch

    from qwen_course import memory
    from qwen_course.monitor import cache_precision, checkpoint_for

    model = stand_ins[kind]
    own, precision = checkpoint_for(model, kind), cache_precision(model)
    assert precision == "fp32" and own.is_hybrid == (kind == "qwen3.5")
    sizes = []
    for n in (3, 70):
        with torch.inference_mode():
            cache = model(torch.randint(0, 1000, (1, n)), use_cache=True, logits_to_keep=1).cache
        assert cache_bytes(cache) == memory.measured_cache_bytes(cache) == memory.cache_bytes(own, precision, n)
        sizes.append(cache_bytes(cache))
    per_token = (sizes[1] - sizes[0]) // 67
    assert per_token == memory.kv_bytes_per_token(own, precision)
    if kind == "qwen3.5":  # K and V in one layer of four, plus a fixed state the other layers hold
        assert own.layer_types.count("full_attention") == 1 and memory.state_bytes(own, precision) > 0
        assert sizes[0] > 3 * per_token


def test_cache_precision_of_an_int8_cpu_model_is_fp32(stand_ins):
    import torch

    from qwen_course.monitor import cache_precision

    int8 = torch.ao.quantization.quantize_dynamic(stand_ins["qwen3"], {torch.nn.Linear}, dtype=torch.qint8, inplace=False)
    assert cache_precision(int8) == "fp32"
    assert cache_precision(stand_ins["qwen3"].to(torch.bfloat16)) == "bf16"
    stand_ins["qwen3"].to(torch.float32)


def test_plot_cache_growth():
    pd = pytest.importorskip("pandas")
    from qwen_course.monitor import plot_cache_growth

    frame = pd.DataFrame({"model": ["dense"] * 2 + ["hybrid"] * 2, "tokens": [16, 1024] * 2,
                          "measured_bytes": [16e3, 1.05e6, 26e3, 0.54e6], "predicted_bytes": [16e3, 1.05e6, 26e3, 0.54e6]})
    ax = plot_cache_growth(frame).axes[0]
    assert ax.get_ylabel() == "MB" and "prompt length" in ax.get_xlabel() and len(ax.get_lines()) == 4
