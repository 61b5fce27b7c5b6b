"""Tool chats rendered by our templates exactly as by Qwen's; what each template does with calls and thinking."""

import copy

import pytest

from qwen_course.tools import (GENERATION, THINKING, assistant_turns, compare, load_chats, options,
                                       reference_template, renderer, tokenizer_renderer)
from qwen_course.tools import parse_reply

TOOLS, CHATS = load_chats()
WITH_TOOLS = [{}, {"tools": TOOLS}]
QWEN35 = ["qwen3_5_think", "qwen3_5_nothink", "qwen3_6"]


def project_template(name):
    from qwen_course.offline import chat_template

    return chat_template(name)


def test_project_qwen3_template_renders_every_tool_chat_like_qwen():
    mismatches = compare(project_template("qwen3"), reference_template("qwen3"), CHATS,
                         options(GENERATION, WITH_TOOLS, THINKING))
    assert not mismatches, "\n".join(map(str, mismatches[:5]))


def project_qwen35_template(name):
    """Our Qwen3.5/3.6 template variant; skipped (not failed) until the offline package ships it."""
    from qwen_course import offline

    try:
        return offline.chat_template(name)
    except (ValueError, FileNotFoundError) as missing:  # not in TEMPLATES yet, or its .jinja not shipped yet
        pytest.skip(f"qwen_course.offline cannot give the {name!r} template yet: {missing}")


@pytest.mark.parametrize("name", QWEN35)
def test_project_qwen35_templates_render_every_tool_chat_like_qwen(name):
    """Every tool chat, with and without tools, generation prompt and thinking switches: string-equal to TRL's copy."""
    mismatches = compare(project_qwen35_template(name), reference_template(name), CHATS,
                         options(GENERATION, WITH_TOOLS, THINKING))
    assert not mismatches, "\n".join(map(str, mismatches[:5]))


def test_enough_tool_conversations_are_compared():
    with_calls = [name for name, messages in CHATS.items() if calls_of(messages)]
    assert len(CHATS) >= 15 and len(with_calls) >= 12 and len(TOOLS) >= 2
    assert len(options(GENERATION, WITH_TOOLS, THINKING)) == 12  # 12 renderings per chat and template


@pytest.mark.slow
@pytest.mark.parametrize("flavour, reference", [("qwen3", "qwen3"), ("qwen3.5", "qwen3_5_think")])
def test_offline_tokenizers_render_tool_chats_like_qwen(flavour, reference):
    """What a learner's apply_chat_template(tools=...) renders with the offline tokenizers, against Qwen's originals."""
    from qwen_course import offline

    if flavour == "qwen3.5":
        project_qwen35_template(reference)  # skips until the offline package ships the Qwen3.5 template
    tokenizer = offline.load_tokenizer(flavour)
    mismatches = compare(tokenizer_renderer(tokenizer), reference_template(reference), CHATS,
                         options(GENERATION, WITH_TOOLS))
    assert not mismatches, "\n".join(map(str, mismatches[:5]))


def test_harness_catches_a_one_character_change():
    broken = reference_template("qwen3").replace("<tool_call>\\n", "<tool_call>", 1)
    mismatches = compare(broken, reference_template("qwen3"), CHATS, options(WITH_TOOLS))
    assert mismatches and "differ at" in str(mismatches[0])


@pytest.mark.parametrize("name", QWEN35)
def test_qwen35_family_differs_from_think_template_only_where_documented(name):
    """nothink: the generation prompt; qwen3_6: literal rendering of non-string arguments (true/null)."""
    diffs = compare(reference_template(name), reference_template("qwen3_5_think"), CHATS,
                    options([{"add_generation_prompt": False}], WITH_TOOLS))
    changed = {m.chat for m in diffs}
    assert changed <= ({"typed arguments"} if name == "qwen3_6" else set())


def calls_of(messages):
    return [(c["function"]["name"], c["function"]["arguments"]) for m in messages for c in m.get("tool_calls", [])]


