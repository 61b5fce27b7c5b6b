"""A small gateway in front of a local model server: API key, endpoint allowlist, size and token limits, rate limit.

`transformers serve` has no authentication and also answers `/load_model` and `/reset`, so it must stay on
127.0.0.1; to expose it, put this in front. Run it with `python -m qwen_course.serving.guard --upstream URL
--port N`; the key comes from an environment variable, never from the command line or a notebook.
"""

from __future__ import annotations

import argparse
import hmac
import json
import math
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlparse

from .server import httpx as _httpx, is_loopback

KEY_ENV = "QWEN_COURSE_API_KEY"


@dataclass(frozen=True)
class GuardPolicy:
    """What the gateway lets through. Sizes in bytes, prompts and answers in tokens, rate per client key."""

    max_body_bytes: int = 16_384
    max_prompt_tokens: int = 512
    max_tokens: int = 128
    rate_per_minute: float = 120.0
    burst: int = 20
    allowed: tuple[tuple[str, str], ...] = (("POST", "/v1/chat/completions"), ("GET", "/v1/models"),
                                            ("GET", "/health"))
    public: tuple[str, ...] = ("/health",)  # answered without a key (load-balancer probes)

    def to_args(self) -> list[str]:
        return ["--max-body-bytes", str(self.max_body_bytes), "--max-prompt-tokens", str(self.max_prompt_tokens),
                "--max-tokens", str(self.max_tokens), "--rate-per-minute", str(self.rate_per_minute),
                "--burst", str(self.burst)]


class TokenBucket:
    """`burst` requests at once, refilled at `rate_per_s`; one bucket per client key. The clock is injectable."""

    def __init__(self, rate_per_s: float, burst: int, clock=time.monotonic):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.clock = float(rate_per_s), int(burst), clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 if the request may go now, else the seconds to wait (for a Retry-After header)."""
        with self._lock:
            now = self.clock()
            tokens, then = self._state.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / self.rate


class Rejection(Exception):
    """A request the gateway refuses: HTTP status, OpenAI-style error type, message."""

    def __init__(self, status: int, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.retry_after = status, kind, message, retry_after

    def payload(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "code": self.status}}


def bearer(headers) -> str | None:
    """The key of an `Authorization: Bearer <key>` header."""
    value = headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else None


def check(method: str, path: str, headers, body: bytes, *, policy: GuardPolicy, api_key: str | None,
          bucket: TokenBucket | None, count_tokens=None) -> dict | None:
    """Admit or refuse one request (raises Rejection); returns the parsed JSON body of a chat request."""
    if (method, path) not in policy.allowed:
        raise Rejection(404, "not_found", f"{method} {path} is not served here")
    if path in policy.public:
        return None
    given = bearer(headers)
    if api_key and not (given and hmac.compare_digest(given.encode(), api_key.encode())):
        raise Rejection(401, "authentication_error", "missing or wrong API key")
    if bucket is not None:
        wait = bucket.take(given or "anonymous")
        if wait > 0:
            raise Rejection(429, "rate_limit_error", f"rate limit: retry in {wait:.1f} s", retry_after=wait)
    if len(body) > policy.max_body_bytes:
        raise Rejection(413, "invalid_request_error", f"request body is {len(body)} bytes; the limit is "
                        f"{policy.max_body_bytes}")
    if method != "POST":
        return None
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise Rejection(400, "invalid_request_error", f"body is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list) or not data["messages"]:
        raise Rejection(400, "invalid_request_error", "a chat request needs a non-empty 'messages' list")
    asked = data.get("max_completion_tokens", data.get("max_tokens"))
    if asked is None:  # transformers serve would otherwise default to at least 1024 new tokens
        data["max_tokens"] = policy.max_tokens
    elif not isinstance(asked, int) or isinstance(asked, bool) or not 1 <= asked <= policy.max_tokens:
        raise Rejection(400, "invalid_request_error", f"max_tokens must be an integer from 1 to {policy.max_tokens}")
    if count_tokens is not None:
        text = "\n".join(m.get("content") if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
                         for m in data["messages"] if isinstance(m, dict))
        n = count_tokens(text)
        if n > policy.max_prompt_tokens:
            raise Rejection(400, "invalid_request_error", f"prompt has {n} tokens; the limit is "
                            f"{policy.max_prompt_tokens}")
    return data


def token_counter(tokenizer_dir: str | None):
    """A fast prompt-token counter from the model's tokenizer.json (the `tokenizers` library; no torch)."""
    if not tokenizer_dir:
        return None
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json"))
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def build_app(upstream: str, policy: GuardPolicy = GuardPolicy(), *, api_key: str | None, count_tokens=None,
              clock=time.monotonic, transport=None):
    """The ASGI app (Starlette): check each request, then forward it to `upstream` and stream the answer back."""
    from starlette.applications import Starlette
    from starlette.background import BackgroundTask
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    bucket = TokenBucket(policy.rate_per_minute / 60.0, policy.burst, clock)
    httpx = _httpx()
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(300.0, connect=5.0), transport=transport)
    rejected: dict[int, int] = {}

    async def gate(request):
        body = b""
        async for chunk in request.stream():  # read at most max_body_bytes + 1: never buffer a huge upload
            body += chunk
            if len(body) > policy.max_body_bytes:
                break
        path = request.url.path
        try:
            data = check(request.method, path, request.headers, body, policy=policy, api_key=api_key,
                         bucket=bucket, count_tokens=count_tokens)
        except Rejection as r:
            rejected[r.status] = rejected.get(r.status, 0) + 1
            headers = {"Retry-After": str(math.ceil(r.retry_after))} if r.retry_after else None
            return JSONResponse(r.payload(), status_code=r.status, headers=headers)
        content = json.dumps(data).encode() if data is not None else None
        upstream_req = client.build_request(request.method, path, content=content,
                                            headers={"content-type": "application/json"} if content else None)
        resp = await client.send(upstream_req, stream=True)
        keep = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "x-request-id")}
        return StreamingResponse(resp.aiter_bytes(), status_code=resp.status_code, headers=keep,
                                 background=BackgroundTask(resp.aclose))

    app = Starlette(routes=[Route("/{path:path}", gate, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])])
    app.state.rejected = rejected
    return app


def guard_command(upstream: str, port: int, *, host: str = "127.0.0.1", tokenizer_dir: str | None = None,
                  policy: GuardPolicy = GuardPolicy()) -> list[str]:
    """argv that runs the gateway with this Python; pass the key in the environment variable KEY_ENV."""
    argv = [sys.executable, "-m", "qwen_course.serving.guard", "--upstream", upstream, "--host", host,
            "--port", str(int(port))] + policy.to_args()
    return argv + (["--tokenizer", str(tokenizer_dir)] if tokenizer_dir else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qwen_course.serving.guard", description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="the model server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokenizer", help="model directory with tokenizer.json, to count prompt tokens")
    defaults = asdict(GuardPolicy())
    for name in ("max_body_bytes", "max_prompt_tokens", "max_tokens", "burst"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=defaults[name])
    parser.add_argument("--rate-per-minute", type=float, default=defaults["rate_per_minute"])
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_ENV) or None
    if not is_loopback(args.host) and not key:
        parser.error(f"binding {args.host} exposes the model: set {KEY_ENV} first")
    if not is_loopback(urlparse(args.upstream).hostname):
        parser.error("the upstream must be a loopback address")
    policy = GuardPolicy(args.max_body_bytes, args.max_prompt_tokens, args.max_tokens, args.rate_per_minute, args.burst)
    import uvicorn

    app = build_app(args.upstream, policy, api_key=key, count_tokens=token_counter(args.tokenizer))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
