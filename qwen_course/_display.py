"""Render the course's result objects as tables: HTML in Jupyter, aligned text elsewhere."""

from __future__ import annotations

import html
from typing import Iterable, Sequence

GB = 1e9


def gb(n_bytes: float | None, digits: int = 2) -> str:
    """Bytes as decimal gigabytes, the unit model cards and GPU specs use."""
    return "n/a" if n_bytes is None else f"{n_bytes / GB:.{digits}f} GB"


def text_table(rows: Sequence[Sequence[object]], header: Sequence[str] | None = None) -> str:
    """Rows as left-aligned plain-text columns."""
    cells = [[str(c) for c in r] for r in ([header] if header else []) + list(rows)]
    if not cells:
        return ""
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(max(map(len, cells)))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    if header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def html_table(rows: Iterable[Sequence[object]], header: Sequence[str] | None = None, title: str | None = None) -> str:
    """Rows as a small HTML table (escaped)."""
    out = ["<table>"]
    if title:
        out.append(f"<caption style='text-align:left'><b>{html.escape(title)}</b></caption>")
    if header:
        out.append("<tr>" + "".join(f"<th style='text-align:left'>{html.escape(str(h))}</th>" for h in header) + "</tr>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>" for c in r) + "</tr>")
    out.append("</table>")
    return "".join(out)


class Table:
    """Mixin: subclasses give `_rows()` (label, value) pairs and a `_title`; they render as tables."""

    _title = ""

    def _rows(self) -> list[tuple[str, object]]:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return html_table(self._rows(), title=self._title)

    def __str__(self) -> str:
        return (self._title + "\n" if self._title else "") + text_table(self._rows())

    def __repr__(self) -> str:
        return self.__str__()
