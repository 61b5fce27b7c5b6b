"""Checks for notebook 04 (thinking mode): prompt endings, soft switches, parsing, sampling, a sentence budget,
history, a server request, and the budgets that did worse than thinking off on real traces. Each returns a
CheckResult and never raises on a learner's answer."""

from __future__ import annotations

from ._check import CheckResult, check, unanswered

# Illustration (hand-written, not model output): what `tokenizer.decode(new_ids, skip_special_tokens=True)`
# looks like for a Qwen3 answer in thinking mode. The think tags survive because they are not special tokens.
SAMPLE_QUESTION = "A train travels 120 km in 1.5 hours. What is its average speed?"
RAW_SAMPLE = (
    "<think>\nSpeed is distance over time: 120 km / 1.5 h = 80 km/h.\n"
    "Check: 80 km/h for 1.5 h gives 120 km. Good.\n</think>\n\n"
    "The average speed is 80 km/h (120 km / 1.5 h)."
)
SAMPLE_FOLLOW_UP = "And how long would 200 km take at that speed?"

# Section 1: what each template leaves at the end of the prompt, in prompt_state() words (Qwen3 and 2507 model cards;
# TRL's trl/chat_templates/README.md for which Qwen3.5 sizes ship the thinking template).
PROMPT_ENDINGS = {
    "Qwen3-8B, enable_thinking=True": "model decides",
    "Qwen3-8B, enable_thinking=False": "skipped",
    "Qwen3-4B-Thinking-2507": "open",
    "Qwen3-4B-Instruct-2507": "model decides",
    "Qwen3.5-9B, default": "open",
    "Qwen3.5-2B, default": "skipped",
}
ENDING_WHY = {
    "Qwen3-8B, enable_thinking=True": "the hybrid template ends at 'assistant\\n' and the model opens <think> itself",
    "Qwen3-8B, enable_thinking=False": "the template prefills the empty block <think>\\n\\n</think>\\n\\n",
    "Qwen3-4B-Thinking-2507": "the Thinking-2507 template prefills '<think>\\n', so the output holds only </think>",
    "Qwen3-4B-Instruct-2507": "Instruct-2507 never thinks and its template has no think block at all",
    "Qwen3.5-9B, default": "Qwen3.5 models of 4B and more default to thinking: the prompt ends '<think>\\n'",
    "Qwen3.5-2B, default": "Qwen3.5 models of 2B and less default to non-thinking: the empty block is prefilled",
}

# Section 2: does the model think? (soft switches work only when enable_thinking=True; the latest one wins)
SOFT_SWITCH = {
    "enable_thinking=True, user ends with /no_think": False,
    "enable_thinking=False, user ends with /think": False,
    "enable_thinking=True, turn 1 /no_think, turn 2 /think": True,
}


def _compare_dict(answer: dict, expected: dict, why: dict | None = None) -> tuple[bool, str]:
    if not isinstance(answer, dict):
        return False, f"expected a dict with the keys {list(expected)}"
    missing = [k for k in expected if k not in answer]
    if missing:
        return False, f"missing keys: {missing}"
    wrong = [k for k in expected if answer[k] != expected[k]]
    if wrong:
        k = wrong[0]
        return False, f"{len(wrong)} wrong, e.g. {k!r}: you said {answer[k]!r}" + (f" ({why[k]})" if why else "")
    return True, f"all {len(expected)} right."


def check_prompt_endings(answer) -> CheckResult:
    """Easy: for each checkpoint, how does the rendered prompt leave the think block?"""
    return check("prompt endings", answer, lambda a: _compare_dict(a, PROMPT_ENDINGS, ENDING_WHY),
                 "Use the words prompt_state() returns: 'model decides', 'skipped' or 'open'. "
                 "Instruct-2507 has no think block; Thinking-2507 and large Qwen3.5 prefill '<think>\\n'.")


def check_soft_switch(answer) -> CheckResult:
    """Easy: in each scenario, does the model think (True/False)?"""
    return check("soft switches", answer, lambda a: _compare_dict(a, SOFT_SWITCH),
                 "Soft switches work only when enable_thinking=True (the hard switch prefills the empty block "
                 "first), and the model follows the most recent one.")


def _expected_split() -> tuple[str, str]:
    from ..thinking import split_thinking

    return split_thinking(RAW_SAMPLE)


