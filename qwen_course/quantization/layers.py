"""Which parts of a Qwen model a quantization method replaces and which it leaves, decided by transformers' own code.

`plan` builds the checkpoint's real class from the catalog config on the meta device (no memory, no download) and asks
the method's quantizer what `from_pretrained` would quantize: `param_needs_quantization` for the on-the-fly methods
(bitsandbytes, torchao, optimum-quanto), the FP8 loader's module swap for Qwen's FP8 releases, and torch's own dynamic
mapping (every module whose type is exactly `nn.Linear`) for `torch.ao` dynamic int8, which cannot run on meta
tensors (tests check that rule against a real `quantize_dynamic`). `parts_of` measures the same split on a loaded model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .._display import Table
from ..precision import METHODS, installed

# (part, test on a parameter name), first match wins. Names as transformers 5.24 builds them: the VL classes nest the
# text model under model.language_model, Qwen3.5 splits Gated DeltaNet's input projection into in_proj_qkv/z/b/a
# (Qwen3-Next fuses them as in_proj_qkvz/in_proj_ba), MoE experts are 3D tensors of one module (experts.gate_up_proj).
PARTS = (
    ("vision tower", lambda n: n.startswith(("visual.", "model.visual."))),
    ("audio tower", lambda n: "audio_tower." in n),
    ("embedding", lambda n: "embed_tokens." in n),
    ("lm_head", lambda n: n.startswith("lm_head.")),
    ("norms", lambda n: re.search(r"(^|\.)\w*norm\w*\.", n) is not None),
    ("MoE experts (3D tensors)", lambda n: ".mlp.experts." in n),
    ("MoE router", lambda n: ".mlp.gate." in n),
    ("shared expert + its gate", lambda n: ".mlp.shared_expert" in n),
    ("dense MLP", lambda n: ".mlp." in n),
    ("full attention q/k/v/o", lambda n: ".self_attn." in n),
    ("Gated DeltaNet projections", lambda n: re.search(r"\.linear_attn\.(in_proj\w*|out_proj)\.", n) is not None),
    ("Gated DeltaNet conv1d", lambda n: ".linear_attn.conv1d." in n),
    ("Gated DeltaNet A_log, dt_bias", lambda n: ".linear_attn." in n),
)
FP8_BLOCK = (128, 128)  # weight_block_size of Qwen's FP8 releases (quantization_config in their config.json)


def part(name: str) -> str:
    """The part of a Qwen model a parameter (or state_dict entry) belongs to, from its name."""
    for label, test in PARTS:
        if test(name):
            return label
    raise ValueError(f"unclassified parameter {name!r}")


@dataclass
class Part:
    """One part of the model under one method: parameters quantized and kept, and the module classes holding them."""

    name: str
    quantized: int = 0
    kept: int = 0
    quantized_rows: int = 0  # output rows of the quantized weights (per-row scales count these)
    quantized_by: set = field(default_factory=set)  # classes of the modules whose weights are quantized
    kept_in: set = field(default_factory=set)  # classes of the modules whose weights stay as they are

    @property
    def verdict(self) -> str:
        done, kept = ", ".join(sorted(self.quantized_by)), ", ".join(sorted(self.kept_in - self.quantized_by))
        if self.quantized and self.kept:
            return f"{self.quantized / (self.quantized + self.kept):.0%} quantized ({done}; kept: {kept})"
        return f"quantized ({done})" if self.quantized else f"kept ({kept})"


@dataclass
class LayerPlan(Table):
    """What one method does to every part of one model, as `from_pretrained` would apply it."""

    model_id: str
    method: str
    parts: dict  # part name -> Part
    skipped: list  # modules_to_not_convert the quantizer used
    decided_by: str

    @property
    def quantized(self) -> int:
        return sum(p.quantized for p in self.parts.values())

    @property
    def kept(self) -> int:
        return sum(p.kept for p in self.parts.values())

    def weights_bytes(self, weight_bytes: float, kept_bytes: float, scale_bytes: float = 0, group_size: int | None = None) -> int:
        """Bytes of the weights in this layout: quantized values plus their scales (per group or per row), kept ones."""
        rows = sum(p.quantized_rows for p in self.parts.values())
        scales = self.quantized / group_size * scale_bytes if group_size else rows * scale_bytes
        return int(self.quantized * weight_bytes + scales + self.kept * kept_bytes)

    def bytes_as(self, precision: str, route: str | None = None) -> int:
        """This plan's weights in the storage `memory` assumes for a precision (and CPU route): to check the estimate."""
        from ..memory import precision_spec

        spec = precision_spec(precision, route)
        return self.weights_bytes(spec["weight_bytes"], spec.get("unquantized_bytes", spec["weight_bytes"]),
                                  spec.get("scale_bytes", 0), spec.get("group_size"))

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"{METHODS[self.method].label} on {self.model_id} (meta device; {self.decided_by})"

    def _rows(self):
        rows = [(name, f"{p.verdict}, {(p.quantized + p.kept) / 1e9:.3f}B parameters") for name, p in self.parts.items()]
        total = self.quantized + self.kept
        return rows + [("quantized / total", f"{self.quantized / 1e9:.3f}B of {total / 1e9:.3f}B ({self.quantized / total:.1%})"),
                       ("left out by name", ", ".join(self.skipped) or "-")]


