"""qwen_course.thinking and the lesson 04 checks: parsing on hand-made ids, the budget processor on synthetic rows
and on the offline Qwen3 stand-in (fixed seeds), presets, switches, the streamer and the exercise checks."""

from __future__ import annotations

import warnings

import pytest

from qwen_course import thinking as th
from qwen_course.exercises import lesson04 as ex

OPEN, CLOSE, IM_END = 151667, 151668, 151645


@pytest.fixture(scope="module")
def tok():
    from qwen_course import offline

    return offline.load_tokenizer("qwen3")


def enc(tok, text):
    return tok.encode(text, add_special_tokens=False)


# ---------------------------------------------------------------- split_thinking / count_thinking on hand-made ids

def test_think_tokens_are_real_ids_and_not_special(tok):
    assert th.think_ids(tok) == (OPEN, CLOSE)
    assert tok.decode([OPEN, CLOSE], skip_special_tokens=True) == "<think></think>"  # the gotcha the parser handles
    assert tok.decode([IM_END], skip_special_tokens=True) == ""


def test_split_normal_block(tok):
    ids = [OPEN] + enc(tok, "\nAdd them: 2+2=4.\n") + [CLOSE] + enc(tok, "\n\nThe answer is 4.") + [IM_END]
    assert th.split_thinking(ids, tok) == ("Add them: 2+2=4.", "The answer is 4.")
    c = th.count_thinking(ids, tok)
    assert (c.thinking_tokens, c.opened, c.closed) == (len(enc(tok, "\nAdd them: 2+2=4.\n")), True, True)
    assert c.answer_tokens == len(enc(tok, "The answer is 4."))  # neither the blank line nor <|im_end|> counted


def test_split_no_block_is_all_answer(tok):
    ids = enc(tok, "Just an answer.") + [IM_END]
    assert th.split_thinking(ids, tok) == ("", "Just an answer.")
    assert th.count_thinking(ids, tok).opened is False


def test_split_empty_block(tok):
    ids = [OPEN] + enc(tok, "\n\n") + [CLOSE] + enc(tok, "\n\nHello!")
    assert th.split_thinking(ids, tok) == ("", "Hello!")
    assert th.count_thinking(ids, tok).thinking_tokens == 1  # the blank line token


def test_split_unterminated_block(tok):
    ids = [OPEN] + enc(tok, "\nStill working on it")
    assert th.split_thinking(ids, tok) == ("Still working on it", "")
    c = th.count_thinking(ids, tok)
    assert c.opened and not c.closed and c.answer_tokens == 0


def test_split_block_opened_by_the_prompt(tok):
    closed = enc(tok, "Reasoning.\n") + [CLOSE] + enc(tok, "\n\nAnswer.")  # Thinking-2507: only </think> is generated
    assert th.split_thinking(closed, tok) == ("Reasoning.", "Answer.")
    cut = enc(tok, "Reasoning that hit max_new_tokens")
    assert th.split_thinking(cut, tok, open_think=True) == ("Reasoning that hit max_new_tokens", "")
    assert th.split_thinking(cut, tok) == ("", "Reasoning that hit max_new_tokens")


def test_split_uses_the_last_close(tok):
    ids = [OPEN] + enc(tok, "a") + [CLOSE] + enc(tok, "b") + [CLOSE] + enc(tok, "c")
    assert th.split_thinking(ids, tok) == ("ab", "c")


def test_split_accepts_tensors_and_rejects_batches(tok):
    import torch

    ids = [OPEN] + enc(tok, "x") + [CLOSE] + enc(tok, "y")
    assert th.split_thinking(torch.tensor(ids), tok) == ("x", "y")
    assert th.split_thinking(torch.tensor([ids]), tok) == ("x", "y")
    with pytest.raises(ValueError, match="batch"):
        th.split_thinking(torch.tensor([ids, ids]), tok)


def test_split_bad_inputs(tok):
    with pytest.raises(TypeError):
        th.split_thinking([1, "2"], tok)
    with pytest.raises(TypeError):
        th.split_thinking(3.5, tok)
    with pytest.raises(TypeError, match="tokenizer"):
        th.split_thinking([OPEN, CLOSE])


def test_tokenizer_without_think_tokens_is_refused():
    from qwen_course import offline

    with pytest.raises(ValueError, match="no <think>"):
        th.think_ids(offline.load_tokenizer("qwen2.5"))


