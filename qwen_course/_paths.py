"""Where the course keeps its cache and where its shipped data lives."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"


def home() -> Path:
    """The course cache (tiny models, measurements): $QWEN_COURSE_HOME or ~/.cache/qwen-course."""
    root = os.environ.get("QWEN_COURSE_HOME") or Path.home() / ".cache" / "qwen-course"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_path(name: str) -> Path:
    """A file shipped in qwen_course/data."""
    return DATA_DIR / name


@lru_cache(maxsize=None)
def load_json(name: str):
    """A shipped JSON data file, parsed once per process."""
    return json.loads(data_path(name).read_text(encoding="utf-8"))
