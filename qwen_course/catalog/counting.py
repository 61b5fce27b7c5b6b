"""Parameters from config numbers alone (no torch), part by part, as transformers 5.24 builds each Qwen class.

Dense and MoE decoders, the hybrid stack of Qwen3-Next / Qwen3.5 (Gated DeltaNet layers with a gated full-attention
layer every fourth), the vision towers, Qwen3-Omni's audio encoder, and the multi-token-prediction (MTP) layer that
Qwen3.5 checkpoints ship but transformers does not build (it counts in the download, not in memory).
"""

from __future__ import annotations

from dataclasses import dataclass

HYBRID_TYPES = ("qwen3_next", "qwen3_5", "qwen3_5_moe")  # gated full attention + Gated DeltaNet layers


@dataclass(frozen=True)
class ParamCount:
    """Parameters by part; `total` counts tied embeddings once, `active` is per token (MoE).

    `linear_attention` is the share of `attention` in Gated DeltaNet layers (hybrid models); `audio` is an audio
    encoder (Qwen3-Omni) and counts in `total` like `vision`.
    """

    embedding: int
    lm_head: int
    attention: int
    mlp: int
    norms: int
    vision: int = 0

    @property
    def total(self) -> int:
        return self.embedding + self.lm_head + self.attention + self.mlp + self.norms + self.vision + self.audio

    active: int = 0
    audio: int = 0
    linear_attention: int = 0


def head_dim(cfg: dict) -> int:
    """Per-head width: explicit in Qwen3 configs, hidden/heads in Qwen2 ones."""
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def is_hybrid(cfg: dict) -> bool:
    """Whether a text config has Gated DeltaNet (linear attention) layers."""
    return "linear_num_value_heads" in cfg


def layer_types(cfg: dict) -> list[str]:
    """'full_attention' / 'linear_attention' per layer: explicit, or one full layer every `full_attention_interval`."""
    if "layer_types" in cfg:
        return list(cfg["layer_types"])
    if not is_hybrid(cfg):
        return ["full_attention"] * cfg["num_hidden_layers"]
    every = cfg.get("full_attention_interval", 4)
    return ["full_attention" if (i + 1) % every == 0 else "linear_attention" for i in range(cfg["num_hidden_layers"])]


def conv_dim(cfg: dict) -> int:
    """Channels of the short causal convolution in a Gated DeltaNet layer: q, k and v side by side."""
    return 2 * cfg["linear_num_key_heads"] * cfg["linear_key_head_dim"] + value_dim(cfg)


def value_dim(cfg: dict) -> int:
    return cfg["linear_num_value_heads"] * cfg["linear_value_head_dim"]


def _linear_attention(cfg: dict) -> int:
    """One Gated DeltaNet layer: q/k/v and z (gate) projections, b and a per value head, conv, decay, norm, out."""
    h, heads_v = cfg["hidden_size"], cfg["linear_num_value_heads"]
    projections = h * conv_dim(cfg) + h * value_dim(cfg) + 2 * h * heads_v
    return projections + conv_dim(cfg) * cfg["linear_conv_kernel_dim"] + 2 * heads_v + cfg["linear_value_head_dim"] \
        + value_dim(cfg) * h


def _full_attention(model_type: str, cfg: dict) -> int:
    """One softmax-attention layer; hybrid models double q_proj for the sigmoid output gate."""
    h, heads, kv, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg)
    gate = 2 if model_type in HYBRID_TYPES else 1
    params = h * heads * hd * gate + 2 * h * kv * hd + heads * hd * h
    params += 2 * hd if model_type.startswith("qwen3") else 0  # q_norm and k_norm
    if model_type.startswith("qwen2"):  # Qwen2/2.5 have q/k/v biases
        params += heads * hd + 2 * kv * hd
    return params


def _mlp(cfg: dict) -> tuple[int, int]:
    """(all parameters, parameters one token uses) of one MLP layer: dense SwiGLU, or router + experts + shared."""
    h = cfg["hidden_size"]
    if "num_experts" not in cfg:
        dense = 3 * h * cfg["intermediate_size"]
        return dense, dense
    expert, router = 3 * h * cfg["moe_intermediate_size"], h * cfg["num_experts"]
    shared = 3 * h * cfg["shared_expert_intermediate_size"] + h if cfg.get("shared_expert_intermediate_size") else 0
    return cfg["num_experts"] * expert + router + shared, cfg["num_experts_per_tok"] * expert + router + shared


