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
