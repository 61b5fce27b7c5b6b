"""Checks for notebook 01: reading the family's data, architecture arithmetic by hand, the tokenizer, the picker."""

from __future__ import annotations

from ._check import CheckResult, check, close_to, number_verify, pick_verify, whole_number


def _series(series_id: str) -> dict:
    from ..catalog import series

    return next(s for s in series() if s["id"] == series_id)


def check_pretraining_growth(answer) -> CheckResult:
    """How many times more pretraining tokens Qwen3 saw than Qwen2 (a ratio)."""
    expected = _series("qwen3")["pretraining_tokens"] / _series("qwen2")["pretraining_tokens"]

    qwen25 = "compares with Qwen2.5 (18T); the question is Qwen3 against Qwen2."
    verify = number_verify(expected, "{:.2f}x", "right, 36T / 7T tokens (Qwen3 technical report; Qwen2 blog).",
                           [(1 / expected, "the inverse: divide Qwen3's tokens by Qwen2's."),
                            (18e12 / 7e12, qwen25), (36 / 18, qwen25)])

    return check("check_pretraining_growth", answer, verify,
                 "read pretraining_tokens for 'qwen3' and 'qwen2' from catalog.series() and divide.")


def check_special_tokens(answer, tokenizer=None, flavour: str = "qwen3") -> CheckResult:
    """How many tokens a Qwen tokenizer adds on top of its BPE ranks (special and control tokens)."""

    def verify(value):
        tok = tokenizer
        if tok is None:
            from ..offline import load_tokenizer

            tok = load_tokenizer(flavour)
        expected, n = len(tok) - tok.vocab_size, whole_number(value)
        if n == expected:
            return True, f"{n}: right, {len(tok):,} tokens = {tok.vocab_size:,} BPE ranks + {expected} added."
        if n in (len(tok), tok.vocab_size):
            return False, f"{n:,} is a vocabulary size, not the difference between the two sizes."
        if n == -expected:
            return False, f"{n}: the other way round, len(tokenizer) is the larger size."
        return False, f"{n} is not it: compare len(tokenizer) with tokenizer.vocab_size."

    return check("check_special_tokens", answer, verify,
                 "len(tokenizer) counts every token; tokenizer.vocab_size only the BPE ranks. Subtract.")


def check_untied_extra(answer, model_id: str = "Qwen/Qwen3-0.6B") -> CheckResult:
    """Parameters a tied-embedding model would gain if its output layer had its own weights (vocab x hidden)."""
    from ..catalog import get

    c = get(model_id).text_config
    expected = c["vocab_size"] * c["hidden_size"]

    padded = "close, but the embedding has vocab_size rows (padded), more than the tokenizer has tokens."
    verify = number_verify(expected, "{:,.0f}", f"right, {c['vocab_size']:,} x {c['hidden_size']:,} (+{expected / 1e6:.0f}M).",
                           [(151669 * c["hidden_size"], padded), (151643 * c["hidden_size"], padded),
                            (2 * expected, "that is both matrices; the tied model already has one of them.")], rel=0.001)

    return check("check_untied_extra", answer, verify,
                 "an lm_head is a hidden_size x vocab_size matrix with no bias; see catalog.get(id).text_config.")


def check_first_gqa_everywhere(answer) -> CheckResult:
    """The first Qwen generation that used grouped-query attention at every size."""

    def verify(value):
        text = str(value).strip().lower().replace("qwen", "").strip()
        if text in ("2", "2.0"):
            return True, "Qwen2: the Qwen2 blog says GQA is applied to all sizes; Qwen1.5 used it only at 32B and 110B."
        if text == "1.5":
            return False, "Qwen1.5 used GQA only in its 32B and 110B models; the others kept multi-head attention."
        if text in ("2.5", "3"):
            return False, "it was already there a generation earlier."
        return False, f"{value!r} is not a Qwen generation with GQA at every size."

    return check("check_first_gqa_everywhere", answer, verify,
                 "read the 'architecture' field of each entry in catalog.series(), oldest first.")


