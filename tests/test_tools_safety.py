"""Malicious and broken tool calls: each is refused with a message the model can act on, nothing runs."""

import os

import pytest

from qwen_course.tools import (
    Limits, Tool, ToolCall, ToolRefused, check_call, clip, default_tools, depth, execute, inside,
)


@pytest.fixture()
def folder(tmp_path):
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "notes" / "todo.txt").write_text("buy milk\n")
    (tmp_path / "secret.txt").write_text("password=hunter2\n")
    os.symlink(tmp_path / "secret.txt", docs / "link.txt")
    (docs / "big.txt").write_text("x" * 50_000)
    (docs / "blob.bin").write_bytes(b"\xff\xfe\x00\x81" * 10)
    return docs


@pytest.fixture()
def tools(folder):
    return {tool.name: tool for tool in default_tools(folder)}


def run(tools, name, **arguments):
    return execute(ToolCall(name, arguments), tools)


def test_good_calls_run(tools):
    assert run(tools, "calculator", expression="17*23+sqrt(16)").result == "395.0"
    assert run(tools, "read_file", path="notes/todo.txt").result == "buy milk\n"
    assert '"Qwen/Qwen3-0.6B"' in run(tools, "get_model_info", model="Qwen/Qwen3-0.6B").result


@pytest.mark.parametrize("name, arguments, expected", [
    ("delete_everything", {}, "unknown tool 'delete_everything'; the tools offered are: calculator, find_models, "
                              "get_model_info, read_file"),
    ("read_file", {"path": "../secret.txt"}, "leaves the folder"),
    ("read_file", {"path": "notes/../../secret.txt"}, "leaves the folder"),
    ("read_file", {"path": "/etc/passwd"}, "is absolute"),
    ("read_file", {"path": "~/.ssh/id_rsa"}, "is absolute"),
    ("read_file", {"path": "link.txt"}, "leaves the folder"),
    ("read_file", {"path": "notes\x00.txt"}, "non-empty relative path"),
    ("read_file", {"path": "big.txt"}, "the limit is 20000"),
    ("read_file", {"path": 42}, "argument 'path': 42 is not of type 'string'"),
    ("read_file", {}, "'path' is a required property"),
    ("read_file", {"path": "a.txt", "mode": "w"}, "Additional properties are not allowed ('mode'"),
    ("calculator", {"expression": "__import__('os').system('rm -rf /')"}, "refused: Call is not allowed"),
    ("calculator", {"expression": "(1).__class__"}, "refused: Attribute is not allowed"),
    ("calculator", {"expression": "9**9**9"}, "exponent 387420489 is larger than 1000"),
    ("calculator", {"expression": "1" * 300}, "argument 'expression'"),
    ("calculator", {"expression": "True + 1"}, "Constant is not allowed"),
    ("calculator", {"expression": ["1+1"]}, "is not of type 'string'"),
    ("find_models", {"task": "world domination"}, "is not one of ['chat'"),
    ("find_models", {"task": "chat", "max_billion_parameters": "7"}, "is not of type 'number'"),
    ("find_models", {"task": "chat", "max_billion_parameters": True}, "is not of type 'number'"),
    ("get_model_info", {"model": "x" * 5000}, "the limit is 4096"),
])
def test_malicious_or_wrong_calls_are_refused(tools, name, arguments, expected):
    step = execute(ToolCall(name, arguments), tools)
    assert step.kind == "refused" and expected in step.result, step.result
    assert step.result.startswith("refused: ")


@pytest.mark.parametrize("name, arguments, expected", [
    ("calculator", {"expression": "1/0"}, "error: division by zero"),
    ("calculator", {"expression": "10.0**999"}, "error: result too large"),
    ("calculator", {"expression": "sqrt(-1)"}, "error: sqrt: math domain error"),
    ("calculator", {"expression": "2 +"}, "not an arithmetic expression"),
    ("read_file", {"path": "missing.txt"}, "the folder has: big.txt, blob.bin, link.txt, notes/todo.txt"),
    ("read_file", {"path": "blob.bin"}, "not a UTF-8 text file"),
    ("get_model_info", {"model": "Qwen/Qwen3-0.7B"}, "Did you mean"),
])
def test_tool_errors_come_back_as_messages(tools, name, arguments, expected):
    step = execute(ToolCall(name, arguments), tools)
    assert step.kind == "error" and expected in step.result, step.result


