"""qwen_course.finetune: the ticket dataset, assistant-only labels on the real Qwen templates, presets, sizing, scoring,
and resuming an interrupted LoRA run; plus the lesson 06 exercise checks."""

from __future__ import annotations

import json
import math
import re

import pytest

from qwen_course import finetune
from qwen_course.exercises import lesson06
from qwen_course.hardware import describe, profile


def route(text: str) -> tuple[str, str]:
    """An independent reading of a ticket: which category's sentence it contains, and whether a closing is urgent."""
    parts = finetune.phrases()
    found = set()
    for category, sentences in parts["categories"].items():
        for sentence in sentences:
            pattern = re.escape(sentence[0].upper() + sentence[1:])
            pattern = re.sub(r"\\\{\w+\\\}", r"[\\w]+", pattern)  # a filled blank is one word
            if re.search(pattern + r"[.?]", text):
                found.add(category)
    assert len(found) == 1, (text, found)
    urgent = any(text.endswith(c) for c in parts["urgent_closings"])
    calm = any(text.endswith(c) for c in parts["calm_closings"] if c) or text.endswith((".", "?"))
    assert urgent or calm, text
    return found.pop(), "high" if urgent else "low"


# ---------------------------------------------------------------- dataset
def test_shipped_dataset_is_what_the_generator_writes(tmp_path):
    written = finetune.write_dataset(folder=tmp_path)
    for split, path in written.items():
        assert path.read_bytes() == finetune.split_file(split).read_bytes(), f"{split} drifted from write_dataset()"


def test_no_ticket_body_is_in_both_splits():
    from qwen_course.finetune.data import body_of, split_of

    train, validation = finetune.load_split("train"), finetune.load_split("validation")
    bodies = {body_of(ex) for ex in train}
    assert not [body_of(ex) for ex in validation if body_of(ex) in bodies]
    assert all(split_of(body_of(ex)) == "validation" for ex in validation)
    assert body_of(train[0]) and body_of(train[0]) != finetune.data._text(train[0])  # opener/closing were removed


def test_validation_uses_the_training_sentences_with_other_details():
    """What lesson 06 tells the learner: no body in both splits, but every validation ticket is built from a problem
    sentence that training tickets use too (new tickets of familiar shapes; own sentences are a separate test)."""
    def sentence(example):
        text = example["messages"][0]["content"]
        for sentences in finetune.phrases()["categories"].values():
            for s in sentences:
                pattern = re.sub(r"\\\{\w+\\\}", r"[\\w]+", re.escape(s[0].upper() + s[1:]))
                if re.search(pattern + r"[.?]", text):
                    return s
        raise AssertionError(text)

    train, validation = finetune.load_split("train"), finetune.load_split("validation")
    assert {sentence(ex) for ex in validation} <= {sentence(ex) for ex in train}
    assert not {finetune.body_of(ex) for ex in validation} & {finetune.body_of(ex) for ex in train}


def test_splits_sizes_balance_and_no_shared_tickets():
    train, val = finetune.load_split("train"), finetune.load_split("validation")
    assert (len(train), len(val)) == (480, 120)
    for split in (train, val):
        combos = {}
        for ex in split:
            key = (ex["kind"], json.loads(ex["messages"][1]["content"])["priority"])
            combos[key] = combos.get(key, 0) + 1
        assert len(combos) == len(finetune.CATEGORIES) * 2 and len(set(combos.values())) == 1, combos
    prompts = lambda rows: {ex["messages"][0]["content"] for ex in rows}  # noqa: E731
    assert not prompts(train) & prompts(val)
    assert len(prompts(train)) == len(train)


def test_every_answer_routes_its_ticket():
    for ex in finetune.load_split("train") + finetune.load_split("validation"):
        user, reply = ex["messages"]
        assert (user["role"], reply["role"]) == ("user", "assistant")
        assert user["content"].startswith("Ticket: ")
        category, priority = route(user["content"].removeprefix("Ticket: "))
        assert reply["content"] == finetune.answer(category, priority) == json.dumps(
            {"category": category, "priority": priority})
        assert ex["kind"] == category


