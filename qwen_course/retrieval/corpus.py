"""The course as a corpus: the notebooks' markdown cut into chunks, one chunk per catalog checkpoint."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

MAX_WORDS = 160  # a chunk is at most this many words: long cells are cut at paragraph ends
BADGE = re.compile(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)\s*")  # "Open in Colab" / "Launch Binder" badges: no content


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of text: where it comes from (file or catalog), its heading, and the text itself."""

    id: str
    source: str
    title: str
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())

    def cite(self) -> str:
        """How an answer names this chunk."""
        return f"{self.source} · {self.title}"


def find_notebooks(start: str | Path | None = None) -> Path | None:
    """The course's notebooks folder seen from `start` (default: the working directory): itself, a child or a parent."""
    here = Path(start or Path.cwd()).resolve()
    repository = Path(__file__).resolve().parents[2]  # a clone or an editable install
    for folder in (here, here / "notebooks", here.parent / "notebooks", repository / "notebooks"):
        if any(folder.glob("[0-9][0-9]_*.ipynb")):
            return folder
    return None


def _pieces(text: str, limit: int) -> list[str]:
    """Paragraphs gathered into pieces of at most `limit` words (a longer paragraph stays whole)."""
    pieces, current = [], []
    for paragraph in [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]:
        if current and len(" ".join(current).split()) + len(paragraph.split()) > limit:
            pieces.append("\n\n".join(current))
            current = []
        current.append(paragraph)
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def _markdown_cells(path: Path) -> list[str]:
    """The markdown cells of a notebook, read as JSON (no nbformat needed)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "markdown"]


def notebook_chunks(path: str | Path, max_words: int = MAX_WORDS) -> list[Chunk]:
    """A notebook's markdown as chunks, each titled with the nearest heading above it."""
    path = Path(path)
    chunks, title = [], path.stem
    for text in _markdown_cells(path):
        text = BADGE.sub("", text).strip()
        heading = re.match(r"#+\s+(.+)", text)
        title = heading.group(1).strip() if heading else title
        for piece in _pieces(text, max_words):
            chunks.append(Chunk(f"{path.stem[:2]}-{len(chunks):03d}", path.name, title, piece))
    return chunks


def catalog_chunks() -> list[Chunk]:
    """One chunk per catalog checkpoint: the facts a learner asks about (size, layers, context, thinking, notes)."""
    from .. import catalog

    chunks = []
    for ckpt in catalog.checkpoints():
        c, count = ckpt.text_config, catalog.param_count(ckpt)
        thinking = "none" if ckpt.thinking == "none" else f"{ckpt.thinking}, on by default: {ckpt.thinks_by_default}"
        text = (f"{ckpt.id} ({ckpt.series}, released {ckpt.release or 'unknown'}, {ckpt.license or 'licence unknown'}; "
                f"catalog confidence: {ckpt.confidence}). Tasks: {', '.join(ckpt.tasks)}. Loads with "
                f"{ckpt.loads_with}. {count.total / 1e9:.2f}B parameters"
                + (f", {count.active / 1e9:.2f}B active per token" if ckpt.is_moe else "")
                + f"; {c['num_hidden_layers']} layers, hidden size {c['hidden_size']}, {c['num_attention_heads']} "
                f"attention heads and {c['num_key_value_heads']} key/value heads; context {ckpt.max_context:,} tokens. "
                f"Thinking: {thinking}. {ckpt.notes}").strip()
        chunks.append(Chunk(f"catalog-{len(chunks):03d}", "catalog.json", ckpt.id, text))
    return chunks


def course_chunks(folder: str | Path | None = None, exclude: tuple[str, ...] = (),
                  max_words: int = MAX_WORDS) -> list[Chunk]:
    """Every notebook in `folder` (found from the working directory when None) except `exclude`, then the catalog."""
    folder = Path(folder) if folder else find_notebooks()
    if folder is None:
        raise FileNotFoundError("no course notebooks found: run from the repository or its notebooks/ folder")
    chunks = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        if path.name not in exclude and path.stem not in exclude:
            chunks += notebook_chunks(path, max_words)
    return chunks + catalog_chunks()
