"""A small evaluator for the Go text/template subset Ollama chat templates use, so they can be tested without Go.

Covers: text with {{- -}} trimming, {{ if }} / {{ else if }} / {{ else }} / {{ end }}, {{ range }} (with or without
`$i, $x :=`), `$x :=` assignment, fields (.A.B, $x.A, $.A), parentheses, string and number literals, and the
functions eq, ne, and, or, not, len, slice. Anything else raises, so a template that needs more is noticed.
"""

from __future__ import annotations

import json
import re

_ACTION = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)
_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|-?\d+|:=|,|\$?[\w.]*\.?[\w.]*)')


def _parse(template: str):
    """A list of nodes: str | ('print', expr) | ('set', name, expr) | ('if', [(cond, body)], else) | ('range', ...)."""
    parts, pos = [], 0
    for m in _ACTION.finditer(template):
        text = template[pos:m.start()]
        if m.group(1):
            text = text.rstrip()
        if parts and isinstance(parts[-1], tuple) and parts[-1][0] == "trim":
            text = text.lstrip()
            parts.pop()
        parts.append(text)
        parts.append(("act", m.group(2).strip()))
        if m.group(3):
            parts.append(("trim",))
        pos = m.end()
    tail = template[pos:]
    if parts and isinstance(parts[-1], tuple) and parts[-1][0] == "trim":
        tail = tail.lstrip()
        parts.pop()
    parts.append(tail)
    nodes, rest = _block(iter(parts), top=True)
    return nodes


def _block(items, top=False):
    nodes = []
    for item in items:
        if isinstance(item, str):
            if item:
                nodes.append(item)
            continue
        action = item[1]
        word = action.split(None, 1)[0] if action else ""
        if word in ("end", "else"):
            if top:
                raise ValueError(f"unexpected {{{{ {action} }}}}")
            return nodes, action
        if word == "if":
            branches, other = [], None
            cond = action[2:].strip()
            while True:
                body, stop = _block(items)
                branches.append((cond, body))
                if stop.startswith("else if"):
                    cond = stop[7:].strip()
                    continue
                if stop == "else":
                    other, stop = _block(items)
                if stop != "end":
                    raise ValueError("if without end")
                break
            nodes.append(("if", branches, other or []))
        elif word == "range":
            spec = action[5:].strip()
            names = []
            if ":=" in spec:
                left, spec = spec.split(":=", 1)
                names = [n.strip() for n in left.split(",")]
            body, stop = _block(items)
            if stop != "end":
                raise ValueError("range without end")
            nodes.append(("range", names, spec.strip(), body))
        elif re.match(r"\$\w+\s*:=", action):
            name, expr = action.split(":=", 1)
            nodes.append(("set", name.strip(), expr.strip()))
        else:
            nodes.append(("print", action))
    if not top:
        raise ValueError("block never closed with {{ end }}")
    return nodes, None


def _truthy(v) -> bool:
    return bool(v) if v is not None else False


def _field(value, path: str):
    for name in [p for p in path.split(".") if p]:
        value = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
    return value


FUNCS = {"eq": lambda a, *bs: any(a == b for b in bs), "ne": lambda a, b: a != b, "not": lambda a: not _truthy(a),
         "len": lambda a: len(a), "slice": lambda a, i, j=None: a[i:j],
         "and": lambda *xs: next((x for x in xs if not _truthy(x)), xs[-1]),
         "or": lambda *xs: next((x for x in xs if _truthy(x)), xs[-1])}


def _eval(expr: str, dot, scope: dict):
    tokens = [t for t in _TOKEN.findall(expr) if t]
    value, rest = _command(tokens, dot, scope)
    if rest:
        raise ValueError(f"cannot evaluate {expr!r}")
    return value


def _command(tokens, dot, scope):
    args = []
    while tokens and tokens[0] != ")":
        tok = tokens.pop(0)
        if tok == "(":
            value, tokens = _command(tokens, dot, scope)
            tokens.pop(0)
            args.append(value)
        elif tok.startswith('"'):
            args.append(json.loads(tok))
        elif re.fullmatch(r"-?\d+", tok):
            args.append(int(tok))
        elif tok.startswith("$"):
            name, _, path = tok.partition(".")
            if name not in scope:
                raise ValueError(f"undefined variable {name}")
            args.append(_field(scope[name], path))
        elif tok.startswith("."):
            args.append(_field(dot, tok))
        elif tok in FUNCS:
            args.append(FUNCS[tok])
        else:
            raise ValueError(f"unsupported template word {tok!r}")
    if args and callable(args[0]):
        return args[0](*args[1:]), tokens
    if len(args) != 1:
        raise ValueError(f"cannot evaluate {args!r}")
    return args[0], tokens


def _show(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _run(nodes, dot, scope, out):
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "print":
            out.append(_show(_eval(node[1], dot, scope)))
        elif node[0] == "set":
            scope[node[1]] = _eval(node[2], dot, scope)
        elif node[0] == "if":
            for cond, body in node[1]:
                if _truthy(_eval(cond, dot, scope)):
                    _run(body, dot, dict(scope), out)
                    break
            else:
                _run(node[2], dot, dict(scope), out)
        elif node[0] == "range":
            names, items = node[1], _eval(node[2], dot, scope) or []
            for i, item in enumerate(items):
                inner = dict(scope)
                if len(names) == 2:
                    inner[names[0]], inner[names[1]] = i, item
                elif len(names) == 1:
                    inner[names[0]] = item
                _run(node[3], item, inner, out)


def render(template: str, data: dict) -> str:
    """The template's output for `data` (the root `.` and `$`)."""
    out: list[str] = []
    _run(_parse(template), data, {"$": data}, out)
    return "".join(out)
