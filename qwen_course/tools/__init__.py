"""Lesson 09: tools, function calling, structured output and agents with Qwen.

`schema` (tools as JSON schemas, calls as messages), `parse` (both Qwen call formats, errors as values), `response`
(the same through transformers' parse_response), `safety` (every call checked before it runs), `toolbox` (calculator,
catalog, one folder of files), `agent` + `adapters` (the loop, and the models it drives), `grammar` + `tool_grammar`
(llguidance logits processors), `measure`, `compare` (template oracle), `servers` (vLLM flags), `mcp_server`.
Importing this package does not import torch, transformers, llguidance or mcp: the functions that need them do.
"""

from .adapters import Generate, local_generate, openai_generate, openai_messages, scripted
from .agent import Run, Step, execute, run_agent
from .compare import (
    GENERATION, THINKING, Mismatch, assistant_turns, compare, load_chats, options, reference_template, renderer,
    tokenizer_renderer,
)
from .grammar import BACKENDS, Grammar, JsonProcessor, Vocabulary, compile_json, compile_lark, prepare
from .mcp_server import McpTools, build_server, server_command
from .measure import ENDLESS_STRING, LibraryReport, Overhead, Validity, per_token_overhead, validity
from .parse import Reply, ToolCallError, parse_call, parse_reply, split_reasoning
from .response import parse_with_transformers, response_template
from .safety import Limits, ToolError, ToolRefused, check_call, clip, depth, inside, schema_problem
from .schema import Tool, ToolCall, assistant_message, specs, strict, tool_from_function, tool_message
from .servers import ToolParser, vllm_tool_parser
from .tool_grammar import call_format, lark_for_tools
from .toolbox import (
    calculator, default_tools, evaluate, file_reader, find_models, get_model_info, read_file_in, sample_documents,
)

__all__ = [
    "Generate", "local_generate", "openai_generate", "openai_messages", "scripted",
    "Run", "Step", "execute", "run_agent",
    "GENERATION", "THINKING", "Mismatch", "assistant_turns", "compare", "load_chats", "options", "reference_template",
    "renderer", "tokenizer_renderer",
    "BACKENDS", "Grammar", "JsonProcessor", "Vocabulary", "compile_json", "compile_lark", "prepare",
    "McpTools", "build_server", "server_command",
    "ENDLESS_STRING", "LibraryReport", "Overhead", "Validity", "per_token_overhead", "validity",
    "Reply", "ToolCallError", "parse_call", "parse_reply", "split_reasoning",
    "parse_with_transformers", "response_template",
    "Limits", "ToolError", "ToolRefused", "check_call", "clip", "depth", "inside", "schema_problem",
    "Tool", "ToolCall", "assistant_message", "specs", "strict", "tool_from_function", "tool_message",
    "ToolParser", "vllm_tool_parser",
    "call_format", "lark_for_tools",
    "calculator", "default_tools", "evaluate", "file_reader", "find_models", "get_model_info", "read_file_in",
    "sample_documents",
]  # fmt: skip
