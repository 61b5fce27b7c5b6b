"""Which precision and quantization route a machine runs best: bf16/fp16/NF4 on GPUs, the measured route on a CPU."""

from __future__ import annotations

from .._paths import load_json
from ..hardware import Hardware
from .cpu import cached_measurement, cpu_route, fastest_of
from .methods import METHODS

TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "int8": "bfloat16", "int4": "bfloat16"}
GPU_ROUTES = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "int8": "bnb-int8", "int4": "bnb-nf4"}


def compute_dtype(hw: Hardware) -> str | None:
    """The 16-bit dtype a GPU computes in: bf16 from compute capability 8.0 (Ampere), fp16 below (V100 7.0, T4 7.5)."""
    if hw.device == "mps":
        return "float16"
    if hw.device != "cuda":
        return None
    return "bfloat16" if tuple(hw.compute_capability or (0, 0)) >= (8, 0) else "float16"


def route_for(precision: str, device: str, measured: bool = True) -> str:
    """The quantization method behind a precision: bitsandbytes on CUDA, this CPU's measured (or default) route on CPU."""
    if device != "cpu" or precision not in ("int8", "int4"):
        return GPU_ROUTES.get(precision, precision) if device == "cuda" else precision
    return cpu_route(precision, measured=measured)


# The shape probed when no model is named: Qwen3-1.7B's and Qwen3.5-2B's MLP (hidden 2048, intermediate 6144).
DEFAULT_SHAPE = (2048, 6144)


def reference_cpu() -> dict:
    """The route the course's benchmark measured fastest on its reference CPUs (for CPUs described, not detected)."""
    return load_json("precisions.json")["reference_cpu"]


def _cpu_fastest(hw: Hardware, training: bool = False, shape: tuple[int, int] | None = None) -> tuple[str, str]:
    """The precision whose route runs fastest here within lesson 03's drift bound.

    The most thorough measurement there is decides: lesson 03's (whole layers of a real shape, every route) when it
    is cached, else a probe of Qwen's MLP at the model's shape (a few seconds, cached); a described CPU takes what the
    course's benchmark measured on its reference CPU. Training needs unquantized weights: the faster of fp32/bf16.
    """
    if hw.described:
        ref = reference_cpu()
        if training:
            return ref["training_precision"], f"a described CPU: {ref['training_why']}"
        return ref["precision"], f"a described CPU: {ref['why']}"
    saved = cached_measurement()
    if saved:
        measured = saved["choice"]
        if not training or measured in ("fp32", "bf16"):
            return measured, f"the fastest precision measured on this CPU ({saved['routes'][measured]}, lesson 03)"
        best = fastest_of(saved, ("fp32", "bf16"))
        if best:
            return best, (f"{best} is faster than the other 16/32-bit precision measured here ({measured} is fastest "
                          "overall, but training needs unquantized weights)")
    return _probed(training, shape or DEFAULT_SHAPE)


def _probed(training: bool, shape: tuple[int, int]) -> tuple[str, str]:
    """The fastest route of the MLP probe at `shape` (fp32/bf16 only when training), and why in numbers."""
    from . import probe

    entry = probe.cpu_routes(*shape)
    allowed = [r for r in probe.ROUTES if not training or r in ("fp32", "bf16")]
    best = probe.fastest({k: v for k, v in entry["rows"].items() if k in allowed})
    ratios = ", ".join(f"{k} {r:.2f}x" for k in entry["rows"] if k != "fp32" and (r := probe.speedup(entry, k)))
    why = (f"{best} decodes fastest on this CPU: probed on Qwen's MLP at hidden "
           f"{shape[0]:,} x {shape[1]:,}, decode speed against fp32: {ratios} (drift bound {entry['drift_bound']})")
    if training and entry["fastest"] not in allowed:
        why += f"; {entry['fastest']} is faster, but training needs unquantized weights"
    return METHODS[best].precision, why


def precisions_for(hw: Hardware, training: bool = False, shape: tuple[int, int] | None = None) -> tuple[list[str], str]:
    """Precisions to try on this machine, preferred first, and why the first one (training: no on-the-fly int8 on CPU)."""
    if hw.device == "cuda":
        cc = hw.compute_capability or (0, 0)
        if cc >= (8, 0):
            return ["bf16", "int4"], f"bf16 runs natively on compute capability {cc[0]}.{cc[1]} (Ampere or newer)"
        return ["fp16", "int4"], f"compute capability {cc[0]}.{cc[1]} has no fast bf16, so fp16"
    if hw.device == "mps":
        return ["fp16"], "fp16 on Apple GPUs"
    first, why = _cpu_fastest(hw, training, shape)
    smaller = [p for p in ("fp32", "bf16", "int8") if p != first and _bytes_rank(p) < _bytes_rank(first)]
    if training:  # LoRA backpropagates through the base weights: no int8 on CPU
        smaller = [p for p in smaller if p in ("fp32", "bf16")]
    return [first] + smaller, why


def _bytes_rank(precision: str) -> float:
    return {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1, "int4": 0.5}[precision]
