"""Checks for notebook 03: bytes per weight, quantized footprints, configs, and predictions checked against measurements."""

from __future__ import annotations

from ._check import CheckResult, check, number_verify


def check_int4_bytes_per_weight(answer, group_size: int = 128, scale_bytes: int = 2, zero_bytes: int = 2) -> CheckResult:
    """Bytes per weight of 4-bit weights with one scale and one zero point per group."""
    expected = 0.5 + (scale_bytes + zero_bytes) / group_size

    verify = number_verify(expected, "{:g} bytes per weight",
                           f"right ({8 * expected:g} bits per weight, {8 * expected - 4:g} of them metadata).",
                           [(0.5, "that counts the 4-bit values only: each group also stores a scale and a zero point."),
                            (8 * expected, "that is in bits; the question asks for bytes.")], rel=0.005)

    return check("check_int4_bytes_per_weight", answer, verify,
                 f"4 bits = 0.5 bytes per weight, plus ({scale_bytes} + {zero_bytes}) bytes shared by {group_size} weights.")


def check_int4_weights_gb(answer, model_id: str = "Qwen/Qwen3-8B") -> CheckResult:
    """The course's int4 weight footprint (GB): quantized Linear layers with scales, 16-bit embeddings, lm_head and norms."""
    from .. import catalog
    from ..memory import precision_spec, weights_bytes

    expected = weights_bytes(model_id, "int4") / 1e9
    count = catalog.param_count(model_id)
    naive = count.total * 0.5 / 1e9
    spec = precision_spec("int4")
    linear, kept = count.attention + count.mlp, count.total - count.attention - count.mlp
    no_scales = (linear * 0.5 + kept * 2) / 1e9
    scales = f"one {spec['scale_bytes']}-byte scale per {spec['group_size']} weights"
    half_scales = (linear * 0.5 + linear / spec["group_size"] * spec["scale_bytes"] / 2 + kept * 2) / 1e9
    all_quantized = (count.total * 0.5 + linear / spec["group_size"] * spec["scale_bytes"]) / 1e9

    verify = number_verify(expected, "{:.2f} GB", f"right. Only {expected / (count.total * 2 / 1e9):.0%} of the bf16 size, not 25%.",
                           [(naive, "that puts every parameter in 4 bits; embeddings, lm_head and norms stay in 16-bit."),
                            (no_scales, f"that leaves out the scales: {scales}."),
                            (half_scales, f"the scales are half as large as they should be: {scales}."),
                            (all_quantized, "the embedding, lm_head and norms stay at 2 bytes per parameter.")])

    return check("check_int4_weights_gb", answer, verify,
                 "catalog.param_count(id) splits the parameters: attention + mlp go to 4 bits plus scales; "
                 "embedding + lm_head + norms stay at 2 bytes.")


def check_quanto_int4_config(answer) -> CheckResult:
    """A transformers config that loads the weights as optimum-quanto int4."""

    def verify(value):
        from transformers import QuantoConfig

        if not isinstance(value, QuantoConfig):
            return False, f"expected a transformers QuantoConfig, got {type(value).__name__}."
        if value.weights != "int4":
            return False, f"weights={value.weights!r}: the task asks for 4-bit weights."
        if value.activations is not None:
            return False, "leave activations unquantized (None): weight-only is what runs well on CPU."
        return True, "QuantoConfig(weights='int4'): pass it as from_pretrained(..., quantization_config=...)."

    return check("check_quanto_int4_config", answer, verify,
                 "from transformers import QuantoConfig; the weights argument takes 'int8', 'int4', 'int2' or 'float8'.")


def _ran(results):
    return [r for r in results if getattr(r, "ran", False) and getattr(r, "decode_tokens_per_s", None)]


def check_fastest_method(answer, results) -> CheckResult:
    """Your prediction of the fastest decoding method here, checked against the measured results."""
    ran = sorted(_ran(results), key=lambda r: -r.decode_tokens_per_s)
    ranking = ", ".join(f"{r.label} {r.decode_tokens_per_s:.1f}" for r in ran[:4])

    def verify(value):
        if not ran:
            return False, "no method was measured: run the comparison cell first."
        names = {r.method: r for r in ran} | {r.label: r for r in ran}
        if value not in names:
            return False, f"{value!r} is not a measured method; use one of: {', '.join(r.method for r in ran)}."
        if names[value] is ran[0]:
            return True, f"{ran[0].label} decodes fastest here (tok/s: {ranking})."
        return False, f"measured here it is {ran[0].label} (tok/s: {ranking}). Why might your guess lose on this CPU?"

    return check("check_fastest_method", answer, verify,
                 "On a CPU decoding reads every weight once per token: fewer bytes help, but only if the kernel is fast.")