def test_generate_custom_categories_exclude_and_impossible_requests():
    rows = finetune.generate(20, seed=3, categories={"privacy": ["please export all my data"]})
    assert len(rows) == 20 and {r["kind"] for r in rows} == {"privacy"}
    assert {json.loads(r["messages"][1]["content"])["priority"] for r in rows} == {"low", "high"}
    texts = {r["messages"][0]["content"].removeprefix("Ticket: ") for r in rows}
    again = finetune.generate(5, seed=4, categories={"privacy": ["please export all my data"]}, exclude=texts)
    assert not {r["messages"][0]["content"].removeprefix("Ticket: ") for r in again} & texts
    with pytest.raises(ValueError, match="distinct tickets"):
        finetune.generate(10_000, categories={"privacy": ["please export all my data"]})
    with pytest.raises(ValueError, match="unknown split"):
        finetune.load_split("test")


def test_question_sentences_end_with_a_question_mark():
    import random

    assert finetune.write_ticket(random.Random(0), "how do I pay", urgent=False).count("How do I pay?") == 1
    assert "Please pay." in finetune.write_ticket(random.Random(0), "please pay", urgent=True)


# ---------------------------------------------------------------- labels on the real templates
@pytest.fixture(scope="module")
def qwen3_tokenizer():
    from qwen_course.offline import load_tokenizer

    return load_tokenizer("qwen3")


@pytest.fixture(scope="module")
def qwen25_tokenizer():
    from qwen_course.offline import load_tokenizer

    return load_tokenizer("qwen2.5")


CHAT = [{"role": "user", "content": "Ticket: My parcel is late."},
        {"role": "assistant", "content": '{"category": "shipping", "priority": "low"}'}]
REPLY = '{"category": "shipping", "priority": "low"}<|im_end|>'


def trained_text(tokenizer, example):
    return tokenizer.decode([t for t, lab in zip(example["input_ids"], example["labels"]) if lab != -100])


def test_labels_train_only_the_reply_and_its_end_of_turn_qwen3(qwen3_tokenizer):
    tok = qwen3_tokenizer
    ex = finetune.build_example(tok, CHAT)
    assert len(ex["input_ids"]) == len(ex["labels"])
    assert trained_text(tok, ex) == REPLY
    full = tok.apply_chat_template(CHAT, tokenize=False, enable_thinking=False)
    assert tok.decode(ex["input_ids"]) == full
    # the empty think block that enable_thinking=False pre-fills is prompt, not answer
    first_trained = next(i for i, lab in enumerate(ex["labels"]) if lab != -100)
    assert tok.decode(ex["input_ids"][:first_trained]).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert ex["labels"][-1] == -100 and tok.decode(ex["input_ids"][-1:]) == "\n"  # the newline after <|im_end|>
    trained = [i for i, lab in enumerate(ex["labels"]) if lab != -100]
    assert trained == list(range(trained[0], trained[-1] + 1)), "one contiguous span"
    assert all(ex["labels"][i] == ex["input_ids"][i] for i in trained)


def test_labels_qwen25_template_with_its_default_system_turn(qwen25_tokenizer):
    tok = qwen25_tokenizer
    ex = finetune.build_example(tok, CHAT)
    assert trained_text(tok, ex) == REPLY
    assert "You are Qwen" in tok.decode(ex["input_ids"])  # Qwen2.5's default system prompt is masked prompt text


def test_multi_turn_trains_only_the_last_reply(qwen3_tokenizer):
    chat = [{"role": "user", "content": "Ticket: Where is my refund?"}, {"role": "assistant", "content": "billing"},
            *CHAT]
    ex = finetune.build_example(qwen3_tokenizer, chat)
    assert trained_text(qwen3_tokenizer, ex) == REPLY


def test_build_example_rejects_chats_without_a_final_reply(qwen3_tokenizer):
    with pytest.raises(ValueError, match="assistant"):
        finetune.build_example(qwen3_tokenizer, CHAT[:1])
    with pytest.raises(ValueError, match="assistant"):
        finetune.build_example(qwen3_tokenizer, [])


def test_tokenize_and_show_labels(qwen3_tokenizer):
    ds = finetune.tokenize(qwen3_tokenizer, finetune.load_split("validation")[:6])
    assert set(ds.column_names) == {"input_ids", "labels", "kind"} and len(ds) == 6
    view = finetune.show_labels(qwen3_tokenizer, finetune.build_example(qwen3_tokenizer, CHAT))
    assert "13 of them trained" in str(view) and "-100 (masked)" in view._repr_html_()
    assert repr(view) == str(view)


def test_answer_tokens_and_head_bias(qwen3_tokenizer):
    ids = finetune.answer_tokens(qwen3_tokenizer, finetune.load_split("train"))
    assert qwen3_tokenizer.convert_tokens_to_ids("<|im_end|>") in ids
    words = {qwen3_tokenizer.decode([i]).strip(' "') for i in ids}
    assert set(finetune.CATEGORIES) | set(finetune.PRIORITIES) <= words and len(ids) < 30


