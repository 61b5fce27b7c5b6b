"""Notebook 10 (reinforcement learning with verifiable rewards): what its cells say (read from the stored notebook)
and what the offline run shows (the executed copy)."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest
from conftest import find_notebook, image_count, notebook_text, plain_text

NB = nbformat.read(find_notebook("10"), as_version=4)
CODE = [c.source for c in NB.cells if c.cell_type == "code"]
MARKDOWN = "\n".join(c.source for c in NB.cells if c.cell_type == "markdown")
ALL_CODE = "\n".join(CODE)


def cell(marker: str) -> str:
    found = [source for source in CODE if marker in source]
    assert len(found) == 1, f"{len(found)} code cells contain {marker!r}"
    return found[0]


def keywords(source: str, function: str) -> dict[str, ast.expr]:
    """The keyword arguments of the (first) call to `function` in a cell."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == function:
            return {k.arg: k.value for k in node.keywords if k.arg}
    raise AssertionError(f"no call to {function}")


# the stored notebook -------------------------------------------------------------------------------------------------

def test_every_prompt_states_its_thinking_mode():
    calls = [kw for source in CODE for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "apply_chat_template"
             for kw in [{k.arg: k.value for k in node.keywords if k.arg}]]
    assert calls and all("enable_thinking" in kw for kw in calls)
    args = keywords(cell("def grpo_args("), "GRPOConfig")
    assert ast.unparse(args["chat_template_kwargs"]) == "{'enable_thinking': THINKING}"  # the trainer's prompts too
    scores = re.findall(r"rl\.score\([^)]*\)", ALL_CODE)
    assert len(scores) == 3 and all("THINKING" in call for call in scores)  # before, after, hacked


def test_the_model_comes_from_one_place():
    source = cell('TRAINED_STAND_IN = "qwen3-trained"')
    assert "TRAINED_STAND_IN in offline.KINDS" in source and 'else "qwen3"' in source
    assert "RANDOM weights" in source  # says plainly what the fallback cannot show
    assert ALL_CODE.count("AutoModelForCausalLM.from_pretrained(model_path") == 2  # the trained and the hacked copy
    assert 'pick("thinking"' in source


def test_grpo_settings_are_the_ones_the_lesson_explains():
    args = keywords(cell("def grpo_args("), "GRPOConfig")
    for name in ("num_generations", "per_device_train_batch_size", "max_completion_length", "temperature", "beta",
                 "epsilon", "loss_type", "scale_rewards", "use_cpu", "bf16", "learning_rate"):
        assert name in args, name
        assert name in MARKDOWN, f"{name} is set but not explained"
    assert ast.unparse(args["per_device_train_batch_size"]) == "PROMPTS_PER_STEP * NUM_GENERATIONS"
    training = cell("trainer = GRPOTrainer(")
    assert "peft_config=lora" in training and "rl.correctness_reward" in training and "rl.format_reward" in training
    assert "LoraConfig(r=LORA_RANK" in ALL_CODE


def test_results_are_printed_from_measurements_not_claimed():
    closing = cell("Reward hacking (")
    for value in ("before.accuracy", "after.accuracy", "first", "last", "train_seconds", "hacked.accuracy", "g_last"):
        assert value in closing
    assert "if not TRAINED" in closing and "none of them is a result" in closing
    assert not re.search(r"\b\d+(\.\d+)?\s*%\s*(->|to)\s*\d", MARKDOWN), "a measured change written into markdown"


def test_reward_hacking_is_shown_and_caught():
    hack = cell("hacker = GRPOTrainer(")
    assert "reward_funcs=[rl.length_reward]" in hack and "hacked = rl.score(" in hack
    assert "The format reward" in MARKDOWN and "held-out evaluation" in MARKDOWN


def test_gpu_section_and_sources():
    gpu = cell("gpu_settings = dict(")
    assert "use_vllm=True" in gpu and 'vllm_mode="colocate"' in gpu and "dataclasses.fields(GRPOConfig)" in gpu
    assert "rl.grpo_memory(" in ALL_CODE and "Qwen/Qwen3.5-4B" in ALL_CODE and "Qwen/Qwen3.5-9B" in ALL_CODE
    for source in ("arXiv:2505.09388", "huggingface.co/docs/trl/vllm_integration", "huggingface.co/docs/trl/grpo_trainer",
                   "docs.vllm.ai", "arXiv:2402.03300", "huggingface.co/blog/vllm-colocate"):
        assert source in MARKDOWN, source
    assert "QWEN_FACTS" not in MARKDOWN + ALL_CODE and "QWEN_HYBRID_FACTS" not in MARKDOWN + ALL_CODE
    assert not re.search(r"(rl|offline|picker)\._\w", ALL_CODE), "private names in cells"


def test_links_and_exercises():
    assert "11_embeddings_rag_and_evaluation.ipynb" in MARKDOWN
    nine = nbformat.read(find_notebook("09"), as_version=4)
    assert "10_rl_with_verifiable_rewards.ipynb" in "\n".join(c.source for c in nine.cells if c.cell_type == "markdown")
    for check in ("check_reward_function", "check_group_advantages", "check_prompts_per_step"):
        assert f"{check}(" in ALL_CODE


# the offline run ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(run_notebook):
    return run_notebook("10")


@pytest.mark.slow
def test_offline_run_measures_before_and_after(run):
    text = plain_text(run["nb"])
    assert "Traceback" not in notebook_text(run["nb"])
    assert re.search(r"GRPO on the course's stand-in '(qwen3|qwen3-trained)'", text)
    assert re.search(r"\d+ steps in [\d.]+ s \([\d.]+ s per step", text)
    assert re.search(r"Held-out accuracy \(greedy, 48 prompts\): [\d.]+% before, [\d.]+% after", text)
    assert "0 in both" in text  # no held-out prompt was trained on
    assert image_count(run["nb"]) >= 1  # the reward curve
    assert "{'loss':" not in text  # the trainer's log dicts are plotted, not printed
    if "'qwen3-trained'" not in text:
        assert "none of them is a result" in text


@pytest.mark.slow
def test_offline_run_shows_the_hacking_run_and_the_gpu_plan(run):
    text = plain_text(run["nb"])
    assert re.search(r"Reward hacking \(\d+ steps on length alone\): gameable reward [\d.]+ -> [\d.]+", text)
    assert "every GPU setting is a GRPOConfig field of the installed TRL" in text
    assert re.search(r"Qwen/Qwen3.5-9B: about \d+ GB of an 80 GB GPU", text)
