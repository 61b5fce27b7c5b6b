"""Functions to tool schemas, and calls back to messages."""

import json

from qwen_course.tools import Tool, ToolCall, assistant_message, strict, tool_from_function, tool_message


def get_weather(city: str, days: int = 1) -> str:
    """
    The weather forecast for a city.

    Args:
        city: The city name.
        days: How many days ahead (choices: [1, 2, 3])
    """
    return f"{city}: sunny for {days} days"


def test_tool_from_function_uses_transformers_get_json_schema():
    tool = tool_from_function(get_weather, city={"maxLength": 50})
    assert tool.name == "get_weather" and tool.description == "The weather forecast for a city."
    assert tool.parameters == {
        "type": "object", "additionalProperties": False, "required": ["city"],
        "properties": {"city": {"type": "string", "description": "The city name.", "maxLength": 50},
                       "days": {"type": "integer", "description": "How many days ahead", "enum": [1, 2, 3]}}}
    assert tool.function("Oslo", 2) == "Oslo: sunny for 2 days"


def test_spec_is_what_apply_chat_template_and_openai_take():
    spec = tool_from_function(get_weather).spec()
    assert spec["type"] == "function" and spec["function"]["name"] == "get_weather"
    spec["function"]["parameters"]["properties"].clear()  # a copy: the tool keeps its schema
    assert tool_from_function(get_weather).parameters["properties"]


def test_strict_closes_an_open_schema_without_touching_the_original():
    original = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert strict(original)["additionalProperties"] is False and "additionalProperties" not in original
    assert strict({"additionalProperties": True})["additionalProperties"] is True  # an explicit choice is kept


def test_call_shapes_for_templates_and_servers():
    call = ToolCall("get_weather", {"city": "Oslo"}, "call_1")
    assert call.as_dict()["function"]["arguments"] == {"city": "Oslo"}
    assert json.loads(call.as_openai()["function"]["arguments"]) == {"city": "Oslo"}
    message = assistant_message("", [call], reasoning="need data")
    assert message == {"role": "assistant", "content": "", "reasoning_content": "need data",
                       "tool_calls": [call.as_dict()]}
    assert tool_message("sunny", call) == {"role": "tool", "content": "sunny", "tool_call_id": "call_1",
                                           "name": "get_weather"}


def test_tool_is_a_plain_value():
    assert Tool("f", "d", {}) == Tool("f", "d", {}, print)  # the function is not part of equality


def test_optional_arguments_accept_none_after_conversion():
    from typing import Optional

    from qwen_course.tools import schema_problem

    def search(query: str, limit: Optional[int] = None, tags: list[str] | None = None) -> list:
        """
        Search the notes.

        Args:
            query: Words to look for.
            limit: At most this many hits.
            tags: Only notes with these tags.
        """
        return []

    tool = tool_from_function(search)
    assert tool.parameters["properties"]["limit"]["type"] == ["integer", "null"]
    assert tool.parameters["properties"]["tags"]["type"] == ["array", "null"]
    assert schema_problem({"query": "q", "limit": None, "tags": None}, tool.parameters) is None
    assert "is not of type 'integer', 'null'" in schema_problem({"query": "q", "limit": "5"}, tool.parameters)