# ---------------------------------------------------------------- presets and sizing
@pytest.mark.parametrize("machine, name, precision, four_bit", [
    ("cpu-2gb", "cpu", "fp32", False), ("laptop-8gb", "cpu", "fp32", False),
    ("t4", "cuda-16gb", "fp16", True), ("24gb", "cuda-40gb", "bf16", True), ("a100-80gb", "cuda-80gb", "bf16", False),
])
def test_presets_per_machine(machine, name, precision, four_bit):
    pre = finetune.preset(profile(machine))
    assert (pre.name, pre.precision, pre.load_in_4bit) == (name, precision, four_bit)
    assert pre.effective_batch == pre.batch_size * pre.grad_accum and pre.why
    assert pre.model_id.startswith("Qwen/Qwen3-") and not pre.train_answer_tokens


def test_stand_in_preset_and_overrides():
    pre = finetune.preset(describe("cpu", 8), stand_in="qwen3", model_id="Qwen/Qwen3-0.6B")
    assert pre.name == "tiny-stand-in" and pre.learning_rate > 1e-3 and pre.train_answer_tokens
    assert "train_answer_tokens" in str(pre) and repr(pre) == str(pre)
    assert finetune.preset(profile("t4"), model_id="Qwen/Qwen3-4B").model_id == "Qwen/Qwen3-4B"
    assert finetune.preset(describe("mps", 16)).name == "mps"


def test_lora_parameters_by_hand_and_errors():
    # Qwen3-0.6B: hidden 1024, 16 q heads and 8 kv heads of 128, intermediate 3072, 28 layers
    per_layer_r1 = (1024 + 2048) * 2 + (1024 + 1024) * 2
    assert finetune.lora_parameters("Qwen/Qwen3-0.6B", 8) == 28 * 8 * per_layer_r1
    mlp = 3 * (1024 + 3072)
    assert finetune.lora_parameters("Qwen/Qwen3-0.6B", 1, "all-linear") == 28 * (per_layer_r1 + mlp)
    assert finetune.adapter_training_bytes(10) == 160
    with pytest.raises(ValueError, match="unknown target"):
        finetune.lora_parameters("Qwen/Qwen3-0.6B", 8, ["qkv"])


def test_lora_parameters_match_peft_on_a_meta_model():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    from qwen_course import catalog

    config = AutoConfig.for_model("qwen3", **{k: v for k, v in catalog.get("Qwen/Qwen3-0.6B").config.items()
                                              if k not in ("architectures", "model_type", "transformers_version")})
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear"))
    trainable, _ = peft_model.get_nb_trainable_parameters()
    assert trainable == finetune.lora_parameters("Qwen/Qwen3-0.6B", 4, "all-linear")


def test_sharding_table():
    table = finetune.sharding_table("Qwen/Qwen3-8B", 4, rank=16)
    text = str(table)
    assert "FSDP, 4 GPUs" in text and "full fine-tune" in text
    full = [r for r in table.rows if r[0].startswith("full")][0]
    assert float(full[1].split()[0]) == pytest.approx(4 * float(full[3].split()[0]), rel=0.01)


# ---------------------------------------------------------------- scoring and plots
def accuracy(label, predictions, expected, kinds):
    return finetune.Accuracy(label, predictions, expected, kinds)


def test_accuracy_fields_kinds_compare_and_side_by_side():
    examples = finetune.load_split("validation")[:4]
    expected = [ex["messages"][1]["content"] for ex in examples]
    kinds = [ex["kind"] for ex in examples]
    before = accuracy("before", ["", "Sure! Here is", "", ""], expected, kinds)
    wrong = json.dumps({"category": "nope", "priority": json.loads(expected[2])["priority"]})
    after = accuracy("after", [expected[0], expected[1], wrong, expected[3]], expected, kinds)
    assert (before.accuracy, after.accuracy, after.correct) == (0.0, 0.75, 3)
    assert after.by_field() == {"valid JSON": 1.0, "category right": 0.75, "priority right": 1.0}
    assert before.by_field()["valid JSON"] == 0.0
    assert "75.0% (3/4)" in str(after) and repr(after) == str(after)
    table = finetune.compare_accuracy(before, after)
    assert table.rows[0] == ("exact match, all", "0.0%", "75.0%") and any("valid JSON" in r[0] for r in table.rows)
    side = finetune.side_by_side(examples, before, after, n=3)
    assert len(side.rows) == 3 and "(empty)" in str(side) and {r[-1] for r in side.rows} <= {"yes", "no"}
    assert accuracy("none", [], [], []).accuracy == 0.0 and accuracy("none", [], [], []).by_field() == {}


