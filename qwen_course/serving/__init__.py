"""Serving for lesson 08: engines the course installs and runs (vLLM, llama.cpp, transformers serve) behind one
server handle (`engines`, `install`), load tests (`loadgen`, `load`), an API-key gateway (`guard`, run as
`python -m qwen_course.serving.guard`), edge exports (`edge`: GGUF, ONNX; `ollama`: Modelfile) and deployment
plans (`plan`).
"""

from .edge import EdgeRoute, bench as llama_bench, edge_route, gguf_summary, onnx_generate, to_gguf, to_onnx
from .engines import (
    ENGINES, EngineRequestError, EngineServer, EngineStatus, Served, engine_server, fixed_length_fields,
    ready as engine_ready, served_model, status as engine_status, vllm_cpu_dtype,
)
from .guard import KEY_ENV, GuardPolicy, Rejection, TokenBucket, guard_command
from .install import InstallError, engines_home, install as install_engine
from .load import LoadResult, chat_body, first_doubling, frame, load_test, plot_load, sweep, timed_chat
from .loadgen import LoadRun, closed_loop, open_loop, ramp
from .loadplots import plot_open_loop, plot_runs, queue_growth, runs_frame
from .ollama import QWEN3_TEMPLATE, check_modelfile, modelfile, render_template
from .plan import DeploymentPlan, DoesNotFitError, Option, plan_deployment, reasoning_parser, tool_call_parser
from .plan import served_weights_bytes, valid_tensor_parallel
from .server import (
    LOOPBACK, ManagedServer, ServerError, free_port, is_loopback, live_servers, port_in_use, serve_command, shell_line,
    stop_all,
)

__all__ = [
    "EdgeRoute", "edge_route", "gguf_summary", "llama_bench", "onnx_generate", "to_gguf", "to_onnx",
    "ENGINES", "EngineRequestError", "EngineServer", "EngineStatus", "Served", "engine_server", "engine_ready",
    "engine_status", "fixed_length_fields", "served_model", "vllm_cpu_dtype",
    "KEY_ENV", "GuardPolicy", "Rejection", "TokenBucket", "guard_command",
    "InstallError", "engines_home", "install_engine",
    "LoadResult", "chat_body", "first_doubling", "frame", "load_test", "plot_load", "sweep", "timed_chat",
    "LoadRun", "closed_loop", "open_loop", "plot_open_loop", "plot_runs", "queue_growth", "ramp", "runs_frame",
    "QWEN3_TEMPLATE", "check_modelfile", "modelfile", "render_template",
    "DeploymentPlan", "DoesNotFitError", "Option", "plan_deployment", "reasoning_parser", "tool_call_parser",
    "served_weights_bytes", "valid_tensor_parallel",
    "LOOPBACK", "ManagedServer", "ServerError", "free_port", "is_loopback", "live_servers", "port_in_use",
    "serve_command", "shell_line", "stop_all",
]  # fmt: skip
