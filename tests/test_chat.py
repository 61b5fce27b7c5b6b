"""chat: the truncation policy, boxed-answer parsing, FIM prompts, and a streamed multi-turn session on the stand-in."""

import pytest

from qwen_course.chat import ChatSession, ContextTooLongError, extract_boxed, fim_prompt, fit_history


def words(messages):
    return sum(len(m["content"].split()) for m in messages)


def conversation(n):
    msgs = [{"role": "system", "content": "be brief"}]
    for i in range(n):
        msgs += [{"role": "user", "content": f"question {i} " * 3}, {"role": "assistant", "content": f"answer {i} " * 3}]
    return msgs + [{"role": "user", "content": "last question"}]


def test_fits_without_dropping():
    msgs = conversation(2)
    kept, dropped = fit_history(msgs, words, 100)
    assert kept == msgs and dropped == 0


def test_drops_oldest_turns_keeps_system_and_newest():
    msgs = conversation(5)
    kept, dropped = fit_history(msgs, words, 20)
    assert kept[0]["role"] == "system" and kept[-1]["content"] == "last question"
    assert words(kept) <= 20 and dropped > 0
    assert kept[1]["role"] == "user"  # history restarts at a user turn, never with an orphan answer


def test_newest_message_too_long_is_a_clear_error():
    msgs = [{"role": "user", "content": "word " * 50}]
    with pytest.raises(ContextTooLongError, match="only 10 fit"):
        fit_history(msgs, words, 10)


@pytest.mark.parametrize("text,answer", [
    (r"so \boxed{42}.", "42"), (r"\boxed{1} then \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
    ("no box here", None), (r"\boxed{unclosed", None),
])
def test_extract_boxed(text, answer):
    assert extract_boxed(text) == answer


def test_fim_prompt_order():
    assert fim_prompt("def f(", "):") == "<|fim_prefix|>def f(<|fim_suffix|>):<|fim_middle|>"


@pytest.mark.slow
def test_session_streams_and_truncates():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qwen_course import offline

    path = offline.build("qwen3")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    session = ChatSession(model, tok, system="be brief", max_context=120, max_new_tokens=8,
                          generate_kwargs={"do_sample": False})
    pieces = []
    for i in range(6):
        session.send(f"message number {i} " * 4, on_piece=pieces.append)
    assert pieces and session.dropped > 0
    assert session.count(session.messages()) <= 120
    session.clear()
    assert session.history == [] and session.dropped == 0


@pytest.fixture(scope="module")
def thinking_tokenizer():
    """Qwen3.5-4B+'s tokenizer and template: it thinks unless told otherwise."""
    from qwen_course import offline

    return offline.load_tokenizer("qwen3.5")


@pytest.mark.parametrize("enable,state", [(None, "open"), (True, "open"), (False, "skipped")])
def test_session_passes_its_thinking_mode_to_the_template(thinking_tokenizer, enable, state):
    from qwen_course.thinking import prompt_state

    session = ChatSession(None, thinking_tokenizer, enable_thinking=enable)
    assert prompt_state(session.render(session.messages("Hi"), tokenize=False)) == state


def test_session_history_keeps_the_answer_not_the_reasoning(thinking_tokenizer, monkeypatch):
    import torch

    from qwen_course import chat

    class Model:
        device = torch.device("cpu")

    monkeypatch.setattr(chat, "stream_generate", lambda *a, **k: iter(["Adding up.\n", "</think>\n\n", "It is 4."]))
    session = ChatSession(Model(), thinking_tokenizer, enable_thinking=True, max_context=200, max_new_tokens=8)
    reply = session.send("What is 2 + 2?")
    assert "</think>" in reply  # the caller sees everything the model wrote
    assert session.history == [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "It is 4."}]