@pytest.mark.parametrize("name", ["qwen3", "qwen3_5_think", "qwen3_6"])
def test_rendered_calls_parse_back_to_the_same_calls(name):
    render = renderer(reference_template(name))
    for chat, messages in CHATS.items():
        if chat in ("arguments as JSON text", "typed arguments") or not calls_of(messages):
            continue
        prompt = render(messages, tools=TOOLS)
        parsed = [parse_reply(turn, tools=TOOLS) for turn in assistant_turns(prompt)]
        assert not [e for p in parsed for e in p.errors], chat
        assert [(c.name, c.arguments) for p in parsed for c in p.calls] == calls_of(messages), chat


def test_typed_arguments_round_trip_needs_the_schema_in_qwen35():
    messages = CHATS["typed arguments"]
    args = calls_of(messages)[0][1]
    q3 = parse_reply(assistant_turns(renderer(reference_template("qwen3"))(messages))[0])
    assert q3.calls[0].arguments == args  # JSON keeps types
    q35 = parse_reply(assistant_turns(renderer(reference_template("qwen3_5_think"))(messages))[0])
    assert q35.calls[0].arguments == args  # guessed back: True/None are Python spellings in Qwen3.5
    q36 = parse_reply(assistant_turns(renderer(reference_template("qwen3_6"))(messages))[0])
    assert q36.calls[0].arguments == args


def test_qwen35_writes_python_literals_qwen36_json_ones():
    messages = CHATS["typed arguments"]
    assert "<parameter=metric>\nTrue\n" in renderer(reference_template("qwen3_5_think"))(messages)
    assert "<parameter=metric>\ntrue\n" in renderer(reference_template("qwen3_6"))(messages)
    assert '"metric": true' in renderer(reference_template("qwen3"))(messages)


def test_qwen35_needs_arguments_as_a_mapping():
    with pytest.raises(Exception, match="mapping"):
        renderer(reference_template("qwen3_5_think"))(CHATS["arguments as JSON text"])
    assert '{"city": "Paris"}' in renderer(reference_template("qwen3"))(CHATS["arguments as JSON text"])


def test_thinking_between_calls():
    """Inside the current tool loop both keep reasoning; Qwen3.5 even writes an empty block; a new question drops it."""
    loop = CHATS["multi-step, reasoning_content"][:-1]  # ends with a tool result: the loop is still running
    q3 = renderer(reference_template("qwen3"))(loop, add_generation_prompt=True)
    q35 = renderer(reference_template("qwen3_5_think"))(loop, add_generation_prompt=True)
    for prompt in (q3, q35):
        assert "<think>\nTwo cities: start with Paris.\n</think>" in prompt
        assert "<think>\nParis done.\n</think>" in prompt
    no_reasoning = copy.deepcopy(loop)
    for m in no_reasoning:
        m.pop("reasoning_content", None)
    assert "<think>\n\n</think>\n\n<tool_call>" in renderer(reference_template("qwen3_5_think"))(no_reasoning)
    assert "<think>" not in renderer(reference_template("qwen3"))(no_reasoning)
    finished = CHATS["finished loop, new question"]
    for name in ("qwen3", "qwen3_5_think"):
        assert "Call the tool." not in renderer(reference_template(name))(finished)
    assert "Call the tool." in renderer(reference_template("qwen3_6"))(finished, preserve_thinking=True)


def test_generation_prompt_opens_thinking_in_qwen35_only():
    user = [{"role": "user", "content": "Hi"}]
    assert renderer(reference_template("qwen3"))(user, add_generation_prompt=True).endswith("assistant\n")
    assert renderer(reference_template("qwen3_5_think"))(user, add_generation_prompt=True).endswith("<think>\n")
    assert renderer(reference_template("qwen3_5_nothink"))(user, add_generation_prompt=True).endswith(
        "<think>\n\n</think>\n\n")
