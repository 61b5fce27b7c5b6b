"""Checks for notebook 07 (monitoring): decode speed from timestamps, best batch, decode ceiling, KV bytes, a hybrid
Qwen3.5 cache, explaining a health report, reading a loss curve, and a percentile from Prometheus histogram buckets."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from ._check import CheckResult, check, close_to, number_verify, whole_number

# Causes a learner maps health flags to (notebook 07, section 5).
CAUSES = {
    "a": "a per-token hook (logits processor, stopping criterion, remote call) costs more than the token itself",
    "b": "the process runs close to the memory it is allowed to use",
    "c": "every request's outputs, with their logits, are kept in a list",
    "d": "the prompt is longer than usual",
    "e": "the chat template adds a default system prompt",
}
_CAUSE_OF_FLAG = {"slow_decode": "a", "memory_near_limit": "b", "memory_growth": "c"}


def check_decode_speed(answer, start: float, token_times: Sequence[float]) -> CheckResult:
    """Decode tokens/s from raw timestamps: tokens after the first, divided by the time after the first."""
    n = len(token_times)
    if n < 2 or token_times[-1] <= token_times[0]:
        return check("decode speed from timestamps", answer,
                     lambda _: (False, "these timestamps hold fewer than two tokens: generate a longer answer first."),
                     "Decode starts at the first token: (number of tokens - 1) / (last time - first time).")
    expected = (n - 1) / (token_times[-1] - token_times[0])
    with_prefill = n / (token_times[-1] - start)
    off_by_one = n / (token_times[-1] - token_times[0])

    verify = number_verify(
        expected, "{:.4g} tokens/s",
        f"{n - 1} gaps over {token_times[-1] - token_times[0]:.3f} s of decode.",
        [(with_prefill, "that includes the time to first token, which is prefill, not decode."),
         ((n - 1) / (token_times[-1] - start), "that includes the time to first token, which is prefill, not decode."),
         (off_by_one, f"{n} tokens have {n - 1} gaps between them: count the tokens after the first.")])

    return check("decode speed from timestamps", answer, verify,
                 "Decode starts at the first token: (number of tokens - 1) / (last time - first time).")


def check_best_batch(answer, frame) -> CheckResult:
    """The batch size with the highest median whole-batch throughput in the sweep."""
    medians = frame.groupby("batch_size")["throughput_tokens_per_s"].median()
    best = int(medians.idxmax())
    per_seq_best = int(frame.groupby("batch_size")["decode_tokens_per_s"].median().idxmax())

    single_best = int(frame.loc[frame["throughput_tokens_per_s"].idxmax(), "batch_size"])

    def verify(value):
        value = whole_number(value)
        if value == best:
            return True, f"batch {best} gave {medians[best]:.4g} tokens/s in total, the most in this sweep."
        if value not in medians.index:
            return False, f"batch {value} was not in the sweep ({sorted(medians.index)})."
        if value == per_seq_best:
            return False, "that is the fastest per sequence; the question is total tokens/s for the whole batch."
        if value == single_best:
            return False, (f"batch {value} had the single fastest run, but its median was {medians[value]:.4g} tokens/s; "
                           "compare medians, one run is noise.")
        return False, f"batch {value} gave {medians[value]:.4g} tokens/s; another batch size gave more."

    return check("best batch size", answer, verify,
                 "Group the sweep by batch_size and take the largest median of throughput_tokens_per_s.")


def check_decode_bound(answer, parameters: float, bytes_per_parameter: float, bandwidth_bytes_per_s: float) -> CheckResult:
    """The bandwidth ceiling on decode speed: bandwidth / bytes of weights read per token."""
    expected = bandwidth_bytes_per_s / (parameters * bytes_per_parameter)

    use = f"; use {bytes_per_parameter:g} bytes per parameter."
    mistakes = [(bandwidth_bytes_per_s / (parameters * b), f"{b:g} bytes per parameter is {name}{use}")
                for b, name in ((4, "fp32"), (1, "int8"), (0.5, "int4")) if b != bytes_per_parameter]
    mistakes += [(expected * 8, "bandwidth is bytes/s; do not convert to bits."),
                 (expected / 8, "bandwidth is bytes/s; do not convert to bits."),
                 (parameters * bytes_per_parameter / bandwidth_bytes_per_s,
                  "that is seconds per token; the ceiling is its inverse, tokens per second.")]
    verify = number_verify(expected, "{:.4g} tokens/s", "the most this bandwidth can feed at batch 1.", mistakes, rel=0.05)

    return check("decode ceiling", answer, verify,
                 "Each new token reads every weight once: tokens/s <= bandwidth / (parameters x bytes per parameter).")


def check_kv_bytes(answer, layers: int, kv_heads: int, head_dim: int, bytes_per_value: int, tokens: int,
                   attention_heads: int | None = None) -> CheckResult:
    """KV cache bytes after `tokens` tokens: keys and values, per layer, per KV head, per dimension."""
    expected = 2 * layers * kv_heads * head_dim * bytes_per_value * tokens

    def verify(value):
        value = whole_number(value)
        if value == expected:
            return True, f"{expected:,} bytes: 2 x {layers} x {kv_heads} x {head_dim} x {bytes_per_value} x {tokens}."
        mistakes = [(expected // 2, "the cache holds keys and values: multiply by 2."),
                    (expected // kv_heads * (attention_heads or kv_heads),
                     "grouped-query attention caches only the KV heads, not every query head."),
                    (expected // bytes_per_value * 4, f"that is 4 bytes per value (fp32); this cache takes {bytes_per_value}."),
                    (expected // tokens, f"that is one token; the question asks for {tokens:,} tokens."),
                    (expected * 8, "that is bits; the question asks for bytes.")]
        why = [text for wrong, text in mistakes if value == wrong and wrong != expected]
        if why:
            return False, " Or: ".join(why)
        return False, f"{value:,} bytes is not what this config caches for {tokens} tokens."

    return check("KV cache bytes", answer, verify,
                 "2 (K and V) x layers x num_key_value_heads x head_dim x bytes per value x tokens.")


def check_hybrid_cache_bytes(answer, config: Mapping, tokens: int, bytes_per_value: int = 2) -> CheckResult:
    """Medium: a Qwen3.5 cache after `tokens` tokens: K and V in the full-attention layers only, plus each Gated
    DeltaNet layer's fixed state (a convolution window in the cache dtype and a recurrent state in fp32)."""
    types = config.get("layer_types") or ["full_attention" if (i + 1) % config.get("full_attention_interval", 4) == 0
                                          else "linear_attention" for i in range(config["num_hidden_layers"])]
    full, linear = types.count("full_attention"), types.count("linear_attention")
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    per_layer_kv = 2 * config["num_key_value_heads"] * head_dim * bytes_per_value * tokens
    conv_dim = 2 * config["linear_num_key_heads"] * config["linear_key_head_dim"] + \
        config["linear_num_value_heads"] * config["linear_value_head_dim"]
    conv = conv_dim * config["linear_conv_kernel_dim"] * bytes_per_value
    recurrent = config["linear_num_value_heads"] * config["linear_key_head_dim"] * config["linear_value_head_dim"]
    expected = full * per_layer_kv + linear * (conv + 4 * recurrent)

    def verify(value):
        value = whole_number(value)
        if value == expected:
            return True, (f"{expected:,} bytes: K and V in {full} of {full + linear} layers ({full * per_layer_kv:,}) "
                          f"plus {linear} fixed states of {conv + 4 * recurrent:,} bytes each. A dense model with K and V "
                          f"in every layer would hold {(full + linear) * per_layer_kv:,}.")
        mistakes = [
            ((full + linear) * per_layer_kv + linear * (conv + 4 * recurrent),
             "that puts K and V in every layer; in Qwen3.5 only the full-attention layers keep them."),
            ((full + linear) * per_layer_kv, "that is the dense formula: K and V in every layer, and no fixed state."),
            (full * per_layer_kv, "the Gated DeltaNet layers hold a fixed state too: a convolution window and a "
                                  "recurrent state per layer."),
            (expected - linear * 2 * recurrent, "the recurrent state stays fp32 (4 bytes) even in a bf16 model."),
            (full * per_layer_kv + linear * 4 * recurrent, "the convolution window is part of the state too."),
            (full * per_layer_kv + linear * conv, "add the recurrent state: value heads x key dim x value dim, in fp32."),
        ]
        why = [text for wrong, text in mistakes if value == wrong and wrong != expected]
        if why:
            return False, why[0]
        return False, f"{value:,} bytes is not what this hybrid config caches for {tokens:,} tokens."

    return check("hybrid cache bytes", answer, verify,
                 "K/V: 2 x full-attention layers x num_key_value_heads x head_dim x bytes x tokens. State per Gated "
                 "DeltaNet layer: (2 x linear_num_key_heads x linear_key_head_dim + linear_num_value_heads x "
                 "linear_value_head_dim) x linear_conv_kernel_dim x bytes, plus linear_num_value_heads x "
                 "linear_key_head_dim x linear_value_head_dim x 4.")


