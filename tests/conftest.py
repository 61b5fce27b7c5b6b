"""Shared fixtures: an isolated-but-reused course cache, and notebook execution with papermill (offline)."""

from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build" / "notebooks"

# Tests never reach the Hub; they use the offline stand-ins (built once per cache).
os.environ.setdefault("QWEN_COURSE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_executed: dict[tuple, dict] = {}


class PeakKernelMemory:
    """Sample the RSS of this process's children (the notebook kernel) every 0.2 s; keep the peak."""

    def __init__(self):
        import threading

        self.bytes, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.bytes = max(self.bytes, total)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def notebook_paths() -> list[Path]:
    """Every lesson notebook, in course order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def find_notebook(name: str) -> Path:
    """A notebook by file name or by its number prefix ("04")."""
    matches = [p for p in notebook_paths() if p.name == name or p.name.startswith(f"{name}_")]
    if not matches:
        raise FileNotFoundError(f"no notebook {name!r} in {NOTEBOOKS}")
    return matches[0]


def execute_notebook(name: str, **parameters) -> dict:
    """Run a notebook with papermill offline (once per parameter set per session); the copy stays in build/."""
    import nbformat
    import papermill

    key = (name, repr(sorted(parameters.items())))  # lists as parameters are not hashable
    if key not in _executed:
        source = find_notebook(name)
        BUILD.mkdir(parents=True, exist_ok=True)
        suffix = "".join(f"-{k}={v}" for k, v in sorted(parameters.items()))
        suffix = "".join(c if c.isalnum() or c in "-=._" else "_" for c in suffix)  # "Qwen/..." or a list: a file name
        target = BUILD / (source.stem + suffix + ".ipynb")
        start = time.perf_counter()
        with PeakKernelMemory() as peak:
            papermill.execute_notebook(
                str(source), str(target), parameters=parameters, cwd=str(NOTEBOOKS),
                kernel_name="python3", progress_bar=False,
            )
        seconds = time.perf_counter() - start
        nb = nbformat.read(target, as_version=4)
        _executed[key] = {"nb": nb, "path": target, "seconds": seconds, "peak_rss": peak.bytes}
        timings = BUILD / "timings.json"
        data = json.loads(timings.read_text()) if timings.exists() else {}
        data[target.stem] = {"seconds": round(seconds, 1), "peak_rss_mb": round(peak.bytes / 1e6)}
        timings.write_text(json.dumps(data, indent=1, sort_keys=True))
    return _executed[key]


SOLUTION_BLOCK = r"```python\n(.*?)```"


def folded_solutions(name: str) -> list[tuple[str | None, str]]:
    """(the check_* call before it, code) for each solution folded in <details> in a notebook's markdown, in order."""
    import re

    import nbformat

    pairs, call = [], None
    for cell in nbformat.read(find_notebook(name), as_version=4).cells:
        if cell.cell_type == "code":
            calls = [line for line in cell.source.splitlines() if re.match(r"check_\w+\(", line)]
            call = calls[-1] if calls else call
        elif "<details>" in cell.source:
            pairs += [(call, code) for code in re.findall(SOLUTION_BLOCK, cell.source, re.S)]
            call = None
    return pairs


def passes(result):
    """An exercise check's result that must pass (the exercise tests' shorthand)."""
    assert result.passed is True, str(result)


def fails(result, says):
    """An exercise check's result that must fail with `says` in its message."""
    assert result.passed is False, str(result)
    assert says in result.message, str(result)


def chat_prompt_modes(sources) -> list[object]:
    """The enable_thinking value of every apply_chat_template(..., add_generation_prompt=True) call (MISSING if none)."""
    modes = []
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "apply_chat_template":
                kwargs = {k.arg: k.value for k in node.keywords if k.arg}
                prompt = kwargs.get("add_generation_prompt")
                if isinstance(prompt, ast.Constant) and prompt.value is True:
                    value = kwargs.get("enable_thinking")
                    modes.append(value.value if isinstance(value, ast.Constant) else "MISSING")
    return modes


def notebook_text(nb) -> str:
    """All text a learner sees in the outputs: stdout, text/plain and text/html results, error names."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") in ("execute_result", "display_data"):
                data = out.get("data", {})
                parts.append(data.get("text/plain", ""))
                parts.append(data.get("text/html", ""))
            elif out.get("output_type") == "error":
                parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def plain_text(nb) -> str:
    """Only stdout and text/plain results: what a terminal would show (no HTML duplicates)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain", "")
            parts.append(text if isinstance(text, str) else "".join(text))
    return "\n".join(parts)


def image_count(nb) -> int:
    """How many figures the executed notebook shows."""
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


@pytest.fixture(scope="session")
def run_notebook():
    """`run_notebook("04", MAX_NEW_TOKENS=8)` -> {"nb", "path", "seconds"}."""
    return execute_notebook


def pytest_collection_modifyitems(config, items):
    """A test that executes a notebook is slow and `notebook`, marked or not: `-m "not slow"` must never time a notebook
    (CI runs the fast tests while the inference engines build in the background, and the notebooks after, on a quiet
    machine), and `-m "not notebook"` is every test that executes none.

    Each notebook runs once per session: where `test_runs_offline_within_budget[NN_name]` is collected, it executes the
    notebook top to bottom with its defaults (what nbval does, timed, with the outputs kept for the other tests), so
    nbval's cells of that notebook are deselected instead of executing it a second time."""
    def notebook_file(item) -> str | None:  # an nbval item's notebook stem
        path = item.nodeid.split("::")[0]
        return Path(path).stem if path.endswith(".ipynb") else None

    budgeted = set()
    for item in items:
        if "run_notebook" in getattr(item, "fixturenames", ()) or notebook_file(item):
            if not item.get_closest_marker("slow"):
                item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.notebook)
        if item.nodeid.startswith("tests/test_notebooks.py::test_runs_offline_within_budget["):
            budgeted.add(item.nodeid.rsplit("[", 1)[1].rstrip("]"))
    twice = [item for item in items if notebook_file(item) in budgeted]
    if twice:
        config.hook.pytest_deselected(items=twice)
        dropped = set(twice)
        items[:] = [item for item in items if item not in dropped]
