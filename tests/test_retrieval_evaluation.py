"""qwen_course.evaluation: the course's question set, lm-eval task files over a local JSONL, scores and their error
bars, the published rows; and lm-evaluation-harness itself running offline on the course's stand-in."""

from __future__ import annotations

import json

import pytest

from qwen_course import catalog
from qwen_course.evaluation import (
    FACTS, chance, course_questions, protocol, published, quiet, score_range, scores, standard_error, table,
    write_tasks,
)


def test_questions_are_right_seeded_and_well_formed():
    rows = course_questions(16, seed=3)
    assert rows == course_questions(16, seed=3) and rows != course_questions(16, seed=4)
    assert [r["kind"] == "arithmetic" for r in rows] == [True, False] * 8  # interleaved, half each
    for r in rows:
        assert r["choices"][r["label"]] == r["answer"] and len(set(r["choices"])) == 4
        if r["kind"] == "arithmetic":
            a, op, b = r["question"].removeprefix("What is ").removesuffix("?").split()
            assert str(eval(f"{a} {op} {b}")) == r["answer"]  # noqa: S307 - two integers and an operator
        else:
            kind = r["kind"].split(":")[1]
            _, template, read = next(f for f in FACTS if f[0] == kind)
            name = next(c for c in catalog.checkpoints() if template.format(name=c.name) == r["question"])
            assert str(read(name)) == r["answer"]
    assert len(course_questions(5)) == 5
    with pytest.raises(ValueError):
        course_questions(1)


def test_task_files(tmp_path):
    import yaml

    rows = course_questions(4)
    tasks = write_tasks(tmp_path, rows, name="demo", max_tokens=7)
    assert (tasks["mc"], tasks["gen"]) == ("demo_mc", "demo_gen")
    lines = tasks["data"].read_text().splitlines()
    assert [json.loads(line) for line in lines] == rows
    mc, gen = (yaml.safe_load(tasks["files"][k].read_text()) for k in ("mc", "gen"))
    assert mc["output_type"] == "multiple_choice" and mc["doc_to_choice"] == "choices" and mc["target_delimiter"] == ""
    assert mc["dataset_kwargs"]["data_files"]["test"] == str(tasks["data"].resolve())
    assert gen["output_type"] == "generate_until" and gen["generation_kwargs"]["max_gen_toks"] == 7
    assert gen["doc_to_text"] == "{{question}} Answer with the number only."
    assert yaml.safe_load(write_tasks(tmp_path, rows, chat=False)["files"]["mc"].read_text())["target_delimiter"] == " "


def test_scores_chance_and_error_bars():
    results = {"results": {"t_mc": {"alias": "t_mc", "acc,none": 0.25, "acc_stderr,none": 0.1, "sample_len": 16},
                           "t_gen": {"exact_match,number": 0.0, "exact_match_stderr,number": "N/A"}},
               "n-samples": {"t_mc": {"original": 16, "effective": 16}, "t_gen": {"original": 16, "effective": 16}}}
    rows = scores(results, "base")
    assert rows == [{"arm": "base", "task": "t_mc", "metric": "acc", "value": 0.25, "stderr": 0.1, "questions": 16},
                    {"arm": "base", "task": "t_gen", "metric": "exact_match", "value": 0.0, "stderr": None,
                     "questions": 16}]
    assert chance([{"choices": ["1", "2"]}, {"choices": list("abcd")}]) == {"mc": pytest.approx(0.375), "gen": 0.0}
    assert standard_error(0.5, 100) == pytest.approx(0.05) and standard_error(1.0, 5) == 0.0
    with pytest.raises(ValueError):
        standard_error(0.5, 0)
    low, high = score_range(48.3, 30)
    assert (low, high) == pytest.approx((48.3 - 17.88, 48.3 + 17.88), abs=0.01)
    assert score_range(99.0, 10)[1] == 100.0  # clipped


def test_published_rows_name_their_table():
    data = published()
    assert {"Q3-TR", "Q3E", "MTEB"} <= set(data["sources"]) and "2505.09388" in data["sources"]["Q3-TR"]
    for kind in ("rows", "retrieval"):
        for row in data[kind]:
            assert row["source"].split(":")[0].split(" ")[0] in data["sources"], row
            assert 0 < row["score"] < 100
    frame = table("rows")
    pivot = frame[frame["mode"] != "base, few-shot"].pivot_table(index=["model", "benchmark"], columns="mode",
                                                                 values="score")
    assert (pivot["thinking"] > pivot["non-thinking"]).all()  # as printed in Tables 19 and 20
    assert pivot.loc[("Qwen3-0.6B", "MATH-500")].tolist() == [55.2, 77.6]
    assert list(protocol().columns) == ["what", "how", "source"]


def test_quiet_hides_bars_and_shows_them_on_failure(capsys):
    import sys

    with quiet():
        print("progress 50%", file=sys.stderr)
    assert "progress" not in capsys.readouterr().err
    with pytest.raises(RuntimeError), quiet():
        print("what went wrong before", file=sys.stderr)
        raise RuntimeError("boom")
    assert "what went wrong before" in capsys.readouterr().out


@pytest.mark.slow
def test_the_harness_runs_offline_on_the_stand_in(tmp_path):
    """lm-eval's hf backend on the local stand-in, a task over a local JSONL, no network: multiple choice and
    generation with thinking off, generation with thinking on; random weights score at chance."""
    import lm_eval
    import torch
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qwen_course import offline

    rows = course_questions(8)
    tasks = write_tasks(tmp_path, rows, max_tokens=8)
    path = offline.build("qwen3")
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    out = {}
    for thinking, names in ((False, [tasks["mc"], tasks["gen"]]), (True, [tasks["gen"]])):
        with quiet():
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8, enable_thinking=thinking,
                      think_end_token="</think>" if thinking else None)
            out[thinking] = lm_eval.simple_evaluate(model=lm, tasks=names, task_manager=manager,
                                                    apply_chat_template=True, log_samples=True)
    rows_off = {r["task"]: r for r in scores(out[False])}
    assert rows_off[tasks["mc"]]["questions"] == 8 and 0 <= rows_off[tasks["mc"]]["value"] <= 1
    assert rows_off[tasks["gen"]]["value"] == 0.0  # random weights never write the right number
    prompt_off = out[False]["samples"][tasks["gen"]][0]["arguments"][0][0]
    prompt_on = out[True]["samples"][tasks["gen"]][0]["arguments"][0][0]
    assert prompt_off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")  # the harness stated the mode
    assert prompt_on.endswith("<|im_start|>assistant\n") and rows[0]["question"] in prompt_on
    with quiet(), pytest.raises(ValueError, match="not compatible with loglikelihood"):
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8, enable_thinking=True,
                  think_end_token="</think>")
        lm_eval.simple_evaluate(model=lm, tasks=[tasks["mc"]], task_manager=manager, apply_chat_template=True)