def check_health_explanation(answer, report) -> CheckResult:
    """Map each flag of a health report to its cause letter in `CAUSES`."""
    flags = set(report.flags)

    def verify(value):
        if not isinstance(value, Mapping):
            return False, "answer with a dict such as {'slow_decode': 'a'}."
        given = {str(k): str(v).strip().lower() for k, v in value.items()}
        missing, extra = flags - set(given), set(given) - flags
        if missing:
            return False, f"the report also flagged {sorted(missing)}: explain every flag."
        if extra:
            return False, f"{sorted(extra)} did not fire in this report; explain only the flags it raised."
        wrong = [f for f in flags if given[f] != _CAUSE_OF_FLAG.get(f)]
        if wrong:
            return False, f"look again at {sorted(wrong)}: read its explanation in report.explain()."
        return True, "each flag is matched with what caused it." if flags else "no flags, nothing to explain."

    return check("explain the health report", answer, verify,
                 "Print report.explain(): each FLAG line says what was measured and lists the usual causes.")


def check_lowest_loss_step(answer, frame, tag: str) -> CheckResult:
    """The training step with the lowest value of `tag` in a TensorBoard frame."""
    rows = frame[frame["tag"] == tag]
    best = rows.loc[rows["value"].idxmin()]

    lowest = rows[rows["value"] == best["value"]]  # a tie: every step with the lowest value is right
    any_tag = frame.loc[frame["value"].idxmin()]

    def verify(value):
        value = whole_number(value)
        if value in set(lowest["step"].astype(int)):
            return True, f"step {value}: {tag} = {best['value']:.4g}."
        if value not in set(rows["step"].astype(int)):
            if any_tag["tag"] != tag and value == int(any_tag["step"]):
                return False, f"that is the lowest value of {any_tag['tag']!r}; filter the frame to tag == {tag!r} first."
            if value in set(rows.index) or value == int(rows["value"].idxmin()):
                return False, f"no {tag} was logged at step {value}: is that a row index? Read the row's 'step'."
            return False, f"no {tag} was logged at step {value}."
        return False, f"{tag} was {rows[rows['step'] == value]['value'].min():.4g} there; another step is lower."

    return check("lowest loss step", answer, verify, f"Filter the frame to tag == {tag!r}, then idxmin() on value.")


