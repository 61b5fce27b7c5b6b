"""Checks for notebook 09 (tools and agents): a tool schema by hand, the turns after a call, a call parser, a JSON
schema, a tool of your own, what the loop does with bad calls, and a folder guard. Each returns a CheckResult and
never raises on a learner's answer."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ._check import CheckResult, check


def shipping_cost(weight_kg: float, country: str, express: bool = False) -> float:
    """
    The shipping cost of a parcel in euros.

    Args:
        weight_kg: The parcel's weight in kilograms.
        country: The destination country code, e.g. "DE".
        express: Ship by express (faster, dearer).
    """
    return round((4.5 + 1.5 * weight_kg) * (2 if express else 1), 2)


# Section 1: the call the model made and what the tool answered (for check_tool_turns)
CALL_ID, CALL_ARGUMENTS, TOOL_RESULT = "call_1", {"weight_kg": 2.5, "country": "DE"}, "8.25"
JSON_TYPES = {"float": "number", "int": "integer", "bool": "boolean", "str": "string"}


def _tool_schema(entry) -> tuple[bool, str]:
    from transformers.utils import get_json_schema

    expected = get_json_schema(shipping_cost)
    if not isinstance(entry, dict) or entry.get("type") != "function" or not isinstance(entry.get("function"), dict):
        return False, ("the entry is {'type': 'function', 'function': {'name': ..., 'description': ..., "
                       "'parameters': ...}}")
    function = entry["function"]
    if function.get("name") != "shipping_cost":
        return False, f"the name must be the function's name, 'shipping_cost', not {function.get('name')!r}"
    parameters = function.get("parameters") or {}
    if parameters.get("type") != "object":
        return False, "parameters is a JSON schema of type 'object' whose properties are the arguments"
    got, want = parameters.get("properties") or {}, expected["function"]["parameters"]["properties"]
    if set(got) != set(want):
        return False, f"the properties are the arguments {sorted(want)}; you have {sorted(got)}"
    for name, schema in want.items():
        kind = (got[name] or {}).get("type")
        if kind != schema["type"]:
            hint = f" (JSON Schema calls Python's {kind} '{JSON_TYPES[kind]}')" if kind in JSON_TYPES else ""
            return False, f"{name!r} has type {kind!r}; it should be {schema['type']!r}{hint}"
    required = set(parameters.get("required") or [])
    if "express" in required:
        return False, "express has a default value, so the model may leave it out: it is not required"
    if required != set(expected["function"]["parameters"]["required"]):
        return False, "list the arguments without a default in 'required': weight_kg and country"
    return True, "the same schema transformers' get_json_schema(shipping_cost) builds (descriptions aside)."


def check_tool_schema(entry) -> CheckResult:
    """Easy: the tools=[...] entry for shipping_cost, written by hand."""
    return check("tool schema by hand", entry, _tool_schema,
                 "Python float/str/bool are JSON 'number'/'string'/'boolean'; arguments with defaults are not "
                 "required.")


def _tool_turns(messages) -> tuple[bool, str]:
    from ..tools import reference_template, renderer

    if not isinstance(messages, list) or len(messages) != 2 or not all(isinstance(m, dict) for m in messages):
        return False, "append two messages: the assistant's turn with the call, then the tool's result"
    assistant, result = messages
    if assistant.get("role") != "assistant" or not assistant.get("tool_calls"):
        return False, "the first message is the assistant's, with role 'assistant' and a 'tool_calls' list"
    if result.get("role") != "tool":
        return False, f"the result goes in a message with role 'tool' (not {result.get('role')!r})"
    call = assistant["tool_calls"][0]
    function = call.get("function") or {}
    if isinstance(function.get("arguments"), str):
        return False, ("arguments must be a dict: Qwen3.5's template iterates over them (a JSON string only "
                       "works with Qwen3's, and the OpenAI wire format is the server's business)")
    if function.get("name") != "shipping_cost" or function.get("arguments") != CALL_ARGUMENTS:
        return False, f"the call is shipping_cost with arguments {CALL_ARGUMENTS}"
    if str(result.get("content")) != TOOL_RESULT:
        return False, f"the tool message's content is the tool's answer, {TOOL_RESULT!r}"
    history = [{"role": "user", "content": "What does a 2.5 kg parcel to Germany cost?"}] + messages
    for name, piece in (("qwen3", f"<tool_response>\n{TOOL_RESULT}\n</tool_response>"),
                        ("qwen3_5_think", "<parameter=weight_kg>\n2.5\n</parameter>")):
        prompt = renderer(reference_template(name))(history, add_generation_prompt=True)
        if piece not in prompt:
            return False, f"Qwen's {name} template did not render {piece!r}"
    return True, "both Qwen3 and Qwen3.5 render the call and the <tool_response> exactly."


def check_tool_turns(messages) -> CheckResult:
    """Medium: the two messages to append after the model called shipping_cost and the tool answered."""
    return check("messages after a call", messages, _tool_turns,
                 "{'role': 'assistant', 'content': '', 'tool_calls': [{'id': ..., 'type': 'function', 'function': "
                 "{'name': ..., 'arguments': {...}}}]}, then {'role': 'tool', 'tool_call_id': ..., 'content': ...}.")


PARSER_CASES = [  # (model output, the (name, arguments) pairs a robust parser returns)
    ('<tool_call>\n{"name": "calculator", "arguments": {"expression": "6*7"}}\n</tool_call>',
     [("calculator", {"expression": "6*7"})]),
    ('Checking both.\n<tool_call>\n{"name": "get_model_info", "arguments": {"model": "Qwen3-8B"}}\n</tool_call>\n'
     '<tool_call>\n{"name": "get_model_info", "arguments": {"model": "Qwen3-4B"}}\n</tool_call>',
     [("get_model_info", {"model": "Qwen3-8B"}), ("get_model_info", {"model": "Qwen3-4B"})]),
    ('<tool_call>\n{"name": "calculator", "arguments": {"expression": 6*7}}\n</tool_call>\n'
     '<tool_call>\n{"name": "calculator", "arguments": {"expression": "1+1"}}\n</tool_call>',
     [("calculator", {"expression": "1+1"})]),
    ("The answer is 42.", []),
    ('<tool_call>\n{"name": "calculator", "argum', []),
]


def _parser(parse) -> tuple[bool, str]:
    if not callable(parse):
        return False, "answer with a function parse_calls(text) -> list of (name, arguments) pairs"
    for text, expected in PARSER_CASES:
        try:
            got = parse(text)
        except Exception as error:  # the point of the exercise: bad model output must not crash the loop
            return False, (f"it raised {type(error).__name__} on {text[:50]!r}...: catch bad JSON per call "
                           "(try/except around json.loads) so one broken call does not lose the others")
        got = [tuple(pair) for pair in got] if isinstance(got, list) else got
        if got != expected:
            if isinstance(got, list) and len(got) == 1 and len(expected) == 2:
                return False, "only the first call came back: find every block (re.findall with re.DOTALL)"
            if isinstance(got, list) and got and isinstance(got[0], tuple) and len(got[0]) != 2:
                return False, "return (name, arguments) pairs"
            return False, f"on {text[:60]!r}... it returned {got!r}, expected {expected!r}"
    return True, f"all {len(PARSER_CASES)} replies parsed: several calls, text around them, a bad call skipped."


def check_call_parser(parse) -> CheckResult:
    """Medium: a Qwen3 call parser that returns every good call and survives bad ones."""
    return check("a robust call parser", parse, _parser,
                 "re.findall(r'<tool_call>(.*?)</tool_call>', text, re.DOTALL), then json.loads each inside "
                 "try/except.")


TICKETS_VALID = [{"category": "billing", "priority": 1, "summary": "Charged twice"},
                 {"category": "bug", "priority": 3, "summary": "App crashes on start"}]
TICKETS_INVALID = [  # (ticket, what the schema forgot when it accepts it)
    ({"category": "billing", "priority": 2, "summary": "x", "refund": True},
     "an extra key got through: set additionalProperties to false"),
    ({"category": "billing", "priority": 2}, "a ticket without summary got through: list every field in required"),
    ({"category": "sales", "priority": 2, "summary": "x"}, "category 'sales' got through: use enum for the three"),
    ({"category": "bug", "priority": 5, "summary": "x"}, "priority 5 got through: bound it with minimum and maximum"),
    ({"category": "bug", "priority": "2", "summary": "x"}, "priority '2' (a string) got through: type 'integer'"),
    ({"category": "bug", "priority": 2, "summary": "x" * 81}, "an 81-character summary got through: maxLength 80"),
]


def _ticket_schema(schema) -> tuple[bool, str]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        return False, f"not a valid JSON schema: {error.message}"
    validator = Draft202012Validator(schema)
    for ticket in TICKETS_VALID:
        problem = next(iter(validator.iter_errors(ticket)), None)
        if problem is not None:
            return False, f"a good ticket was refused ({problem.message}): {ticket}"
    for ticket, forgot in TICKETS_INVALID:
        if validator.is_valid(ticket):
            return False, forgot
    return True, f"accepts the {len(TICKETS_VALID)} good tickets and refuses all {len(TICKETS_INVALID)} bad ones."


def check_ticket_schema(schema) -> CheckResult:
    """Easy: a JSON schema for a support ticket that a grammar can enforce."""
    return check("ticket schema", schema, _ticket_schema,
                 "type object; properties with enum, type integer + minimum/maximum, maxLength; required; "
                 "additionalProperties false.")


def _word_count_tool(function) -> tuple[bool, str]:
    from ..tools import ToolCall, execute, tool_from_function

    if not callable(function):
        return False, "answer with the function word_count itself"
    try:
        tool = tool_from_function(function)
    except Exception as error:
        return False, (f"tool_from_function could not read it ({type(error).__name__}): give it type hints and a "
                       "docstring with a description line and an 'Args:' section naming text")
    properties = tool.parameters.get("properties", {})
    if tool.name != "word_count" or list(properties) != ["text"] or properties["text"].get("type") != "string":
        return False, f"expected word_count(text: str); the schema says {tool.name}({list(properties)})"
    table = {tool.name: tool}
    counted = execute(ToolCall("word_count", {"text": "tools are untrusted input"}), table)
    if counted.kind != "ran" or counted.result != "4":
        return False, f"'tools are untrusted input' has 4 words; the tool answered {counted.result!r} (str.split())"
    huge = execute(ToolCall("word_count", {"text": "word " * 600}), table)  # under the loop's own 4 KB limit
    if huge.kind != "refused":
        return False, "a 3,000-character text was counted: raise ToolRefused when text is over 2,000 characters"
    wrong = execute(ToolCall("word_count", {"text": 42}), table)
    if wrong.kind != "refused":
        return False, "an integer text got through: is the type hint str?"
    return True, f"schema from your docstring, right count, and the loop's refusal for big input: {huge.result!r}"


def check_word_count_tool(function) -> CheckResult:
    """Medium: a tool of your own, with a schema from its docstring and its own size guard."""
    return check("word_count tool", function, _word_count_tool,
                 "def word_count(text: str) -> int: with a Google-style docstring; raise ToolRefused(...) if "
                 "len(text) > 2000; return len(text.split()).")


VERDICT_CALLS = {  # name -> (tool, arguments); what execute() does with each
    "calculator 2**10": ("calculator", {"expression": "2**10"}),
    "calculator 1/0": ("calculator", {"expression": "1/0"}),
    "read_file ../secret.txt": ("read_file", {"path": "../secret.txt"}),
    "delete_file report.txt": ("delete_file", {"path": "report.txt"}),
    "get_model_info Qwen9-1B": ("get_model_info", {"model": "Qwen9-1B"}),
    "find_models chat, '7'": ("find_models", {"task": "chat", "max_billion_parameters": "7"}),
}


def expected_verdicts() -> dict[str, str]:
    """What the lesson's loop really does with each call in VERDICT_CALLS (run against a scratch folder)."""
    from ..tools import ToolCall, default_tools, execute

    with tempfile.TemporaryDirectory() as folder:
        table = {tool.name: tool for tool in default_tools(folder)}
        return {key: execute(ToolCall(name, arguments), table).kind for key, (name, arguments) in VERDICT_CALLS.items()}