def check_split_by_hand(thinking, answer) -> CheckResult:
    """Easy: split RAW_SAMPLE into (thinking, answer) with string methods only."""
    def verify(pair):
        got_thinking, got_answer = pair
        exp_thinking, exp_answer = _expected_split()
        if not isinstance(got_thinking, str) or not isinstance(got_answer, str):
            return False, "both parts should be strings"
        if "<think>" in got_thinking + got_answer or "</think>" in got_thinking + got_answer:
            return False, "drop the <think> and </think> tags from both parts"
        if (got_thinking.strip(), got_answer.strip()) == (exp_answer, exp_thinking):
            return False, "the two parts are swapped: the thinking comes first, then the answer"
        if got_answer.strip() != exp_answer:
            return False, "the answer should be everything after the last </think>, stripped"
        if got_thinking.strip() != exp_thinking:
            return False, "the thinking should be everything between <think> and the last </think>, stripped"
        if (got_thinking, got_answer) != (exp_thinking, exp_answer):
            return False, "right text, but strip() the surrounding newlines and spaces from both parts"
        return True, "split at the last </think>, tags removed: exactly what split_thinking returns."

    return check("split by hand", None if unanswered(thinking) or unanswered(answer) else (thinking, answer), verify,
                 "text.rpartition('</think>') splits at the last close tag; then remove '<think>' and strip().")


def _thinking_recommendation(model_id: str | None) -> tuple[str, dict, int]:
    """(name, generate() values, most output tokens Qwen's examples allow) for thinking mode: the catalog's row for
    `model_id`, or hybrid Qwen3's values (Qwen3 cards, "Best Practices"; up to 38,912 tokens) when none is given."""
    if model_id is None:
        return "Qwen3", {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}, 38912
    from ..catalog import find

    row = find(model_id)
    if row is None:
        raise ValueError(f"{model_id!r} is not in the course catalog: pass p.model_id")
    values = {k: v for k, v in row.sampling("thinking").items() if k != "presence_penalty"}
    return row.name, values, 81920 if row.sampling_preset == "qwen3.5" else 38912  # Qwen3.5 cards' examples: 81,920


def check_math_sampling(settings, model_id: str | None = None) -> CheckResult:
    """Medium: generate() settings for a hard maths problem in thinking mode, for `model_id` (the lesson's pick)."""
    def verify(s):
        name, want, most = _thinking_recommendation(model_id)
        if not isinstance(s, dict):
            return False, "expected a dict of generate() keyword arguments"
        if not s.get("do_sample", False) or (s.get("temperature") or 0) <= 0:
            return False, "that is greedy decoding: Qwen warns it degrades thinking mode and causes endless repetition"
        if "presence_penalty" in s:
            return False, ("presence_penalty is a server (OpenAI API) parameter: transformers' generate() has none. "
                           "p.generate_kwargs() leaves it out, p.sampling() does not")
        required = ("temperature", "top_p", "top_k")
        off = {k: s.get(k) for k, v in want.items()
               if (k in required or k in s) and (s.get(k) is None or abs(float(s[k]) - v) > 1e-6)}
        if off:
            return False, f"these differ from Qwen's thinking-mode recommendation for {name} ({want}): {off}"
        n = s.get("max_new_tokens")
        if not isinstance(n, int) or not 32768 <= n <= most:
            return False, (f"leave room to think: Qwen's cards recommend 32,768 new tokens for most queries, and their "
                           f"examples for {name} go up to {most:,}")
        return True, f"sampled decoding with {name}'s thinking preset and room for long reasoning."

    return check("math sampling", settings, verify,
                 "Start from p.generate_kwargs('thinking') and add max_new_tokens; see the table in section 4.")


def _simulate(cls, tokenizer, budget: int, slack: int, thought: str) -> tuple[int, int]:
    """Run the learner's processor on a scripted 'model'; return (free thinking tokens it allowed, expected)."""
    import torch

    script = tokenizer.encode(thought, add_special_tokens=False)
    prompt = tokenizer.encode("<|im_start|>assistant\n<think>\n", add_special_tokens=False)
    close_id = tokenizer.convert_tokens_to_ids("</think>")
    block = prompt[-1:] + script  # the prefilled newline counts, as in ThinkingBudgetProcessor
    expected = len(block)
    for n in range(budget, len(block) + 1):
        if n >= budget + slack or tokenizer.decode(block[n - 1:n]).strip().endswith((".", "!", "?")):
            expected = n
            break
    processor, ids = cls(tokenizer, budget, slack=slack), list(prompt)
    for step in range(len(script) + 4):
        scores = torch.full((1, max(len(tokenizer), close_id + 1)), -10.0)
        scores[0, script[min(step, len(script) - 1)]] = 10.0
        scores = processor(torch.tensor([ids]), scores)
        token = int(scores[0].argmax())
        if token == close_id:
            return len(ids) - len(prompt) + 1, expected
        ids.append(token)
    return len(ids) - len(prompt) + 1, expected


THOUGHT = " First, 12 times 3 is 36. Then 36 plus 4 makes 40. So the total is 40, and it checks out."


