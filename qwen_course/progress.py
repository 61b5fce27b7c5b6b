"""`qwen-course progress`: which exercises pass in the learner's executed notebooks."""

from __future__ import annotations

import json
import re
from pathlib import Path

LINE = re.compile(r"\[(PASS|FAIL|TODO)\] (check_\w+)")


def notebook_results(path: Path) -> dict[str, str]:
    """check name -> PASS / FAIL / TODO from a notebook's saved outputs (the last result of each check wins)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        for name in re.findall(r"\b(check_\w+)\(", source):
            found.setdefault(name, "NOT RUN")
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            for status, name in LINE.findall(text):
                found[name] = status
    return found


def notebooks_folder(folder: str | Path | None = None) -> Path:
    """The folder to read: the one given, else ./notebooks (the course root), else this folder if it holds lessons."""
    if folder is not None:
        path = Path(folder)
        if not path.is_dir():
            raise FileNotFoundError(f"no folder {path}: pass --notebooks with the folder of your saved notebooks")
        return path
    for path in (Path("notebooks"), Path(".")):
        if path.is_dir() and any(path.glob("[0-9][0-9]_*.ipynb")):
            return path
    raise FileNotFoundError("no course notebooks here or in ./notebooks: run this in the course folder, "
                            "or pass --notebooks with the folder of your saved notebooks")


def progress(folder: str | Path | None = None) -> dict:
    """Per notebook, each exercise's status, and the totals."""
    folder = notebooks_folder(folder)
    lessons = {p.name: notebook_results(p) for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}
    statuses = [s for checks in lessons.values() for s in checks.values()]
    return {"notebooks": lessons, "passed": statuses.count("PASS"), "total": len(statuses)}


def render(data: dict) -> str:
    """A plain-text progress report."""
    lines = []
    for name, checks in data["notebooks"].items():
        done = sum(s == "PASS" for s in checks.values())
        lines.append(f"{name}: {done}/{len(checks)}")
        lines += [f"    {status:8s} {check}" for check, status in checks.items()]
    lines.append(f"\n{data['passed']} of {data['total']} exercises pass. Save your notebooks after running them to record progress.")
    return "\n".join(lines)