@pytest.mark.parametrize("text, expected", [
    ("<think>\nR\n</think>\n\nA", ("R", "A")),
    ("No block here.", ("", "No block here.")),
    ("<think>\n\n</think>\n\nA", ("", "A")),
    ("<think>\nhalf", ("half", "")),
    ("R\n</think>\n\nA", ("R", "A")),
    ("<think>a</think>b</think>c", ("ab", "c")),
])
def test_split_text(text, expected):
    assert th.split_thinking(text) == expected


def test_text_and_ids_agree(tok):
    ids = [OPEN] + enc(tok, "\nLet me see.\n") + [CLOSE] + enc(tok, "\n\nDone.") + [IM_END]
    assert th.split_thinking(tok.decode(ids, skip_special_tokens=True)) == th.split_thinking(ids, tok)


# ---------------------------------------------------------------- presets, switches, prompt state

def test_sampling_presets_match_qwen_docs():
    assert th.sampling("thinking") == {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}
    assert th.sampling("non-thinking")["temperature"] == 0.7 and th.sampling("instruct-2507")["top_p"] == 0.8
    assert th.sampling("thinking", max_new_tokens=64)["max_new_tokens"] == 64
    with pytest.raises(ValueError, match="unknown mode"):
        th.sampling("fast")


def test_greedy_thinking_warns():
    with pytest.warns(th.GreedyThinkingWarning, match="greedy"):
        th.sampling("thinking", do_sample=False)
    with pytest.warns(th.GreedyThinkingWarning):
        assert th.warn_if_greedy("thinking", {"do_sample": True, "temperature": 0.0})
    from transformers import GenerationConfig

    with pytest.warns(th.GreedyThinkingWarning):
        th.warn_if_greedy("thinking", GenerationConfig())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not th.warn_if_greedy("non-thinking", {"do_sample": False})
        assert not th.warn_if_greedy("thinking", th.SAMPLING["thinking"])


def test_soft_switch_copies_and_appends():
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi "}]
    out = th.with_soft_switch(msgs, think=False)
    assert out[-1]["content"] == "Hi /no_think" and msgs[-1]["content"] == "Hi "
    assert th.with_soft_switch(msgs, think=True)[-1]["content"].endswith(" /think")
    with pytest.raises(ValueError):
        th.with_soft_switch([{"role": "system", "content": "x"}], think=True)
    with pytest.raises(TypeError):
        th.with_soft_switch([{"role": "user", "content": [{"type": "text", "text": "x"}]}], think=True)


def test_prompt_state_on_rendered_templates(tok):
    msgs = [{"role": "user", "content": "Hi"}]
    render = lambda **kw: tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **kw)  # noqa: E731
    assert th.prompt_state(render(enable_thinking=False)) == "skipped"
    assert th.prompt_state(render(enable_thinking=False)).endswith("skipped")
    assert render(enable_thinking=False).endswith(th.EMPTY_BLOCK)
    assert th.prompt_state(render()) == "model decides"
    assert th.prompt_state(render() + "<think>\n") == "open"
    with pytest.raises(TypeError):
        th.prompt_state([1, 2])


def test_template_drops_earlier_reasoning(tok):
    history = [{"role": "user", "content": ex.SAMPLE_QUESTION}, {"role": "assistant", "content": ex.RAW_SAMPLE},
               {"role": "user", "content": ex.SAMPLE_FOLLOW_UP}]
    prompt = tok.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
    thinking, answer = th.split_thinking(ex.RAW_SAMPLE)
    assert answer in prompt and thinking not in prompt


# ---------------------------------------------------------------- budget processor on synthetic rows (no model)

def _row(*ids):
    import torch

    return torch.tensor(ids)


def test_processor_rejects_bad_budgets(tok):
    for bad in (-1, 1.5, True, "8"):
        with pytest.raises(ValueError, match="budget"):
            th.ThinkingBudgetProcessor(tok, bad)


def test_processor_forces_close_then_blank_line(tok):
    p = th.ThinkingBudgetProcessor(tok, 3)
    blank = enc(tok, "\n\n")
    assert p.next_forced(_row(1, 2, 3)) is None  # no think block: free
    assert p.next_forced(_row(1, OPEN, 5, 6)) is None  # 2 < 3 tokens thought
    assert p.next_forced(_row(1, OPEN, 5, 6, 7)) == CLOSE  # budget reached
    assert p.next_forced(_row(1, OPEN, 5, 6, 7, CLOSE)) == blank[0]
    assert p.next_forced(_row(1, OPEN, 5, 6, 7, CLOSE, *blank)) is None  # the answer is free
    assert p.next_forced(_row(1, OPEN, 5, CLOSE, *blank, 9, 9, 9, 9)) is None  # closed early by the model
    assert p.next_forced(_row(1, OPEN, 5, 6, 7, 8, 9)) == CLOSE  # a prefill longer than the budget: close now


