"""Notebook 06 (LoRA fine-tuning): what its cells say (read from the stored notebook) and what the offline run shows.

The source tests are fast and pin issue 18's items for this lesson (a fair baseline, no claim without an artifact, a
loadable FSDP save, sources, every chat prompt in a stated mode); the slow tests read the executed copy.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from conftest import chat_prompt_modes, find_notebook, folded_solutions, image_count, notebook_text, plain_text

NB = nbformat.read(find_notebook("06"), as_version=4)
CODE = [c.source for c in NB.cells if c.cell_type == "code"]
MARKDOWN = "\n".join(c.source for c in NB.cells if c.cell_type == "markdown")


def cell(marker: str) -> str:
    found = [source for source in CODE if marker in source]
    assert len(found) == 1, f"{len(found)} code cells contain {marker!r}"
    return found[0]


# the stored notebook -------------------------------------------------------------------------------------------------

def test_every_chat_prompt_states_its_mode_and_a_thinking_template_obeys_it():
    from qwen_course import offline

    modes = chat_prompt_modes(CODE)
    assert modes and "MISSING" not in modes, modes
    thinks = offline.load_tokenizer("qwen3.5")  # Qwen3.5's thinking-by-default template (4B and up)
    for mode in modes:
        prompt = thinks.apply_chat_template([{"role": "user", "content": "Ticket: hi"}], add_generation_prompt=True,
                                            enable_thinking=mode, tokenize=False)
        assert prompt.endswith("<think>\n\n</think>\n\n" if mode is False else "<think>\n")


def test_public_sources_only():
    text = MARKDOWN + "\n".join(CODE)
    assert "QWEN_FACTS" not in text and "QWEN_HYBRID_FACTS" not in text  # files outside the repository
    assert "trl/chat_templates/README.md" in MARKDOWN and "arXiv:2305.14314" in MARKDOWN
    assert not re.search(r"(finetune|monitor|memory|catalog)\._\w", "\n".join(CODE)), "private names in cells"


def test_the_baseline_is_told_the_task_and_no_result_is_claimed_without_a_measurement():
    assert "finetune.with_instructions(val_examples)" in cell("before = finetune.exact_match(")
    assert "96.7" not in MARKDOWN and "300 steps" not in MARKDOWN  # a claim with no artifact behind it
    assert "finetune.verdict(after)" in cell("after = finetune.exact_match(") and "finetune.confusion(after)" in "\n".join(CODE)
    training = cell("result = trainer.train()")
    assert "final train loss" not in training and "mean over the whole run" in training  # training_loss is a mean


def test_the_leakage_text_matches_the_generator():
    assert "reuse the training phrases" not in MARKDOWN
    assert "no ticket body" in MARKDOWN and "No validation ticket repeats a training ticket's body" in MARKDOWN


def test_the_fsdp_recipe_saves_a_full_state_dict_and_the_saved_adapter_is_loaded():
    recipe = cell('script = OUTPUT_DIR / "train_lora.py"')
    gather = recipe.index('set_state_dict_type("FULL_STATE_DICT")')
    assert gather < recipe.index("trainer.save_model(output_dir)")
    assert "PeftModel.from_pretrained(" in recipe and "recipe.train(" in recipe  # the script's own code, then a load
    assert "_no_split_modules[0]" not in "\n".join(CODE)  # a set in Qwen3.5 (decoder and vision blocks)


def test_hybrid_targets_thinking_data_and_qlora_memory_are_taught():
    assert "in_proj_qkv" in MARKDOWN and "in_proj_qkvz" in MARKDOWN and '"all-linear"' in MARKDOWN
    assert "qwen3_5_think_training.jinja" in cell("two_turns = [")
    assert "training_memory_table" in cell("display(finetune.training_memory_table(")


def test_the_new_task_section_keeps_the_real_library_flow_and_a_fair_baseline():
    load = cell('offline.build("qwen3-trained")')
    assert '{"dtype": torch.float32}' in load and "task_path = p.model_path" in load  # the pick online, the stand-in offline
    assert "AutoModelForCausalLM.from_pretrained(task_path, **task_load)" in load
    assert load.count("OFFLINE:") == 1 and "tiny trained model" in load
    before = cell("task_baseline = finetune.task_score(")
    assert "finetune.with_example(test_chats, train_chats[0])" in before  # the same instruction plus one worked example
    assert 'split="test"' in before and 'split="train"' in before
    training = cell("task_trainer = TrainerClass(")
    for call in ("SFTConfig(", "max_length=task_preset.max_length", "LoraConfig(", "processing_class=task_tokenizer",
                 "finetune.tokenize(task_tokenizer"):
        assert call in training, call
    after = cell("task_after = finetune.task_score(")
    assert '"fine-tuned, instruction", test_chats,' in after  # the same held-out questions as the baseline
    assert "trained.generate(task_trainer.model, task_tokenizer, test_chats)" in after
    assert "disable_adapter()" in after and "trained.heldout_chats(" in after  # forgetting: adapter on and off
    assert "finetune.new_task_verdict(" in cell("New task, {len(test_chats)} held-out questions")


# the executed notebook -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run(run_notebook):
    return run_notebook("06")


@pytest.fixture(scope="module")
def text(run):
    return notebook_text(run["nb"])


@pytest.mark.slow
def test_runs_offline_on_the_stand_in(text):
    assert "OFFLINE: fine-tuning the tiny random stand-in (qwen3) of Qwen/" in text
    assert "trainer: TrainedPositionsSFTTrainer" in text  # the CPU loss path
    assert "trainable params:" in text


@pytest.mark.slow
def test_loss_falls_and_the_result_is_judged_not_assumed(text):
    loss = re.search(r"Validation loss ([\d.]+) \(step 0\) -> ([\d.]+) \(step (\d+)\): (\d+)% lower", text)
    assert loss, "the notebook prints the validation loss before and after"
    assert float(loss.group(2)) < 0.7 * float(loss.group(1))
    mean = re.search(r"train loss: mean over the whole run ([\d.]+), last logged ([\d.]+) \(step (\d+)", text)
    assert mean, "the mean over the run is labelled as such, next to the last logged loss"
    match = re.search(r"Exact match ([\d.]+)% -> ([\d.]+)% \((\d+) -> (\d+) of (\d+)\): base model, instructed -> "
                      r"fine-tuned, ticket only", text)
    assert match, "the notebook compares the instructed baseline with the fine-tuned model"
    after = re.search(r"After fine-tuning: (.*)", text).group(1)
    confusion = text[text.index("Confusion: fine-tuned, ticket only"):]
    header = re.split(r"\s{2,}", confusion.splitlines()[1].strip())
    if "constant predictor" in after:  # the random stand-in: one answer for everything, right on its label's share
        assert len(header) == 3 and header[-1] == "total", header  # one predicted column
        assert f"right on exactly the {match.group(4)} tickets" in after


NEW_TASK = (r"New task, (\d+) held-out questions, greedy: before \(base, instruction\) ([\d.]+)%, baseline \(base, "
            r"instruction \+ 1 example\) ([\d.]+)%, after \(LoRA, instruction\) ([\d.]+)%")


SHAPE = (r"Verdict: replies in the task's JSON shape: (\d+)% with the instruction alone, (\d+)% with a worked example, "
         r"(\d+)% fine-tuned; the question restated right: (\d+)% fine-tuned")


@pytest.mark.slow
def test_a_new_task_is_learned_by_the_trained_stand_in_beyond_a_fair_baseline(text):
    """Issue 20: offline, LoRA teaches the trained stand-in its reserved task (catalog facts answered in JSON), and
    the fine-tuned model beats the base model given the same instruction and a worked example, on held-out questions
    about checkpoints whose facts were never trained in JSON, by a margin a sign test does not put down to chance."""
    assert "OFFLINE: section 6 fine-tunes the course's tiny trained model (qwen3-trained) instead of Qwen/" in text
    assert re.search(r"Qwen3ForCausalLM: [\d,]+ parameters in torch.float32", text)
    assert "preset trained-stand-in: rank" in text
    assert re.search(r"\d+ training and \d+ held-out questions \(facts\); questions in both: 0, facts in both: 0", text)
    steps = re.search(r"(\d+) steps in \d+ s; train loss \(one batch each\) ([\d.]+) at step \d+ -> ([\d.]+) at step", text)
    assert steps and float(steps.group(3)) < float(steps.group(2))
    summary = re.search(NEW_TASK, text)
    assert summary, "the notebook prints before, baseline and after from the run"
    n, before, baseline, after = int(summary.group(1)), *map(float, summary.group(2, 3, 4))
    assert n >= 60 and before <= 5 and baseline <= 5  # the base model answers in its own sentence, not in JSON
    shape = re.search(SHAPE, text)
    assert shape, "the verdict says how many replies are in the JSON shape"
    assert int(shape.group(3)) >= 50 > int(shape.group(2)) and int(shape.group(4)) >= 50  # the format was learned
    verdict = re.search(r"Verdict: (LoRA taught the new task|more right after fine-tuning|no gain in accuracy|"
                        r"the fine-tuned model is less accurate)", text).group(1)
    # measured: 23 of 64 right after 40 steps (36 %) against 0 prompted; 15 % leaves room for a noisier machine
    assert after >= 15 and after > baseline, f"LoRA did not beat the fairly prompted baseline: {after}% against {baseline}%"
    assert verdict == "LoRA taught the new task", verdict  # and the sign test says it is not chance


@pytest.mark.slow
def test_forgetting_is_measured_and_the_verdict_says_what_was_measured(text):
    old = re.search(r"Old tasks, (\d+) held-out chats: ([\d.]+)% without the adapter, ([\d.]+)% with it", text)
    assert old and int(old.group(1)) > 0
    without, with_adapter = float(old.group(2)), float(old.group(3))
    verdict = re.search(r"Verdict: (forgetting|no forgetting measured|the old tasks score higher)", text).group(1)
    expected = "forgetting" if with_adapter < without else "no forgetting measured" if with_adapter == without else \
        "the old tasks score higher"
    assert verdict == expected
    assert "The old tasks: " in text and "answers that differ" in text
    assert "[TODO] JSON reply scorer: not answered yet" in text


@pytest.mark.slow
def test_the_labels_and_thinking_in_training_data_are_shown(text):
    assert "chat template has {% generation %} markers: False" in text
    assert re.search(r"\d+ tokens, 13 of them trained", text)
    assert "trained tokens per example: 13-13" in text
    assert re.search(r"Qwen3.5's template\s+reasoning kept in turn 1, turn 2: \[False, True\]", text)
    assert re.search(r"TRL's qwen3_5_think_training.jinja\s+reasoning kept in turn 1, turn 2: \[True, True\]; "
                     r"\{% generation %\} markers: True", text)
    assert "thinking on, an answer without reasoning: the chat template does not render the prompt as a prefix" in text


@pytest.mark.slow
def test_hybrid_module_names_are_printed_from_the_model_and_adapted(text):
    for name in ("linear_attn.in_proj_qkv", "linear_attn.in_proj_z", "linear_attn.in_proj_b", "linear_attn.out_proj",
                 "self_attn.q_proj"):
        assert re.search(rf"{re.escape(name)}\s+Linear\s+nn.Linear: a LoRA target", text), name
    assert re.search(r"linear_attn.conv1d\s+Conv1d\s+\(", text) and "A_log" in text
    reached = re.search(r"gradients reached the adapters of: (.*)", text).group(1)
    assert {"in_proj_qkv", "in_proj_z", "out_proj", "q_proj", "down_proj"} <= set(reached.split(", "))
    assert "QLoRA memory on one GPU, batch 8 x 512 tokens" in text and "assumes: " in text


@pytest.mark.slow
def test_loss_curve_and_tensorboard_logs(run):
    from qwen_course import home

    assert image_count(run["nb"]) >= 1
    assert any((home() / "runs" / "06_lora").rglob("events.out.tfevents.*")), "notebook 07 reads these"


@pytest.mark.slow
def test_saved_reloaded_merged_and_resumed(text):
    assert "adapter_model.safetensors" in text and "adapter_config.json" in text
    assert "reloaded adapter gives the same answers: True" in text
    assert "merged model gives the same answers:    True" in text
    resumed = re.search(r"resumed from checkpoint-(\d+), reached step (\d+) of (\d+); largest difference from the "
                        r"uninterrupted adapter: ([\d.e+-]+)", text)
    assert resumed, "the resume demonstration reports its result"
    assert resumed.group(2) == resumed.group(3) and int(resumed.group(1)) < int(resumed.group(2))
    assert float(resumed.group(4)) <= 1e-5


@pytest.mark.slow
def test_scaling_out_configs_a_loadable_save_and_nothing_published(text):
    assert "distributed_type: FSDP" in text and "fsdp_transformer_layer_cls_to_wrap: Qwen3DecoderLayer" in text
    assert "accelerate launch --config_file" in text
    assert "the recipe saved: adapter_config.json, adapter_model.safetensors" in text
    loaded = re.search(r"PeftModel.from_pretrained loaded (\d+) adapter tensors; largest difference from the trained "
                       r"ones: ([\d.e+-]+)", text)
    assert loaded and int(loaded.group(1)) > 0 and float(loaded.group(2)) == 0.0
    assert "not publishing (PUSH_TO_HUB is empty)" in text
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", text), "never print a token"


@pytest.mark.slow
def test_no_frozen_progress_bars_or_library_noise(run):
    shown = plain_text(run["nb"])
    assert "Loading weights" not in shown and not re.search(r"\b0%\|", shown)
    assert "Failed to load" not in shown and "is_gradient_checkpointing" not in shown


@pytest.mark.slow
def test_exercises_wait_for_answers_and_solutions_compile(run):
    shown = plain_text(run["nb"])
    assert shown.count("[TODO]") == 8 and "[FAIL]" not in shown and "could not check" not in shown
    solutions = folded_solutions("06")
    assert len(solutions) == 8
    for _, code in solutions:
        compile(code, "<solution>", "exec")


@pytest.mark.slow
def test_the_same_cells_fine_tune_a_qwen35_pick(run_notebook):
    """MODEL = a Qwen3.5 checkpoint (without the "Qwen/" prefix, which the catalog accepts and a file name can hold):
    the hybrid stand-in, its 248k-token template, Gated DeltaNet layers in training, Qwen3_5DecoderLayer as the FSDP
    unit; every section runs and keeps its promises."""
    res = run_notebook("06", MODEL="Qwen3.5-0.8B", TRAIN_STEPS=10, EVAL_EXAMPLES=24, EVAL_LOSS_EXAMPLES=8)
    text = notebook_text(res["nb"])
    assert "Traceback" not in text
    assert "OFFLINE: fine-tuning the tiny random stand-in (qwen3.5-small) of Qwen/Qwen3.5-0.8B" in text
    assert "10 optimizer steps in" in text and "After fine-tuning: " in text
    assert "reloaded adapter gives the same answers: True" in text
    assert re.search(r"resumed from checkpoint-5, reached step 10 of 10; largest difference from the uninterrupted "
                     r"adapter: 0.0e\+00", text)
    assert "fsdp_transformer_layer_cls_to_wrap: Qwen3_5DecoderLayer" in text
    assert re.search(r"PeftModel.from_pretrained loaded \d+ adapter tensors", text)
