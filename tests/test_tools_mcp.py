"""A local stdio MCP server with the lesson's tools, called by a client and by the agent loop (no network)."""

import pytest

pytest.importorskip("mcp.server.mcpserver")

from qwen_course.tools import McpTools, run_agent, scripted  # noqa: E402


@pytest.mark.slow
def test_stdio_server_lists_calls_and_refuses(tmp_path):
    (tmp_path / "notes.txt").write_text("Workshop at 9:30.")
    with McpTools(tmp_path) as mcp:
        assert {t.name for t in mcp.listed} == {"calculator", "get_model_info", "find_models", "read_file"}
        assert mcp.call("calculator", {"expression": "17*23"}) == "391"
        assert mcp.call("read_file", {"path": "notes.txt"}) == "Workshop at 9:30."
        tools = mcp.tools()
        run = run_agent(scripted('<tool_call>\n{"name": "read_file", "arguments": {"path": "../../etc/passwd"}}\n'
                                 '</tool_call>', '<tool_call>\n{"name": "calculator", "arguments": {"expression": '
                                 '"1/0"}}\n</tool_call>', '<tool_call>\n{"name": "calculator", "arguments": '
                                 '{"expression": 7}}\n</tool_call>', "done"), "Go", tools)
    assert run.stopped == "answer"
    results = [s.result for s in run.steps]
    assert "leaves the folder" in results[0] and "division by zero" in results[1]
    assert results[2].startswith("refused: calculator: argument 'expression': 7 is not of type 'string'")
