"""A lean training forward for Qwen3ForCausalLM: the same math as transformers' code, fewer and fused CPU kernels.

Used only for training speed (fused QKV and gate/up matmuls, torch's fused RMSNorm, causal SDPA without a
materialised mask); the weights are the Hugging Face module's own, and a test checks both forwards agree.
"""

from __future__ import annotations


def rotary(model, length: int, dtype):
    """cos/sin tables for positions 0..length-1, as Qwen3's rotary embedding computes them."""
    import torch

    inv = model.model.rotary_emb.inv_freq
    freqs = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :].float()
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate(x, cos, sin):
    """Apply rotary position embeddings (rotate-half convention)."""
    import torch

    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def hidden_states(model, ids):
    """Final normed hidden states of a right-padded batch (no attention mask needed: pads only follow tokens)."""
    import torch
    import torch.nn.functional as F

    cfg = model.config
    batch, length = ids.shape
    h = model.model.embed_tokens(ids)
    cos, sin = rotary(model, length, h.dtype)
    heads, kv, dim, eps = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.rms_norm_eps
    for layer in model.model.layers:
        att, mlp = layer.self_attn, layer.mlp
        x = F.rms_norm(h, (h.shape[-1],), layer.input_layernorm.weight, eps)
        qkv = F.linear(x, torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]))
        q, k, v = qkv.split([heads * dim, kv * dim, kv * dim], dim=-1)
        q = F.rms_norm(q.view(batch, length, heads, dim), (dim,), att.q_norm.weight, eps).transpose(1, 2)
        k = F.rms_norm(k.view(batch, length, kv, dim), (dim,), att.k_norm.weight, eps).transpose(1, 2)
        v = v.view(batch, length, kv, dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        h = h + F.linear(o.transpose(1, 2).reshape(batch, length, heads * dim), att.o_proj.weight)
        x = F.rms_norm(h, (h.shape[-1],), layer.post_attention_layernorm.weight, eps)
        gate, up = F.linear(x, torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])).chunk(2, dim=-1)
        h = h + F.linear(F.silu(gate) * up, mlp.down_proj.weight)
    return F.rms_norm(h, (h.shape[-1],), model.model.norm.weight, eps)