def test_processor_wrap_up_sequence(tok):
    p = th.ThinkingBudgetProcessor(tok, 2, wrap_up=" Time is up.")
    wrap = enc(tok, " Time is up.")
    row = [OPEN, 5, 6]
    for expected in wrap + [CLOSE]:
        assert p.next_forced(_row(*row)) == expected
        row.append(expected)
    assert p.forced == wrap + [CLOSE]


def test_processor_budget_zero_closes_immediately(tok):
    assert th.ThinkingBudgetProcessor(tok, 0).next_forced(_row(1, OPEN)) == CLOSE


def test_processor_masks_scores_only_for_forced_rows(tok):
    import torch

    p = th.ThinkingBudgetProcessor(tok, 1)
    ids = torch.tensor([[1, OPEN, 5], [1, 2, 3]])
    scores = p(ids, torch.zeros(2, 151936))
    assert int(scores[0].argmax()) == CLOSE and torch.isinf(scores[0]).sum() == 151935
    assert torch.equal(scores[1], torch.zeros(151936))


def test_processor_subclass_hook(tok):
    class Never(th.ThinkingBudgetProcessor):
        def should_close(self, block):
            return False

    assert Never(tok, 1).next_forced(_row(OPEN, 5, 6, 7)) is None


# ---------------------------------------------------------------- on the offline Qwen3 stand-in (random weights)

@pytest.fixture(scope="module")
def model():
    from transformers import AutoModelForCausalLM

    from qwen_course import offline

    return AutoModelForCausalLM.from_pretrained(offline.build("qwen3"), dtype="float32").eval()


def _open_prompt(tok, question="What is 12 * 3 + 4?"):
    """Put the model inside an open think block, exactly as a template that prefills '<think>\\n' would
    (Thinking-2507, Qwen3.5): a random-weight stand-in almost never opens <think> by itself."""
    text = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    return text + "<think>\n"


@pytest.mark.slow
@pytest.mark.parametrize("budget", [1, 8, 32])
def test_budget_on_stand_in(tok, model, budget):
    import torch

    inputs = tok(_open_prompt(tok), return_tensors="pt")
    proc = th.ThinkingBudgetProcessor(tok, budget)
    torch.manual_seed(budget)
    out = model.generate(**inputs, logits_processor=[proc], max_new_tokens=budget + 4, **th.sampling("thinking"))
    prompt_len = inputs["input_ids"].shape[1]
    block = out[0, prompt_len - 2:].tolist()  # from the prefilled <think>\n on
    count = th.count_thinking(block, tok)
    assert count.closed, "the think block must always be closed"
    assert count.thinking_tokens <= budget  # the prefilled newline counts toward the budget
    new = out[0, prompt_len:].tolist()
    close_at = new.index(CLOSE)
    assert new[close_at + 1] == enc(tok, "\n\n")[0]  # the blank line follows, then the answer
    thinking = tok.decode(new[:close_at], skip_special_tokens=True).strip()
    assert th.split_thinking(new, tok, open_think=True)[0] == thinking


@pytest.mark.slow
def test_budget_with_wrap_up_and_batch(tok, model):
    import torch

    prompts = [_open_prompt(tok), _open_prompt(tok, "Name three prime numbers and explain why they are prime.")]
    inputs = tok(prompts, return_tensors="pt", padding=True, padding_side="left")
    proc = th.ThinkingBudgetProcessor(tok, 4, wrap_up=th.WRAP_UP)
    torch.manual_seed(0)
    out = model.generate(**inputs, logits_processor=[proc], max_new_tokens=4 + len(proc.forced) + 2,
                         pad_token_id=tok.pad_token_id, **th.sampling("thinking"))
    for row in out.tolist():
        tail = row[len(row) - 1 - row[::-1].index(OPEN):]
        count = th.count_thinking(tail, tok)
        assert count.closed and count.thinking_tokens <= 4 + len(proc.wrap_ids)
        close_at = tail.index(CLOSE)
        assert tail[close_at - len(proc.wrap_ids):close_at] == proc.wrap_ids