def check_kv_bytes_per_token(answer, model_id: str = "Qwen/Qwen2.5-7B-Instruct",
                             precision: str = "bf16") -> CheckResult:
    """KV cache bytes for one token of one sequence, computed by hand from the config."""
    from ..catalog import get, head_dim
    from ..memory import kv_bytes_per_token

    expected = kv_bytes_per_token(model_id, precision)
    c = get(model_id).text_config
    mha = expected * c["num_attention_heads"] // c["num_key_value_heads"]

    def verify(value):
        v = whole_number(value)
        if v == expected:
            layers, kv = c["num_hidden_layers"], c["num_key_value_heads"]
            return True, f"{expected:,} bytes: right, 2 x {layers} layers x {kv} KV heads x {head_dim(c)} x 2 bytes."
        if v == expected / 2:
            return False, "half the answer: both K and V are cached."
        if v == mha:
            return False, "that counts every query head; with GQA only the KV heads are cached."
        if v == expected * 8:
            return False, "that is bits; the question asks for bytes."
        return False, f"{v:,.0f} is off by {abs(v - expected) / expected:.0%}."

    return check("check_kv_bytes_per_token", answer, verify,
                 "2 (K and V) x layers x KV heads x head_dim x bytes per value (bf16 = 2).")


def check_active_fraction(answer, model_id: str = "Qwen/Qwen3-235B-A22B") -> CheckResult:
    """The share of an MoE model's parameters that one token uses (active / total, from the parameter count)."""
    from ..catalog import param_count

    count = param_count(model_id)
    expected = count.active / count.total

    def verify(value):
        v = float(value)
        if close_to(v, 1 / expected, 0.03):
            return False, f"{v:.3g} is total / active; the share is active / total."
        if close_to(v, 100 * expected, 0.03):
            return False, f"{v:.3g} is a percentage; a fraction is between 0 and 1 ({v / 100:.3f})."
        if not 0 < v <= 1:
            return False, f"{v:.3g}: a fraction is between 0 and 1 (write 0.25, not 25)."
        if close_to(v, expected, 0.03):
            return True, f"{v:.3f}: right, {count.active / 1e9:.1f}B of {count.total / 1e9:.1f}B parameters per token."
        return False, f"{v:.3f} is off by {abs(v - expected) / expected:.0%}."

    return check("check_active_fraction", answer, verify,
                 "catalog.param_count(id) has .active and .total.")


def check_tokens_per_word(answer, text: str | None = None, tokenizer=None) -> CheckResult:
    """(predicted, measured) tokens per word for your own text: the measurement must be right, and the prediction
    within half of it (a prediction further off means the tables above were misread, and the check says so)."""

    def verify(value):
        import math

        from ..family import count_tokens, word_count

        if isinstance(value, str) or len(value) != 2:
            raise ValueError("answer with a pair (prediction, measurement)")
        predicted, measured = (float(v) for v in value)
        if not text or not word_count(text):
            return False, "pass the text you measured as text=... (a few sentences with spaces between words)."
        tok = tokenizer
        if tok is None:
            from ..offline import load_tokenizer

            tok = load_tokenizer("qwen3")
        expected = count_tokens(tok, text) / word_count(text)
        if close_to(measured, 1 / expected, 0.01) and not close_to(measured, expected, 0.01):
            return False, f"{measured:.2f} is words per token; the measurement is tokens / words ({expected:.2f})."
        if not close_to(measured, expected, 0.01):
            return False, f"the measurement should be {expected:.2f} tokens per word (tokens / words between spaces)."
        if not math.isfinite(predicted) or predicted <= 0:
            return False, f"{predicted!r} is not a prediction of tokens per word: give a positive number."
        error = abs(predicted - expected) / expected
        if error > 0.5:
            return False, (f"measured {expected:.2f} tokens/word, but your prediction {predicted:.2f} is off by "
                           f"{error:.0%}: look again at the languages measured above and at how your script and "
                           "word length compare.")
        verdict = "a good prediction" if error <= 0.25 else "within half, but worth thinking about why"
        return True, f"measured {expected:.2f} tokens/word; your prediction {predicted:.2f} is off by {error:.0%}: {verdict}."

    return check("check_tokens_per_word", answer, verify,
                 "answer (prediction, measurement); measure family.count_tokens(tok, text) / family.word_count(text).")


def check_predicted_pick(answer, task: str = "coder", memory_gb: float = 8, context: int = 8192,
                         machine: str = "CPU only (RAM)") -> CheckResult:
    """The (model_id, precision) the chooser returns for a described machine; (None, None) when nothing fits."""
    from .._paths import load_json
    from ..hardware import describe
    from ..precision import precisions_for
    from ..widgets import MACHINES, choose

    expected = choose(task, memory_gb, context, machine)
    device, cc = MACHINES[machine]
    hw = describe(device, memory_gb, **({"compute_capability": cc} if cc else {}))
    cap = load_json("picker.json")["cpu_max_weights_bytes"] / 1e9
    allowed, why = precisions_for(hw)
    where = (f"memory is RAM here; on a CPU the picker keeps the weights under {cap:g} GB. "
             if device == "cpu" else "memory is the GPU's here. ")

    return check("check_predicted_pick", answer, pick_verify(expected, task, hw, context),
                 where + f"Precisions it considers on this machine: {', '.join(allowed)} ({why}).")


