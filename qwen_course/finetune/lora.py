"""Sizing a LoRA run: presets per machine, trainable parameters, training memory, and sharding across GPUs."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .._display import Table
from .._paths import load_json
from ..offline.kinds import TRAINED_KIND as TRAINED_STAND_IN  # the offline kind section 6 fine-tunes
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
    """Which preset fits: a stand-in's own (the trained one or the random ones), else by device and accelerator memory."""
    if stand_in:
        return "trained-stand-in" if stand_in == TRAINED_STAND_IN else "tiny-stand-in"
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


FULL_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
LINEAR_ATTENTION = ("in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "out_proj")  # Qwen3.5/3.6 Gated DeltaNet
MLP = ("gate_proj", "up_proj", "down_proj")


def linear_shapes(model_id: str) -> list[dict[str, tuple[int, int]]]:
    """(in, out) of every nn.Linear in each decoder layer, by module name, as transformers builds the text model.

    Qwen3.5/3.6 (hybrid): Gated DeltaNet layers hold in_proj_qkv, in_proj_z, in_proj_b, in_proj_a and out_proj; the
    full-attention layer (one in four) doubles q_proj for its output gate. MoE experts are fused 3-D tensors, not
    nn.Linear, so LoRA's linear targets do not reach them: MoE models are refused here rather than miscounted.
    """
    from .. import catalog

    ckpt = catalog.get(model_id)
    cfg = ckpt.text_config
    if ckpt.is_moe:
        raise ValueError(f"{model_id} is a mixture of experts: its experts are fused 3-D tensors that LoRA's linear "
                         "targets do not reach, so this count would be wrong; size a dense model")
    hidden, inter = cfg["hidden_size"], cfg["intermediate_size"]
    head_dim = catalog.head_dim(cfg)
    gate = 2 if ckpt.is_hybrid else 1  # the hybrid generation's full attention has a sigmoid output gate in q_proj
    q, kv = cfg["num_attention_heads"] * head_dim, cfg["num_key_value_heads"] * head_dim
    mlp = {"gate_proj": (hidden, inter), "up_proj": (hidden, inter), "down_proj": (inter, hidden)}
    full = {"q_proj": (hidden, q * gate), "k_proj": (hidden, kv), "v_proj": (hidden, kv), "o_proj": (q, hidden), **mlp}
    if not ckpt.is_hybrid:
        return [full] * cfg["num_hidden_layers"]
    heads_v, value = cfg["linear_num_value_heads"], catalog.value_dim(cfg)
    linear = {"in_proj_qkv": (hidden, catalog.conv_dim(cfg)), "in_proj_z": (hidden, value),
              "in_proj_b": (hidden, heads_v), "in_proj_a": (hidden, heads_v), "out_proj": (value, hidden), **mlp}
    return [full if kind == "full_attention" else linear for kind in ckpt.layer_types]


def lora_parameters(model_id: str, rank: int, target_modules=FULL_ATTENTION) -> int:
    """Parameters a LoRA adapter adds to a catalog model's text decoder: rank * (in + out) per targeted linear layer.

    "all-linear" means every linear layer of the decoder, as PEFT resolves it on the text-only class
    (AutoModelForCausalLM); on the image-text class PEFT would also adapt the vision tower, which is not counted.
    """
    layers = linear_shapes(model_id)
    known = set().union(*layers)
    if isinstance(target_modules, str):
        target_modules = known if target_modules == "all-linear" else [target_modules]
    targets = set(target_modules)
    unknown = sorted(targets - known - set(FULL_ATTENTION + LINEAR_ATTENTION + MLP))  # a name of the other generation
    if unknown:                                                                        # adapts nothing here, like PEFT
        raise ValueError(f"unknown target modules {unknown} for {model_id}; choose from {sorted(known)} or 'all-linear'")
    return sum(rank * sum(shapes[t]) for shapes in layers for t in targets if t in shapes)


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
