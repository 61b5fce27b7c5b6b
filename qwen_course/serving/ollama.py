"""An Ollama Modelfile for a Qwen3 GGUF: Qwen's ChatML template in Go template syntax, its stop tokens, and checks.

Ollama's binary cannot be installed on every machine (no package registry the course uses ships it), so the
Modelfile is checked without it: `check_modelfile` validates its directives (docs.ollama.com/modelfile) and template
blocks, and `render` evaluates the Go-template subset the template uses, so a test can compare its output with the
Hugging Face chat template byte for byte.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .gotemplate import render

STOPS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
DIRECTIVES = {"FROM", "TEMPLATE", "PARAMETER", "SYSTEM", "ADAPTER", "LICENSE", "MESSAGE", "REQUIRES"}
PARAMETERS = {"num_ctx", "repeat_last_n", "repeat_penalty", "temperature", "seed", "stop", "num_predict", "top_k",
              "top_p", "min_p"}
# Qwen3's recommended sampling in thinking mode (its model card) and a context; pass the pick's own to override.
DEFAULT_PARAMETERS = {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "num_ctx": 4096}

QWEN3_TEMPLATE = """\
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}
{{- if .System }}

{{ else }}
{{ end }}# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{{ . }}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $m := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq $m.Role "user" }}<|im_start|>user
{{ $m.Content }}<|im_end|>
{{ else if eq $m.Role "assistant" }}<|im_start|>assistant
{{ $m.Content }}
{{- range $j, $c := $m.ToolCalls }}{{ if or $m.Content $j }}
{{ end }}<tool_call>
{"name": "{{ $c.Function.Name }}", "arguments": {{ $c.Function.Arguments }}}
</tool_call>
{{- end }}<|im_end|>
{{ else if eq $m.Role "tool" }}<|im_start|>user
<tool_response>
{{ $m.Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and $last (ne $m.Role "assistant") }}<|im_start|>assistant
{{ if and $.IsThinkSet (not $.Think) }}<think>

</think>

{{ end }}
{{- end }}
{{- end }}"""


def modelfile(gguf: str | Path, *, system: str | None = None, parameters: dict | None = None,
              template: str = QWEN3_TEMPLATE) -> str:
    """The Modelfile text: FROM the GGUF, Qwen3's template, every stop token, sampling defaults, optional SYSTEM.
    Sampling keys Ollama does not know (e.g. presence_penalty, repetition_penalty) are left out."""
    params = {k: v for k, v in {**DEFAULT_PARAMETERS, **(parameters or {})}.items() if k in PARAMETERS}
    lines = [f"FROM {gguf}", f'TEMPLATE """{template}"""']
    lines += [f'PARAMETER stop "{s}"' for s in STOPS]
    lines += [f"PARAMETER {k} {v}" for k, v in params.items()]
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """(directive, argument) pairs; triple-quoted arguments may span lines."""
    out, pos = [], 0
    pattern = re.compile(r'\s*(#[^\n]*|(\w+)[ \t]+("""(.*?)"""|[^\n]*))', re.S)
    while pos < len(text.rstrip()):
        m = pattern.match(text, pos)
        if not m:
            raise ValueError(f"cannot parse the Modelfile near: {text[pos:pos + 40]!r}")
        pos = m.end()
        if m.group(2):
            arg = m.group(4) if m.group(4) is not None else m.group(3).strip()
            out.append((m.group(2).upper(), arg))
    return out


def check_modelfile(text: str, gguf_must_exist: bool = True) -> list[str]:
    """Problems that would make Ollama refuse the Modelfile or break Qwen's chat format; [] when none."""
    problems = []
    try:
        entries = parse_modelfile(text)
    except ValueError as exc:
        return [str(exc)]
    names = [d for d, _ in entries]
    problems += [f"unknown directive {d}" for d in names if d not in DIRECTIVES]
    froms = [a for d, a in entries if d == "FROM"]
    if len(froms) != 1:
        problems.append(f"needs exactly one FROM, found {len(froms)}")
    elif gguf_must_exist and not Path(froms[0]).exists():
        problems.append(f"FROM {froms[0]}: no such file")
    stops = set()
    for d, a in entries:
        if d == "PARAMETER":
            key, _, value = a.partition(" ")
            if key not in PARAMETERS:
                problems.append(f"unknown PARAMETER {key}")
            if key == "stop":
                stops.add(value.strip().strip('"'))
    problems += [f"missing stop token {s}" for s in STOPS[1:] if s not in stops]
    templates = [a for d, a in entries if d == "TEMPLATE"]
    if len(templates) != 1:
        problems.append(f"needs exactly one TEMPLATE, found {len(templates)}")
    else:
        problems += check_template(templates[0])
    return problems


def check_template(template: str) -> list[str]:
    """Balanced if/range/with ... end blocks, and the ChatML markers Qwen needs."""
    depth, problems = 0, []
    for action in re.findall(r"{{-?\s*(.*?)\s*-?}}", template, re.S):
        word = action.split(" ", 1)[0]
        if word in ("if", "range", "with", "block", "define"):
            depth += 1
        elif word == "end":
            depth -= 1
            if depth < 0:
                problems.append("an {{ end }} without its block")
                depth = 0
    if depth:
        problems.append(f"{depth} block(s) never closed with {{{{ end }}}}")
    for marker in ("<|im_start|>system", "<|im_start|>user", "<|im_start|>assistant", "<|im_end|>", ".Messages"):
        if marker not in template:
            problems.append(f"template lacks {marker}")
    return problems


def ollama_messages(messages: list[dict]) -> list[dict]:
    """OpenAI-style messages as Ollama's template sees them (Role, Content, ToolCalls with JSON arguments)."""
    out = []
    for m in messages:
        calls = [{"Function": {"Name": c["function"]["name"], "Arguments": _json(c["function"]["arguments"])}}
                 for c in m.get("tool_calls") or []]
        out.append({"Role": m["role"], "Content": m.get("content") or "", "ToolCalls": calls})
    return out


def _json(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_template(messages: list[dict], tools: list | None = None, think: bool | None = None,
                    template: str = QWEN3_TEMPLATE) -> str:
    """The prompt Ollama would build from this TEMPLATE for an OpenAI-style conversation (think=None: not set)."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    data = {"System": system, "Messages": ollama_messages([m for m in messages if m["role"] != "system"]),
            "Tools": tools or [], "IsThinkSet": think is not None, "Think": bool(think)}
    return render(template, data)
