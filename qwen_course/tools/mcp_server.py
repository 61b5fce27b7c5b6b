"""The lesson's tools as a local MCP server (stdio, no network), and a client that hands them to the agent loop.

Server:  python -m qwen_course.tools.serve_mcp --root DOCS   (the client below starts it for you)
Client:  with McpTools(DOCS) as mcp: run_agent(generate, "...", mcp.tools())
Needs `mcp>=2` (what mcp 1.x called FastMCP is mcp.server.mcpserver.MCPServer there).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from .safety import ToolError, ToolRefused
from .schema import Tool, strict
from .toolbox import calculator, find_models, get_model_info, read_file_in

SERVER_NAME = "qwen-course-tools"
SERVER_MODULE = "qwen_course.tools.serve_mcp"  # not imported by the facade, so `python -m` runs it cleanly


def build_server(root: str | Path):
    """An MCPServer exposing the calculator, the catalog and the folder reader."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(SERVER_NAME, instructions="The calculator, catalog and folder reader of qwen-course lesson 09.",
                       log_level="WARNING")
    for function in (calculator, get_model_info, find_models, read_file_in(root)):
        server.tool()(_expected_failures(function))
    return server


def _expected_failures(function):
    """The same function, with our refusals turned into MCP's anticipated ToolError (message kept, no traceback)."""
    from mcp.server.mcpserver.exceptions import ToolError as McpToolError

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (ToolError, ToolRefused) as problem:
            raise McpToolError(problem.feedback()) from None

    return wrapper


def server_command(root: str | Path) -> tuple[str, list[str], dict[str, str]]:
    """(command, args, env) that start this module as a stdio MCP server with the same Python."""
    package_parent = str(Path(__file__).resolve().parents[2])  # a clone that is not pip-installed works too
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "QWEN_COURSE_OFFLINE": os.environ.get("QWEN_COURSE_OFFLINE", "1")}
    if os.environ.get("QWEN_COURSE_HOME"):
        env["QWEN_COURSE_HOME"] = os.environ["QWEN_COURSE_HOME"]
    return sys.executable, ["-m", SERVER_MODULE, "--root", str(root)], env


class RemoteToolError(ToolError):
    """A failure the server already worded ("refused: ..." or "error: ..."), passed on unchanged."""

    def feedback(self) -> str:
        """The server's own message."""
        return str(self)


class McpTools:
    """A stdio MCP session kept open on a background event loop, so synchronous code can list and call tools."""

    def __init__(self, root: str | Path, timeout_s: float = 30.0):
        self.root, self.timeout_s = root, timeout_s
        self._ready: concurrent.futures.Future = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._session()), daemon=True)
        self.listed: list = []
        self.log_path: Path | None = None  # the server's stderr (a notebook's stderr has no file descriptor)

    def __enter__(self) -> "McpTools":
        self._thread.start()
        try:
            self.listed = self._ready.result(timeout=self.timeout_s)
        except Exception as error:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path and self.log_path.exists() else ""
            raise RuntimeError(f"the MCP server did not start: {error}\n{log}") from error
        return self

    def __exit__(self, *_) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
        self._thread.join(timeout=self.timeout_s)
        if self.log_path is not None and not self._thread.is_alive():  # a clean stop: the log is not needed
            shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def call(self, name: str, arguments: dict) -> str:
        """Call a tool on the server; an MCP error result becomes ToolError (fed back to the model)."""
        done: concurrent.futures.Future = concurrent.futures.Future()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (name, arguments, done))
        result = done.result(timeout=self.timeout_s)
        text = "\n".join(getattr(part, "text", "") for part in result.content)
        if result.is_error:
            raise RemoteToolError(text)
        return text

    def tools(self) -> list[Tool]:
        """The server's tools as our Tool objects (strict schemas), each calling back over the session."""
        return [Tool(t.name, t.description or "", strict(t.input_schema),
                     lambda _name=t.name, **arguments: self.call(_name, arguments)) for t in self.listed]

    async def _session(self) -> None:
        """Open the client, publish the tool list, then serve calls until told to stop (one task: anyio needs it)."""
        from mcp import Client, StdioServerParameters, stdio_client

        command, args, env = server_command(self.root)
        self._loop, self._queue = asyncio.get_running_loop(), asyncio.Queue()
        self.log_path = Path(tempfile.mkdtemp(prefix="qwen-course-mcp-")) / "server.log"
        try:
            with open(self.log_path, "w", encoding="utf-8") as log:
                await self._serve(Client(stdio_client(StdioServerParameters(command=command, args=args, env=env),
                                                      errlog=log)))
        except Exception as error:
            if not self._ready.done():
                self._ready.set_exception(error)

    async def _serve(self, client) -> None:
        """Publish the tool list, then run each queued call until the None that ends the session."""
        async with client:
            self._ready.set_result((await client.list_tools()).tools)
            while (request := await self._queue.get()) is not None:
                name, arguments, done = request
                try:
                    done.set_result(await client.call_tool(name, arguments))
                except Exception as error:  # pass protocol errors to the waiting caller
                    done.set_exception(error)