def check_sentence_budget(cls, tokenizer=None) -> CheckResult:
    """Stretch: a budget processor class that, past `budget`, closes at the next sentence end (<= `slack` later)."""
    def verify(c):
        if not isinstance(c, type):
            return False, "pass the class itself (SentenceBudget), not an instance"
        if tokenizer is None:
            return False, "pass the tokenizer too: check_sentence_budget(SentenceBudget, tokenizer)"
        for budget, slack in ((4, 32), (12, 32), (4, 2)):
            got, want = _simulate(c, tokenizer, budget, slack, THOUGHT)
            if got != want:
                return False, (f"with budget={budget}, slack={slack} the think block got {got} tokens before </think>; "
                               f"expected {want}")
        return True, "closes at the first sentence end past the budget, and never later than budget + slack."

    return check("sentence budget", cls, verify,
                 "Subclass ThinkingBudgetProcessor, keep `slack`, and override should_close(block): True when "
                 "len(block) >= budget + slack, or len(block) >= budget and the last token ends with . ! or ?")


def check_history(history) -> CheckResult:
    """Medium: the message list for turn 2, storing only turn 1's final answer."""
    def verify(h):
        if not isinstance(h, list) or [m.get("role") for m in h] != ["user", "assistant", "user"]:
            return False, "expected three messages: user, assistant, user"
        if h[0].get("content") != SAMPLE_QUESTION or h[2].get("content") != SAMPLE_FOLLOW_UP:
            return False, "keep the two user turns exactly (SAMPLE_QUESTION, SAMPLE_FOLLOW_UP)"
        content = h[1].get("content", "")
        if "<think>" in content or "</think>" in content:
            return False, "the assistant turn still carries the reasoning: store only the answer"
        if content.strip() != _expected_split()[1]:
            return False, "the assistant turn should be turn 1's final answer (split_thinking(RAW_SAMPLE)[1])"
        return True, "history holds only final answers, as the Qwen3 template would render it anyway."

    return check("history", history, verify,
                 "thinking, answer = split_thinking(RAW_SAMPLE); put `answer` in the assistant turn.")


def check_server_request(request) -> CheckResult:
    """Medium: keyword arguments for client.chat.completions.create() that turn thinking off on vLLM/SGLang."""
    def verify(r):
        if not isinstance(r, dict) or "messages" not in r or "model" not in r:
            return False, "expected a dict with at least model, messages and extra_body"
        kwargs = (r.get("extra_body") or {}).get("chat_template_kwargs") or {}
        if kwargs.get("enable_thinking") is not False:
            return False, "the hard switch travels as extra_body={'chat_template_kwargs': {'enable_thinking': False}}"
        if r.get("temperature") != 0.7 or r.get("top_p") != 0.8:
            return False, "use Qwen's non-thinking sampling: temperature=0.7, top_p=0.8"
        if (r.get("extra_body") or {}).get("top_k") != 20:
            return False, "the OpenAI API has no top_k: send top_k=20 inside extra_body"
        return True, "thinking off through the chat template, with the non-thinking sampling preset."

    return check("server request", request, verify,
                 "OpenAI's client sends unknown fields through extra_body; vLLM/SGLang read chat_template_kwargs "
                 "and top_k there.")


def check_budgets_below_off(budgets, accuracy: dict, off: float, on: float | None = None) -> CheckResult:
    """Medium: which budgets of the real-trace sweep (`accuracy`: budget -> accuracy) did worse than thinking off?"""
    want = sorted(b for b, acc in accuracy.items() if acc < off)

    def verify(answer):
        if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__"):
            return False, "answer with a list of budgets, e.g. [0, 12] (or [] if none)"
        given = sorted(set(answer))
        unknown = [b for b in given if b not in accuracy]
        if unknown:
            return False, f"{unknown[0]!r} is not a budget of the sweep ({sorted(accuracy)})"
        if given == want:
            if not want:
                return True, f"right: no budget fell below thinking off's {off:.0%}."
            return True, f"right: at budgets {want} the cut traces did worse than no thinking ({off:.0%})."
        if on is not None and given == sorted(b for b, acc in accuracy.items() if acc < on):
            return False, f"those are the budgets below thinking ON ({on:.0%}); compare with thinking off ({off:.0%})"
        if given == sorted(b for b, acc in accuracy.items() if acc <= off):
            return False, f"a budget with the same accuracy as thinking off ({off:.0%}) is not below it"
        wrong = sorted(set(given) ^ set(want))
        b = wrong[0]
        return False, (f"{len(wrong)} budget(s) misplaced, e.g. budget {b}: accuracy {accuracy[b]:.0%} vs thinking off "
                       f"{off:.0%}")

    return check("budgets below thinking off", budgets, verify,
                 "Keep the budgets whose accuracy is strictly below off_accuracy (thinking off), not below "
                 "thinking on's; a list such as [0, 12], or [] when none is.")
