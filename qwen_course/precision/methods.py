"""The ways to store and run Qwen's weights (dtypes, quantization configs, a post-load step) and how to apply each.

Every method is a row of `METHODS`: a dtype, a transformers `quantization_config`, a step after loading
(`torch.ao` dynamic int8) or a prequantized checkpoint. `availability()` says whether one runs on a machine;
the picker and lesson 03 both load through `load_dtype`, `quantization_config` and `apply_post_load`.
Importing this module does not import torch.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass

PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int4")


@dataclass(frozen=True)
class Method:
    """One way to store and run a model's weights."""

    key: str
    label: str
    precision: str  # the picker's vocabulary: fp32 bf16 fp16 int8 int4
    route: str  # "dtype" | "config" (from_pretrained quantization_config) | "post-load" | "prequantized"
    library: str
    devices: tuple[str, ...]
    stores: str  # what is kept in memory, in one line
    package: str | None = None  # import name that must be installed
    min_cc: tuple[int, int] | None = None  # CUDA compute capability it needs


METHODS: dict[str, Method] = {m.key: m for m in (
    Method("fp32", "fp32", "fp32", "dtype", "torch", ("cpu", "cuda", "mps"),
           "4 bytes per parameter; the reference every drift is measured against"),
    Method("bf16", "bf16", "bf16", "dtype", "torch", ("cpu", "cuda"),
           "2 bytes per parameter, fp32's exponent range with 8 bits of mantissa (Qwen ships its weights in bf16)"),
    Method("fp16", "fp16", "fp16", "dtype", "torch", ("cuda", "mps"),
           "2 bytes per parameter, 10 bits of mantissa but a narrow range (overflows above 65504)"),
    Method("ao-dynamic-int8", "torch.ao dynamic int8", "int8", "post-load", "torch", ("cpu",),
           "int8 weights with one fp32 scale per output row; activations quantized to int8 on the fly, fbgemm/qnnpack kernels"),
    Method("torchao-int8", "torchao int8 weight-only", "int8", "config", "torchao", ("cpu", "cuda"),
           "int8 weights with one scale per output row; matmuls in the compute dtype", package="torchao"),
    Method("torchao-int8-dynamic", "torchao int8 dynamic activation", "int8", "config", "torchao", ("cpu", "cuda"),
           "int8 weights per row and int8 activations per token, computed in int8", package="torchao"),
    Method("torchao-int4", "torchao int4 weight-only", "int4", "config", "torchao", ("cpu", "cuda"),
           "4-bit weights in groups of 128 with a bf16 scale and zero point per group; bf16 compute", package="torchao"),
    Method("quanto-int8", "optimum-quanto int8", "int8", "config", "optimum-quanto", ("cpu", "cuda", "mps"),
           "int8 weights with one scale per output row", package="optimum.quanto"),
    Method("quanto-int4", "optimum-quanto int4", "int4", "config", "optimum-quanto", ("cpu", "cuda", "mps"),
           "4-bit weights in groups of 128 with a scale and shift per group", package="optimum.quanto"),
    Method("bnb-int8", "bitsandbytes LLM.int8", "int8", "config", "bitsandbytes", ("cuda", "cpu"),
           "int8 weights per row; outlier activation columns kept in 16-bit", package="bitsandbytes", min_cc=(7, 5)),
    Method("bnb-nf4", "bitsandbytes NF4", "int4", "config", "bitsandbytes", ("cuda", "cpu"),
           "4-bit NormalFloat weights, one absmax per block of 64; bf16 compute", package="bitsandbytes", min_cc=(6, 0)),
    Method("awq", "AWQ (Qwen's prequantized)", "int4", "prequantized", "gptqmodel", ("cuda",),
           "4-bit weights from an activation-aware calibration; load Qwen/Qwen3-*-AWQ", package="gptqmodel"),
    Method("gptq", "GPTQ (Qwen's prequantized)", "int4", "prequantized", "gptqmodel", ("cuda",),
           "4- or 8-bit weights from a second-order calibration; load Qwen/Qwen2.5-*-GPTQ-Int4", package="gptqmodel"),
    Method("fp8", "FP8 (Qwen's prequantized)", "int8", "prequantized", "transformers", ("cuda", "cpu"),
           "8-bit floating-point weights in blocks; load Qwen/Qwen3-*-FP8", min_cc=(8, 9)),
)}


def method(key: str) -> Method:
    """A method by key, with the valid keys in the error."""
    if key not in METHODS:
        raise ValueError(f"unknown quantization method {key!r}; known: {', '.join(METHODS)}")
    return METHODS[key]


def installed(package: str | None) -> bool:
    """Whether an import name is available, without importing it."""
    if not package:
        return True
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


DEVICE_NAMES = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU"}


def quanto_extension_ready() -> bool:
    """Whether optimum-quanto's CPU C++ extension (used by its int4 unpacking) is already built for this torch."""
    from importlib import metadata
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("optimum.quanto")
        build = Path(spec.origin).parent / "library" / "extensions" / "cpp" / "build"
        built_for = (build / "pytorch_version.txt").read_text().strip()
        return (build / "quanto_cpp.so").exists() and built_for == metadata.version("torch")
    except (AttributeError, ImportError, OSError, ValueError, metadata.PackageNotFoundError):
        return False


