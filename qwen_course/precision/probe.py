"""Which CPU route decodes fastest for one model shape: a few-second probe of its real MLP, cached per machine.

A decoder layer's MLP (gate, up and down projections at the model's real hidden and intermediate sizes) holds about
two thirds of its weights, and on a CPU every generated token reads every weight once, so the route that runs this
MLP fastest for one token is the route that decodes the model fastest. Each route is applied with the same functions
`from_pretrained` and `Pick.after_load` use, timed after a warm-up (medians), and checked against fp32: a route whose
output drifts past the bound lesson 03 sets is never chosen. Shapes, not values, decide speed: weights are random.
"""

from __future__ import annotations

import json
import statistics
import time

from .._paths import home
from . import methods
from .cpu import DRIFT_BOUND, cache_key

# The routes the picker can apply with torch alone (dtype, or the post-load step). torchao/quanto routes are config
# routes lesson 03 measures on whole layers; they cost seconds to import and quantize, too long for a probe.
ROUTES = ("fp32", "bf16", "ao-dynamic-int8")
PROBE_NAME = "cpu_routes.json"
VERSION = 2  # bumped when the probe changes what it measures: older cached results are measured again
TOKENS = {"decode": 1, "prefill": 64}
WORKING_SET = 128e6  # bytes of fp32 weights cycled through per step, so no route's weights stay in the CPU cache


def probe_path():
    return home() / "measurements" / PROBE_NAME


def _mlp(hidden: int, intermediate: int):
    """Qwen's MLP (SwiGLU: down(silu(gate(x)) * up(x)), no biases) at the real sizes, random fp32 weights, stacked
    as deep as it takes to exceed the CPU's caches (as a real model's layers do)."""
    import math

    import torch

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gate_proj = torch.nn.Linear(hidden, intermediate, bias=False)
            self.up_proj = torch.nn.Linear(hidden, intermediate, bias=False)
            self.down_proj = torch.nn.Linear(intermediate, hidden, bias=False)

        def forward(self, x):
            return self.down_proj(torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))

    torch.manual_seed(0)
    layers = max(1, math.ceil(WORKING_SET / (3 * hidden * intermediate * 4)))
    return torch.nn.Sequential(*(MLP() for _ in range(layers))).eval()


def _apply(base, route: str):
    """A copy of the fp32 MLP as `route` loads it: its dtype, then its quantization config or post-load step."""
    import copy

    model = copy.deepcopy(base).to(methods.load_dtype(route, "cpu"))
    config = methods.quantization_config(route)
    if config is not None:
        from torchao.quantization import quantize_

        quantize_(model, config.quant_type)
    return methods.apply_post_load(model, route).eval()


def _seconds(model, x) -> float:
    import torch

    with torch.inference_mode():
        start = time.perf_counter()
        model(x)
        return time.perf_counter() - start


def measure(hidden: int, intermediate: int, routes=ROUTES, repeats: int = 7) -> dict:
    """Seconds per decoded token and per 64-token prefill of each route through one MLP of this shape, and the
    route's drift from fp32. Rounds interleave the routes (fp32, bf16, int8, fp32, ...), so a change in the machine's
    load during the probe slows every route alike; each route's time is the median of its rounds after a warm-up."""
    import torch

    base = _mlp(hidden, intermediate)
    depth = len(base)
    inputs = {name: torch.randn(1, n, hidden, generator=torch.Generator().manual_seed(1)) for name, n in TOKENS.items()}
    with torch.inference_mode():  # drift through one layer: a stack of random MLPs without norms would overflow
        reference = base[0](inputs["prefill"])
    models, rows = {}, {}
    for route in routes:
        if route != "fp32" and not methods.availability(route)[0]:
            continue
        try:
            models[route] = base if route == "fp32" else _apply(base, route)
            dtype = methods.load_dtype(route, "cpu")
            with torch.inference_mode():
                out = models[route][0](inputs["prefill"].to(dtype)).float()
            rows[route] = {"drift": float((out - reference).norm() / reference.norm())}
            for x in inputs.values():  # warm-up: kernels are picked and memory allocated on the first calls
                _seconds(models[route], x.to(dtype))
        except Exception as exc:  # a route this CPU or build cannot run is recorded, not fatal
            models.pop(route, None)
            rows[route] = {"error": f"{type(exc).__name__}: {str(exc)[:160]}"}
    for name, x in inputs.items():
        rounds = {route: [] for route in models}
        for _ in range(repeats if name == "decode" else max(3, repeats // 3)):
            for route, model in models.items():
                rounds[route].append(_seconds(model, x.to(methods.load_dtype(route, "cpu"))))
        for route, times in rounds.items():
            rows[route][name] = statistics.median(times) / depth
    return rows


def fastest(rows: dict, drift_bound: float = DRIFT_BOUND) -> str:
    """The route with the shortest decode step among those within the drift bound (fp32 when none measured)."""
    usable = {k: r for k, r in rows.items() if "error" not in r and r["drift"] <= drift_bound}
    return min(usable, key=lambda k: usable[k]["decode"]) if usable else "fp32"


def cpu_routes(hidden: int, intermediate: int, measure_if_missing: bool = True) -> dict | None:
    """This machine's probe for one shape: cached per CPU, cores, torch version and shape; measured once if absent."""
    path = probe_path()
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    if saved.get("key") != cache_key() or saved.get("version") != VERSION:
        saved = {"key": cache_key(), "version": VERSION, "shapes": {}}
    shape = f"{hidden}x{intermediate}"
    if shape not in saved["shapes"]:
        if not measure_if_missing:
            return None
        rows = measure(hidden, intermediate)
        saved["shapes"][shape] = {"rows": rows, "fastest": fastest(rows), "drift_bound": DRIFT_BOUND,
                                  "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved, indent=1))
    return saved["shapes"][shape]


def speedup(entry: dict, route: str, over: str = "fp32") -> float | None:
    """How many times faster `route` decodes than `over` in a probe entry (None if either did not run)."""
    rows = entry["rows"]
    if "error" in rows.get(route, {"error": 1}) or "error" in rows.get(over, {"error": 1}):
        return None
    return rows[over]["decode"] / rows[route]["decode"]
