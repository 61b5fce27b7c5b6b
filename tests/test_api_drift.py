"""API drift: every transformers / peft / trl / accelerate / torchao name and keyword the course uses must exist in the
installed (constrained) versions. Fails with one readable list, so a library release that renames something shows up
here before a learner meets it."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("transformers", "peft", "trl", "accelerate", "torchao", "sentence_transformers", "lm_eval")


def sources() -> dict[str, str]:
    """Python source of the package and of every notebook's code cells (IPython magics dropped)."""
    out = {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "qwen_course").rglob("*.py")}
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        cells = ["\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith(("%", "!")))
                 for c in nb.cells if c.cell_type == "code"]
        out[nb_path.name] = "\n\n".join(cells)
    return out


def imported_names(tree: ast.AST) -> dict[str, tuple[str, str]]:
    """local name -> (module, attribute) for `from lib... import attr [as local]`."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = (node.module, alias.name)
    return names


def accepted_keywords(obj) -> set[str] | None:
    """Keywords a callable accepts; None when it takes **kwargs we cannot see through."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return None
    names = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        fields = getattr(obj, "__dataclass_fields__", None)
        return (names | set(fields)) if fields else None
    return names


def problems() -> list[str]:
    found = []
    for where, source in sources().items():
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            found.append(f"{where}: cannot parse ({exc})")
            continue
        names = imported_names(tree)
        resolved = {}
        for local, (module, attr) in names.items():
            try:
                resolved[local] = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                found.append(f"{where}: from {module} import {attr} -> {type(exc).__name__}: {exc}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in resolved:
                accepted = accepted_keywords(resolved[node.func.id])
                if accepted is None:
                    continue
                for kw in node.keywords:
                    if kw.arg and kw.arg not in accepted:
                        found.append(f"{where}:{node.lineno}: {node.func.id}(..., {kw.arg}=...) is not accepted")
    return found


def test_every_used_api_exists():
    issues = problems()
    assert not issues, "API drift against the installed libraries:\n  " + "\n  ".join(issues)


REMOVED = [  # (pattern, what to use instead) for spellings the pinned libraries no longer accept
    (r"\btorch_dtype=", "dtype="),
    (r"\bevaluation_strategy=", "eval_strategy="),
    (r"\bmax_seq_length=", "SFTConfig(max_length=...)"),
    (r"\bAutoModelForVision2Seq\b", "AutoModelForImageTextToText"),
    (r"from_pretrained\([^)]*\bload_in_(8|4)bit=", "quantization_config=BitsAndBytesConfig(...)"),
    (r"SFTTrainer\([^)]*\btokenizer=", "processing_class="),
]


@pytest.mark.parametrize("pattern,instead", REMOVED, ids=[r[1] for r in REMOVED])
def test_no_removed_spellings(pattern, instead):
    import re

    offenders = [w for w, s in sources().items() if re.search(pattern, s, re.S)
                 and not w.startswith("qwen_course/exercises")]  # checks may quote the old spelling to explain it
    assert not offenders, f"{pattern!r} is gone in the pinned libraries (use {instead}): {offenders}"