def availability(key: str, hardware=None, allow_compile: bool = False) -> tuple[bool, str]:
    """(runs here, why) for one method on a detected or described machine."""
    m = method(key)
    device = getattr(hardware, "device", None) or "cpu"
    cc = getattr(hardware, "compute_capability", None)
    if device not in m.devices:
        where = " or ".join(DEVICE_NAMES[d] for d in m.devices)
        return False, f"needs a {where}; this machine runs on {DEVICE_NAMES.get(device, device)}"
    if key == "fp8" and (device == "cpu" or (cc is not None and tuple(cc) < m.min_cc)):
        # transformers' FP8 quantizer dequantizes such a checkpoint while loading (lesson 03 shows it on a stand-in)
        where = "a CPU" if device == "cpu" else f"compute capability {cc[0]}.{cc[1]}"
        return True, (f"loads, but dequantized to 16-bit while loading: FP8 matmuls need compute capability "
                      f"{m.min_cc[0]}.{m.min_cc[1]}+, and this is {where} (download needed)")
    if device == "cuda" and m.min_cc and cc is not None and tuple(cc) < m.min_cc:
        return False, f"needs compute capability {m.min_cc[0]}.{m.min_cc[1]}+, this GPU has {cc[0]}.{cc[1]}"
    if not installed(m.package):
        return False, f"{m.package} is not installed (pip install {m.library})"
    if key == "quanto-int4" and device == "cpu" and not allow_compile and not quanto_extension_ready():
        return False, ("its CPU kernel is a C++ extension compiled on first use (a compiler and minutes); build it "
                       "once with: python benchmarks/quantization.py --stand-in --runs 1 --methods quanto-int4")
    if m.route == "prequantized":
        return True, "runs here from a prequantized checkpoint (download needed)"
    return True, "runs here"


def load_dtype_name(key: str, device: str = "cpu", compute: str | None = None) -> str:
    """The name of the torch dtype to load a method with (its compute dtype), without importing torch.

    `compute` is the GPU's 16-bit dtype ("float16" below compute capability 8.0, which has no bf16 tensor cores)."""
    m = method(key)
    if m.route == "dtype":
        return {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[m.precision]
    if key in ("ao-dynamic-int8", "quanto-int8", "quanto-int4", "torchao-int8", "torchao-int8-dynamic") and device == "cpu":
        return "float32"  # these CPU kernels take fp32 activations
    return "float16" if device == "mps" else (compute or "bfloat16")


def load_dtype(key: str, device: str = "cpu"):
    """The torch dtype to pass to from_pretrained for a method (its compute dtype)."""
    import torch

    return getattr(torch, load_dtype_name(key, device))


def quantization_config(key: str, compute: str | None = None):
    """The transformers config for `from_pretrained(quantization_config=...)`, or None for dtype and post-load methods.

    `compute`: the dtype NF4 dequantizes to for its matmuls ("float16" on GPUs below compute capability 8.0)."""
    m = method(key)
    if m.route != "config":
        return None
    from transformers import BitsAndBytesConfig, QuantoConfig, TorchAoConfig

    if key == "torchao-int8":
        from torchao.quantization import Int8WeightOnlyConfig

        return TorchAoConfig(Int8WeightOnlyConfig())
    if key == "torchao-int8-dynamic":
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig

        return TorchAoConfig(Int8DynamicActivationInt8WeightConfig())
    if key == "torchao-int4":
        return TorchAoConfig(_int4_config())
    if key in ("quanto-int8", "quanto-int4"):
        return QuantoConfig(weights=key.split("-")[1])
    if key == "bnb-int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    import torch

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_compute_dtype=getattr(torch, compute or "bfloat16"))


def _int4_config():
    """torchao int4 weight-only: the opaque CPU layout on CPU (QWEN_FACTS 5), tinygemm's tile layout on CUDA."""
    import torch

    if torch.cuda.is_available():
        from torchao.quantization import Int4WeightOnlyConfig

        return Int4WeightOnlyConfig(group_size=128, int4_packing_format="tile_packed_to_4d")
    from torchao.prototype.quantization.int4 import PrototypeInt4WeightOnlyConfig

    return PrototypeInt4WeightOnlyConfig(group_size=128, int4_choose_qparams_algorithm="tinygemm")


def apply_post_load(model, key: str):
    """Quantize a loaded model in place for post-load methods (torch.ao dynamic int8); others pass through."""
    if method(key).route != "post-load":
        return model
    import torch

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    dtype = next(model.parameters()).dtype
    if dtype != torch.float32:
        raise ValueError(f"torch.ao dynamic int8 needs a float32 model (load with dtype=torch.float32), got {dtype}")
    with warnings.catch_warnings():  # torch 2.13 flags its quantized tensors as deprecated; lesson 03 says so once
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


