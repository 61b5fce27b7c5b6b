"""Qwen's FP8 releases, and what transformers does with one on a machine that cannot run FP8.

Qwen's -FP8 repositories store most linear weights as float8 e4m3 with one scale per 128 x 128 block
(`weight_scale_inv`) and say so in config.json (`quantization_config`: quant_method "fp8", fmt "e4m3",
activation_scheme "dynamic", weight_block_size [128, 128]). transformers loads them with its FineGrainedFP8 quantizer.
`fp8_checkpoint` writes a stand-in in that layout, so lesson 03 can load one on a CPU and show what happens there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .._paths import home

E4M3_MAX = 448.0  # the largest float8_e4m3fn value
QUANTIZATION_CONFIG = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                       "weight_block_size": [128, 128]}
MARKER = "qwen_course_fp8.json"


def _blocks(rows: int, cols: int, block: tuple[int, int]) -> tuple[int, int]:
    """The scale grid for a weight: one scale per block, blocks that tile the weight exactly (as the loader needs)."""
    grid_r, grid_c = -(-rows // block[0]), -(-cols // block[1])
    return (grid_r if rows % grid_r == 0 else 1), (grid_c if cols % grid_c == 0 else 1)


def quantize_blockwise(weight, block: tuple[int, int] = (128, 128)):
    """(float8 e4m3 weight, fp32 scale per block): weight = fp8 * scale, block by block (weight_scale_inv)."""
    import torch

    rows, cols = weight.shape
    gr, gc = _blocks(rows, cols, block)
    w = weight.float().reshape(gr, rows // gr, gc, cols // gc)
    scale = (w.abs().amax(dim=(1, 3), keepdim=True) / E4M3_MAX).clamp(min=1e-12)
    q = (w / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).reshape(rows, cols)
    return q, scale.reshape(gr, gc)


def _converted(name: str, tensor) -> bool:
    """Which tensors an FP8 release stores in float8: 2D linear weights of the decoder layers (not embeddings,
    lm_head, norms or the vision tower)."""
    skip = ("embed_tokens", "lm_head", "norm", "visual")
    return tensor.ndim == 2 and name.endswith(".weight") and ".layers." in name and not any(s in name for s in skip)


def fp8_checkpoint(source: str | Path, target: str | Path | None = None) -> Path:
    """A copy of a local checkpoint with its decoder linear weights in block-wise FP8, as an FP8 release stores them."""
    from safetensors.torch import load_file, save_file

    source = Path(source)
    target = Path(target) if target else home() / "fp8" / source.name
    marker = target / MARKER
    if marker.exists() and json.loads(marker.read_text()).get("source") == str(source):
        return target
    target.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for file in sorted(source.glob("*.safetensors")):
        tensors.update(load_file(file))
    out = {}
    for name, tensor in tensors.items():
        if _converted(name, tensor):
            out[name], out[name + "_scale_inv"] = quantize_blockwise(tensor)
        else:
            out[name] = tensor.contiguous()
    save_file(out, target / "model.safetensors", metadata={"format": "pt"})
    for file in source.iterdir():
        if file.is_file() and file.suffix != ".safetensors" and not file.name.endswith(".index.json"):
            shutil.copy2(file, target / file.name)
    config = json.loads((source / "config.json").read_text())
    config["quantization_config"] = dict(QUANTIZATION_CONFIG)
    (target / "config.json").write_text(json.dumps(config, indent=2))
    marker.write_text(json.dumps({"source": str(source), "converted": sum(_converted(n, t) for n, t in tensors.items())}))
    return target


def loader_rule() -> list[str]:
    """The lines of transformers' FineGrainedFP8HfQuantizer.validate_environment that decide what happens without a
    GPU of compute capability 8.9+ (read from the installed library, so the lesson quotes the code it runs)."""
    import inspect

    from transformers.quantizers.quantizer_finegrained_fp8 import FineGrainedFP8HfQuantizer

    lines = inspect.getsource(FineGrainedFP8HfQuantizer.validate_environment).splitlines()
    keep = ("if not torch.cuda.is_available()", "if self.pre_quantized", "self.quantization_config.dequantize = True",
            "if (major < 8)", "compute_capability = ")
    return [line.strip() for line in lines if any(k in line for k in keep)]
