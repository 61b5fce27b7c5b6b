"""Parsing both Qwen call formats, with bad output as errors that name the problem."""

import pytest

from qwen_course.tools.parse import ToolCallError, coerce, parse_call, parse_reply, split_reasoning

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
    "city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"},
    "where": {"type": "object"}, "tags": {"type": "array"}, "note": {"type": ["string", "null"]},
    "zip": {"type": "string"}}}}}


def json_call(name, arguments):
    return f'<tool_call>\n{{"name": "{name}", "arguments": {arguments}}}\n</tool_call>'


def xml_call(name, **params):
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


def test_qwen3_single_call():
    reply = parse_reply(json_call("get_weather", '{"city": "Paris"}') + "<|im_end|>")
    assert [(c.name, c.arguments) for c in reply.calls] == [("get_weather", {"city": "Paris"})]
    assert reply.content == "" and reply.errors == [] and reply.reasoning is None


def test_several_calls_with_text_and_reasoning_around():
    text = ("<think>\nTwo cities.\n</think>\n\nChecking both.\n" + json_call("get_weather", '{"city": "Paris"}')
            + "\n" + json_call("get_weather", '{"city": "Oslo", "days": 2}') + "<|im_end|>")
    reply = parse_reply(text)
    assert reply.reasoning == "Two cities." and reply.content == "Checking both."
    assert [c.arguments for c in reply.calls] == [{"city": "Paris"}, {"city": "Oslo", "days": 2}]
    assert len({c.id for c in reply.calls}) == 2


def test_one_bad_call_does_not_hide_the_good_one():
    text = json_call("get_weather", '{"city": Paris}') + "\n" + json_call("get_weather", '{"city": "Oslo"}')
    reply = parse_reply(text)
    assert [c.arguments for c in reply.calls] == [{"city": "Oslo"}]
    assert len(reply.errors) == 1 and "invalid JSON" in reply.errors[0].reason


@pytest.mark.parametrize("body, reason", [
    ('{"name": "f", "arguments": {"a": "unterminated', "truncated JSON"),
    ('{"arguments": {}}', 'missing "name"'),
    ('{"name": "f", "arguments": [1, 2]}', '"arguments" must be an object'),
    ('{"name": "f", "arguments": "not json"}', "string that is not a JSON object"),
    ('{"name": "f"} and more', "unexpected text after"),
    ('["f"]', "expected a JSON object"),
    ("", "empty"),
    ('{"name": "f", "arguments": {"n": ' + "9" * 5000 + "}}", "unreadable JSON"),
    ("[" * 100_000, "unreadable JSON"),
])
def test_malformed_json_calls_name_the_problem(body, reason):
    with pytest.raises(ToolCallError, match=reason):
        parse_call(body)


def test_cut_off_reply_is_an_error_not_a_call():
    reply = parse_reply("Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"argu")
    assert reply.calls == [] and reply.content == "Sure."
    assert "unclosed <tool_call>" in reply.errors[0].reason
    assert "could not read your tool call" in reply.errors[0].feedback()


def test_arguments_encoded_twice_and_parameters_alias():
    assert parse_call('{"name": "f", "arguments": "{\\"a\\": 1}"}').arguments == {"a": 1}
    assert parse_call('{"name": "f", "parameters": {"a": 1}}').arguments == {"a": 1}
    assert parse_call('{"name": "f"}').arguments == {}


def test_qwen35_xml_call_typed_by_schema():
    text = "<think>\nok\n</think>\n\n" + xml_call(
        "get_weather", city="Paris", days="3", metric="True", where='{"lat": 1.5}', tags='["a", "b"]',
        note="None", zip="75001") + "<|im_end|>"
    reply = parse_reply(text, tools=[WEATHER])
    assert reply.errors == [] and reply.reasoning == "ok"
    assert reply.calls[0].arguments == {"city": "Paris", "days": 3, "metric": True, "where": {"lat": 1.5},
                                        "tags": ["a", "b"], "note": None, "zip": "75001"}


def test_qwen35_without_schema_guesses_json_and_python_literals():
    call = parse_call(xml_call("f", a="3", b="true", c="False", d="hello world", e="None")[11:-12])
    assert call.arguments == {"a": 3, "b": True, "c": False, "d": "hello world", "e": None}


def test_qwen35_multiline_value_kept():
    call = parse_reply(xml_call("write", text="line one\nline two"))
    assert call.calls[0].arguments == {"text": "line one\nline two"}


def test_qwen35_wrong_type_stays_text_for_validation():
    assert parse_reply(xml_call("get_weather", days="three"), tools=[WEATHER]).calls[0].arguments == {"days": "three"}


@pytest.mark.parametrize("body, reason", [
    ("<function=f>\n<parameter=a>\n1\n</parameter>\n", "missing </function>"),
    ("<function=f>\n<parameter=a>\n1\n</function>", "unclosed <parameter"),
    ("<function=f>\n<parameter=a>\n1\n</parameter>\n<parameter=a>\n2\n</parameter>\n</function>", "given twice"),
    ("<function=f>\nstray words\n</function>", "unexpected text"),
])
def test_malformed_xml_calls_name_the_problem(body, reason):
    with pytest.raises(ToolCallError, match=reason):
        parse_call(body)


def test_qwen35_bare_function_without_tool_call_tags():
    reply = parse_reply("Let me see.\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>")
    assert reply.calls[0].arguments == {"city": "Oslo"} and reply.content == "Let me see."


def test_prompt_opened_think_and_cut_off_thinking():
    assert split_reasoning("plan\n</think>\n\nanswer", in_think=True) == ("plan", "answer")
    assert split_reasoning("still thinking", in_think=True) == ("still thinking", "")
    assert parse_reply("plan\n</think>\n\n" + json_call("f", "{}"), in_think=True).calls[0].name == "f"


def test_plain_answer_has_no_calls():
    reply = parse_reply("The weather is fine.<|im_end|>")
    assert reply.content == "The weather is fine." and not reply.calls and not reply.errors
    assert reply.message() == {"role": "assistant", "content": "The weather is fine."}


def test_coerce_union_types():
    assert coerce("null", {"type": ["integer", "null"]}) is None
    assert coerce("7", {"anyOf": [{"type": "integer"}, {"type": "string"}]}) == 7
    assert coerce("7", {"type": "string"}) == "7"
    assert coerce("true", {"type": "integer"}) == "true"


def test_closing_think_without_opening_means_the_prompt_opened_it():
    reply = parse_reply("I should call.\n</think>\n\n" + json_call("f", "{}"))
    assert reply.reasoning == "I should call." and reply.calls[0].name == "f" and reply.content == ""
