"""Serving for lesson 08: a managed local OpenAI-compatible server (`server`), an API-key gateway in front of it
(`guard`, run as `python -m qwen_course.serving.guard`), load tests (`load`) and deployment plans (`plan`).
"""

from .guard import KEY_ENV, GuardPolicy, Rejection, TokenBucket, guard_command
from .load import LoadResult, chat_body, first_doubling, frame, load_test, plot_load, sweep, timed_chat
from .plan import DeploymentPlan, DoesNotFitError, EdgeRoute, Option, edge_route, plan_deployment, reasoning_parser
from .plan import served_weights_bytes, valid_tensor_parallel
from .server import (
    LOOPBACK, ManagedServer, ServerError, free_port, is_loopback, live_servers, port_in_use, serve_command, shell_line,
    stop_all,
)

__all__ = [
    "KEY_ENV", "GuardPolicy", "Rejection", "TokenBucket", "guard_command",
    "LoadResult", "chat_body", "first_doubling", "frame", "load_test", "plot_load", "sweep", "timed_chat",
    "DeploymentPlan", "DoesNotFitError", "EdgeRoute", "Option", "edge_route", "plan_deployment", "reasoning_parser",
    "served_weights_bytes", "valid_tensor_parallel",
    "LOOPBACK", "ManagedServer", "ServerError", "free_port", "is_loopback", "live_servers", "port_in_use",
    "serve_command", "shell_line", "stop_all",
]  # fmt: skip
