"""The qwen-course command: the contract's keys, exit codes, one-line errors, and no torch import on the fast path."""

import json
import subprocess
import sys
from pathlib import Path

import pytest



def run(*args):
    proc = subprocess.run([sys.executable, "-m", "qwen_course", *args], capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_estimate_contract():
    code, out, err = run("estimate", "Qwen/Qwen3-8B", "--precision", "bf16", "--context", "32768", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"model_id", "precision", "parameters", "weights_bytes", "kv_cache_bytes", "overhead_bytes", "total_bytes"}
    assert round(data["parameters"] / 1e9, 2) == 8.19
    assert round(data["weights_bytes"] / 1e9, 1) == 16.4 and round(data["kv_cache_bytes"] / 1e9, 2) == 4.83


def test_estimate_cpu_route():
    code, out, err = run("estimate", "Qwen/Qwen3-0.6B", "--precision", "int8", "--route", "ao-dynamic-int8",
                         "--context", "16", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["route"] == "ao-dynamic-int8" and round(data["weights_bytes"] / 1e6) == 1228
    code, out, err = run("estimate", "Qwen/Qwen3-0.6B", "--precision", "int4", "--route", "ao-dynamic-int8", "--json")
    assert code == 1 and "is int8, not int4" in err


def test_unknown_model_is_one_line_on_stderr():
    code, out, err = run("estimate", "Qwen/Qwen3-9B", "--json")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "Did you mean" in err


def test_pick_described_machine_contract():
    code, out, err = run("pick", "--task", "coder", "--device", "cuda", "--memory-gb", "16", "--compute-capability", "7.5", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"model_id", "model_path", "precision", "device", "estimate", "reason", "alternatives"}
    assert "Coder" in data["model_id"] and data["precision"] in ("fp16", "int4")
    assert data["route"] in ("fp16", "bnb-nf4") and data["post_load"] is None
    assert all(set(a) == {"model_id", "precision", "total_bytes"} for a in data["alternatives"])


def test_nothing_fits_exits_2():
    code, out, err = run("pick", "--device", "cpu", "--memory-gb", "0.5", "--json")
    assert code == 2 and "needs" in err and out == ""


def test_models_json():
    code, out, _ = run("models", "--task", "vision", "--json")
    models = json.loads(out)["models"]
    assert code == 0 and models and all("vision" in m["tasks"] for m in models)


def test_fast_path_does_not_import_torch():
    probe = ("import sys, qwen_course.cli as c, contextlib, io\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    c.main(['estimate','Qwen/Qwen3-8B','--json']); c.main(['models','--json'])\n"
             "    c.main(['pick','--device','cuda','--memory-gb','24','--json'])\n"
             "    c.main(['pick','--device','cuda','--memory-gb','16','--compute-capability','7.5','--json'])\n"  # NF4
             "from qwen_course.picker import Pick\n"  # a CPU int8 pick's JSON, as this CPU's measurement gives it
             "assert Pick('chat','m','m','int8','cpu',None,'',route='ao-dynamic-int8').to_dict()['dtype'] == 'float32'\n"
             "print('torch' in sys.modules, 'transformers' in sys.modules)")
    env_online = {"QWEN_COURSE_OFFLINE": "0", "HF_HUB_OFFLINE": "0"}
    import os
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env_online})
    assert proc.stdout.split() == ["False", "False"], proc.stderr


def test_usage_errors_exit_nonzero():
    assert run("estimate")[0] != 0
    code, _, err = run("pick", "--device", "cuda", "--json")
    assert code == 1 and "go together" in err


@pytest.mark.slow
def test_offline_build_json():
    code, out, err = run("offline", "build", "--json")
    assert code == 0, err
    assert set(json.loads(out)["models"]) == {"qwen2.5", "qwen3", "qwen3-moe", "qwen2.5-vl", "qwen3-vl", "qwen3.5",
                                              "qwen3.5-small", "qwen3.5-moe", "qwen3.6", "qwen3.6-moe",
                                              "qwen3-embedding", "qwen3-reranker", "qwen3-trained"}


def test_doctor_measure_cpu_caches_before_reporting(monkeypatch, capsys):
    from qwen_course import cli, doctor, precision

    calls = []
    monkeypatch.setattr(precision, "measure_cpu_precisions", lambda: calls.append(1))
    monkeypatch.setattr(doctor, "report", lambda: ({"ready": True}, "qwen-course doctor: READY"))
    assert cli.main(["doctor", "--measure-cpu"]) in (0, None)
    assert calls == [1] and "READY" in capsys.readouterr().out


