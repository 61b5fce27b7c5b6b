"""Edge routes: the Ollama Modelfile (checked and rendered without Ollama), GGUF and ONNX exports that load and generate.

The export tests need the engines (`qwen-course engine install llama.cpp onnxruntime`); they skip without them,
except where QWEN_COURSE_REQUIRE_ENGINES=1 (CI), where a missing engine is a failure.
"""

from __future__ import annotations

import os

import pytest

from qwen_course import serving
from qwen_course.serving import edge
from qwen_course.serving.ollama import check_modelfile, modelfile, render_template

REQUIRE = os.environ.get("QWEN_COURSE_REQUIRE_ENGINES") == "1"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
CONVERSATIONS = {
    "user only": ([{"role": "user", "content": "Hi"}], None, None),
    "system, thinking off": ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], None, False),
    "multi-turn": ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "Bye"}], None, None),
    "tools and system": ([{"role": "system", "content": "S"}, {"role": "user", "content": "Weather in Paris?"}],
                         TOOLS, None),
    "two calls, a result, thinking on": ([{"role": "user", "content": "Weather?"},
                                          {"role": "assistant", "content": "", "tool_calls": [CALL, CALL]},
                                          {"role": "tool", "content": "sunny"}], TOOLS, True),
}


def needs(engine: str):
    """Skip without the engine, unless CI requires engines (then the test runs and fails loudly)."""
    return pytest.mark.skipif(not REQUIRE and not serving.engine_ready(engine),
                              reason=f"{engine} not installed (qwen-course engine install {engine})")


@pytest.fixture(scope="module")
def stand_in():
    from qwen_course import offline

    return offline.build("qwen3")