def _meta(model_id: str):
    from ..family import meta_model

    return meta_model(model_id)


def _decide(model, key: str, modules_to_not_convert=None):
    """(is_quantized(name, module) -> bool, skipped names, what decided) for one method on a meta model."""
    import torch

    m = METHODS[key]
    if m.route == "dtype":
        return (lambda name, module: False), [], "a dtype: nothing is quantized"
    if m.route == "post-load":
        from torch.ao.quantization.quantization_mappings import get_default_dynamic_quant_module_mappings

        swapped = set(get_default_dynamic_quant_module_mappings()) & {torch.nn.Linear}  # quantize_dynamic({nn.Linear})
        return ((lambda name, module: type(module) in swapped and name.endswith(".weight")),
                [], "torch.ao quantize_dynamic swaps every module whose type is exactly nn.Linear, lm_head included")
    from transformers.quantizers import AutoHfQuantizer

    if key == "fp8":
        from transformers import FineGrainedFP8Config
        from transformers.integrations.finegrained_fp8 import FP8Experts, FP8Linear

        config = FineGrainedFP8Config(weight_block_size=FP8_BLOCK, modules_to_not_convert=modules_to_not_convert)
        quantizer = AutoHfQuantizer.from_config(config, pre_quantized=True)
        quantizer._process_model_before_weight_loading(model)  # the module swap from_pretrained does first
        return ((lambda name, module: isinstance(module, (FP8Linear, FP8Experts)) and not name.endswith(("bias", "_scale_inv"))),
                list(quantizer.modules_to_not_convert), "transformers' FP8 loader (replace_with_fp8_linear)")
    if m.route != "config":
        raise ValueError(f"{m.label} checkpoints carry their own layout; there is nothing to plan before loading")
    if not installed(m.package):
        raise ImportError(f"{m.label} needs {m.package} to decide (pip install {m.library})")
    from ..precision import quantization_config

    quantizer = AutoHfQuantizer.from_config(quantization_config(key), pre_quantized=False)
    quantizer._process_model_before_weight_loading(model, device_map={"": "cpu"}, checkpoint_files=None)
    return ((lambda name, module: quantizer.param_needs_quantization(model, name)),
            list(quantizer.modules_to_not_convert), f"{type(quantizer).__name__}.param_needs_quantization")


def _swapped_name(module, method: str) -> str:
    """The class a quantized module has after loading (torch.ao swaps after loading, so its meta module is still Linear)."""
    return "DynamicQuantizedLinear" if METHODS[method].route == "post-load" else type(module).__name__