def test_loss_points_relative_drop_and_plot():
    history = [{"eval_loss": 12.0, "step": 0}, {"loss": 11.0, "step": 5}, {"loss": 6.0, "step": 10},
               {"eval_loss": 4.0, "step": 10}, {"train_runtime": 3.0, "step": 10}]
    points = finetune.loss_points(history)
    assert points == {"train": [(5, 11.0), (10, 6.0)], "validation": [(0, 12.0), (10, 4.0)]}
    assert finetune.relative_drop(12.0, 4.0) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        finetune.relative_drop(0.0, 1.0)
    fig = finetune.plot_losses(history)
    ax = fig.axes[0]
    assert ax.get_title() and "step" in ax.get_xlabel() and "loss" in ax.get_ylabel()
    assert [line.get_label() for line in ax.get_lines()] == ["train", "validation"]
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.slow
def test_generate_answers_on_the_stand_in_restores_padding_side(qwen3_tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    from qwen_course import offline

    model = AutoModelForCausalLM.from_pretrained(offline.build("qwen3"), dtype=torch.float32)
    qwen3_tokenizer.padding_side = "right"
    examples = finetune.load_split("validation")[:3]
    result = finetune.exact_match(model, qwen3_tokenizer, examples, max_new_tokens=4, batch_size=2)
    assert len(result.predictions) == 3 and qwen3_tokenizer.padding_side == "right"
    assert result.accuracy == 0.0  # four new tokens cannot spell the JSON answer


# ---------------------------------------------------------------- resume after an interruption
@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_adapter(tmp_path, qwen3_tokenizer):
    """Stop a LoRA run after 3 of 6 steps (a checkpoint every 3), resume it in a new trainer: same steps, same weights."""
    import dataclasses

    import torch
    from peft import LoraConfig, get_peft_model_state_dict
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from qwen_course import offline

    path = offline.build("qwen3")
    data = finetune.tokenize(qwen3_tokenizer, finetune.load_split("train")[:24])
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.1, task_type="CAUSAL_LM",
                      trainable_token_indices=qwen3_tokenizer.convert_tokens_to_ids(["low", "high", '"}']))
    args = SFTConfig(output_dir=str(tmp_path / "full"), max_steps=6, per_device_train_batch_size=2,
                     gradient_accumulation_steps=2, learning_rate=1e-2, warmup_steps=0.2, save_steps=3,
                     logging_steps=1, report_to=[], max_length=48, seed=0, disable_tqdm=True, bf16=False)

    def trainer(output_dir, callbacks=()):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        trainer = SFTTrainer(model=model, args=dataclasses.replace(args, output_dir=str(output_dir)), train_dataset=data,
                             processing_class=qwen3_tokenizer, peft_config=lora, callbacks=list(callbacks))
        finetune.expose_head_bias(trainer.model)
        return trainer

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                control.should_training_stop = True  # as if the session died right after checkpoint-3

    full = trainer(tmp_path / "full")
    full.train()

    interrupted = trainer(tmp_path / "run", [Crash()])
    interrupted.train()
    assert interrupted.state.global_step == 3 and (tmp_path / "run" / "checkpoint-3").is_dir()

    resumed = trainer(tmp_path / "run")
    resumed.train(resume_from_checkpoint=True)  # finds the last checkpoint in output_dir
    assert resumed.state.global_step == full.state.global_step == 6

    a, b = get_peft_model_state_dict(full.model), get_peft_model_state_dict(resumed.model)
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    losses = lambda t: [h["loss"] for h in t.state.log_history if "loss" in h]  # noqa: E731
    assert losses(resumed) == pytest.approx(losses(full), rel=1e-5)  # nothing lost: every step logged once


# ---------------------------------------------------------------- exercise checks
def test_check_split_overlap():
    train, val = finetune.load_split("train"), finetune.load_split("validation")
    assert lesson06.check_split_overlap(None, train, val).passed is None
    assert lesson06.check_split_overlap(0, train, val).passed is True
    assert lesson06.check_split_overlap(3, train, val).passed is False


