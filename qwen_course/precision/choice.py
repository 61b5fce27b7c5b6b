"""Which precision and quantization route a machine runs best: bf16/fp16/NF4 on GPUs, the measured route on a CPU."""

from __future__ import annotations

from ..hardware import Hardware
from .cpu import cached_measurement, cpu_route, fastest_of

TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "int8": "bfloat16", "int4": "bfloat16"}
GPU_ROUTES = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "int8": "bnb-int8", "int4": "bnb-nf4"}


def route_for(precision: str, device: str, measured: bool = True) -> str:
    """The quantization method behind a precision: bitsandbytes on CUDA, this CPU's measured (or default) route on CPU."""
    if device != "cpu" or precision not in ("int8", "int4"):
        return GPU_ROUTES.get(precision, precision) if device == "cuda" else precision
    return cpu_route(precision, measured=measured)


def _cpu_fastest(hw: Hardware, training: bool = False) -> tuple[str, str]:
    """The fastest CPU precision here: lesson 03's cached measurement when there is one, else the bf16 matmul test.

    A measured int8 winner is used whether `from_pretrained` applies it (a torchao/quanto config) or `Pick.after_load`
    does (torch.ao dynamic int8). Training needs real weights to backpropagate through, so it takes the faster of the
    measured fp32 and bf16.
    """
    note = ""
    if not hw.described:
        saved = cached_measurement()
        measured = saved["choice"] if saved else None
        if measured and (not training or measured in ("fp32", "bf16")):
            return measured, f"{measured} is the fastest precision measured on this CPU (lesson 03)"
        if measured:
            best = fastest_of(saved, ("fp32", "bf16"))
            if best:
                return best, f"{best} is faster than the other 16/32-bit precision measured here ({measured} is " \
                             "fastest overall, but training needs unquantized weights)"
            note = f" ({measured} measured fastest here, but training needs unquantized weights)"
    if hw.described and not hw.bf16_fast:
        return "fp32", "a described CPU's speeds are unknown, so fp32 (exact; lesson 03 measures bf16 and int8 on a real one)"
    if hw.bf16_fast:
        return "bf16", "bf16 matmuls are faster than fp32 on this CPU" + note
    return "fp32", "bf16 is not faster than fp32 on this CPU, so fp32 (no conversion cost, exact)" + note


def precisions_for(hw: Hardware, training: bool = False) -> tuple[list[str], str]:
    """Precisions to try on this machine, preferred first, and why the first one (training: no on-the-fly int8 on CPU)."""
    if hw.device == "cuda":
        cc = hw.compute_capability or (0, 0)
        if cc >= (8, 0):
            return ["bf16", "int4"], f"bf16 runs natively on compute capability {cc[0]}.{cc[1]} (Ampere or newer)"
        return ["fp16", "int4"], f"compute capability {cc[0]}.{cc[1]} has no fast bf16, so fp16"
    if hw.device == "mps":
        return ["fp16"], "fp16 on Apple GPUs"
    first, why = _cpu_fastest(hw, training)
    smaller = [p for p in ("fp32", "bf16", "int8") if p != first and _bytes_rank(p) < _bytes_rank(first)]
    if training:  # LoRA backpropagates through the base weights: no int8 on CPU
        smaller = [p for p in smaller if p in ("fp32", "bf16")]
    return [first] + smaller, why


def _bytes_rank(precision: str) -> float:
    return {"fp32": 4, "bf16": 2, "fp16": 2, "int8": 1, "int4": 0.5}[precision]
