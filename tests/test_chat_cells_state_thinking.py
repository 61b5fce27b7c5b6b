"""Every chat cell in every notebook says which thinking mode it wants, and gets it on a checkpoint that thinks.

Real Qwen3 and Qwen3.5 from 4B up think unless told otherwise, while the small offline stand-in (Qwen3.5-0.8B's
template) does not: a cell that renders a generation prompt without `enable_thinking` looks fine in CI and writes
`<think>` and half a thought on Colab (issue 18, item 1). Two checks per notebook:

- stated: every `apply_chat_template(..., add_generation_prompt=True)`, every `ChatSession(...)` and every call of a
  text-generation pipeline passes `enable_thinking` (or `chat_template_kwargs`, or for a pipeline
  `tokenizer_encode_kwargs` holding it);
- rendered (the real-checkpoint check): the cell's messages, rendered exactly as the cell's arguments say with the
  thinking-by-default templates (Qwen3's `qwen3.jinja` from qwen_course/data/templates and TRL's
  `qwen3_5_think.jinja`, shipped by Qwen3.5-4B and larger), end in the mode the cell states.

Failures name the notebook, the cell index (as in `nb.cells`) and the call, so whoever owns the notebook can fix it.
Values the check cannot read from the notebook text (a name bound at run time) are tried as both True and False.
"""

from __future__ import annotations

import ast
import importlib.resources
from dataclasses import dataclass, field

import nbformat
import pytest

from conftest import notebook_paths

NOTEBOOKS = notebook_paths()
IDS = [p.stem for p in NOTEBOOKS]
MODE_KEYS = ("enable_thinking", "chat_template_kwargs")
RENDER_ONLY = {"tokenize", "return_tensors", "return_dict", "padding", "truncation", "max_length", "chat_template",
               "tokenizer_kwargs", "return_assistant_tokens_mask", "processor_kwargs"}  # never change the text
UNKNOWN = object()  # a value the notebook text does not fix
GENERIC = [{"role": "user", "content": "What is 12 * 7?"}]


@dataclass
class ChatCall:
    """One place that renders a generation prompt: where it is, what it passes, what the check could read."""

    notebook: str
    cell: int
    line: int
    source: str
    kind: str  # "apply_chat_template", "ChatSession" or "pipeline"
    stated: bool
    messages: object = None  # the conversation (or batch of them), or None when the text does not fix it
    kwargs: dict = field(default_factory=dict)  # template arguments read from the text
    candidates: list = field(default_factory=list)  # [(kwargs, stated mode)] to render

    def where(self) -> str:
        return f"{self.notebook} cell {self.cell} line {self.line}: {self.source}"


def cell_tree(source: str) -> ast.Module | None:
    """The cell as Python (IPython magics turned into calls first); None if it is not Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None


class Tolerant(dict):
    """A namespace for reading literals: names the notebook text does not fix evaluate to a placeholder string."""

    def __missing__(self, key):
        return "..."


def literal(node, names: dict, tolerant: bool = False):
    """The value of an expression built from literals and known names, or UNKNOWN (calls are never evaluated).

    `tolerant` lets names the text does not fix stand in as a placeholder string (fine inside message contents)."""
    if isinstance(node, ast.Constant):
        return node.value
    if node is None or any(isinstance(n, (ast.Call, ast.Lambda, ast.NamedExpr, ast.Await)) for n in ast.walk(node)):
        return UNKNOWN
    scope = Tolerant(names) if tolerant else dict(names)
    try:
        expression = ast.fix_missing_locations(ast.Expression(node))
        return eval(compile(expression, "<cell>", "eval"), {"__builtins__": {}}, scope)  # noqa: S307
    except Exception:
        return UNKNOWN


def known_names(cells: list[ast.Module]) -> dict:
    """Top-level assignments of the cells so far whose values are plain literals (parameters, message lists)."""
    names: dict = {}
    for tree in cells:
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                value = literal(stmt.value, names)
                if value is not UNKNOWN:
                    names[stmt.targets[0].id] = value
    return names


def loop_values(tree: ast.Module, call: ast.Call, names: dict) -> dict:
    """Names bound by a `for` loop or comprehension around `call` to a literal sequence: name -> its values."""
    bound = {}
    for node in ast.walk(tree):
        loops = [node] if isinstance(node, ast.For) else getattr(node, "generators", [])
        for loop in loops:
            if call in ast.walk(node) and isinstance(loop.target, ast.Name):
                values = literal(loop.iter, names)
                if values is not UNKNOWN and isinstance(values, (list, tuple)):
                    bound[loop.target.id] = list(values)
    return bound


def is_conversation(value) -> bool:
    def one(conv):
        return isinstance(conv, list) and conv and all(isinstance(m, dict) and "role" in m for m in conv)
    return one(value) or (isinstance(value, list) and value and all(one(c) for c in value))


def stated_values(node, names: dict, loops: dict) -> list:
    """The values an `enable_thinking=` expression takes: a literal, a loop's values, or UNKNOWN."""
    if isinstance(node, ast.Name) and node.id in loops:
        return loops[node.id]
    value = literal(node, names)
    return [value]


