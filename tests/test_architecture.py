"""The package's shape: layers import only downwards, no import circles, facades are the only way in from outside.

The layers (docs/DEVELOPING.md has the map), lowest first. A unit is a top-level module or sub-package of
qwen_course; every import, module-level or inside a function, is an edge.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "qwen_course"
LAYERS = {
    "base": {"", "_paths", "_display", "_quiet"},
    "facts and machine": {"hardware", "catalog", "memory", "precision"},
    "offline": {"offline"},
    "choosing": {"picker"},
    "lessons": {"chat", "family", "quantization", "thinking", "vision", "finetune", "monitor", "serving", "tools",
                "retrieval", "evaluation", "rl"},
    "face": {"cli", "__main__", "doctor", "prefetch", "progress", "widgets", "notebook", "exercises"},
}
RANK = {unit: rank for rank, units in enumerate(LAYERS.values()) for unit in units}
MAX_LINES = 310  # "no module over about 300 lines"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = modules()


def resolve(importer: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The qwen_course modules one import statement reaches (a package's facade, or its submodule when named)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "qwen_course"]
    if node.level:
        is_package = MODULES[importer].name == "__init__.py"
        base = importer.split(".")[: len(importer.split(".")) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "qwen_course":
        return []
    found = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        found.append(sub if sub in MODULES else target)
    return found


def edges() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {t for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                       for t in resolve(name, node) if t in MODULES and t != name}
    return graph


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_unit_has_a_layer():
    units = {unit(m) for m in MODULES}
    assert units <= set(RANK), f"put these in a layer (here and in docs/DEVELOPING.md): {sorted(units - set(RANK))}"


def test_no_upward_imports():
    upward = [f"{a} -> {b} ({next(k for k, v in LAYERS.items() if unit(a) in v)} imports "
              f"{next(k for k, v in LAYERS.items() if unit(b) in v)})"
              for a, targets in edges().items() for b in sorted(targets) if RANK[unit(b)] > RANK[unit(a)]]
    assert not upward, "lower layers must not import higher ones:\n" + "\n".join(upward)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each a list of its members."""
    index, low, stack, on, groups, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_import_circles():
    graph = edges()
    cycles = find_cycles(graph)
    detail = ["  " + " , ".join(f"{a} -> {b}" for a in group for b in sorted(graph[a]) if b in group)
              for group in cycles]
    assert not cycles, "import circles (edges inside each):\n" + "\n".join(detail)


def test_find_cycles_sees_a_circle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_siblings_never_go_through_their_own_facade():
    offending = []
    for name, targets in edges().items():
        package = name.rsplit(".", 1)[0]
        if MODULES[name].name != "__init__.py" and package != "qwen_course" and package in targets:
            offending.append(f"{name} imports its package facade {package}")
    assert not offending, "\n".join(offending)


def test_modules_stay_readable():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split by responsibility (about 300 lines at most): {long}"


def notebook_imports() -> list[tuple[str, str]]:
    found = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            for match in re.finditer(r"^\s*(?:from\s+(qwen_course[\w.]*)\s+import\s+([^\n#]+)|import\s+(qwen_course[\w.]*))",
                                     source, re.M):
                module = match.group(1) or match.group(3)
                names = [n.strip(" ()").split(" as ")[0] for n in (match.group(2) or "").split(",") if n.strip(" ()")]
                found += [(nb.name, f"{module}:{n}") for n in names] or [(nb.name, module)]
    return found


def test_notebooks_use_only_facades_and_public_names():
    facades = {m for m, p in MODULES.items() if p.name == "__init__.py"} | {m for m in MODULES if m.count(".") == 1}
    lesson_data = {m for m in MODULES if re.fullmatch(r"qwen_course\.exercises\.lesson\d\d", m)}  # sample answers
    bad = []
    for nb, item in notebook_imports():
        module, _, name = item.partition(":")
        if module not in facades | lesson_data or module.split(".")[-1].startswith("_") or name.startswith("_"):
            bad.append(f"{nb}: {item}")
    assert not bad, "notebooks import from a package's facade and public names only:\n" + "\n".join(bad)


@pytest.mark.parametrize("facade", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_facades_export_what_they_list(facade):
    import importlib

    module = importlib.import_module(facade)
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert not missing, f"{facade}.__all__ names missing: {missing}"