def test_modelfile_passes_its_checks(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    text = modelfile(gguf, system="You are concise.", parameters={"temperature": 0.7, "presence_penalty": 1.5})
    assert check_modelfile(text) == []
    assert 'PARAMETER stop "<|im_end|>"' in text and text.startswith(f"FROM {gguf}\n")
    assert "PARAMETER temperature 0.7" in text and "presence_penalty" not in text  # Ollama has no such parameter


@pytest.mark.parametrize("breakage, problem", [
    (lambda t: t.replace('PARAMETER stop "<|im_end|>"\n', ""), "missing stop token <|im_end|>"),
    (lambda t: t.replace("{{- end }}<|im_end|>\n{{ end }}", "{{- end }}<|im_end|>\n", 1), "never closed"),
    (lambda t: t + "FROM other.gguf\n", "exactly one FROM"),
    (lambda t: t + "PARAMETER temprature 0.7\n", "unknown PARAMETER temprature"),
    (lambda t: t.replace("FROM /x.gguf", "FROM /no/such.gguf"), "no such file"),
    (lambda t: t.replace("<|im_start|>assistant", "<|im_start|>bot"), "template lacks <|im_start|>assistant"),
])
def test_modelfile_checks_catch_each_breakage(breakage, problem):
    text = breakage(modelfile("/x.gguf"))
    problems = check_modelfile(text, gguf_must_exist="no/such" in text)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_ollama_template_renders_byte_for_byte_like_the_hf_template(stand_in, name):
    from transformers import AutoTokenizer

    messages, tools, think = CONVERSATIONS[name]
    kw = {} if think is None else {"enable_thinking": think}
    hf = AutoTokenizer.from_pretrained(stand_in).apply_chat_template(
        messages, tools=tools, tokenize=False, add_generation_prompt=True, **kw)
    assert render_template(messages, tools, think) == hf


def test_go_template_subset_refuses_what_it_does_not_know():
    from qwen_course.serving.gotemplate import render

    assert render("{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}", {"B": 1}) == "b"
    assert render("{{- range $i, $x := .L }} {{ $i }}={{ $x }}{{ end }}", {"L": ["p", "q"]}) == " 0=p 1=q"
    with pytest.raises(ValueError, match="unsupported"):
        render("{{ printf .A }}", {"A": 1})
    with pytest.raises(ValueError):
        render("{{ if .A }}never closed", {})


@needs("llama.cpp")
@pytest.mark.slow
@pytest.mark.parametrize("quant, weight_type", [("F16", "F16"), ("Q8_0", "Q8_0"), ("Q4_K_M", None)])
def test_gguf_exports_carry_template_and_eos_and_say_what_fell_back(stand_in, quant, weight_type):
    path = serving.to_gguf(stand_in, quant)
    info = serving.gguf_summary(path)
    assert info["template"] and info["general.architecture"] == "qwen3" and info["tokenizer.ggml.eos_token_id"] == 151645
    if weight_type:
        assert weight_type in info["types"] and info["fallbacks"] == 0
    else:  # hidden 64 is not a multiple of the 256-wide K-quant blocks: llama-quantize falls back, and says so
        assert 0 < info["fallbacks"] <= info["tensors"] and "Q4_K" not in info["types"]


@needs("llama.cpp")
@pytest.mark.slow
def test_gguf_decodes_with_llama_bench(stand_in):
    result = serving.llama_bench(serving.to_gguf(stand_in, "Q8_0"), threads=1, prompt=16, gen=8, reps=1)
    assert result["decode_tok_s"] > 0 and result["prefill_tok_s"] > 0


@needs("llama.cpp")
@pytest.mark.slow
def test_the_qwen35_hybrid_stand_in_converts_without_an_mtp_head():
    from qwen_course import offline

    path = serving.to_gguf(offline.build("qwen3.5-small"), "F16")
    info = serving.gguf_summary(path)
    assert info["general.architecture"].startswith("qwen35") and info["template"]


@needs("onnxruntime")
@pytest.mark.slow
def test_onnx_export_generates(stand_in):
    out = serving.to_onnx(stand_in, "int4")
    result = serving.onnx_generate(out, new_tokens=8)
    assert result["new_tokens"] == 8 and result["prompt_tokens"] > 5 and result["ms_per_token"] > 0


def test_gguf_header_is_read_without_gguf_py(tmp_path):
    import struct

    def text(value: str) -> bytes:
        return struct.pack("<Q", len(value)) + value.encode()

    kv = (text("general.architecture") + struct.pack("<I", 8) + text("qwen3")
          + text("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + text("a") + text("b")
          + text("tokenizer.ggml.eos_token_id") + struct.pack("<II", 4, 151645)
          + text("tokenizer.chat_template") + struct.pack("<I", 8) + text("{{ messages }}"))
    tensors = b"".join(text(f"t{i}") + struct.pack("<IQQIQ", 2, 64, 64, kind, 0) for i, kind in enumerate((8, 8, 0)))
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 3, 4) + kv + tensors)
    (tmp_path / "m.fallbacks.txt").write_text("WARNING: 2 of 3 tensor(s) required fallback quantization\n")
    info = serving.gguf_summary(path)
    assert info["types"] == {"Q8_0": 2, "F32": 1} and info["tensors"] == 3 and info["template"]
    assert info["general.architecture"] == "qwen3" and info["tokenizer.ggml.eos_token_id"] == 151645
    assert info["fallbacks"] == 2
    (tmp_path / "x.gguf").write_bytes(b"GGML0000")
    with pytest.raises(ValueError, match="not a GGUF file"):
        serving.gguf_summary(tmp_path / "x.gguf")


def test_exports_refuse_bad_types_and_missing_engines(tmp_path, stand_in):
    with pytest.raises(ValueError, match="choose one of"):
        serving.to_gguf(stand_in, "Q3_XS", home=tmp_path)
    with pytest.raises(serving.InstallError, match="engine install llama.cpp"):
        serving.to_gguf(stand_in, "Q8_0", home=tmp_path)
    with pytest.raises(serving.InstallError, match="engine install onnxruntime"):
        edge.to_onnx(stand_in, home=tmp_path)