def vision_params(v: dict, out_hidden: int) -> int:
    """Vision tower: 3D patch embedding, ViT blocks (biases everywhere), and the 2x2 patch merger."""
    h, i, depth = v["hidden_size"], v["intermediate_size"], v["depth"]
    patch = v.get("in_channels", 3) * v.get("temporal_patch_size", 2) * v["patch_size"] ** 2 * h
    merge = v.get("spatial_merge_size", 2) ** 2
    attn = h * 3 * h + 3 * h + h * h + h
    gated = "window_size" in v  # Qwen2.5-VL uses a SwiGLU MLP; Qwen3-VL and Qwen3.5 a plain GELU MLP
    mlp = (2 * (h * i + i) + i * h + h) if gated else (h * i + i + i * h + h)
    norms = (2 * h) if gated else (4 * h)  # RMSNorm weight vs LayerNorm weight+bias
    merger_in = h * merge
    merger = merger_in * merger_in + merger_in + merger_in * out_hidden + out_hidden + (h if gated else 2 * h)
    extra = 0
    if not gated:  # learned position embeddings, patch bias and (Qwen3-VL) deepstack mergers
        extra = v.get("num_position_embeddings", 0) * h + h
        merger += len(v.get("deepstack_visual_indexes", ())) * (merger - 2 * h + 2 * merger_in)
    return patch + depth * (attn + mlp + norms) + merger + extra


def audio_params(a: dict) -> int:
    """Qwen3-Omni's audio encoder: three stride-2 2D convolutions, Whisper-style blocks, two output projections."""
    d, width, ffn = a["downsample_hidden_size"], a["d_model"], a["encoder_ffn_dim"]
    convs = (9 * d + d) + 2 * (9 * d * d + d) + d * (a["num_mel_bins"] // 8) * width
    block = 4 * (width * width + width) + width * ffn + ffn + ffn * width + width + 4 * width
    head = 2 * width + width * width + width + width * a["output_dim"] + a["output_dim"]
    return convs + a["encoder_layers"] * block + head


def count(model_type: str, config: dict, has_lm_head: bool = True) -> ParamCount:
    """Parameters of the model transformers builds from `config` (a config.json dict), by part."""
    c = config.get("text_config", config)
    h, vocab = c["hidden_size"], c["vocab_size"]
    types = layer_types(c)
    n_lin = types.count("linear_attention")
    linear = n_lin * _linear_attention(c) if n_lin else 0
    attention = (len(types) - n_lin) * _full_attention(model_type, c) + linear
    mlp_layer, active_mlp = _mlp(c)
    tied = c.get("tie_word_embeddings", config.get("tie_word_embeddings", False))
    embedding = vocab * h
    lm_head = 0 if tied or not has_lm_head else vocab * h
    norms = len(types) * 2 * h + h
    vision = vision_params(config["vision_config"], h) if "vision_config" in config else 0
    audio = audio_params(config["audio_config"]) if "audio_config" in config else 0
    mlp = len(types) * mlp_layer
    active = embedding + lm_head + attention + len(types) * active_mlp + norms + vision + audio
    return ParamCount(embedding, lm_head, attention, mlp, norms, vision, active=active, audio=audio,
                      linear_attention=linear)


def mtp_params(model_type: str, config: dict) -> int:
    """The multi-token-prediction head a checkpoint ships (Qwen3-Next, Qwen3.5): per layer a full-attention decoder
    layer with the model's MLP, plus the input projection (2h -> h), its two norms and a final norm.
    transformers 5.24 does not build it, so it costs download bytes and disk, not memory."""
    c = config.get("text_config", config)
    layers = c.get("mtp_num_hidden_layers", 0)
    if not layers:
        return 0
    h = c["hidden_size"]
    layer = _full_attention(model_type, c) + _mlp(c)[0] + 2 * h
    return layers * layer + 2 * h * h + 3 * h