@pytest.mark.slow
def test_two_pass_recipe_on_stand_in(tok, model):
    import torch

    inputs = tok(_open_prompt(tok), return_tensors="pt")
    torch.manual_seed(0)
    new = th.two_pass_generate(model, tok, inputs, 6, max_new_tokens=14, **th.sampling("thinking"))
    wrap = enc(tok, th.WRAP_UP + "</think>\n\n")
    assert new[6:6 + len(wrap)] == wrap and len(new) <= 14 + len(wrap)
    assert th.count_thinking(new, tok, open_think=True).closed


@pytest.mark.slow
def test_streamer_text_mode(tok, model, capsys):
    import torch

    inputs = tok(_open_prompt(tok), return_tensors="pt")
    streamer = th.ThinkingStreamer(tok, open_think=True, widget=False)
    torch.manual_seed(0)
    model.generate(**inputs, logits_processor=[th.ThinkingBudgetProcessor(tok, 4)], streamer=streamer,
                   max_new_tokens=10, **th.sampling("thinking"))
    printed = capsys.readouterr().out
    assert "[thinking folded away: 3 tokens]" in printed  # 4 minus the prefilled newline
    assert len(streamer.answer_ids) == 10 - 3 - 1 and streamer.answer in printed


def test_streamer_routes_tokens_without_a_model(tok, capsys):
    import torch

    s = th.ThinkingStreamer(tok, widget=False)
    s.put(torch.tensor([[1, 2, 3]]))  # the prompt is skipped
    for t in [OPEN] + enc(tok, "\nhmm\n") + [CLOSE] + enc(tok, "\n\nYes."):
        s.put(torch.tensor([t]))
    s.end()
    assert (s.thinking, s.answer) == ("hmm", "Yes.")
    assert "folded away" in capsys.readouterr().out


# ---------------------------------------------------------------- read_reply / is_correct (section 8's measurement)

def _generated(tok, prompt, reply, pads=0):
    """A generate() row: left pads, the prompt's ids, then the reply's; returns (row, n_prompt)."""
    ids = [tok.pad_token_id] * pads + enc(tok, prompt)
    return ids + enc(tok, reply), len(ids)


def test_read_reply_model_opened_block(tok):
    row, n = _generated(tok, "<|im_start|>assistant\n", "<think>\n47 + 38\nOnes: 7 + 8 = 15\n</think>\n\n47 + 38 = 85.<|im_end|>", 3)
    r = th.read_reply(row, n, tok)
    assert (r.thinking, r.answer) == ("47 + 38\nOnes: 7 + 8 = 15", "47 + 38 = 85.")
    assert r.count.opened and r.count.closed and r.count.thinking_tokens == len(enc(tok, "\n47 + 38\nOnes: 7 + 8 = 15\n"))
    assert r.count.answer_tokens == len(enc(tok, "47 + 38 = 85."))  # blank line and <|im_end|> not counted


def test_read_reply_prompt_opened_block_counts_the_prefilled_newline(tok):
    """Qwen3.5 prefills '<think>\\n': the count starts at that <think>, as ThinkingBudgetProcessor's does."""
    row, n = _generated(tok, "<|im_start|>assistant\n<think>\n", "a b c\n</think>\n\n85")
    r = th.read_reply(row, n, tok)
    assert (r.thinking, r.answer) == ("a b c", "85")
    assert r.count.thinking_tokens == len(enc(tok, "\na b c\n"))
    cut, n_cut = _generated(tok, "<|im_start|>assistant\n<think>\n", "a b")  # unterminated: all thinking, no answer
    r = th.read_reply(cut, n_cut, tok)
    assert (r.thinking, r.answer, r.count.closed) == ("a b", "", False)


def test_read_reply_thinking_off_has_no_block(tok):
    row, n = _generated(tok, "<|im_start|>assistant\n<think>\n\n</think>\n\n", "47 + 38 = 85.<|im_end|>")
    r = th.read_reply(row, n, tok)
    assert (r.thinking, r.answer, r.count.opened, r.count.thinking_tokens) == ("", "47 + 38 = 85.", False, 0)
    assert not r.reached(0)  # no block: no budget was reached


def test_reply_reached_the_budget(tok):
    row, n = _generated(tok, "<|im_start|>assistant\n", "<think>\n1 2 3</think>\n\n6")
    r = th.read_reply(row, n, tok)
    k = r.count.thinking_tokens
    assert r.reached(k) and r.reached(k - 1) and not r.reached(k + 1) and not r.reached(None)


def test_read_reply_bad_inputs(tok):
    with pytest.raises(ValueError, match="outside the row"):
        th.read_reply([1, 2], 3, tok)
    with pytest.raises(TypeError):
        th.read_reply("text", 0, tok)