def mode_of(value) -> str | None:
    """The mode a stated value asks for: None or True think on these templates, False does not."""
    if value is UNKNOWN:
        return None
    return "non-thinking" if value is False else "thinking"


def read_call(nb_name: str, index: int, tree: ast.Module, code: str, call: ast.Call, kind: str, names: dict) -> ChatCall:
    """What one chat call passes, as far as the notebook text says."""
    loops = loop_values(tree, call, names)
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    splats = [literal(k.value, names) for k in call.keywords if k.arg is None]
    for splat in splats:
        if isinstance(splat, dict):
            keywords.update({k: ast.Constant(v) for k, v in splat.items()})
    if kind == "pipeline":
        extra = literal(keywords.pop("tokenizer_encode_kwargs", None), names)
        keywords = {k: ast.Constant(v) for k, v in (extra if isinstance(extra, dict) else {}).items()}
    stated = any(k in keywords for k in MODE_KEYS) or any(s is UNKNOWN for s in splats)
    source = (ast.get_source_segment(code, call) or "").replace("\n", " ")
    found = ChatCall(nb_name, index, call.lineno, source[:140], kind, stated)
    first = call.args[0] if call.args and kind != "ChatSession" else keywords.get("conversation")
    messages = literal(first, {**names, **{k: v[0] for k, v in loops.items()}}, tolerant=True) if first else UNKNOWN
    found.messages = messages if is_conversation(messages) else None
    fixed = {}
    for key, node in keywords.items():
        if key in RENDER_ONLY or key in ("enable_thinking", "conversation", "model", "tokenizer", "system",
                                         "max_context", "max_new_tokens", "generate_kwargs"):
            continue
        value = literal(node, names)
        if value is not UNKNOWN:
            fixed[key] = value
    found.kwargs = fixed
    if "enable_thinking" in keywords:
        for value in stated_values(keywords["enable_thinking"], names, loops):
            tries = [True, False] if value is UNKNOWN else [value]
            found.candidates += [({**fixed, "enable_thinking": v}, mode_of(v)) for v in tries]
    elif isinstance(fixed.get("chat_template_kwargs"), dict) and "enable_thinking" in fixed["chat_template_kwargs"]:
        found.candidates.append((fixed, mode_of(fixed["chat_template_kwargs"]["enable_thinking"])))
    return found