def test_check_trained_text(qwen3_tokenizer):
    ex = finetune.build_example(qwen3_tokenizer, CHAT)
    assert lesson06.check_trained_text(None, qwen3_tokenizer, ex).passed is None
    assert lesson06.check_trained_text(trained_text(qwen3_tokenizer, ex), qwen3_tokenizer, ex).passed is True
    close = lesson06.check_trained_text(CHAT[1]["content"], qwen3_tokenizer, ex)
    assert close.passed is False and "end-of-turn" in close.message


def test_check_lora_rank():
    assert lesson06.check_lora_rank(None, "Qwen/Qwen3-1.7B", 300).passed is None
    right = lesson06.check_lora_rank(16, "Qwen/Qwen3-1.7B", 300)
    assert right.passed is True, right
    assert lesson06.check_lora_rank(32, "Qwen/Qwen3-1.7B", 300).passed is False
    assert "larger rank" in lesson06.check_lora_rank(8, "Qwen/Qwen3-1.7B", 300).message
    assert lesson06.check_lora_rank("many", "Qwen/Qwen3-1.7B", 300).passed is False  # no traceback


def test_check_steps_per_epoch():
    assert lesson06.check_steps_per_epoch(None, 480, 8, 1).passed is None
    assert lesson06.check_steps_per_epoch(math.ceil(480 / 16), 480, 8, 2).passed is True
    assert "forward passes" in lesson06.check_steps_per_epoch(60, 480, 8, 2).message


def test_check_own_tickets():
    train = finetune.load_split("train")
    mine = [finetune.make_example(f"My package number {i} is lost. Please help ASAP.", "shipping", "high")
            for i in range(10)]
    assert lesson06.check_own_tickets(None, train).passed is None
    assert lesson06.check_own_tickets(mine, train).passed is True
    assert lesson06.check_own_tickets(mine[:5], train).passed is False
    assert "reuses" in lesson06.check_own_tickets(train[:12], train).message
    outside = [finetune.make_example(f"Lost item {i}.", "lost-and-found", "low") for i in range(10)]
    assert "schema" in lesson06.check_own_tickets(outside, train).message
    assert lesson06.check_own_tickets([{"messages": []}] * 10, train).passed is False


def test_check_adapter_config(tmp_path):
    import json

    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 16, "base_model_name_or_path": "Qwen/Qwen3-0.6B"}))
    assert lesson06.check_adapter_config(None, tmp_path).passed is None
    ok = {"r": 16, "base_model_name_or_path": "Qwen/Qwen3-0.6B"}
    assert lesson06.check_adapter_config(ok, tmp_path).passed is True
    assert lesson06.check_adapter_config({**ok, "r": 8}, tmp_path).passed is False


def test_check_fsdp_gpus():
    from qwen_course import catalog

    expected = math.ceil(catalog.param_count("Qwen/Qwen3-8B").total * 16 / (0.8 * 80e9))
    assert expected == 3
    assert lesson06.check_fsdp_gpus(None, "Qwen/Qwen3-8B", 80).passed is None
    assert lesson06.check_fsdp_gpus(expected, "Qwen/Qwen3-8B", 80).passed is True
    assert lesson06.check_fsdp_gpus(2, "Qwen/Qwen3-8B", 80).passed is False