def test_deep_nesting_refused():
    deep = {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}
    assert depth(deep) == 7
    with pytest.raises(ToolRefused, match="nested deeper"):
        check_call(ToolCall("calculator", deep), {t.name: t for t in default_tools(".")})


def test_inside_accepts_nested_and_dot_paths(folder):
    assert inside(folder, "notes/./todo.txt") == (folder / "notes" / "todo.txt").resolve()


def test_tool_crash_and_slow_tool_do_not_end_the_loop(tools):
    import time


    def boom() -> str:
        raise RuntimeError("bug in tool")

    def slow() -> str:
        time.sleep(2)
        return "late"

    table = {"boom": Tool("boom", "", {"type": "object"}, boom), "slow": Tool("slow", "", {"type": "object"}, slow)}
    assert execute(ToolCall("boom", {}), table).result == "error: boom failed: RuntimeError: bug in tool"
    step = execute(ToolCall("slow", {}), table, timeout_s=0.2)
    assert step.kind == "error" and "took longer than 0.2 s" in step.result and step.seconds < 1


def test_long_results_are_clipped():
    assert clip("x" * 10, Limits(max_result_chars=4)) == "xxxx\n[... cut: 6 more characters]"


ATTACKS = [  # (the call, the refusal, refused by the tool's own guard rather than before it runs)
    ('{"name": "read_file", "arguments": {"path": "../secret.txt"}}', "leaves the folder", True),
    ('{"name": "shell", "arguments": {"command": "rm -rf /"}}', "unknown tool 'shell'", False),
    ('{"name": "calculator", "arguments": {"expression": "__import__(\'os\').getcwd()"}}', "Call is not allowed",
     True),
    ('{"name": "calculator", "arguments": {"expression": "' + "9" * 5000 + '"}}',
     "the limit is 4096", False),
    ('{"name": "calculator", "arguments": {"expression": 6}}', "is not of type 'string'", False),
    ('{"name": "calculator", "arguments": {"expression": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}}',
     "nested deeper than 6", False),
]


@pytest.mark.parametrize("body, expected, guarded_inside", ATTACKS)
def test_each_attack_in_the_loop_is_refused_and_fed_back(folder, body, expected, guarded_inside):
    """Through the whole loop: the refusal is the tool message the model reads next; calls that break the schema
    or name no offered tool never reach a tool, the others are stopped by the tool's own guard."""
    from qwen_course.tools import run_agent, scripted

    ran = []
    tools = default_tools(folder)
    spied = [Tool(t.name, t.description, t.parameters, lambda _f=t.function, **kw: ran.append(kw) or _f(**kw))
             for t in tools]
    run = run_agent(scripted(f"<tool_call>\n{body}\n</tool_call>", "ok"), "Do it.", spied)
    assert run.stopped == "answer" and len(ran) == int(guarded_inside)
    fed_back = [m for m in run.messages if m["role"] == "tool"]
    assert len(fed_back) == 1 and fed_back[0]["content"].startswith("refused: ")
    assert expected in fed_back[0]["content"], fed_back[0]["content"]


def test_the_calculator_never_calls_eval_or_exec(monkeypatch):
    import builtins

    from qwen_course.tools import calculator

    def forbidden(*args, **kwargs):
        raise AssertionError("eval or exec called")

    for name in ("eval", "exec"):  # ast.parse compiles to a tree only, never to code
        monkeypatch.setattr(builtins, name, forbidden)
    assert calculator("2 ** 10 - sqrt(16) * (3 + 4) / 2") == "1010.0"
    assert calculator("max(1, 7, 3) // 2 % 5") == "3"
