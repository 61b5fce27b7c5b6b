"""Run a model server on this machine and stop it for sure: `transformers serve` as a managed subprocess.

The server binds to a loopback address only, is waited for through `/health`, and is stopped by `stop()`, by a
`with` block, at interpreter exit, and (Linux) when the Python process that started it dies, even by SIGKILL.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .._display import Table

LOOPBACK = ("127.0.0.1", "localhost", "::1")
TRANSFORMERS_CLI = [sys.executable, "-m", "transformers.cli.transformers"]
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

# Run in the child before exec: ask Linux to SIGTERM it when its parent dies (PR_SET_PDEATHSIG = 1), then
# exit if the parent is already gone, then become the real server process (the setting survives exec).
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "except Exception:\n    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n    sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)

_LIVE: set["ManagedServer"] = set()
_LIVE_LOCK = threading.Lock()


class ServerError(RuntimeError):
    """The server did not come up (the message carries the end of its log) or was asked to do something unsafe."""


def httpx():
    """The HTTP client library: httpx2 where installed (today's openai and huggingface_hub use it), else httpx."""
    try:
        import httpx2 as module
    except ImportError:
        import httpx as module
    return module


def is_loopback(host: str | None) -> bool:
    """True for addresses only this machine can reach."""
    return (host or "").strip("[]") in LOOPBACK or (host or "").startswith("127.")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        return s.connect_ex((host, int(port))) == 0


def serve_command(model_path: str, port: int, *, host: str = "127.0.0.1", device: str | None = None,
                  dtype: str | None = None, continuous_batching: bool = False, cb_num_blocks: int | None = None,
                  cb_max_batch_tokens: int | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """The argv of `transformers serve` pinned to one model (run with this Python, so the same packages)."""
    if not is_loopback(host):
        raise ServerError(f"refusing to bind {host!r}: transformers serve has no API key; keep it on 127.0.0.1 "
                          "and expose it only through a gateway that checks one (qwen_course.serving.guard).")
    argv = TRANSFORMERS_CLI + ["serve", str(model_path), "--host", host, "--port", str(int(port))]
    if device:
        argv += ["--device", device]
    if dtype:
        argv += ["--dtype", dtype]
    if continuous_batching:
        argv.append("--continuous-batching")
        if cb_num_blocks:
            argv += ["--cb-num-blocks", str(int(cb_num_blocks))]
        if cb_max_batch_tokens:
            argv += ["--cb-max-batch-tokens", str(int(cb_max_batch_tokens))]
    return argv + list(extra)


def shell_line(argv: list[str]) -> str:
    """The command as you would type it in a terminal (`transformers serve ...` instead of `python -m ...`)."""
    if argv[: len(TRANSFORMERS_CLI)] == TRANSFORMERS_CLI:
        argv = ["transformers"] + argv[len(TRANSFORMERS_CLI):]
    elif len(argv) > 1 and argv[1] == "-m" and Path(argv[0]).name.startswith("python"):  # also an engine's own venv
        argv = ["python", "-m"] + argv[2:]
    return shlex.join(argv)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or a reused id owned by someone else: not ours any more
        return False
    return True


def _settle(pgid: int | None, port: int, host: str, timeout: float = 5.0) -> None:
    """Wait until killed children are reaped (init does it a moment later) and the port is released with them."""
    deadline = time.monotonic() + timeout
    while ((pgid is not None and _group_alive(pgid)) or port_in_use(port, host, 0.2)) and time.monotonic() < deadline:
        time.sleep(0.05)


class ManagedServer(Table):
    """One server subprocess: `start()` waits for its health URL, `stop()` ends its whole process group."""

    def __init__(self, argv: list[str], port: int, host: str = "127.0.0.1", *, name: str = "server",
                 health_path: str = "/health", env: dict | None = None, log_path: str | Path | None = None,
                 die_with_parent: bool = True):
        if not is_loopback(host):
            raise ServerError(f"{name}: refusing to bind {host!r}; only loopback addresses are allowed here")
        self.argv, self.port, self.host, self.name = list(argv), int(port), host, name
        self.health_path = health_path
        self.env = {**os.environ, **(env or {})}
        # A clone that is not pip-installed: let the child import qwen_course too.
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), self.env.get("PYTHONPATH")) if p)
        self._own_log_dir = log_path is None  # a temp dir of ours, made at start and removed after a clean stop
        self.log_path: Path | None = Path(log_path) if log_path else None
        self.die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self.process: subprocess.Popen | None = None
        self.startup_s: float | None = None
        self.returncode: int | None = None
        self._log = None
        self._begin = 0.0
        self._peak_rss: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the OpenAI client takes as base_url."""
        return self.url + "/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 180.0, poll_s: float = 0.25, clock=time.monotonic, wait: bool = True) -> "ManagedServer":
        """Launch, then (unless wait=False) poll `health_path` until it answers 200; on failure stop and raise."""
        if self.running:
            return self.wait(timeout, poll_s, clock) if wait else self
        if port_in_use(self.port, self.host):
            raise ServerError(f"{self.name}: port {self.port} is already in use; pick another with free_port()")
        if self._own_log_dir:
            self.log_path = Path(tempfile.mkdtemp(prefix="qwen-course-")) / f"{self.name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.startup_s = self.returncode = None
        argv = [sys.executable, "-c", _LAUNCHER, str(os.getpid())] + self.argv if self.die_with_parent else self.argv
        self._begin = clock()
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=self.env, start_new_session=(os.name == "posix"))
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self.wait(timeout, poll_s, clock) if wait else self

    def wait(self, timeout: float = 180.0, poll_s: float = 0.25, clock=time.monotonic) -> "ManagedServer":
        """Block until the health URL answers 200 (timeout counted from now); stop the server and raise if not."""
        if self.process is None:
            raise ServerError(f"{self.name} was never started")
        if self.startup_s is not None:
            return self
        try:
            self._wait_healthy(clock() + timeout, poll_s, clock)
        except BaseException:  # KeyboardInterrupt included: never leave a half-started server behind
            self.stop()
            raise
        self.startup_s = clock() - self._begin
        return self

    def _wait_healthy(self, deadline: float, poll_s: float, clock) -> None:
        while True:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited with code {self.process.returncode} before it was healthy.\n"
                                  f"Last log lines:\n{self.log_tail()}")
            if self.healthy():
                return
            if clock() > deadline:
                raise ServerError(f"{self.name} was not healthy in time at {self.url}{self.health_path}.\n"
                                  f"Last log lines:\n{self.log_tail()}")
            time.sleep(poll_s)

    def healthy(self) -> bool:
        """One GET of the health URL: True on 200."""
        try:
            with urllib.request.urlopen(self.url + self.health_path, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    @property
    def peak_rss_bytes(self) -> int | None:
        """The server process's peak resident memory (Linux /proc VmHWM), kept after it stops; None elsewhere."""
        if self.running:
            try:
                status = Path(f"/proc/{self.process.pid}/status").read_text()
                kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
                self._peak_rss = max(self._peak_rss or 0, kb * 1024)
            except (OSError, StopIteration, ValueError):
                pass
        return self._peak_rss

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL what is left after `grace_s`; safe to call twice."""
        proc = self.process
        if proc is not None:
            _ = self.peak_rss_bytes  # read it while the process still exists
            pgid = proc.pid if os.name == "posix" else None
            self._signal(proc, pgid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._signal(proc, pgid, signal.SIGKILL)
                proc.wait(timeout=grace_s)
            if pgid is not None and _group_alive(pgid):  # children that ignored SIGTERM
                self._signal(proc, pgid, signal.SIGKILL)
            _settle(pgid, self.port, self.host)
            self.returncode = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_log_dir and self.startup_s is not None and self.returncode is not None:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)  # a failed start keeps its log for reading
        with _LIVE_LOCK:
            _LIVE.discard(self)
        return self.returncode

    @staticmethod
    def _signal(proc: subprocess.Popen, pgid: int | None, sig: int) -> None:
        try:
            if pgid is not None:
                os.killpg(pgid, sig)
            elif sig == signal.SIGTERM:
                proc.terminate()
            else:
                proc.kill()
        except (ProcessLookupError, PermissionError):
            pass

    def leftovers(self) -> bool:
        """True if any process of this server is still alive."""
        if self.process is None:
            return False
        if self.process.poll() is None:
            return True
        return os.name == "posix" and _group_alive(self.process.pid)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log (stdout and stderr together)."""
        try:
            text = self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "ManagedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    _title = "Managed server"

    def _rows(self):
        state = "running" if self.running else ("stopped" if self.process else "not started")
        return [("name", self.name), ("command", shell_line(self.argv)), ("url", self.url), ("pid", self.pid),
                ("state", state), ("started in", f"{self.startup_s:.1f} s" if self.startup_s else "n/a"),
                ("log", str(self.log_path or "not started"))]


def live_servers() -> list[ManagedServer]:
    """Servers this process started and has not stopped yet."""
    with _LIVE_LOCK:
        return list(_LIVE)


def stop_all() -> int:
    """Stop every server this process started; returns how many were running."""
    servers = live_servers()
    for server in servers:
        server.stop()
    return len(servers)


atexit.register(stop_all)
