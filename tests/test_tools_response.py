"""transformers' public parse_response with our response templates agrees with our parser on good replies."""

import pytest

from qwen_course.tools import load_chats, parse_reply, parse_with_transformers, response_template

TOOLS, _ = load_chats()
GOOD = {
    "qwen3": ['<think>\nplan\n</think>\n\nChecking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": '
              '"Paris", "days": 2}}\n</tool_call>\n<tool_call>\n{"name": "calculator", "arguments": {"expression": '
              '"1+1"}}\n</tool_call><|im_end|>',
              "Just text.<|im_end|>"],
    "qwen3.5": ["<think>\nok\n</think>\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
                "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call><|im_end|>",
                "Let me check.\n\n<tool_call>\n<function=calculator>\n<parameter=expression>\n2 * 3\n</parameter>\n"
                "</function>\n</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n"
                "</parameter>\n</function>\n</tool_call><|im_end|>"],
}


@pytest.fixture(scope="module")
def tokenizer():
    from qwen_course import offline

    return offline.load_tokenizer("qwen3")


@pytest.mark.slow
@pytest.mark.parametrize("flavour", list(GOOD))
def test_agrees_with_our_parser(tokenizer, flavour):
    for text in GOOD[flavour]:
        ours, theirs = parse_reply(text, TOOLS), parse_with_transformers(tokenizer, text, "", TOOLS, flavour)
        assert [(c.name, c.arguments) for c in theirs.calls] == [(c.name, c.arguments) for c in ours.calls]
        assert (theirs.content, theirs.reasoning) == (ours.content, ours.reasoning)


@pytest.mark.slow
def test_malformed_reply_is_one_error_there_but_per_call_here(tokenizer):
    text = ('<tool_call>\n{"name": "calculator", "arguments": {"expression": 1+}}\n</tool_call>\n'
            '<tool_call>\n{"name": "calculator", "arguments": {"expression": "2"}}\n</tool_call>')
    theirs = parse_with_transformers(tokenizer, text, "", TOOLS)
    assert theirs.calls == [] and "could not parse region as JSON" in theirs.errors[0].reason
    assert len(parse_reply(text).calls) == 1


def test_unknown_flavour():
    with pytest.raises(ValueError, match="qwen3.5"):
        response_template("qwen9")
