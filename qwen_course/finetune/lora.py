"""Sizing a LoRA run: presets per machine, trainable parameters, training memory, and sharding across GPUs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .._display import Table
from .._paths import load_json
from .data import DATA, _Rows
# ---------------------------------------------------------------- LoRA presets per machine
@dataclass(repr=False)
class LoraPreset(Table):
    """LoRA and training settings sized for one machine (data/finetune/presets.json); `why` says how it was chosen."""

    name: str
    model_id: str
    rank: int
    alpha: int
    dropout: float
    target_modules: str | list
    batch_size: int
    grad_accum: int
    learning_rate: float
    max_steps: int
    max_length: int
    precision: str
    load_in_4bit: bool
    gradient_checkpointing: bool
    eval_steps: int
    save_steps: int
    train_answer_tokens: bool = False
    why: str = ""
    _title = "LoRA preset"

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum

    def _rows(self):
        rows = [(k, v) for k, v in asdict(self).items() if k != "why"]
        return rows + [("effective batch", self.effective_batch), ("why", self.why)]

    def __repr__(self) -> str:
        return str(self)


def _preset_table() -> dict:
    return load_json(f"{DATA}/presets.json")


def preset_name(hardware, stand_in: str | None = None) -> str:
    """Which preset fits: the tiny stand-in's own, else by device and accelerator memory."""
    if stand_in:
        return "tiny-stand-in"
    if hardware.device != "cuda":
        return "mps" if hardware.device == "mps" else "cpu"
    memory_gb = (hardware.accelerator_memory_total or hardware.usable_memory) / 1e9
    for name, limit in _preset_table()["cuda_by_memory_gb"]:
        if memory_gb <= limit:
            return name
    return _preset_table()["cuda_by_memory_gb"][-1][0]


def preset(hardware=None, stand_in: str | None = None, model_id: str | None = None) -> LoraPreset:
    """The LoRA preset for this machine (detected if None); `stand_in` (a Pick's offline kind) selects the tiny run."""
    if hardware is None:
        from ..hardware import detect

        hardware = detect()
    name = preset_name(hardware, stand_in)
    spec = dict(_preset_table()["presets"][name])
    if hardware.device == "cuda" and spec["precision"] == "bf16" and not hardware.bf16_fast:
        spec["precision"], spec["why"] = "fp16", spec["why"] + " fp16 because this GPU has no fast bf16."
    if model_id:
        spec["model_id"] = model_id
    return LoraPreset(name=name, **spec)


def lora_parameters(model_id: str, rank: int, target_modules=("q_proj", "k_proj", "v_proj", "o_proj")) -> int:
    """Parameters a LoRA adapter adds to a catalog model: rank * (in + out) for each targeted linear layer."""
    from .. import catalog

    cfg = catalog.get(model_id).text_config
    hidden, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    head_dim = cfg.get("head_dim") or hidden // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * head_dim, cfg["num_key_value_heads"] * head_dim
    shapes = {"q_proj": (hidden, q), "k_proj": (hidden, kv), "v_proj": (hidden, kv), "o_proj": (q, hidden),
              "gate_proj": (hidden, inter), "up_proj": (hidden, inter), "down_proj": (inter, hidden)}
    targets = list(shapes) if target_modules == "all-linear" else list(target_modules)
    unknown = [t for t in targets if t not in shapes]
    if unknown:
        raise ValueError(f"unknown target modules {unknown}; choose from {list(shapes)} or 'all-linear'")
    return layers * sum(rank * sum(shapes[t]) for t in targets)


BYTES_PER_TRAINED_PARAM = 16  # fp32 weight + fp32 gradient + two fp32 Adam moments


def adapter_training_bytes(parameters: int) -> int:
    """Memory the adapter's training state takes (weights, gradients, AdamW moments), activations not included."""
    return parameters * BYTES_PER_TRAINED_PARAM


def sharding_table(model_id: str, gpus: int, rank: int = 16, target_modules="all-linear") -> _Rows:
    """Training memory (weights + gradients + optimizer, no activations) per GPU: one GPU, DDP copies, FSDP shards."""
    from .. import catalog

    params = catalog.param_count(model_id).total
    lora = adapter_training_bytes(lora_parameters(model_id, rank, target_modules))
    plans = {"full fine-tune (16 B/param)": params * BYTES_PER_TRAINED_PARAM,
             f"LoRA r={rank} on a bf16 base (2 B/param + adapter)": params * 2 + lora}
    gb = lambda n: f"{n / 1e9:.1f} GB"  # noqa: E731
    rows = [(what, gb(total), gb(total), gb(total / gpus)) for what, total in plans.items()]
    return _Rows(f"{model_id}: training state per GPU", ("method", "1 GPU", f"DDP, {gpus} GPUs (each)",
                                                           f"FSDP, {gpus} GPUs (each)"), rows)
