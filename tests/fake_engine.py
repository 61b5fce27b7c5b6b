"""A stand-in engine for fast tests: an OpenAI-shaped HTTP server that can be told to misbehave.

--exit-after S: print a fatal error and exit 3 after S seconds (an engine dying during start-up)
--ready-after S: /health answers 503 until S seconds have passed
--child: start a child process that ignores SIGTERM (a worker left behind unless the group is killed)
--token-delay S: wait S seconds before each streamed token (requests overlap, as on a real engine)
Any request with "ignore_eos" gets HTTP 422, as transformers serve does; GET /metrics reports the streams in flight
as the Prometheus gauge fake:requests_running.
"""

import argparse
import json
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--exit-after", type=float)
p.add_argument("--ready-after", type=float, default=0.0)
p.add_argument("--child", action="store_true")
p.add_argument("--token-delay", type=float, default=0.0)
args = p.parse_args()
START = time.monotonic()
RUNNING = [0]

if args.child:
    subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                      "time.sleep(600)"])
if args.exit_after is not None:
    time.sleep(args.exit_after)
    print("loading model...\nRuntimeError: fake engine cannot allocate its KV cache", flush=True)
    sys.exit(3)


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, payload):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            ready = time.monotonic() - START >= args.ready_after
            self._send(200 if ready else 503, {"status": "ok" if ready else "loading"})
        elif self.path == "/metrics":
            data = f"# TYPE fake:requests_running gauge\nfake:requests_running{{model=\"fake\"}} {RUNNING[0]}.0\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(data.encode())
        elif self.path == "/v1/models":
            self._send(200, {"data": [{"id": "fake"}]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if "ignore_eos" in body:
            self._send(422, {"detail": "Unexpected fields in the request: {'ignore_eos'}"})
            return
        n = int(body.get("max_tokens", 4))
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            RUNNING[0] += 1
            for _ in range(n):
                time.sleep(args.token_delay)
                self.wfile.write(b'data: {"choices": [{"delta": {"content": "x"}}]}\n\n')
            RUNNING[0] -= 1
            usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": n}}
            self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
            return
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": "x" * n}, "finish_reason": "length"}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": n}})

    def log_message(self, *a):
        pass


signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print(f"fake engine listening on {args.port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