# ---------------------------------------------------------------- the hybrid generation (issue 21), fair scoring (issue 18)
def hybrid_meta_model(model_id: str):
    """The text-only class of a Qwen3.5 checkpoint at its real size, on the meta device (no memory, no download)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from qwen_course import catalog

    ckpt = catalog.get(model_id)
    config = AutoConfig.for_model("qwen3_5_text", **ckpt.text_config)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


HYBRID_TARGETS = [*finetune.FULL_ATTENTION, "in_proj_qkv", "in_proj_z", "out_proj", *finetune.MLP]


@pytest.mark.parametrize("model_id", ["Qwen/Qwen3.5-9B", "Qwen/Qwen3.5-27B"])
@pytest.mark.parametrize("targets", ["all-linear", HYBRID_TARGETS, finetune.FULL_ATTENTION, list(finetune.LINEAR_ATTENTION)])
def test_lora_parameters_count_the_hybrid_layers_as_peft_does(model_id, targets):
    from peft import LoraConfig, get_peft_model

    model = hybrid_meta_model(model_id)
    trainable, _ = get_peft_model(model, LoraConfig(r=8, target_modules=targets)).get_nb_trainable_parameters()
    assert trainable == finetune.lora_parameters(model_id, 8, targets)


def test_linear_shapes_name_the_gated_deltanet_projections():
    layers = finetune.linear_shapes("Qwen/Qwen3.5-9B")
    kinds = {frozenset(layer) for layer in layers}
    assert len(layers) == 32 and len(kinds) == 2
    linear = next(layer for layer in layers if "in_proj_qkv" in layer)
    full = next(layer for layer in layers if "q_proj" in layer)
    assert set(linear) == set(finetune.LINEAR_ATTENTION) | set(finetune.MLP)
    assert sum("q_proj" in layer for layer in layers) == 8  # one layer in four is full attention
    assert full["q_proj"][1] == 2 * full["o_proj"][0]  # q_proj also carries the attention output gate
    # a Qwen3 target list adapts only the attention layers of a hybrid model: a small fraction of all-linear
    assert finetune.lora_parameters("Qwen/Qwen3.5-9B", 16) < finetune.lora_parameters("Qwen/Qwen3.5-9B", 16, "all-linear") / 10
    assert finetune.lora_parameters("Qwen/Qwen3-8B", 16, HYBRID_TARGETS) == \
        finetune.lora_parameters("Qwen/Qwen3-8B", 16, "all-linear")  # names of the other generation adapt nothing
    with pytest.raises(ValueError, match="mixture of experts"):
        finetune.lora_parameters("Qwen/Qwen3.5-35B-A3B", 16)
    with pytest.raises(ValueError, match="unknown target"):
        finetune.lora_parameters("Qwen/Qwen3.5-9B", 16, ["in_proj_qkvz"])  # Qwen3-Next's fused name, not Qwen3.5's


def test_training_memory_adds_up_and_says_what_it_assumes():
    from qwen_course import memory

    est = finetune.training_memory("Qwen/Qwen3.5-9B", rank=16, target_modules=HYBRID_TARGETS, batch=8, seq_len=512)
    assert est.total_bytes == sum(est.parts.values())
    weights, adapter, activations = est.parts.values()
    bf16 = memory.estimate("Qwen/Qwen3.5-9B", "bf16", 0)
    vision = bf16.breakdown["weights: vision tower"]
    assert weights < (bf16.weights_bytes - vision) / 2  # 4-bit linear layers, 16-bit embeddings and head
    assert adapter == 16 * finetune.lora_parameters("Qwen/Qwen3.5-9B", 16, HYBRID_TARGETS)
    notes = " ".join(est.notes)
    assert "batch 8 x 512" in notes and "vision tower" in notes and "CUDA context" in notes and "Gated DeltaNet" in notes
    bigger = finetune.training_memory("Qwen/Qwen3.5-9B", batch=16, seq_len=512)
    assert bigger.parts[next(k for k in bigger.parts if k.startswith("activations"))] > activations
    plain = finetune.training_memory("Qwen/Qwen3.5-9B", base="bf16")
    assert plain.total_bytes > est.total_bytes
    table = finetune.training_memory_table(["Qwen/Qwen3.5-9B", "Qwen/Qwen3.5-27B"])
    text = str(table)
    assert "QLoRA memory" in text and "Qwen/Qwen3.5-27B" in text and "fits a GPU" in text
    assert table.rows[-2][0] == "total"


def test_the_baseline_is_told_the_task():
    examples = finetune.load_split("validation")[:3]
    told = finetune.with_instructions(examples)
    system = told[0]["messages"][0]
    assert system["role"] == "system" and told[0]["messages"][1:] == examples[0]["messages"]
    for word in (*finetune.CATEGORIES, *finetune.PRIORITIES, finetune.answer("billing", "low")):
        assert word in system["content"]
    assert "system" not in {m["role"] for m in examples[0]["messages"]}  # the originals are untouched
    assert finetune.with_instructions(examples, "Be brief.")[0]["messages"][0]["content"] == "Be brief."


def test_verdict_and_confusion_expose_a_constant_predictor():
    examples = finetune.load_split("validation")
    expected = [ex["messages"][1]["content"] for ex in examples]
    kinds = [ex["kind"] for ex in examples]
    constant = accuracy("after", [finetune.answer("bug", "high")] * len(expected), expected, kinds)
    assert constant.correct == 12
    said = finetune.verdict(constant)
    assert "constant predictor" in said and "12 tickets" in said and "routing was not" in said
    table = finetune.confusion(constant)
    assert table.header == ("expected \\ predicted", "bug/high", "total")
    assert all(row[1] == 12 for row in table.rows[:-1]) and table.rows[-1] == ("predicted, total", 120, 120)
    assert "neither format nor routing" in finetune.verdict(accuracy("b", [""] * len(expected), expected, kinds))
    perfect = accuracy("p", expected, expected, kinds)
    assert "different answers" in finetune.verdict(perfect) and "120 right" in finetune.verdict(perfect)
    diagonal = finetune.confusion(perfect)
    assert all(row[i + 1] == 12 for i, row in enumerate(diagonal.rows[:-1]))  # columns follow the rows: a diagonal
    mostly = accuracy("m", [finetune.answer("bug", "high")] * 110 + expected[110:], expected, kinds)
    assert finetune.verdict(mostly).startswith("nearly constant")
    other = finetune.confusion(accuracy("o", ["Sure!"] * 2, expected[:2], kinds[:2]))
    assert other.header[1] == "other"
    assert finetune.verdict(accuracy("none", [], [], [])) == "no answers to judge"


def test_trainer_save_model_under_fsdp_writes_only_a_full_state_dict():
    """Lesson 06's recipe switches FSDP to FULL_STATE_DICT before save_model: this is why (transformers 5.24)."""
    import inspect

    from accelerate.utils import FullyShardedDataParallelPlugin
    from transformers import Trainer

    source = inspect.getsource(Trainer.save_model)
    fsdp_branch = source.split("elif self.is_fsdp_enabled:")[1].split("elif self.is_deepspeed_enabled:")[0]
    assert '"FULL_STATE_DICT" in str(self.accelerator.state.fsdp_plugin.state_dict_type)' in fsdp_branch
    assert "else" not in fsdp_branch  # a sharded state dict saves nothing
    assert "final save is with full" in inspect.getsource(FullyShardedDataParallelPlugin.set_state_dict_type)


