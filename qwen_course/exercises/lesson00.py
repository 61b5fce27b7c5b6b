"""Checks for notebook 00: memory arithmetic by hand and predicting the picker."""

from __future__ import annotations

from ._check import CheckResult, check, number_verify, pick_verify


def check_weights_gb(answer, model_id: str = "Qwen/Qwen2.5-7B-Instruct", precision: str = "bf16") -> CheckResult:
    """Weights of a model in GB (decimal), computed by hand from its parameter count."""
    from ..memory import weights_bytes

    expected = weights_bytes(model_id, precision) / 1e9

    gib = "close, but mixed GB and GiB; the course uses decimal GB (1e9 bytes)."
    verify = number_verify(expected, "{:.2f} GB", f"right, {model_id} has {expected:.2f} GB of {precision} weights.",
                           [(expected * 1.073741824, gib), (expected / 1.073741824, gib)], rel=0.03)

    return check("check_weights_gb", answer, verify,
                 "parameters x bytes per parameter (bf16 = 2 bytes), divided by 1e9. catalog.param_count(...) gives the parameters.")


def check_kv_cache_gb(answer, model_id: str = "Qwen/Qwen3-8B", context: int = 32768) -> CheckResult:
    """KV cache of one sequence in GB for a model and context, in bf16."""
    from ..memory import kv_bytes_per_token

    expected = kv_bytes_per_token(model_id, "bf16") * context / 1e9

    verify = number_verify(expected, "{:.2f} GB", "right.",
                           [(expected / 2, "half the answer: did you count both K and V?")], rel=0.03)

    return check("check_kv_cache_gb", answer, verify,
                 "2 (K and V) x layers x KV heads x head_dim x 2 bytes x tokens; the numbers are in catalog.get(id).text_config.")


def check_t4_pick(answer, task: str = "chat") -> CheckResult:
    """The (model_id, precision) the picker chooses for a 16 GB T4."""
    from ..hardware import profile
    from ..picker import pick

    expected = pick(task, profile("t4"))

    verify = pick_verify(expected, "what does a T4 (compute capability 7.5) lack?", ".")

    return check("check_t4_pick", answer, verify,
                 "A T4 has 16 GB and no fast bf16; try estimate(...) for candidates in fp16 and int4 against 90% of 16 GB.")
