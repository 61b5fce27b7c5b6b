"""The course cache on disk: fingerprints of what an artefact was built from, its marker, atomic publishing."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

FORMAT_VERSION = 2
MARKER = "qwen_course.json"


def fingerprint(*parts: object) -> str:
    """A short hash of what a cached artefact was built from, so a changed recipe triggers a rebuild."""
    blob = json.dumps([FORMAT_VERSION, *parts], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def read_marker(folder: Path) -> dict | None:
    """The marker of a finished build, or None when the folder is missing, partial or foreign."""
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def publish(target: Path, build: Callable[[Path], None], is_current: Callable[[Path], bool]) -> Path:
    """Build into a hidden sibling folder and rename it into place, so a crash never leaves half a build."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the published cache should read like any folder
    retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    try:
        build(staging)
        if target.exists():
            target.rename(retired)
        try:
            staging.rename(target)
        except OSError:  # someone else published at the same moment: keep theirs if valid, else the old one
            if retired.exists() and not target.exists():
                retired.rename(target)
            if not is_current(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return target