# ---------------------------------------------------------------- section 6: a new task for the trained stand-in (issue 20)
def replies(answers, stop=True):
    """offline.trained.generate-shaped replies with these visible texts (non-thinking: the text is the answer)."""
    return [{"text": a, "stopped": stop, "ids": []} for a in answers]


def test_trained_stand_in_preset():
    pre = finetune.preset(describe("cpu", 8), stand_in="qwen3-trained", model_id="Qwen/Qwen3-0.6B")
    assert pre.name == "trained-stand-in" and pre.target_modules == "all-linear" and not pre.train_answer_tokens
    assert pre.precision == "fp32" and pre.why and pre.max_steps > 0
    assert finetune.preset(describe("cpu", 8), stand_in="qwen3.5-small").name == "tiny-stand-in"


def test_with_example_prepends_one_solved_exchange_and_keeps_the_chats():
    from qwen_course.offline import trained

    test, example = trained.reserved_chats(3, seed=1, split="test"), trained.reserved_chats(1, seed=0)[0]
    shown = finetune.with_example(test, example)
    assert [m["role"] for m in shown[0].messages] == ["user", "assistant", "user", "assistant"]
    assert shown[0].messages[1]["content"] == example.answer and shown[0].messages[2:] == test[0].messages
    assert [c.answer for c in shown] == [c.answer for c in test] and len(test[0].messages) == 2  # originals untouched


def test_task_scores_tables_and_changed_answers():
    from qwen_course.offline import trained

    chats = trained.reserved_chats(4, seed=1, split="test", kind="arithmetic")
    right = [json.loads(c.answer) for c in chats]
    plain = [f"{r['expression']} = {r['result']}." for r in right]
    reordered = json.dumps({"result": right[0]["result"], "expression": right[0]["expression"]})
    wrong_result = json.dumps({"expression": right[2]["expression"], "result": right[2]["result"] + 1})
    after = finetune.task_score("after", chats, replies([reordered, chats[1].answer, wrong_result, "x"]))
    before = finetune.task_score("before", chats, replies(plain))
    assert (after.correct, after.n, after.accuracy, after.json_share, after.restated_share) == (2, 4, 0.5, 0.75, 0.75)
    assert (before.correct, before.json_share, before.restated_share) == (0, 0.0, 0.0)
    assert finetune.changed(before, after) == 4 and finetune.paired(before, after) == (2, 0)
    ref = '{"expression": "1 + 1", "result": 2}'
    assert finetune.json_reply(' {"result": 2, "expression": "1 + 1"} ', ref) and not finetune.json_reply('{"result": 2}', ref)
    assert not finetune.json_reply("[1, 2]", ref) and not finetune.json_reply("1 + 1 = 2.", ref)
    table = finetune.score_table("t", before, after)
    assert table.header == ("measure", "before", "after") and table.rows[0] == ("right", "0.0% (0/4)", "50.0% (2/4)")
    assert ("question restated right", "0.0%", "75.0%") in table.rows
    assert table.rows[-1] == ("answers that differ", "", "4 of 4") and "right" in str(after)
    with pytest.raises(ValueError):
        finetune.changed(before, finetune.TaskScore("short", before.rows[:2], before.references[:2]))
    assert finetune.task_score("cut", chats[:1], replies([chats[0].answer], stop=False)).correct == 0  # did not stop
    old = [c for c in trained.heldout_chats(1, seed=1, tasks=("add", "fact")) if not c.thinking]
    old_score = finetune.task_score("old", old, replies([c.answer for c in old]))
    assert old_score.accuracy == 1.0 and old_score.restated_share is None  # references that are not the JSON task
    old_table = finetune.score_table("old", old_score, old_score)
    assert "question restated right" not in [r[0] for r in old_table.rows]
    assert ("right: fact", "100.0%", "100.0%") in old_table.rows


