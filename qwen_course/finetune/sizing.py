"""Memory for a QLoRA run on one GPU: the 4-bit base, the adapter's training state and the activations, with every
assumption written next to the number (lesson 06 prints it for Qwen3.5-9B and 27B).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._display import Table, gb
from .data import _Rows
from .lora import adapter_training_bytes, lora_parameters

ACTIVATION_BYTES = 2  # bf16 hidden states
NF4_DOUBLE_QUANT_SAVING = (0.5 - 0.127) / 8  # bytes per weight: fp32 absmax per 64 -> 8-bit absmax + fp32 per 256 blocks


@dataclass(repr=False)
class TrainingMemory(Table):
    """Bytes one GPU holds while training LoRA adapters on a frozen base, part by part, with the assumptions."""

    model_id: str
    parts: dict = field(default_factory=dict)  # label -> bytes; they sum to total_bytes
    notes: list = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return int(sum(self.parts.values()))

    @property
    def _title(self) -> str:  # type: ignore[override]
        return f"Training memory: {self.model_id}"

    def __repr__(self) -> str:
        return str(self)

    def _rows(self):
        return [(k, gb(v)) for k, v in self.parts.items()] + [("total", gb(self.total_bytes))] + \
            [("assumes", n) for n in self.notes]


def training_memory(model_id: str, rank: int = 16, target_modules="all-linear", batch: int = 8, seq_len: int = 512,
                    base: str = "int4", gradient_checkpointing: bool = True) -> TrainingMemory:
    """QLoRA (base "int4": bitsandbytes NF4 with double quantization) or LoRA on a 16-bit base ("bf16"), text model.

    Activations are a rough term: with gradient checkpointing each layer keeps its input hidden state and one layer
    at a time is recomputed in full; without it every layer keeps its internals.
    """
    from .. import catalog, memory

    ckpt = catalog.get(model_id)
    c = ckpt.text_config
    est = memory.estimate(model_id, base, context=seq_len, batch=batch)
    tower = sum(v for k, v in est.breakdown.items() if k.startswith("weights:") and ("tower" in k or "encoder" in k))
    weights = est.weights_bytes - tower
    if base == "int4":
        linear = catalog.param_count(ckpt)
        weights -= int((linear.attention + linear.mlp) * NF4_DOUBLE_QUANT_SAVING)
    adapter = lora_parameters(model_id, rank, target_modules)
    tokens, hidden, layers = batch * seq_len, c["hidden_size"], c["num_hidden_layers"]
    one_layer = tokens * (8 * hidden + 3 * c["intermediate_size"]) * ACTIVATION_BYTES
    kept = tokens * hidden * ACTIVATION_BYTES * layers + one_layer if gradient_checkpointing else one_layer * layers
    logits = tokens * c["vocab_size"] * 4
    how = "NF4 4-bit (bitsandbytes, double quantization)" if base == "int4" else base
    parts = {
        f"base weights, {how}; embeddings, norms and head in 16 bits": weights,
        f"LoRA adapter r={rank}: fp32 weights, gradients, two AdamW moments (16 bytes per parameter)":
            adapter_training_bytes(adapter),
        "activations, " + ("checkpointed: one hidden state per layer + one layer recomputed (rough)"
                           if gradient_checkpointing else "every layer's internals kept (rough)"): kept,
    }
    notes = [f"batch {batch} x {seq_len} tokens; the text model only (AutoModelForCausalLM does not load the vision "
             f"tower); the adapter has {adapter / 1e6:.1f}M parameters",
             f"TRL's SFTTrainer computes the loss in chunks, so the logits never exist all at once; full fp32 logits "
             f"would add {gb(logits)} ({c['vocab_size']:,}-token vocabulary)",
             "not counted: the CUDA context (about 0.5 GB) and allocator fragmentation"]
    if ckpt.is_hybrid:
        notes.append(f"not counted either: transformers' torch path computes the chunked delta rule of the "
                     f"{ckpt.layer_types.count('linear_attention')} Gated DeltaNet layers in fp32 "
                     "(torch_chunk_gated_delta_rule in modeling_qwen3_5.py), one layer at a time")
    return TrainingMemory(model_id, parts, notes)


def training_memory_table(model_ids, **kwargs) -> _Rows:
    """`training_memory` for several models side by side, with the GPU sizes each total fits (90 % usable)."""
    runs = [training_memory(m, **kwargs) for m in model_ids]
    labels = list(runs[0].parts)
    rows = [(label.split(",")[0].split(":")[0], *(gb(r.parts.get(label, 0)) for r in runs)) for label in labels]
    rows.append(("total", *(gb(r.total_bytes) for r in runs)))
    sizes = (16, 24, 40, 48, 80)
    rows.append(("fits a GPU of (90 % usable)",
                 *(next((f"{s} GB" for s in sizes if r.total_bytes <= 0.9 * s * 1e9), "none of 16-80 GB") for r in runs)))
    title = f"{'QLoRA' if kwargs.get('base', 'int4') == 'int4' else 'LoRA'} memory on one GPU, " + \
        runs[0].notes[0].split(";")[0]
    return _Rows(title, ("part", *(r.model_id for r in runs)), rows)
