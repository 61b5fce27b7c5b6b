"""What this machine can run: accelerator, memory, cores, fast bf16, environment and Hub reachability."""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from ._display import Table, gb
from ._paths import home, load_json

OFFLINE_VARS = ("QWEN_COURSE_OFFLINE", "HF_HUB_OFFLINE")
HUB_HOST = ("huggingface.co", 443)


@dataclass(repr=False)
class Hardware(Table):
    """A machine as the picker sees it; `usable_memory` is what a model may use (VRAM on a GPU, RAM on a CPU)."""

    device: str
    accelerator: str | None = None
    accelerator_memory_total: int | None = None
    accelerator_memory_free: int | None = None
    compute_capability: tuple[int, int] | None = None
    ram_total: int = 0
    ram_available: int = 0
    cores: int = 1
    bf16_fast: bool = False
    environment: str = "local"
    online: bool = False
    online_reason: str = ""
    described: bool = field(default=False, repr=False)
    _title = "Hardware"

    @property
    def usable_memory(self) -> int:
        """Bytes a model may take here: free accelerator memory, else available RAM."""
        if self.device in ("cuda", "mps") and self.accelerator_memory_free:
            return self.accelerator_memory_free
        return self.ram_available

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("described")
        data["usable_memory"] = self.usable_memory
        return data

    def _rows(self):
        cc = ".".join(map(str, self.compute_capability)) if self.compute_capability else "n/a"
        return [
            ("device", self.device + (" (described, not detected)" if self.described else "")),
            ("accelerator", self.accelerator or "none"),
            ("accelerator memory (free / total)", f"{gb(self.accelerator_memory_free)} / {gb(self.accelerator_memory_total)}"),
            ("compute capability", cc),
            ("RAM (available / total)", f"{gb(self.ram_available)} / {gb(self.ram_total)}"),
            ("CPU cores", self.cores),
            ("bf16 fast here", "yes" if self.bf16_fast else "no"),
            ("environment", self.environment),
            ("Hugging Face Hub", ("reachable" if self.online else "offline") + f" ({self.online_reason})"),
            ("memory a model may use", gb(self.usable_memory)),
        ]


def environment() -> str:
    """colab, kaggle, binder or local, from the variables each platform sets."""
    if "COLAB_RELEASE_TAG" in os.environ or "COLAB_GPU" in os.environ:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ or "KAGGLE_URL_BASE" in os.environ:
        return "kaggle"
    if "BINDER_SERVICE_HOST" in os.environ or "BINDER_REPO_URL" in os.environ:
        return "binder"
    return "local"


@lru_cache(maxsize=1)
def _probe_hub(timeout: float = 2.0) -> tuple[bool, str]:
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True, "huggingface.co answered"
    except OSError as exc:
        return False, f"huggingface.co unreachable within {timeout:g} s ({type(exc).__name__})"


