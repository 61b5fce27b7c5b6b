"""The loop with a scripted model, a fake OpenAI server, limits and timeouts."""

import json
from types import SimpleNamespace

import pytest

from qwen_course.tools import default_tools, openai_generate, openai_messages, run_agent, scripted


def call(name, **arguments):
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": arguments})}\n</tool_call>'


def xml(name, **arguments):
    params = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in arguments.items())
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


@pytest.fixture()
def tools(tmp_path):
    (tmp_path / "notes.txt").write_text("The workshop starts at 9:30.")
    return default_tools(tmp_path)


def test_two_step_run_to_an_answer(tools):
    model = scripted(call("calculator", expression="17*23"), call("calculator", expression="391+4"), "It is 395.")
    run = run_agent(model, "What is 17*23+4?", tools)
    assert run.stopped == "answer" and run.answer == "It is 395."
    assert [s.result for s in run.steps] == ["391", "395"]
    roles = [m["role"] for m in run.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert run.messages[2]["tool_call_id"] == run.messages[1]["tool_calls"][0]["id"]


def test_qwen35_format_and_parallel_calls(tools):
    model = scripted(xml("read_file", path="notes.txt") + "\n" + xml("calculator", expression="9*60+30"), "9:30.")
    run = run_agent(model, "When?", tools)
    assert [s.kind for s in run.steps] == ["ran", "ran"] and run.steps[1].result == "570"


def test_bad_calls_are_fed_back_and_the_model_recovers(tools):
    model = scripted(call("rm", path="/"), call("read_file", path="../../etc/passwd"),
                     '<tool_call>\n{"name": "calculator", "arguments": {"expression": 1+}\n</tool_call>',
                     call("calculator", expression=12), call("calculator", expression="6*7"), "42")
    run = run_agent(model, "Compute.", tools, max_steps=10)
    assert run.stopped == "answer" and run.answer == "42"
    assert [s.kind for s in run.steps] == ["refused", "refused", "unreadable", "refused", "ran"]
    fed_back = [m["content"] for m in run.messages if m["role"] == "tool"]
    assert fed_back[0].startswith("refused: unknown tool 'rm'")
    assert "leaves the folder" in fed_back[1] and "could not read your tool call" in fed_back[2]
    assert "12 is not of type 'string'" in fed_back[3]


def test_step_limit(tools):
    forever = lambda messages, tools: call("calculator", expression="1+1")  # noqa: E731
    run = run_agent(forever, "Loop", tools, max_steps=3)
    assert run.stopped == "step_limit" and len(run.steps) == 3 and run.answer is None


def test_timeout_uses_the_clock(tools):
    ticks = iter(range(0, 1000, 10))
    run = run_agent(lambda m, t: call("calculator", expression="1"), "Q", tools, timeout_s=25,
                    clock=lambda: next(ticks))
    assert run.stopped == "timeout" and 1 <= len(run.steps) <= 2


def test_history_renders_with_both_templates(tools):
    from qwen_course.tools import reference_template, renderer

    model = scripted("<think>\nuse the calculator\n</think>\n\n" + call("calculator", expression="2**10"), "1024")
    run = run_agent(model, "2^10?", tools)
    for name in ("qwen3", "qwen3_5_think"):
        prompt = renderer(reference_template(name))(run.messages, tools=[t.spec() for t in tools])
        assert "use the calculator" in prompt and "<tool_response>\n1024\n</tool_response>" in prompt


class FakeServer:
    """chat.completions.create with the shapes the openai client returns; records requests."""

    def __init__(self, *messages):
        self.replies, self.requests = list(messages), []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **request):
        self.requests.append(request)
        return SimpleNamespace(choices=[SimpleNamespace(message=self.replies.pop(0))])


def server_call(name, arguments, call_id="srv_1"):
    return SimpleNamespace(id=call_id, type="function", function=SimpleNamespace(name=name, arguments=arguments))


def test_openai_route(tools):
    server = FakeServer(
        SimpleNamespace(content="", tool_calls=[server_call("calculator", '{"expression": "6*7"}')],
                        reasoning_content="need math"),
        SimpleNamespace(content="", tool_calls=[server_call("calculator", '{"expression": ')]),  # broken by server
        SimpleNamespace(content="42", tool_calls=None))
    run = run_agent(openai_generate(server, "qwen"), "6*7?", tools)
    assert run.stopped == "answer" and run.answer == "42"
    last = server.requests[-1]
    assert last["tools"][0]["function"]["name"] == "calculator"
    assistant = last["messages"][1]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"expression": "6*7"}
    assert last["messages"][2]["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert last["messages"][4]["role"] == "user" and "could not read" in last["messages"][4]["content"]
    assert "reasoning_content" not in assistant


def test_openai_messages_keeps_plain_turns():
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert openai_messages(messages) == messages