def pipeline_names(trees: list[ast.Module]) -> set[str]:
    """Names bound to `pipeline("text-generation", ...)` anywhere in the notebook."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and getattr(node.value.func, "id", None) == "pipeline" and node.value.args
                    and isinstance(node.value.args[0], ast.Constant) and node.value.args[0].value == "text-generation"):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def chat_calls(path) -> tuple[list[ChatCall], list[str]]:
    """Every chat call of a notebook, and the code cells that could not be read as Python."""
    nb = nbformat.read(path, as_version=4)
    cells = [(i, c.source, cell_tree(c.source)) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    unreadable = [f"{path.name} cell {i}: not valid Python" for i, _, tree in cells if tree is None]
    trees = [tree for _, _, tree in cells if tree is not None]
    pipes = pipeline_names(trees)
    found, seen = [], []
    for i, code, tree in cells:
        if tree is None:
            continue
        seen.append(tree)
        names = known_names(seen)
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "apply_chat_template":
                keywords = {k.arg: k.value for k in call.keywords if k.arg}
                prompt = literal(keywords.get("add_generation_prompt"), names)
                if prompt is UNKNOWN and "add_generation_prompt" not in keywords:
                    splat = [literal(k.value, names) for k in call.keywords if k.arg is None]
                    prompt = any(isinstance(s, dict) and s.get("add_generation_prompt") for s in splat)
                if prompt is True or prompt is UNKNOWN:
                    found.append(read_call(path.name, i, tree, code, call, "apply_chat_template", names))
            elif name == "ChatSession":
                found.append(read_call(path.name, i, tree, code, call, "ChatSession", names))
            elif name in pipes and call.args and not isinstance(call.args[0], ast.Constant):
                found.append(read_call(path.name, i, tree, code, call, "pipeline", names))
    return found, unreadable


def thinking_templates() -> dict:
    """The checkpoints that think by default, as tokenizers: Qwen3 (our qwen3.jinja) and Qwen3.5-4B+ (TRL's copy)."""
    from qwen_course import offline

    qwen3 = offline.load_tokenizer("qwen3")
    qwen3.chat_template = offline.chat_template("qwen3")
    qwen35 = offline.load_tokenizer("qwen3.5")
    qwen35.chat_template = (importlib.resources.files("trl") / "chat_templates" / "qwen3_5_think.jinja").read_text()
    return {"qwen3.jinja": qwen3, "qwen3_5_think.jinja (TRL)": qwen35}


def rendered_mode(tokenizer, call: ChatCall, kwargs: dict) -> list[str]:
    """Render the call's messages the way the call would on this template; the mode(s) the prompt ends in."""
    from qwen_course.chat import ChatSession
    from qwen_course.thinking import prompt_state

    messages = call.messages or GENERIC
    kwargs = {k: v for k, v in kwargs.items() if k not in ("add_generation_prompt",)}
    if call.kind == "ChatSession":
        texts = [ChatSession(None, tokenizer, enable_thinking=kwargs.get("enable_thinking")).render(messages, tokenize=False)]
    else:
        out = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
        texts = out if isinstance(out, list) else [out]
    return ["non-thinking" if prompt_state(t) == "skipped" else "thinking" for t in texts]


@pytest.fixture(scope="module")
def templates():
    return thinking_templates()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_chat_cell_states_the_thinking_mode(path):
    calls, unreadable = chat_calls(path)
    missing = [f"{c.where()} -- renders a generation prompt without enable_thinking: on Qwen3 or Qwen3.5 >= 4B it "
               f"thinks; pass enable_thinking=True/False" for c in calls if not c.stated]
    assert not (missing + unreadable), "\n" + "\n".join(missing + unreadable)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_stated_mode_is_what_a_thinking_checkpoint_renders(path, templates):
    calls, _ = chat_calls(path)
    wrong = []
    for call in (c for c in calls if c.stated):
        if not call.candidates:
            wrong.append(f"{call.where()} -- states the mode in a form the check cannot read (pass enable_thinking=...)")
        for kwargs, want in call.candidates:
            for name, tokenizer in templates.items():
                try:
                    got = rendered_mode(tokenizer, call, kwargs)
                except Exception as exc:  # a template error is a finding too
                    wrong.append(f"{call.where()} -- {name} could not render it: {type(exc).__name__}: {exc}")
                    continue
                if any(mode != want for mode in got):
                    wrong.append(f"{call.where()} -- states {want} ({_shown(kwargs)}), but {name} renders "
                                 f"{sorted(set(got))}")
    assert not wrong, "\n" + "\n".join(wrong)


def _shown(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k in MODE_KEYS)


# The checker itself: it must catch what it claims to catch.
def _calls_of(tmp_path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    path = tmp_path / "99_probe.ipynb"
    nbformat.write(nb, path)
    return chat_calls(path)[0]


def test_checker_flags_a_cell_without_the_mode(tmp_path):
    calls = _calls_of(tmp_path, 'msgs = [{"role": "user", "content": "Hi"}]',
                      "tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)",
                      "tok.apply_chat_template(msgs, tokenize=False)",  # no generation prompt: not a chat render
                      "s = ChatSession(model, tok, system='x')", "chat = pipeline('text-generation', model=m)\nchat(msgs)")
    assert [(c.cell, c.kind, c.stated) for c in calls] == [(1, "apply_chat_template", False), (3, "ChatSession", False),
                                                          (4, "pipeline", False)]
    assert calls[0].messages == [{"role": "user", "content": "Hi"}]


def test_checker_reads_literals_loops_and_unknowns(tmp_path, templates):
    calls = _calls_of(tmp_path, "THINK = False",
                      "for enable in (None, True, False):\n    t.apply_chat_template(m, add_generation_prompt=True, "
                      "enable_thinking=enable)",
                      "t.apply_chat_template(m, add_generation_prompt=True, enable_thinking=THINK)",
                      "t.apply_chat_template(m, add_generation_prompt=True, enable_thinking=p.thinking_default)",
                      "chat = pipeline('text-generation', model=m)\n"
                      "chat(m, tokenizer_encode_kwargs={'enable_thinking': False})")
    assert [[mode for _, mode in c.candidates] for c in calls] == [
        ["thinking", "thinking", "non-thinking"], ["non-thinking"], ["thinking", "non-thinking"], ["non-thinking"]]
    for call in calls:
        for kwargs, want in call.candidates:
            assert all(rendered_mode(tok, call, kwargs) == [want] for tok in templates.values())


def test_checker_catches_chat_template_kwargs_that_never_reach_the_template(tmp_path, templates):
    """transformers' apply_chat_template has no chat_template_kwargs parameter: the dict arrives as one unknown
    template variable, so a thinking checkpoint still thinks. The render check must say so."""
    (call,) = _calls_of(tmp_path, "t.apply_chat_template(m, add_generation_prompt=True, "
                                  "chat_template_kwargs={'enable_thinking': False})")
    (kwargs, want), = call.candidates
    assert call.stated and want == "non-thinking"
    assert all(rendered_mode(tok, call, kwargs) == ["thinking"] for tok in templates.values())
