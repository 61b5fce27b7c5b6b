"""Every notebook: the contract's structure (stored clean, parameters, setup, objectives, exercises) and an offline run."""

from __future__ import annotations

import re

import nbformat
import pytest

from conftest import notebook_paths, notebook_text
from qwen_course.notebook import setup_cell

NOTEBOOKS = notebook_paths()
IDS = [p.stem for p in NOTEBOOKS]
BUDGET_S = 90  # the contract: no notebook over 90 seconds offline on 2 cores
ENGINE_BUDGET_S = 180  # lesson 08 serving with real engines (CI): vLLM alone takes 35-75 s to start on 2 cores


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_the_course_has_all_lessons():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert numbers == sorted(numbers) and "00" in numbers


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_clean_and_valid(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(code_cells(nb)) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: code cells {dirty} are stored with outputs or execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_parameters_then_setup(path):
    nb = nbformat.read(path, as_version=4)
    first, second = code_cells(nb)[:2]
    assert "parameters" in first.metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    assert re.search(r'^MODEL = "auto"', first.source, re.M), "parameters cell must define MODEL = \"auto\""
    assert second.source.strip() == setup_cell(path.name).strip(), "second code cell must be qwen_course.notebook.setup_cell(name)"


# What a notebook imports from an optional extra must be in the extras its setup cell installs on Colab/Kaggle.
EXTRA_OF = {"torchao": "quant", "optimum": "quant", "bitsandbytes": "quant", "llguidance": "tools", "mcp": "tools",
            "jsonschema": "tools", "sentence_transformers": "retrieval", "faiss": "retrieval", "lm_eval": "retrieval"}
LESSON_EXTRAS = {"qwen_course.tools": "tools", "qwen_course.retrieval": "retrieval", "qwen_course.evaluation": "retrieval"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_installs_what_the_lesson_imports(path):
    import ast

    nb = nbformat.read(path, as_version=4)
    needed = set()
    for cell in code_cells(nb)[2:]:
        tree = ast.parse("\n".join(l for l in cell.source.splitlines() if not l.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                needed |= {EXTRA_OF.get(name.split(".")[0])} | {LESSON_EXTRAS.get(".".join(name.split(".")[:2]))}
    installed = re.search(r"qwen-course\[([a-z,]+)\]", code_cells(nb)[1].source).group(1).split(",")
    assert needed - {None} <= set(installed), f"{path.name} imports {sorted(needed - {None})}, installs [{installed}]"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_teaching_structure(path):
    nb = nbformat.read(path, as_version=4)
    text = markdown(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "starts with a title"
    assert re.search(r"learn", text, re.I), "learning objectives"
    assert "Runs on" in text, "a 'Runs on' line"
    assert len(re.findall(r"Exercise", text)) >= 2, "exercises close the sections"
    assert re.search(r"\((easy|medium|stretch)\)", text), "exercise difficulty marked"
    assert "<details>" in text, "solutions folded away"
    assert "check_" in "\n".join(c.source for c in code_cells(nb)), "exercises use check_* helpers"
    assert "Recap" in text
    later = [p for p in NOTEBOOKS if p.name > path.name]
    if later:
        assert later[0].name in text, f"links to the next notebook {later[0].name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_unsafe_loading(path):
    source = "\n".join(c.source for c in code_cells(nbformat.read(path, as_version=4)))
    assert "trust_remote_code=True" not in source
    assert "torch_dtype=" not in source, "transformers 5 uses dtype="
    assert "use_safetensors=False" not in source


NOISE = ("Failed to load", "Could not load this library", "_C_mxfp8", "is an Enum subclass")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_runs_offline_within_budget(path, run_notebook):
    result = run_notebook(path.stem[:2])
    text = notebook_text(result["nb"])
    assert "Traceback" not in text
    noise = [line for line in text.splitlines() if any(f in line for f in NOISE)]
    assert not noise, f"known library noise in the outputs (qwen_course/_quiet.py filters it): {noise[:3]}"
    budget = ENGINE_BUDGET_S if "vLLM healthy after" in text else BUDGET_S  # the fallback keeps the 90 s
    assert result["seconds"] < budget, f"{path.name} took {result['seconds']:.0f} s offline (budget {budget} s)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_badges_from_the_configured_repository(path):
    from qwen_course.notebook import badges

    nb = nbformat.read(path, as_version=4)
    assert badges(path.name) in nb.cells[0].source, "run: python tools/sync_notebooks.py"
