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


# ---- issue 20 item 4: which model answers (the pick online, the trained stand-in offline), sampled answers measured --
def test_chat_source_online_is_the_pick():
    from types import SimpleNamespace

    from qwen_course.chat import chat_source
    from qwen_course.picker import pick

    online = SimpleNamespace(offline=False, model_path="Qwen/Qwen3.5-2B", model_id="Qwen/Qwen3.5-2B", offline_reason=None)
    src = chat_source(online)
    assert (src.path, src.model_id, src.trained_stand_in) == ("Qwen/Qwen3.5-2B", "Qwen/Qwen3.5-2B", False)
    assert src.label == "real checkpoint Qwen/Qwen3.5-2B"
    real = pick("chat", model="Qwen/Qwen3.5-2B", build_stand_in=False)  # the same recommended values as the pick's
    for mode in ("thinking", "non-thinking"):
        assert src.generate_kwargs(mode) == real.generate_kwargs(mode) and src.sampling(mode) == real.sampling(mode)
    assert "presence_penalty" in src.sampling("non-thinking") and "presence_penalty" not in src.generate_kwargs("non-thinking")
    assert src.thinking_default is False  # Qwen3.5-2B's template answers directly


def test_chat_source_offline_is_the_trained_stand_in(monkeypatch):
    from types import SimpleNamespace

    from qwen_course import offline
    from qwen_course.chat import TRAINED_STAND_IN, chat_source

    built = []
    monkeypatch.setattr(offline, "build", lambda kind: built.append(kind) or f"/cache/{kind}")
    pick = SimpleNamespace(offline=True, model_path="/cache/qwen3.5-small", model_id="Qwen/Qwen3.5-0.8B",
                           offline_reason="QWEN_COURSE_OFFLINE=1")
    src = chat_source(pick)
    assert built == [TRAINED_STAND_IN] == ["qwen3-trained"] and src.path == "/cache/qwen3-trained"
    assert src.trained_stand_in and src.model_id == offline.kind(TRAINED_STAND_IN).stands_in_for == "Qwen/Qwen3-0.6B"
    # Qwen3's presets (the checkpoint it imitates), not the pick's Qwen3.5 ones
    assert src.generate_kwargs("non-thinking") == {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20,
                                                   "min_p": 0.0}
    assert src.generate_kwargs("thinking")["temperature"] == 0.6 and src.thinking_default is True
    assert "offline (QWEN_COURSE_OFFLINE=1)" in src.label and "TRAINED Qwen3 'qwen3-trained'" in src.label
    assert "stand-in for Qwen/Qwen3-0.6B" in src.label


@pytest.fixture(scope="module")
def qwen3_tokenizer():
    from qwen_course import offline

    return offline.load_tokenizer("qwen3")


def replies_as_ids(tokenizer, texts, stop=True, width=12):
    """generate()'s new tokens for given reply texts: <|im_end|> then padding, or cut at `width` without a stop."""
    import torch

    end, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id
    rows = []
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        row = ids + [end] if stop else ids
        rows.append((row + [pad] * width)[:width] if stop else row[:width] + [pad] * (width - len(row[:width])))
    return torch.tensor(rows)


def test_sampled_answers_measures_groups(qwen3_tokenizer):
    import torch

    from qwen_course.chat import sampled_answers
    from qwen_course.offline import trained

    chats = [c for c in trained.heldout_chats(1, seed=1, tasks=("compare",)) if not c.thinking]
    a, b = chats[0].answer, chats[0].answer.replace("is larger", "is smaller")
    ids = replies_as_ids(qwen3_tokenizer, [a, a, b, a], width=16)
    dead = torch.zeros(len(qwen3_tokenizer), dtype=torch.bool)
    (smaller,) = set(qwen3_tokenizer.encode(b, add_special_tokens=False)) - set(qwen3_tokenizer.encode(a, add_special_tokens=False))
    dead[smaller] = True  # pretend " smaller" was never trained: one token of all those sampled
    got = sampled_answers(ids, qwen3_tokenizer, chats, samples=4, untrained=dead)
    assert got["distinct answers per prompt"] == 2 and got["correct"] == 0.75 and got["stopped"] == 1.0
    n_tokens = sum(len(qwen3_tokenizer.encode(t, add_special_tokens=False)) for t in (a, a, b, a))
    assert got["tokens from never-trained rows"] == pytest.approx(1 / n_tokens)
    assert got["answers"] == [[a, a, b, a]]


def test_sampled_answers_counts_unstopped_replies_and_checks_shapes(qwen3_tokenizer):
    from qwen_course.chat import sampled_answers
    from qwen_course.offline import trained

    chats = [c for c in trained.heldout_chats(1, seed=1, tasks=("compare",)) if not c.thinking]
    ids = replies_as_ids(qwen3_tokenizer, [chats[0].answer + " and more words that go on and on"] * 2, stop=False, width=8)
    got = sampled_answers(ids, qwen3_tokenizer, chats, samples=2)
    assert got["stopped"] == 0.0 and got["correct"] == 0.0 and got["tokens from never-trained rows"] == 0.0
    with pytest.raises(ValueError, match="3 replies for 1 chats x 2 samples"):
        sampled_answers(replies_as_ids(qwen3_tokenizer, ["a", "b", "c"]), qwen3_tokenizer, chats, samples=2)