def online_status() -> tuple[bool, str]:
    """(online, why): offline when QWEN_COURSE_OFFLINE or HF_HUB_OFFLINE is set, or the Hub does not answer in 2 s."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return False, f"{var}={os.environ[var]}"
    return _probe_hub()


def _ram() -> tuple[int, int]:
    try:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.total), int(vm.available)
    except ImportError:  # psutil is a dependency, but /proc/meminfo keeps Linux working without it
        info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
        kib = lambda key: int(info[key].split()[0]) * 1024  # noqa: E731
        return kib("MemTotal"), kib("MemAvailable")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _bf16_cache_key(torch) -> str:
    return f"{_cpu_name()}|{_cores()}|torch {torch.__version__}"


def cpu_bf16_fast() -> bool:
    """Time a bf16 and an fp32 matmul (after a warm-up) once per CPU and torch version; bf16 is fast if it wins."""
    import torch

    cache = home() / "measurements" / "bf16_matmul.json"
    key = _bf16_cache_key(torch)
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return bool(saved["bf16_fast"])
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(256, 256, dtype=dtype)
        (a @ a).sum()  # warm-up: the first bf16 call pays for kernel selection
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            (a @ a).sum()
            runs.append(time.perf_counter() - start)
        timings[str(dtype)] = sorted(runs)[len(runs) // 2]
    fast = timings["torch.bfloat16"] < timings["torch.float32"]
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "bf16_fast": fast, "median_s": timings}, indent=1))
    return fast


def detect() -> Hardware:
    """Inspect this machine (imports torch); cached measurements keep it well under a second after the first call."""
    import torch

    ram_total, ram_available = _ram()
    online, why = online_status()
    hw = Hardware(device="cpu", ram_total=ram_total, ram_available=ram_available, cores=_cores(),
                  environment=environment(), online=online, online_reason=why)
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        hw.device = "cuda"
        hw.accelerator = torch.cuda.get_device_name(0)
        hw.accelerator_memory_total, hw.accelerator_memory_free = int(total), int(free)
        hw.compute_capability = tuple(torch.cuda.get_device_capability(0))
        hw.bf16_fast = hw.compute_capability >= (8, 0)
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        hw.device, hw.accelerator = "mps", "Apple GPU (unified memory)"
        hw.accelerator_memory_total = hw.accelerator_memory_free = ram_available
        hw.bf16_fast = False
    else:
        hw.accelerator = None
        hw.bf16_fast = cpu_bf16_fast()
    return hw


def profiles() -> dict:
    """Named machines from data/machines.json (for planning and exercises)."""
    return load_json("machines.json")["profiles"]


def parse_compute_capability(value) -> tuple[int, int]:
    """A CUDA compute capability from "7", "7.0", 7.5 or (7, 5): (major, minor); ValueError says what is valid."""
    if isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(isinstance(v, int) for v in value):
        major, minor = value[0], value[1] if len(value) == 2 else 0
    else:
        text = str(value).strip()
        parts = text.split(".")
        if len(parts) > 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{value!r} is not a compute capability: use MAJOR.MINOR such as 7.0 (V100), 7.5 (T4), "
                             "8.0 (A100), 8.9 (L4) or 9.0 (H100)")
        major, minor = int(parts[0]), int(parts[1]) if len(parts) == 2 else 0
    if not (1 <= major <= 20 and 0 <= minor <= 9):
        raise ValueError(f"{value!r} is not a CUDA compute capability (major 1-20, minor 0-9; e.g. 7.5 for a T4)")
    return major, minor


def describe(device: str, memory_gb: float, **extra) -> Hardware:
    """A machine described rather than detected: `memory_gb` is what the model may use (VRAM on GPU, RAM on CPU)."""
    if device not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}: use cpu, cuda or mps")
    if isinstance(memory_gb, bool) or not isinstance(memory_gb, (int, float)) or not 0 < memory_gb < float("inf"):
        raise ValueError(f"memory must be a finite number of GB above 0, got {memory_gb!r}")
    memory = int(memory_gb * 1e9)
    cc = extra.pop("compute_capability", (8, 0) if device == "cuda" else None)
    cc = parse_compute_capability(cc) if cc else None
    bf16 = extra.pop("bf16_fast", bool(cc and cc >= (8, 0)))
    online, why = online_status()
    hw = Hardware(device=device, ram_total=memory, ram_available=memory, cores=extra.pop("cores", 2),
                  compute_capability=cc, bf16_fast=bf16, environment="described", online=online,
                  online_reason=why, described=True, **extra)
    if device != "cpu":
        hw.accelerator_memory_total = hw.accelerator_memory_free = memory
        hw.ram_total = hw.ram_available = int(extra.get("ram_gb", 16) * 1e9)
    return hw


def profile(name: str) -> Hardware:
    """A named machine such as "t4" or "a100-80gb"; unknown names list the known ones."""
    table = profiles()
    if name not in table:
        raise KeyError(f"unknown machine profile {name!r}; known: {', '.join(table)}")
    spec = dict(table[name])
    spec.pop("note", None)
    return describe(spec.pop("device"), spec.pop("memory_gb"), **spec)