def plan(model_id: str, method: str, modules_to_not_convert=None) -> LayerPlan:
    """What `method` quantizes in `model_id` and what it leaves, per part, decided by the library's own code."""
    from .. import catalog

    ckpt = catalog.get(model_id)
    model = _meta(ckpt.id)
    decide, skipped, how = _decide(model, method, modules_to_not_convert)
    parts: dict[str, Part] = {}
    seen = set()
    for module_name, module in model.named_modules():
        for local, param in module.named_parameters(recurse=False):
            name = f"{module_name}.{local}" if module_name else local
            if name.endswith("_scale_inv"):  # FP8 block scales the swap adds: metadata, counted by weights_bytes
                continue
            quantized = decide(name, module)
            if id(param) in seen and not quantized:  # a tied weight (lm_head = embedding) is stored once...
                continue
            seen.add(id(param))  # ...unless a method quantizes one side: torch.ao makes lm_head its own int8 copy
            entry = parts.setdefault(part(name), Part(part(name)))
            if quantized:
                entry.quantized += param.numel()
                entry.quantized_rows += param.numel() // param.shape[-1]
                entry.quantized_by.add(_swapped_name(module, method))
            else:
                entry.kept += param.numel()
                entry.kept_in.add(type(module).__name__)
    order = [label for label, _ in PARTS]
    return LayerPlan(ckpt.id, method, dict(sorted(parts.items(), key=lambda kv: order.index(kv[0]))), skipped, how)


def plans_frame(model_id: str, methods) -> "object":
    """One row per part of `model_id`, one column per method: what each method does to it (a pandas DataFrame)."""
    import pandas as pd

    done = {key: plan(model_id, key) for key in methods}
    first = next(iter(done.values()))
    rows = []
    for name, p in first.parts.items():
        row = {"part": name, "parameters (B)": round((p.quantized + p.kept) / 1e9, 3)}
        row.update({METHODS[key].label: done[key].parts[name].verdict for key in done})
        rows.append(row)
    rows.append({"part": "quantized share", "parameters (B)": round((first.quantized + first.kept) / 1e9, 3),
                 **{METHODS[k].label: f"{p.quantized / (p.quantized + p.kept):.1%}" for k, p in done.items()}})
    return pd.DataFrame(rows).set_index("part")


def parts_of(model) -> dict[str, dict]:
    """Measured on a loaded model: per part, the bytes its tensors occupy and their dtypes / tensor classes."""
    from types import SimpleNamespace

    from ..memory import loaded_bytes

    groups: dict[str, dict] = {}
    for name, value in model.state_dict().items():
        groups.setdefault(part(name), {})[name] = value
    out = {}
    for name, entries in sorted(groups.items(), key=lambda kv: [p for p, _ in PARTS].index(kv[0])):
        kinds = set().union(*(_kinds(v) for v in entries.values()))
        out[name] = {"bytes": loaded_bytes(SimpleNamespace(state_dict=lambda e=entries: e)), "stored as": sorted(kinds)}
    return out


def _kinds(value) -> set:
    """How a state_dict entry is stored: its dtype, or the tensor class of a quantized subclass (Int8Tensor...)."""
    import torch

    if isinstance(value, (list, tuple)):  # torch.ao packs (qint8 weight, bias)
        return set().union(set(), *(_kinds(v) for v in value))
    if not isinstance(value, torch.Tensor):
        return set()
    if type(value) not in (torch.Tensor, torch.nn.Parameter) and hasattr(value, "__tensor_flatten__"):
        return {type(value).__name__}
    return {str(value.dtype).replace("torch.", "")}


# bitsandbytes 0.50 repacks 4-bit weights for CPUs with AVX512-BF16 in blocks of 32 output rows and asserts that the
# rows divide (`_convert_weight_packed_for_cpu(block_n=32)` in bitsandbytes/functional.py); other CPUs take another path.
BNB_CPU_BLOCK_ROWS = 32


def bnb_cpu_blockers(model_id: str, method: str = "bnb-nf4") -> dict[str, int]:
    """Layers `method` quantizes whose output rows are not a multiple of 32: bitsandbytes' CPU 4-bit kernel (on
    AVX512-BF16 CPUs) refuses them at the first forward pass. Layer index replaced by '*'; name -> rows."""
    model = _meta(model_id)
    decide, _, _ = _decide(model, method)
    found = {}
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if weight is None or weight.ndim != 2 or not decide(f"{name}.weight", module):
            continue
        if weight.shape[0] % BNB_CPU_BLOCK_ROWS:
            found[re.sub(r"\.\d+\.", ".*.", name)] = int(weight.shape[0])
    return found
