"""Checks for notebook 00: memory arithmetic by hand and predicting the picker."""

from __future__ import annotations

from ._check import CheckResult, check, number_verify, pick_verify


def check_weights_gb(answer, model_id: str = "Qwen/Qwen2.5-7B-Instruct", precision: str = "bf16") -> CheckResult:
    """Weights of a model in GB (decimal), computed by hand from its parameter count."""
    from ..memory import precision_spec, weights_bytes

    expected = weights_bytes(model_id, precision) / 1e9

    gib = "close, but mixed GB and GiB; the course uses decimal GB (1e9 bytes)."
    per_param = precision_spec(precision)["weight_bytes"]  # bytes per parameter
    verify = number_verify(expected, "{:.2f} GB", f"right, {model_id} has {expected:.2f} GB of {precision} weights.",
                           [(expected * 1.073741824, gib), (expected / 1.073741824, gib),
                            (expected / per_param, f"that is one byte per parameter; {precision} takes {per_param:g}."),
                            (expected * 4 / per_param, f"that is fp32 (4 bytes per parameter); {precision} takes {per_param:g}."),
                            (expected / per_param / 1e9, "that is the parameter count in billions, not the size in GB.")],
                           rel=0.03)

    return check("check_weights_gb", answer, verify,
                 "parameters x bytes per parameter (bf16 = 2 bytes), divided by 1e9. catalog.param_count(...) gives the parameters.")


def check_kv_cache_gb(answer, model_id: str = "Qwen/Qwen3-8B", context: int = 32768) -> CheckResult:
    """KV cache of one sequence in GB for a model and context, in bf16."""
    from ..catalog import get
    from ..memory import kv_bytes_per_token

    expected = kv_bytes_per_token(model_id, "bf16") * context / 1e9
    c = get(model_id).text_config
    mha = expected * c["num_attention_heads"] / c["num_key_value_heads"]

    verify = number_verify(expected, "{:.2f} GB", f"right, {expected / context * 1e9:,.0f} bytes per token x {context:,} tokens.",
                           [(expected / 2, "half the answer: did you count both K and V?"),
                            (mha, "that counts every query head; with GQA only the KV heads are cached."),
                            (expected / 1.073741824, "close, but that is GiB; the course uses decimal GB (1e9 bytes)."),
                            (expected * 2, "that is 4 bytes per value (fp32); the cache is in bf16, 2 bytes.")],
                           rel=0.03)

    return check("check_kv_cache_gb", answer, verify,
                 "2 (K and V) x layers x KV heads x head_dim x 2 bytes x tokens; the numbers are in catalog.get(id).text_config.")


def check_t4_pick(answer, task: str = "chat") -> CheckResult:
    """The (model_id, precision) the picker chooses for a 16 GB T4."""
    from ..hardware import profile
    from ..picker import pick

    hw = profile("t4")
    expected = pick(task, hw, build_stand_in=False)

    verify = pick_verify(expected, task, hw)

    return check("check_t4_pick", answer, verify,
                 "A T4 has 16 GB and no fast bf16; try estimate(...) for candidates in fp16 and int4 against 90% of 16 GB.")