def check_turn_choice(answer, measurement: dict, prompt_tokens: int = 2000, answer_tokens: int = 50) -> CheckResult:
    """Which measured CPU route (or its precision) finishes a long-prompt, short-answer turn first."""
    from ..precision import turn_seconds

    rows = {k: r for k, r in measurement.get("results", {}).items() if r.get("error") is None}
    times = {k: turn_seconds(r, prompt_tokens, answer_tokens) for k, r in rows.items()}
    best = min(times, key=times.get) if times else None
    table = ", ".join(f"{k} {t:.1f} s" for k, t in sorted(times.items(), key=lambda x: x[1]))

    def verify(value):
        if best is None:
            return False, "the measurement has no results: run the measurement cell first."
        precisions = {r.get("precision", k): k for k, r in sorted(rows.items(), key=lambda kv: -times[kv[0]])}
        key = value if value in times else precisions.get(value)
        if key is None:
            return False, f"{value!r} was not measured; choose from {', '.join(times)}."
        if key == best:
            return True, f"{value}: the turn takes {table}. Long prompts reward fast prefill."
        fastest_decode = max(rows, key=lambda k: rows[k]["decode_tokens_per_s"])
        if key == fastest_decode:
            return False, (f"{value} decodes fastest, but the {prompt_tokens}-token prompt dominates this turn: "
                           f"{value} takes {times[key]:.1f} s; the times are {table}.")
        return False, f"{value} takes {times[key]:.1f} s; the times are {table}."

    return check("check_turn_choice", answer, verify,
                 f"time = {prompt_tokens} / prefill tokens per second + {answer_tokens} / decode tokens per second, "
                 "for every route in measurement['results'].")


def check_q8_0_file_gb(answer, model_id: str = "Qwen/Qwen3-0.6B") -> CheckResult:
    """Size of a GGUF file with every weight in Q8_0 (blocks of 32 int8 values and one fp16 scale)."""
    from .. import catalog

    params = catalog.param_count(model_id).total
    expected = params * 34 / 32 / 1e9

    verify = number_verify(expected, "{:.3f} GB", "right, 8.5 bits per weight.",
                           [(params / 1e9, "that is one byte per weight: every block of 32 also stores a 2-byte scale.")])

    return check("check_q8_0_file_gb", answer, verify,
                 "A block is 32 bytes of int8 plus a 2-byte fp16 scale: 34 bytes per 32 weights. "
                 "catalog.param_count(id).total counts the weights.")


def check_fp8_on_t4_gb(answer, model_id: str = "Qwen/Qwen3.5-27B") -> CheckResult:
    """Weights (GB) of a Qwen FP8 release once transformers has loaded it in fp16 on a GPU below compute capability 8.9."""
    from .. import catalog
    from ..memory import download_bytes, weights_bytes

    params = catalog.param_count(model_id).total
    expected = params * 2 / 1e9

    verify = number_verify(expected, "{:.2f} GB",
                           "right: below compute capability 8.9 every FP8 weight is dequantized into the fp16 you load "
                           "in, so the half-size download becomes a full 16-bit model (more than a T4's 16 GB).",
                           [(weights_bytes(model_id, "fp8") / 1e9, "that is the FP8 size: the download, and what a GPU "
                             "of compute capability 8.9+ keeps; a T4 (7.5) gets every weight dequantized."),
                            (download_bytes(model_id, "fp8") / 1e9, "that is the FP8 download, not what loading takes "
                             "on a T4."),
                            (params / 1e9, "that is one byte per weight; dequantized to fp16 each takes 2."),
                            (params * 4 / 1e9, "that is fp32; the load asked for dtype=torch.float16.")])

    return check("check_fp8_on_t4_gb", answer, verify,
                 "Below compute capability 8.9 transformers dequantizes every FP8 weight into the dtype you load in "
                 "(fp16 here): parameters x 2 bytes.")


def check_first_accuracy_drop(answer, rows) -> CheckResult:
    """Going down the held-out table (reference first, then from most bits to fewest): the first method whose greedy
    accuracy is below the reference's, or "none"."""
    ran = [r for r in rows if r.get("accuracy") is not None]
    base = ran[0] if ran else None
    drops = [r for r in ran[1:] if r["accuracy"] < base["accuracy"]]
    first = drops[0] if drops else None

    def name(r):
        return f"{r.get('label', r['method'])} ({r['accuracy']:.0%})"

    def verify(value):
        if base is None:
            return False, "the held-out table is empty: run the measurement cell first."
        keys = {r["method"]: r for r in ran} | {r.get("label", r["method"]): r for r in ran}
        if str(value).lower() == "none":
            if first is None:
                return True, f"no method answered fewer held-out chats correctly than the reference {name(base)}."
            return False, f"{name(first)} is below the reference {name(base)}."
        if value not in keys:
            return False, f"{value!r} is not a method in the table; use one of: {', '.join(r['method'] for r in ran[1:])}, or 'none'."
        row = keys[value]
        if row is base:
            return False, f"{name(base)} is the reference the others are compared with."
        if row is first:
            n = row.get("chats")
            tail = f": one answer of {n} is {1 / n:.0%} of this set, so read it with the 'same answers' column." if n else "."
            return True, f"{name(first)} against the reference's {base['accuracy']:.0%}{tail}"
        if row["accuracy"] >= base["accuracy"]:
            return False, (f"{name(row)} kept the reference's accuracy ({base['accuracy']:.0%}); a lower top-1 agreement "
                           "or KL does not always change a greedy answer.")
        return False, f"{name(row)} does drop, but {name(first)}, with more bits, already does."

    return check("check_first_accuracy_drop", answer, verify,
                 "Compare each row's 'accuracy' with the first row's (the reference), top to bottom; 'none' if none is lower.")