def histogram_quantile(q: float, buckets: Mapping[float, int]) -> float:
    """Prometheus-style quantile from cumulative buckets {upper bound: count}: linear inside the bucket."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total == 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / max(count - below, 1)
        lower, below = upper, count
    return lower


def check_histogram_p95(answer, buckets: Mapping[float, int]) -> CheckResult:
    """p95 estimated from cumulative histogram buckets, the way Prometheus' histogram_quantile does it."""
    expected = histogram_quantile(0.95, buckets)

    bounds = sorted(buckets)
    upper = next(b for b in bounds if buckets[b] >= 0.95 * buckets[bounds[-1]])
    lower = ([0.0] + bounds)[bounds.index(upper)]
    mistakes = [(upper, "that is the bucket's upper edge; interpolate inside the bucket."),
                (lower, "that is the bucket's lower edge; interpolate inside the bucket."),
                (histogram_quantile(0.5, buckets), "that is the median (p50); p95 is the 0.95 quantile."),
                (histogram_quantile(0.99, buckets), "that is p99; p95 is the 0.95 quantile.")]
    mistakes = [(w, why) for w, why in mistakes if math.isfinite(w) and not close_to(w, expected, rel=0.001)]
    verify = number_verify(expected, "{:.4g} s", "an estimate: bucket counts only bound the answer.", mistakes, rel=0.01)

    return check("p95 from histogram buckets", answer, verify,
                 "Find the first bucket whose cumulative count reaches 0.95 x total, then interpolate linearly "
                 "between its lower and upper edge.")