def test_task_scores_of_the_facts_task():
    """The default reserved task: a fact as {"model": ..., "layers": N}; the model's name is what it restates."""
    from qwen_course.offline import trained

    chats = trained.reserved_chats(3, seed=2, split="test")
    want = [json.loads(c.answer) for c in chats]
    assert all(list(w)[0] == "model" and list(w)[1] in ("layers", "context") for w in want)
    field = list(want[1])[1]
    wrong_value = json.dumps({"model": want[1]["model"], field: want[1][field] + 1})
    wrong_name = json.dumps({"model": want[2]["model"] + "x", list(want[2])[1]: want[2][list(want[2])[1]]})
    score = finetune.task_score("after", chats, replies([chats[0].answer, wrong_value, wrong_name]))
    assert (score.correct, score.json_share, score.restated_share) == (1, 1.0, pytest.approx(2 / 3))
    plain = finetune.task_score("base", chats, replies([f"{w['model']} has 36 layers." for w in want]))
    assert (plain.correct, plain.json_share, plain.restated_share) == (0, 0.0, 0.0)


def test_sign_test():
    assert finetune.sign_test(0, 0) == 1.0 and finetune.sign_test(1, 0) == 1.0
    assert finetune.sign_test(5, 0) == pytest.approx(2 / 32) and finetune.sign_test(0, 6) == pytest.approx(2 / 64)
    assert finetune.sign_test(10, 2) == pytest.approx(2 * sum(math.comb(12, i) for i in range(10, 13)) / 2**12)


def test_new_task_verdict_holds_for_every_outcome():
    def score(label, correct, n=10, task="json", json_ok=None):
        json_ok = correct if json_ok is None else json_ok
        rows = [{"task": task, "thinking": False, "stop": True, "format": True, "correct": i < correct,
                 "answer": '{"expression": "1 + 1", "result": 2}' if i < json_ok else "1 + 1 = 2."} for i in range(n)]
        return finetune.TaskScore(label, rows, ['{"expression": "1 + 1", "result": 2}'] * n)

    old6, old2 = score("old", 6, task="add"), score("old", 2, task="add")
    learned, shape, forgot = finetune.new_task_verdict(score("b", 0), score("p", 0), score("a", 7, json_ok=10), old6, old2)
    assert learned.startswith("LoRA taught the new task: 7 of 10 held-out questions right after fine-tuning against 0")
    assert "(0 with the instruction alone)" in learned and "7 questions only one of them got right: p = 0.016" in learned
    assert "100% fine-tuned" in shape and "restated right: 100%" in shape
    assert "3 of the 10 fine-tuned JSON replies carry a wrong" in shape
    assert forgot.startswith("forgetting: the old tasks drop from 6 to 2 of 10") and "(20% of those replies" in forgot
    unclear = finetune.new_task_verdict(score("b", 0), score("p", 1), score("a", 3), old6, old6)
    assert unclear[0].startswith("more right after fine-tuning than the prompted base model (3 against 1 of 10), but not")
    assert "within chance" in unclear[0] and unclear[2].startswith("no forgetting measured: the old tasks score 6 of 10")
    same = finetune.new_task_verdict(score("b", 0), score("p", 3), score("a", 3), old6, old6)
    assert same[0].startswith("no gain in accuracy over the prompted base model") and "wrong" not in same[1]
    worse = finetune.new_task_verdict(score("b", 0), score("p", 5), score("a", 1), old2, old6)
    assert worse[0].startswith("the fine-tuned model is less accurate") and worse[2].startswith("the old tasks score higher")