def check_hybrid_crossover(answer, dense: str = "Qwen/Qwen3-8B", hybrid: str = "Qwen/Qwen3.5-9B",
                           precision: str = "bf16") -> CheckResult:
    """The context (tokens) beyond which the hybrid model's cache is smaller than the dense model's."""
    from ..catalog import get
    from ..family import crossover
    from ..memory import kv_bytes_per_token, state_bytes

    expected = crossover(dense, hybrid, precision)
    c = get(hybrid).text_config
    linear = get(hybrid).layer_types.count("linear_attention")
    conv = linear * (2 * c["linear_num_key_heads"] * c["linear_key_head_dim"]
                     + c["linear_num_value_heads"] * c["linear_value_head_dim"]) * c["linear_conv_kernel_dim"] * 2
    recurrent_16 = linear * c["linear_num_value_heads"] * c["linear_key_head_dim"] * c["linear_value_head_dim"] * 2
    per_token = kv_bytes_per_token(dense, precision) - kv_bytes_per_token(hybrid, precision)
    verify = number_verify(
        expected, "{:,.0f} tokens",
        f"right: {state_bytes(hybrid, precision) / 1e6:.1f} MB of fixed state / {per_token:,} fewer bytes per token; "
        "below that the hybrid's cache is the larger one.",
        [((conv + recurrent_16) / per_token, "the recurrent state is fp32 even in a bf16 model (4 bytes, not 2)."),
         (state_bytes(hybrid, precision) / kv_bytes_per_token(dense, precision),
          "the hybrid's cache grows too (its full-attention layers): divide by the difference per token."),
         (state_bytes(hybrid, precision) / kv_bytes_per_token(hybrid, precision),
          "that is where the hybrid's own K/V equals its state; compare it with the dense model's cache."),
         (0, "the hybrid carries a fixed state from its first token, so at short contexts its cache is larger.")],
        rel=0.02)

    return check("check_hybrid_crossover", answer, verify,
                 "set state + hybrid bytes/token x n equal to dense bytes/token x n: memory.state_bytes and "
                 "memory.kv_bytes_per_token give the three numbers.")


def check_hub_name(answer, repo: str = "Qwen/Qwen3.6-35B-A3B-FP8") -> CheckResult:
    """(total B, active B, thinks by default, weight format) read from a Qwen repository name and its catalog row."""
    from ..catalog import find
    from ..family import read_name

    name = read_name(repo)
    base = find(repo.removesuffix("-FP8"))
    thinks = bool(base.thinks_by_default) if base else None
    fmt = name.weights.split()[0]

    def verify(value):
        if isinstance(value, str) or len(value) != 4:
            raise ValueError("answer with four values: (total B, active B, thinks by default, weight format)")
        total, active, thinking, weights = value
        if float(total) == name.active_b and float(active) == name.total_b:
            return False, "total and active are swapped: the first number is every expert, 'A...B' the active part."
        if float(total) != name.total_b:
            return False, f"{total}B: the size before '-A' is the total, all of which must sit in memory."
        if float(active) != name.active_b:
            return False, f"{active}B: 'A{name.active_b:g}B' names the parameters one token uses."
        if not isinstance(thinking, bool) or thinking != thinks:
            why = ("Qwen3.5/3.6 from 4B up think unless enable_thinking=False (TRL's qwen3_5_think / qwen3_6 "
                   "templates); no -Instruct or -Thinking suffix means the one hybrid-thinking model.")
            return False, f"{thinking!r} for thinking by default: {why}"
        what = {"fp8": "FP8, 1 byte per linear weight", "bf16": "none: the bf16 release"}.get(fmt, fmt.upper())
        if str(weights).lower() != fmt:
            return False, f"{weights!r}: the last suffix names the weight format ({what})."
        native = " (Qwen's own release; native on GPUs with compute capability 8.9+)" if fmt == "fp8" else ""
        return True, (f"right: {name.total_b:g}B in memory, {name.active_b:g}B per token, "
                      f"{'thinks' if thinks else 'does not think'} by default, {what} weights{native}.")

    return check("check_hub_name", answer, verify,
                 "read it left to right: generation, total size, A<active>B, post-training suffix (none here), "
                 "weight format; family.read_name(...) and catalog.get(...).thinks_by_default confirm it.")
