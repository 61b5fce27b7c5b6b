"""Constrained decoding: a random-weight Qwen3 stand-in writes schema-valid JSON and valid tool calls."""

import json

import pytest

from qwen_course.tools import check_call, default_tools, grammar, lark_for_tools, parse_reply

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["city", "days", "unit"],
          "properties": {"city": {"type": "string", "minLength": 1, "maxLength": 20},
                         "days": {"type": "integer", "minimum": 1, "maximum": 7},
                         "unit": {"enum": ["celsius", "fahrenheit"]},
                         "hours": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 23},
                                   "maxItems": 3}}}
STOPS = [151645, 151643]


SEEDS = range(2)  # each sample is ~0.5-1 s here; the measured 20/20 runs live in the lesson's data file


@pytest.fixture(scope="module")
def stand_in():
    """The tiny random Qwen3 with the real tokenizer, run on one thread (faster than two on a shared 2-core CPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    from qwen_course import offline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tokenizer = offline.load_tokenizer("qwen3")
    model = AutoModelForCausalLM.from_pretrained(offline.build("qwen3"), dtype=torch.float32)
    yield model, tokenizer
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def vocabularies(stand_in):
    """Each backend's prepared vocabulary, once per module (the slow step: seconds per backend)."""
    model, tokenizer = stand_in
    ready = {}
    for backend in grammar.BACKENDS:
        try:
            ready[backend] = grammar.prepare(tokenizer, backend, model.config.vocab_size, STOPS)
        except ImportError:
            pass
    return ready


def sample(model, tokenizer, processor, seed, tools=None, max_new_tokens=96):
    import torch

    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Weather?"}], tools=tools, tokenize=False,
                                           add_generation_prompt=True, enable_thinking=False)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    torch.manual_seed(seed)
    out = model.generate(**ids, logits_processor=[processor], do_sample=True, top_k=0, top_p=1.0, temperature=1.0,
                         max_new_tokens=max_new_tokens, eos_token_id=STOPS, pad_token_id=STOPS[-1])
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.slow
@pytest.mark.parametrize("backend", grammar.BACKENDS)
def test_random_model_writes_valid_json(stand_in, vocabularies, backend):
    from jsonschema import validate

    if backend not in vocabularies:
        pytest.skip(f"{backend} is not installed")
    model, tokenizer = stand_in
    compiled = grammar.compile_json(vocabularies[backend], SCHEMA)
    for seed in SEEDS:
        processor = compiled.processor()
        text = sample(model, tokenizer, processor, seed)
        validate(json.loads(text, strict=backend != "xgrammar"), SCHEMA)  # xgrammar 0.2.9 lets a raw tab into strings
        assert processor.errors() == [] and len(processor.mask_seconds) > 3


@pytest.mark.slow
@pytest.mark.parametrize("flavour", ["qwen3", "qwen3.5"])
def test_random_model_writes_valid_tool_calls(stand_in, vocabularies, tmp_path, flavour):
    if "llguidance" not in vocabularies:
        pytest.skip("llguidance is not installed")
    model, tokenizer = stand_in
    tools = default_tools(tmp_path)
    compiled = grammar.compile_lark(vocabularies["llguidance"], lark_for_tools(tools, flavour))
    specs = [t.spec() for t in tools]
    for seed in SEEDS:
        reply = parse_reply(sample(model, tokenizer, compiled.processor(), seed, specs, 160), specs)
        assert len(reply.calls) == 1 and not reply.errors
        check_call(reply.calls[0], {t.name: t for t in tools})


def test_lark_text_names_special_tokens_and_each_tool(tmp_path):
    tools = default_tools(tmp_path)
    json_lark, xml_lark = lark_for_tools(tools, "qwen3"), lark_for_tools(tools, "qwen3.5")
    assert json_lark.startswith('start: <tool_call> "\\n" call "\\n" </tool_call>')
    assert all(f'"const": "{t.name}"' in json_lark for t in tools)
    assert all(f'"<function={t.name}>\\n"' in xml_lark for t in tools)
    assert '("chat" | "thinking" | "vision" | "coder" | "math")' in xml_lark


def test_bad_requests_say_what_exists(tmp_path):
    with pytest.raises(ValueError, match="choose 'qwen3'"):
        lark_for_tools(default_tools(tmp_path), "qwen9")
    with pytest.raises(ValueError, match="no tools"):
        lark_for_tools([], "qwen3")
    with pytest.raises(ValueError, match="choose one of"):
        grammar.prepare(object(), "outlines")
    vocabulary = grammar.Vocabulary("xgrammar", None, 10, 0.0)
    with pytest.raises(ValueError, match="llguidance"):
        grammar.compile_lark(vocabulary, "start: /a/")


@pytest.mark.slow
def test_a_broken_parser_only_lets_the_model_stop(stand_in, vocabularies):
    import torch

    if "llguidance" not in vocabularies:
        pytest.skip("llguidance is not installed")
    model, _ = stand_in
    processor = grammar.compile_json(vocabularies["llguidance"], SCHEMA).processor()
    scores = torch.zeros(1, model.config.vocab_size)
    first = processor(torch.tensor([[1]]), scores)
    assert torch.isfinite(first).sum() < 1000  # only JSON openings allowed
    after = processor(torch.tensor([[1, 151645]]), scores)  # a forbidden token slipped in (e.g. a later processor)
    assert processor.errors()
    assert sorted(torch.isfinite(after).nonzero()[:, 1].tolist()) == sorted(STOPS)