# ---- every option with bad values: non-zero exit, one line on stderr that names the option, no traceback ----
BAD = {
    ("pick", "--task"): ["nope", ""],
    ("pick", "--model"): ["", "Qwen/Qwen9-1B"],
    ("pick", "--device"): ["gpu", ""],
    ("pick", "--memory-gb"): ["0", "-1", "inf", "nan", "abc", ""],
    ("pick", "--compute-capability"): ["abc", "7.5.1", "", "0.5", "99"],
    ("pick", "--context"): ["0", "-5", "abc", "", "1.5"],
    ("estimate", "--precision"): ["fp8", "fp6", ""],  # Qwen3-8B has no FP8 release
    ("estimate", "--context"): ["-1", "abc", "", "2e9"],
    ("estimate", "--batch"): ["0", "-1", "abc"],
    ("estimate", "--route"): ["nope", ""],
    ("estimate", "model"): ["", "Qwen/Qwen9-1B"],
    ("models", "--task"): ["nope", ""],
    ("prefetch", "--task"): ["nope"],
    ("prefetch", "--machine"): ["bogus", ""],
    ("prefetch", "--cache-dir"): [""],
    ("prefetch", "--bundle"): [""],
    ("prefetch", "--memory-gb"): ["0", "nan"],
    ("progress", "--notebooks"): ["/no/such/folder", ""],
    ("offline", "action"): ["rebuild"],
    ("offline", "--steps"): ["0", "-1", "abc", "", "1.5"],
    ("offline", "--out"): ["", "/etc/hostname"],
}
DESCRIBED = ["--device", "cuda", "--memory-gb", "16"]


def argv_for(command, option, value):
    if option in ("model", "action"):
        return [command, value]
    base = {"estimate": [command, "Qwen/Qwen3-8B"], "offline": [command, "train"]}.get(command, [command])
    extra = DESCRIBED if command == "pick" and option not in ("--device", "--memory-gb") else []
    if option == "--compute-capability":
        extra = DESCRIBED
    if option in ("--device", "--memory-gb") and command == "pick":
        extra = ["--memory-gb", "16"] if option == "--device" else ["--device", "cuda"]
    return base + extra + [option, value]


@pytest.mark.parametrize("command,option,value", [(c, o, v) for (c, o), vs in BAD.items() for v in vs])
def test_bad_values_get_one_line_naming_the_option(command, option, value, capsys, monkeypatch):
    from qwen_course import cli

    monkeypatch.setattr("qwen_course.hardware.online_status", lambda: (False, "test"))
    code = cli.main(argv_for(command, option, value))
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code not in (0, None), f"{command} {option}={value!r} was accepted"
    assert len(lines) == 1 and "Traceback" not in err, err
    assert option in lines[0] or (option in ("model", "action") and (option in lines[0] or value in lines[0])), lines[0]


def test_compute_capability_forms_are_equivalent():
    from qwen_course.hardware import describe, parse_compute_capability

    assert parse_compute_capability("7") == parse_compute_capability("7.0") == parse_compute_capability((7,)) == (7, 0)
    assert describe("cuda", 16, compute_capability="7").compute_capability == (7, 0)
    code, out, err = run("pick", *DESCRIBED, "--compute-capability", "7", "--json")
    assert code == 0, err
    assert json.loads(out) == json.loads(run("pick", *DESCRIBED, "--compute-capability", "7.0", "--json")[1])


def test_estimate_context_zero_is_the_weights_alone():
    code, out, err = run("estimate", "Qwen/Qwen3-8B", "--context", "0", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["kv_cache_bytes"] == 0 and data["total_bytes"] == data["weights_bytes"] + data["overhead_bytes"]


def test_progress_finds_the_notebooks_from_the_course_root(tmp_path, monkeypatch, capsys):
    import shutil

    from qwen_course import cli

    (tmp_path / "notebooks").mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "notebooks" / "00_setup_and_hardware.ipynb", tmp_path / "notebooks")
    for where in (tmp_path, tmp_path / "notebooks"):
        monkeypatch.chdir(where)
        assert cli.main(["progress", "--json"]) == 0
        assert list(json.loads(capsys.readouterr().out)["notebooks"]) == ["00_setup_and_hardware.ipynb"]


def test_prefetch_checks_its_arguments_before_the_network(monkeypatch, capsys):
    from qwen_course import cli

    def never(*a, **k):
        raise AssertionError("the network was consulted before the arguments were checked")

    monkeypatch.setattr("qwen_course.hardware.online_status", never)
    assert cli.main(["prefetch", "--machine", "t4", "--machine", "bogus"]) == 1
    assert "--machine" in capsys.readouterr().err


def test_cli_choices_follow_the_catalog_and_the_precision_table():
    from qwen_course import catalog, cli
    from qwen_course._paths import load_json

    assert cli.TASKS == catalog.TASKS
    assert set(cli.PRECISIONS) == set(load_json("precisions.json")["precisions"])


def test_pick_refuses_a_text_model_for_vision_and_names_the_ones_that_fit():
    code, out, err = run("pick", "--task", "vision", "--model", "Qwen/Qwen3-8B", *DESCRIBED)
    lines = err.strip().splitlines()
    assert code == 1 and out == "" and len(lines) == 1 and "--model" in lines[0]
    assert "cannot do the vision task" in lines[0] and "vision models that fit here: Qwen/" in lines[0]


def test_a_reader_that_stops_early_gets_no_error(monkeypatch, capsys):
    """`qwen-course models | head -1`: the reader has gone when the table is written; exit 141, no 'internal error'."""
    import os

    from qwen_course import cli

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to write_end now fails with EPIPE, as after `head` exits
    with os.fdopen(write_end, "w", buffering=1) as closed_pipe:  # line-buffered, as a terminal or `| head`
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        code = cli.main(["models"])
        monkeypatch.undo()
    assert code == 141 and capsys.readouterr().err == ""
