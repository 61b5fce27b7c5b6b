"""progress: exercise status read back from saved notebooks."""

import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from qwen_course import cli
from qwen_course.progress import progress, render


def saved(tmp_path, name, cells):
    nb = new_notebook(cells=cells)
    nbformat.write(nb, tmp_path / name)


def test_reads_pass_fail_todo_and_not_run(tmp_path):
    ran = new_code_cell("check_a(x)", outputs=[new_output("stream", name="stdout", text="[PASS] check_a: right.\n")])
    failed = new_code_cell("check_b(y)", outputs=[new_output("execute_result", data={"text/plain": "[FAIL] check_b: off"}, execution_count=1)])
    todo = new_code_cell("check_c(None)", outputs=[new_output("stream", name="stdout", text="[TODO] check_c: not answered yet")])
    saved(tmp_path, "00_a.ipynb", [ran, failed, todo, new_code_cell("check_d(z)")])
    data = progress(tmp_path)
    assert data["notebooks"]["00_a.ipynb"] == {"check_a": "PASS", "check_b": "FAIL", "check_c": "TODO", "check_d": "NOT RUN"}
    assert (data["passed"], data["total"]) == (1, 4)
    assert "1 of 4 exercises pass" in render(data)


def test_missing_folder_is_a_clear_cli_error(tmp_path, capsys):
    assert cli.main(["progress", "--notebooks", str(tmp_path / "nope"), "--json"]) == 1
    assert "no folder" in capsys.readouterr().err


def test_cli_json(tmp_path, capsys):
    saved(tmp_path, "01_b.ipynb", [new_code_cell("check_e(1)")])
    assert cli.main(["progress", "--notebooks", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 1
