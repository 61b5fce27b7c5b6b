"""Keep every notebook in step with qwen_course/data/course.json: Colab/Binder badges under the title, the standard setup
cell, and no stored outputs. Run after changing the repository URL or branch, or before committing a notebook.

    python tools/sync_notebooks.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qwen_course.notebook import badges, setup_cell  # noqa: E402

BADGE_MARK = "[![Open in Colab]"


def synced(nb, name: str):
    """The notebook with badges after its title line, the setup cell as second code cell, and outputs cleared."""
    title = nb.cells[0]
    lines = [l for l in title.source.splitlines() if not l.startswith(BADGE_MARK)]
    rest = "\n".join(lines[1:]).strip("\n")
    title.source = f"{lines[0]}\n\n{badges(name)}\n\n{rest}".rstrip("\n")
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[1].source = setup_cell(name)
    for cell in code:
        cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    return nb


def main(check: bool) -> int:
    stale = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        before = path.read_text()
        nb = synced(nbformat.read(path, as_version=4), path.name)
        after = nbformat.writes(nb) + "\n"
        if after != before:
            stale.append(path.name)
            if not check:
                path.write_text(after)
    if stale:
        print(("out of date: " if check else "updated: ") + ", ".join(stale))
    return 1 if (check and stale) else 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv))