@pytest.mark.parametrize("answer, reference, expected", [
    ("47 + 38 = 85.", "47 + 38 = 85.", True),
    ("47 + 38 = 84.", "47 + 38 = 85.", False),
    ("The sum is $\\boxed{85}$.", "47 + 38 = 85.", True),        # a real model's boxed answer
    ("845 is larger.", "845 is larger.", True),
    ("312 is larger.", "845 is larger.", False),
    ("I think 85 but\nnot sure", "47 + 38 = 85.", False),        # no committed answer line
    ("", "47 + 38 = 85.", False),
])
def test_is_correct(answer, reference, expected):
    assert th.is_correct(answer, reference) is expected


def test_is_correct_bad_inputs():
    with pytest.raises(ValueError, match="commits to no number"):
        th.is_correct("85", "no number here")
    with pytest.raises(TypeError):
        th.committed_number(85)


# ---------------------------------------------------------------- lesson 04 checks

ALL_CHECKS = [ex.check_prompt_endings, ex.check_soft_switch, ex.check_math_sampling, ex.check_sentence_budget,
              ex.check_history, ex.check_server_request]


@pytest.mark.parametrize("fn", ALL_CHECKS)
def test_checks_report_unanswered(fn):
    r = fn(None)
    assert r.passed is None and "not answered yet" in str(r)


def test_checks_pass_on_solutions(tok):
    assert ex.check_prompt_endings(dict(ex.PROMPT_ENDINGS))
    assert ex.check_soft_switch(dict(ex.SOFT_SWITCH))
    head, _, tail = ex.RAW_SAMPLE.rpartition("</think>")
    assert ex.check_split_by_hand(head.replace("<think>", "").strip(), tail.strip())
    assert ex.check_split_by_hand(None, None).passed is None
    assert ex.check_math_sampling(th.sampling("thinking", max_new_tokens=32768))
    history = [{"role": "user", "content": ex.SAMPLE_QUESTION},
               {"role": "assistant", "content": th.split_thinking(ex.RAW_SAMPLE)[1]},
               {"role": "user", "content": ex.SAMPLE_FOLLOW_UP}]
    assert ex.check_history(history)
    assert ex.check_server_request({"model": "Qwen/Qwen3-8B", "messages": [], "temperature": 0.7, "top_p": 0.8,
                                    "extra_body": {"top_k": 20, "chat_template_kwargs": {"enable_thinking": False}}})


class SentenceBudget(th.ThinkingBudgetProcessor):
    """The stretch exercise's solution."""

    def __init__(self, tokenizer, budget, slack=32):
        super().__init__(tokenizer, budget)
        self.slack = slack

    def should_close(self, block):
        if len(block) >= self.budget + self.slack:
            return True
        return len(block) >= self.budget and self.tokenizer.decode(block[-1:]).strip().endswith((".", "!", "?"))


def test_sentence_budget_check(tok):
    assert ex.check_sentence_budget(SentenceBudget, tok)
    plain = ex.check_sentence_budget(lambda tk, b, slack: th.ThinkingBudgetProcessor(tk, b), tok)
    assert plain.passed is False and "class itself" in plain.message

    class Plain(th.ThinkingBudgetProcessor):
        def __init__(self, tokenizer, budget, slack=32):
            super().__init__(tokenizer, budget)

    wrong = ex.check_sentence_budget(Plain, tok)
    assert wrong.passed is False and "expected" in wrong.message
    assert ex.check_sentence_budget(SentenceBudget).passed is False  # no tokenizer given


def test_checks_fail_helpfully_on_wrong_answers():
    assert not ex.check_prompt_endings({**ex.PROMPT_ENDINGS, "Qwen3-4B-Thinking-2507": "skipped"})
    assert "missing" in ex.check_soft_switch({}).message
    assert "greedy" in ex.check_math_sampling({"do_sample": False, "max_new_tokens": 32768}).message
    assert "32,768" in ex.check_math_sampling(th.sampling("thinking", max_new_tokens=512)).message
    assert "reasoning" in ex.check_history([{"role": "user", "content": ex.SAMPLE_QUESTION},
                                            {"role": "assistant", "content": ex.RAW_SAMPLE},
                                            {"role": "user", "content": ex.SAMPLE_FOLLOW_UP}]).message
    assert "enable_thinking" in ex.check_server_request({"model": "m", "messages": []}).message
    for fn in ALL_CHECKS:  # a wrong shape never raises
        assert fn(42).passed is False
    assert ex.check_split_by_hand(1, 2).passed is False