def _verdicts(answer) -> tuple[bool, str]:
    if not isinstance(answer, dict) or set(answer) != set(VERDICT_CALLS):
        return False, f"a dict with exactly these keys: {list(VERDICT_CALLS)}"
    expected = expected_verdicts()
    wrong = [key for key in expected if answer[key] != expected[key]]
    if not wrong:
        return True, "all six right: refused calls never ran, errors are tools that ran and failed."
    key = wrong[0]
    why = {"refused": "it never runs: unknown tool, arguments that break the schema, or a path outside the folder",
           "error": "the tool ran and failed (division by zero, no such model): an error, not a refusal",
           "ran": "nothing is wrong with it: it runs"}[expected[key]]
    return False, f"{len(wrong)} wrong, e.g. {key!r}: you said {answer[key]!r}; {why}"


def check_call_verdicts(answer) -> CheckResult:
    """Easy: predict 'ran', 'refused' or 'error' for each call."""
    return check("what the loop does", answer, _verdicts,
                 "'refused' = stopped before or at the door (unknown tool, schema, path); 'error' = ran and failed.")


def _inside_folder(function) -> tuple[bool, str]:
    from ..tools import ToolRefused

    if not callable(function):
        return False, "answer with a function inside_folder(root, requested) -> Path"
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        root, sibling = base / "docs", base / "docs-secret"
        (root / "notes").mkdir(parents=True)
        sibling.mkdir()
        (root / "notes" / "todo.txt").write_text("buy milk\n")
        (sibling / "keys.txt").write_text("password\n")
        (root / "link.txt").symlink_to(sibling / "keys.txt")
        attacks = {"../docs-secret/keys.txt": "a sibling folder whose name starts with 'docs' got through: compare "
                                              "paths, not strings (Path.is_relative_to)",
                   "link.txt": "a symlink pointing outside got through: resolve() the target before comparing",
                   "/etc/passwd": "an absolute path got through", "../../etc/passwd": "'..' got out of the folder"}
        try:
            good = function(root, "notes/todo.txt")
        except Exception as error:
            return False, f"a good path was refused ({type(error).__name__}: {error})"
        if Path(good).resolve() != (root / "notes" / "todo.txt").resolve():
            return False, f"for 'notes/todo.txt' return the file's path inside root, not {good!r}"
        for requested, why in attacks.items():
            try:
                function(root, requested)
            except ToolRefused:
                continue
            except Exception as error:
                return False, (f"{requested!r} raised {type(error).__name__}: raise ToolRefused so the loop "
                               "tells the model")
            return False, why
    return True, "refuses '..', absolute paths, a look-alike sibling and a symlink out; allows files inside."


def check_inside_folder(function) -> CheckResult:
    """Stretch: the folder guard a read_file tool needs."""
    return check("folder guard", function, _inside_folder,
                 "target = (Path(root) / requested).resolve(); refuse unless "
                 "target.is_relative_to(Path(root).resolve()).")

