"""The agent loop: ask the model, run the calls it makes (after checking them), feed results back, stop in time.

The loop only needs a `generate(messages, tools) -> text` callable, so the same code drives a local
transformers model, a scripted fake in tests, or an OpenAI-compatible server (adapters.py makes each of them).
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .parse import parse_reply
from .safety import Limits, ToolError, ToolRefused, check_call, clip
from .schema import Tool, ToolCall, specs, tool_message

Generate = Callable[[list[dict], list[dict]], str]


@dataclass(frozen=True)
class Step:
    """One thing the loop did: ran a call, refused one, or could not read one."""

    kind: str  # "ran", "refused", "error", "unreadable"
    tool: str
    arguments: dict | None
    result: str
    seconds: float


@dataclass
class Run:
    """How a run ended (answer, step_limit, timeout), the answer, each step, and the full message history."""

    stopped: str
    answer: str | None
    steps: list[Step] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{s.kind:10} {s.tool}({json.dumps(s.arguments, ensure_ascii=False)[:60]}) -> {s.result[:70]!r}"
                 for s in self.steps]
        short = self.answer is None or len(self.answer) <= 200
        answer = repr(self.answer) if short else repr(self.answer[:200]) + "..."
        return "\n".join(lines + [f"stopped: {self.stopped}; answer: {answer}"])


def execute(call: ToolCall, tools: dict[str, Tool], limits: Limits = Limits(), timeout_s: float = 10.0) -> Step:
    """Check one call, run it with a time limit, and say what happened; nothing here raises."""
    started = time.perf_counter()

    def step(kind: str, result: str) -> Step:
        return Step(kind, call.name, call.arguments, clip(result, limits), time.perf_counter() - started)

    try:
        tool = check_call(call, tools, limits)
    except ToolRefused as refusal:
        return step("refused", refusal.feedback())
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(tool.function, **call.arguments)
    try:
        value = future.result(timeout=max(timeout_s, 0.0))
    except concurrent.futures.TimeoutError:
        return step("error", f"error: {call.name} took longer than {timeout_s:.1f} s")
    except (ToolRefused, ToolError) as problem:
        return step("refused" if isinstance(problem, ToolRefused) else "error", problem.feedback())
    except Exception as crash:  # a bug in a tool must not end the conversation
        return step("error", f"error: {call.name} failed: {type(crash).__name__}: {str(crash)[:200]}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return step("ran", text)


def run_agent(generate: Generate, messages: list[dict] | str, tools: list[Tool], *, max_steps: int = 6,
              timeout_s: float = 60.0, tool_timeout_s: float = 10.0, limits: Limits = Limits(),
              in_think: bool = False, clock: Callable[[], float] = time.monotonic) -> Run:
    """Loop model -> calls -> results until the model answers without calling, max_steps replies, or timeout_s."""
    history = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
    table, offered = {tool.name: tool for tool in tools}, specs(tools)
    deadline, steps = clock() + timeout_s, []
    for _ in range(max_steps):
        if clock() >= deadline:
            return Run("timeout", None, steps, history)
        reply = parse_reply(generate(history, offered), offered, in_think)
        history.append(reply.message())
        if not reply.calls and not reply.errors:
            return Run("answer", reply.content, steps, history)
        for error in reply.errors:
            steps.append(Step("unreadable", "?", None, error.feedback(), 0.0))
            history.append(tool_message(error.feedback()))
        for call in reply.calls:
            remaining = min(tool_timeout_s, deadline - clock())
            done = execute(call, table, limits, remaining)
            steps.append(done)
            history.append(tool_message(done.result, call))
    return Run("step_limit", None, steps, history)
