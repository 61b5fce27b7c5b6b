"""Lesson 09's checks: the notebook's folded solutions pass, typical wrong answers fail with their specific hint."""

import copy
import json
import re
from pathlib import Path

import pytest

from conftest import fails, folded_solutions, passes
from qwen_course.exercises import (
    check_call_parser, check_call_verdicts, check_inside_folder, check_ticket_schema, check_tool_schema,
    check_tool_turns, check_word_count_tool,
)
from qwen_course.exercises import lesson09
from qwen_course.tools import ToolRefused

CHECKS = ["check_tool_schema", "check_tool_turns", "check_call_parser", "check_ticket_schema",
          "check_word_count_tool", "check_call_verdicts", "check_inside_folder"]


@pytest.fixture(scope="module")
def solved():
    """Every folded solution of notebook 09 run in one namespace, with the check call the notebook makes after it."""
    ns = {**vars(lesson09), "json": json, "ToolRefused": ToolRefused}
    pairs = folded_solutions("09")
    assert [call.split("(")[0] for call, _ in pairs] == CHECKS
    results = []
    for call, code in pairs:
        exec(code, ns)  # noqa: S102 - the notebook's own solution text
        results.append(eval(call, ns))  # noqa: S307 - the notebook's own check call
    return ns, results


def test_every_folded_solution_passes_its_notebook_call(solved):
    for result in solved[1]:
        passes(result)


def test_placeholders_are_not_answered_yet():
    for placeholder in (None, ...):
        for check in (check_tool_schema, check_tool_turns, check_call_parser, check_ticket_schema,
                      check_word_count_tool, check_call_verdicts, check_inside_folder):
            result = check(placeholder)
            assert result.passed is None and "not answered yet" in str(result)


def test_tool_schema(solved):
    right = solved[0]["my_entry"]
    from transformers.utils import get_json_schema

    passes(check_tool_schema(get_json_schema(lesson09.shipping_cost)))
    fails(check_tool_schema(right["function"]), "the entry is {'type': 'function'")
    as_python = copy.deepcopy(right)
    as_python["function"]["parameters"]["properties"]["weight_kg"]["type"] = "float"
    fails(check_tool_schema(as_python), "Python's float 'number'")
    all_required = copy.deepcopy(right)
    all_required["function"]["parameters"]["required"] = ["weight_kg", "country", "express"]
    fails(check_tool_schema(all_required), "express has a default value")
    fails(check_tool_schema({**right, "function": {**right["function"], "name": "shipping"}}), "'shipping_cost'")


def test_tool_turns(solved):
    right = solved[0]["my_turns"]
    passes(check_tool_turns(right))
    as_text = copy.deepcopy(right)
    as_text[0]["tool_calls"][0]["function"]["arguments"] = json.dumps(lesson09.CALL_ARGUMENTS)
    fails(check_tool_turns(as_text), "arguments must be a dict")
    fails(check_tool_turns([right[0], {**right[1], "role": "function"}]), "role 'tool'")
    fails(check_tool_turns([right[1]]), "append two messages")
    fails(check_tool_turns([right[0], {**right[1], "content": "7.9"}]), "'8.25'")


def test_call_parser(solved):
    passes(check_call_parser(solved[0]["parse_calls"]))

    def first_only(text):
        match = re.search(r"<tool_call>(.*?)</tool_call>", text, re.DOTALL)
        if not match:
            return []
        try:
            data = json.loads(match.group(1))
        except ValueError:
            return []
        return [(data["name"], data["arguments"])]

    def trusting(text):  # no try/except: one broken call raises
        blocks = re.findall(r"<tool_call>(.*?)</tool_call>", text, re.DOTALL)
        return [(d["name"], d["arguments"]) for d in map(json.loads, blocks)]

    fails(check_call_parser(first_only), "only the first call")
    fails(check_call_parser(trusting), "raised JSONDecodeError")
    fails(check_call_parser("parse_calls"), "answer with a function")


def test_ticket_schema(solved):
    right = solved[0]["my_ticket_schema"]
    passes(check_ticket_schema(right))
    fails(check_ticket_schema({k: v for k, v in right.items() if k != "additionalProperties"}), "additionalProperties")
    fails(check_ticket_schema({k: v for k, v in right.items() if k != "required"}), "list every field in required")
    loose = copy.deepcopy(right)
    loose["properties"]["priority"] = {"type": "integer"}
    fails(check_ticket_schema(loose), "minimum and maximum")
    fails(check_ticket_schema({"type": "objekt"}), "not a valid JSON schema")


def test_word_count_tool(solved):
    passes(check_word_count_tool(solved[0]["word_count"]))

    def no_docstring(text: str) -> int:
        return len(text.split())

    def counts_characters(text: str) -> int:
        """
        Count the words in a text.

        Args:
            text: The text.
        """
        return len(text)

    def no_guard(text: str) -> int:
        """
        Count the words in a text.

        Args:
            text: The text.
        """
        return len(text.split())

    for wrong in (no_docstring, counts_characters, no_guard):
        wrong.__name__ = "word_count"  # the learner's function has the asked-for name
    fails(check_word_count_tool(no_docstring), "docstring")
    fails(check_word_count_tool(counts_characters), "4 words")
    fails(check_word_count_tool(no_guard), "raise ToolRefused")


def test_call_verdicts(solved):
    right = solved[0]["my_verdicts"]
    passes(check_call_verdicts(right))
    assert right == lesson09.expected_verdicts()
    fails(check_call_verdicts({**right, "get_model_info Qwen9-1B": "refused"}), "ran and failed")
    fails(check_call_verdicts({**right, "find_models chat, '7'": "error"}), "break the schema")
    fails(check_call_verdicts({k: v for k, v in right.items() if k != "calculator 1/0"}), "exactly these keys")


def test_inside_folder(solved):
    passes(check_inside_folder(solved[0]["inside_folder"]))

    def by_prefix(root, requested):  # the classic bug: a string prefix
        target = (Path(root) / requested).resolve()
        if not str(target).startswith(str(Path(root).resolve())):
            raise ToolRefused("outside")
        return target

    def not_resolved(root, requested):  # normalises .. but does not follow symlinks
        import os

        target = Path(os.path.normpath(Path(root).absolute() / requested))
        if not target.is_relative_to(Path(root).absolute()):
            raise ToolRefused("outside")
        return target

    def wrong_error(root, requested):
        target = (Path(root) / requested).resolve()
        if not target.is_relative_to(Path(root).resolve()):
            raise PermissionError("outside")
        return target

    fails(check_inside_folder(by_prefix), "compare paths, not strings")
    fails(check_inside_folder(not_resolved), "symlink")
    fails(check_inside_folder(wrong_error), "raise ToolRefused")
