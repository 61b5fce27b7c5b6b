"""The picker's answer: which checkpoint, where it loads from here, with which dtype, config and post-load step, and why."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import catalog
from .._display import Table, gb
from ..memory import Estimate, duration
from ..precision import TORCH_DTYPES, route_for
from .rules import rules


class NothingFitsError(RuntimeError):
    """No catalog model fits the memory; the message says what the smallest option needs."""


@dataclass(repr=False)
class Pick(Table):
    """The picker's decision: which checkpoint, where it loads from here, how, and why."""

    task: str
    model_id: str
    model_path: str
    precision: str
    device: str
    estimate: Estimate | None
    reason: str
    alternatives: list = field(default_factory=list)
    context: int = 4096
    offline: bool = False
    offline_reason: str = ""
    stand_in: str | None = None
    route: str | None = None  # the quantization method key behind the precision (see qwen_course.precision)
    download_id: str = ""  # the repository the weights come from: Qwen's -FP8 release for an fp8 pick, else model_id
    download_bytes: int = 0
    download_seconds: float = 0.0  # at the bandwidth stated in data/picker.json
    notes: list = field(default_factory=list)
    compute: str | None = None  # a GPU's 16-bit compute dtype: "float16" below compute capability 8.0, else bf16

    @property
    def thinking_default(self) -> bool | None:
        """Whether the checkpoint's template thinks unless told otherwise (None for a local folder)."""
        return catalog.find(self.model_id).thinks_by_default if catalog.find(self.model_id) else None

    def sampling(self, mode: str | None = None) -> dict:
        """Qwen's recommended sampling for a mode ("thinking", "non-thinking", ...; default: the template's default)."""
        return catalog.find(self.model_id).sampling(mode) if catalog.find(self.model_id) else {}

    def generate_kwargs(self, mode: str | None = None) -> dict:
        """`sampling(mode)` as `model.generate(**kwargs)` takes it: do_sample, less presence_penalty (vLLM/OpenAI)."""
        return {"do_sample": True, **{k: v for k, v in self.sampling(mode).items() if k != "presence_penalty"}}

    @property
    def dtype_name(self) -> str:
        """The name of the dtype to load with (the compute dtype for quantized picks); no torch import."""
        if self.precision in ("int8", "int4"):
            from ..precision import load_dtype_name

            # CPU int8 kernels take fp32 activations, torchao int4 bf16; on a GPU the matmuls run in its 16-bit dtype
            return load_dtype_name(self._route, self.device, self.compute)
        return TORCH_DTYPES.get(self.precision, "bfloat16")  # fp8: Qwen's FP8 release computes in bf16

    @property
    def torch_dtype(self):
        """The torch dtype to load with (the compute dtype for quantized picks)."""
        import torch

        return getattr(torch, self.dtype_name)

    @property
    def _route(self) -> str:
        return self.route or route_for(self.precision, self.device)

    @property
    def device_map(self):
        return "auto" if self.device == "cuda" else self.device

    @property
    def quantization_config(self):
        """The transformers config of the pick's route (bitsandbytes on CUDA, a torchao/quanto CPU winner), else None."""
        from ..precision import quantization_config

        return quantization_config(self._route, self.compute)

    @property
    def post_load(self) -> str | None:
        """What `after_load` does to a loaded model here, in words; None when nothing."""
        if self.device == "cpu" and self._route == "ao-dynamic-int8":
            return "torch.ao.quantization.quantize_dynamic: nn.Linear weights to int8 (lesson 03)"
        return None

    def after_load(self, model):
        """The step after `from_pretrained` that some picks need (torch.ao dynamic int8 on CPU); else the model as is."""
        if self.post_load is None:
            return model
        from ..precision import apply_post_load

        return apply_post_load(model, self._route)

    def to_dict(self) -> dict:
        return {
            "task": self.task, "model_id": self.model_id, "model_path": self.model_path,
            "precision": self.precision, "route": self._route, "post_load": self.post_load,
            "dtype": self.dtype_name,
            "device": self.device,
            "device_map": self.device_map, "context": self.context,
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "reason": self.reason, "alternatives": self.alternatives,
            "offline": self.offline, "offline_reason": self.offline_reason, "stand_in": self.stand_in,
            "download_id": self.download_id, "download_bytes": self.download_bytes,
            "download_seconds": self.download_seconds, "thinking_default": self.thinking_default,
            "sampling": self.sampling(), "notes": self.notes,
        }

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Pick for task '{self.task}'"

    def _rows(self):
        where = f"{self.model_path} (offline stand-in: {self.offline_reason})" if self.offline else self.model_path
        precision = self.precision if self._route == self.precision else f"{self.precision} ({self._route})"
        rows = [("model", self.model_id), ("loads from", where), ("precision", precision),
                ("device", self.device), ("context", f"{self.context:,}")]
        if self.post_load:
            rows.append(("after loading", self.post_load))
        if self.estimate:
            rows.append(("memory needed", gb(self.estimate.total_bytes)))
        if self.download_bytes:
            rows.append(("download", f"{self.download_id}: {gb(self.download_bytes)}, {duration(self.download_seconds)} "
                                     f"at {rules()['download_mbit_per_s']} Mbit/s"))
        if self.thinking_default is not None:
            rows.append(("thinks by default", self.thinking_default))
        rows += [("why", self.reason)] + [("note", note) for note in self.notes]
        for alt in self.alternatives[:4]:
            rows.append(("alternative", f"{alt['model_id']} {alt['precision']} ({gb(alt['total_bytes'])})"))
        return rows
