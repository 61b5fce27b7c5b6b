"""`qwen-course prefetch`: download what the picker chooses for a workshop's tasks and machines, verify it, bundle it.

The Hub is reached only through three injectable functions (`model_info`, `download`, `locate`), so the logic that
plans, skips verified files, re-fetches truncated ones and writes a bundle is tested without network.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ALLOW = ["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model", "*.tiktoken"]
CHUNK = 1 << 20


@dataclass
class FileSpec:
    """One file of a checkpoint as the Hub describes it: size, and sha256 (LFS) or git blob id (small files)."""

    repo: str
    name: str
    size: int | None
    sha256: str | None = None
    blob_id: str | None = None


def plan(tasks: list[str], machines: list[str] | None = None, hardware=None, context: int = 4096) -> dict:
    """{"models": {model_id: [{"task", "machine", "precision"}]}, "skipped": [...]} for every task x machine."""
    from .hardware import profile
    from .picker import NothingFitsError, pick

    targets = [(name, profile(name)) for name in machines] if machines else [("this machine", hardware)]
    models: dict[str, list[dict]] = {}
    skipped = []
    for machine, hw in targets:
        for task in dict.fromkeys(tasks):
            try:
                p = pick(task, hw, context)
            except NothingFitsError as exc:
                skipped.append({"task": task, "machine": machine, "reason": str(exc)})
                continue
            # the repository the weights really come from: Qwen's -FP8 release for an fp8 pick
            models.setdefault(p.download_id or p.model_id, []).append(
                {"task": task, "machine": machine, "precision": p.precision})
    return {"models": models, "skipped": skipped}


def manifest(repo: str, model_info=None) -> tuple[str | None, list[FileSpec]]:
    """(revision, files to fetch) from the Hub metadata, keeping weights, configs and tokenizer files only."""
    try:
        info = (model_info or _hub_model_info)(repo, files_metadata=True)
    except Exception as exc:  # the Hub's HTTP/connection errors differ across huggingface_hub versions
        raise RuntimeError(f"could not read the Hub metadata of {repo}: {exc}") from exc
    files = []
    for s in info.siblings or []:
        if not any(fnmatch.fnmatch(s.rfilename, pattern) for pattern in ALLOW):
            continue
        lfs = getattr(s, "lfs", None)
        sha = (lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)) if lfs else None
        files.append(FileSpec(repo, s.rfilename, getattr(s, "size", None), sha, getattr(s, "blob_id", None)))
    return getattr(info, "sha", None), files


def _digest(path: Path, algo: str, prefix: bytes = b"") -> str:
    h = hashlib.new(algo)
    h.update(prefix)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | Path | None, spec: FileSpec) -> str | None:
    """None when the local file matches the Hub's size and hash; else why not (missing, truncated, hash mismatch)."""
    if not path or not Path(path).is_file():
        return "missing"
    size = Path(path).stat().st_size
    if spec.size is not None and size != spec.size:
        return f"size {size} != {spec.size}" + (" (truncated)" if size < spec.size else "")
    if spec.sha256:
        if _digest(Path(path), "sha256") != spec.sha256:
            return "sha256 mismatch"
    elif spec.blob_id and _digest(Path(path), "sha1", b"blob %d\0" % size) != spec.blob_id:
        return "git blob id mismatch"
    return None


def _hub_model_info(repo, files_metadata=True):
    from huggingface_hub import HfApi

    return HfApi().model_info(repo, files_metadata=files_metadata)


def _hub_download(repo, name, revision, cache_dir, force):
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo, name, revision=revision, cache_dir=cache_dir, force_download=force)


def _hub_locate(repo, name, revision, cache_dir):
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, name, cache_dir=cache_dir, revision=revision)
    return found if isinstance(found, str) else None


def _bar(total: int, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="prefetch", disable=True if quiet else None, file=sys.stderr)


def fetch(files: list[FileSpec], revisions: dict[str, str | None], cache_dir=None, download=None, locate=None,
          quiet: bool = False) -> list[dict]:
    """Bring each file into the cache: skip verified ones, re-fetch missing/truncated/corrupt ones, verify again."""
    download, locate = download or _hub_download, locate or _hub_locate
    results = []
    with _bar(sum(f.size or 0 for f in files), quiet) as bar:
        for spec in files:
            revision = revisions.get(spec.repo)
            path = locate(spec.repo, spec.name, revision, cache_dir)
            problem = verify(path, spec)
            status = "verified (cached)"
            if problem:
                # A complete-looking but wrong file in the cache is not re-fetched unless forced; a partial
                # download (.incomplete) is resumed by huggingface_hub on its own.
                try:
                    path = download(spec.repo, spec.name, revision, cache_dir, problem != "missing")
                except Exception as exc:  # network drop: rerun prefetch, it resumes and skips verified files
                    raise RuntimeError(f"download of {spec.repo}/{spec.name} failed ({exc}); "
                                       "run prefetch again: it resumes") from exc
                again = verify(path, spec)
                if again:
                    raise RuntimeError(f"{spec.repo}/{spec.name} failed verification after download: {again}")
                status = "downloaded" if problem == "missing" else f"re-fetched ({problem})"
            bar.update(spec.size or 0)
            results.append({"repo": spec.repo, "file": spec.name, "size": spec.size, "sha256": spec.sha256,
                            "path": str(path), "status": status})
    return results


def prefetch(tasks: list[str], hardware=None, context: int = 4096, machines: list[str] | None = None,
             cache_dir=None, bundle=None, model_info=None, download=None, locate=None, online=None,
             pip=None, quiet: bool = False) -> dict:
    """Plan, fetch and verify every pick for `tasks` x `machines`; with `bundle`, also write the offline bundle."""
    from .hardware import online_status

    is_online, why = online if online is not None else online_status()
    if not is_online:
        raise RuntimeError(f"prefetch needs the Hugging Face Hub, which is not reachable ({why}); "
                           "offline, the course uses its tiny stand-ins: qwen-course offline build")
    if bundle is not None and cache_dir is None:
        cache_dir = Path(bundle) / "hf-cache"
    wanted = plan(tasks or ["chat"], machines, hardware, context)
    revisions, files = {}, []
    for repo in wanted["models"]:
        revisions[repo], repo_files = manifest(repo, model_info)
        files += repo_files
    results = fetch(files, revisions, cache_dir, download, locate, quiet)
    data = {"cache_dir": str(cache_dir) if cache_dir else None, "models": wanted["models"], "skipped": wanted["skipped"],
            "revisions": revisions, "files": results, "total_bytes": sum(f.size or 0 for f in files)}
    if bundle is not None:
        data["bundle"] = write_bundle(Path(bundle), Path(cache_dir), data, pip=pip)
    return data


def summary(data: dict) -> str:
    """The plain-text result: one line per model, then counts."""
    from ._display import gb

    lines = [f"{m}: " + ", ".join(f"{u['task']}@{u['machine']} ({u['precision']})" for u in uses)
             for m, uses in data["models"].items()]
    lines += [f"skipped {s['task']}@{s['machine']}: {s['reason']}" for s in data["skipped"]]
    counts: dict[str, int] = {}
    for f in data["files"]:
        counts[f["status"].split(" (")[0]] = counts.get(f["status"].split(" (")[0], 0) + 1
    lines.append(f"{len(data['files'])} files, {gb(data['total_bytes'])}, all verified: "
                 + ", ".join(f"{n} {k}" for k, n in counts.items()))
    lines.append(f"cache: {data['cache_dir'] or 'the default Hugging Face cache'}")
    if data.get("bundle"):
        lines.append(f"bundle: {data['bundle']['path']} (attendees run: bash install.sh)")
    return "\n".join(lines)


# --- the offline bundle -------------------------------------------------------------------------------------------

INSTALL_SH = """#!/usr/bin/env bash
# Install the Qwen course from this bundle with no network: wheels, Hub cache, tiny stand-ins.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 -m pip install --no-index --find-links "$here/wheels" qwen-course jupyterlab
mkdir -p "${QWEN_COURSE_HOME:-$HOME/.cache/qwen-course}"
[ -d "$here/stand-ins" ] && cp -rn "$here/stand-ins/." "${QWEN_COURSE_HOME:-$HOME/.cache/qwen-course}/models/" || true
echo "Now, in every shell you use for the course:"
echo "  export HF_HUB_CACHE=\\"$here/hf-cache\\""
echo "then check: qwen-course doctor"
"""

README = """# Qwen course: offline workshop bundle

Made by `qwen-course prefetch --bundle`. Nothing here needs the network.

- `wheels/`: the course and its Python dependencies (built for the instructor's platform and Python).
- `hf-cache/`: the Hugging Face cache with the real checkpoints below, verified against the Hub's sizes and hashes.
- `stand-ins/`: the tiny offline models (`qwen-course offline build`), when the instructor had built them.
- `manifest.json`: every file with its size and sha256.

Install: `bash install.sh`, then `export HF_HUB_CACHE="$PWD/hf-cache"` and run `qwen-course doctor`.

Models:
{models}
"""


def _course_root() -> Path | None:
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else None


def _pip_wheels(target: Path) -> list[str]:
    """The command that puts the course and every runtime dependency as wheels into `target`."""
    root = _course_root()
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(target)]
    if root and (root / "constraints.txt").exists():
        cmd += ["-c", str(root / "constraints.txt")]
    return cmd + [str(root) if root else "qwen-course", "jupyterlab"]


def write_bundle(target: Path, cache_dir: Path, data: dict, pip=None) -> dict:
    """Write cache + wheels + stand-ins + manifest + README + install.sh into `target`; returns what was written."""
    from . import offline

    target.mkdir(parents=True, exist_ok=True)
    hf = target / "hf-cache"
    if cache_dir.resolve() != hf.resolve():
        for repo in data["models"]:
            folder = cache_dir / ("models--" + repo.replace("/", "--"))
            if folder.is_dir():
                shutil.copytree(folder, hf / folder.name, symlinks=True, dirs_exist_ok=True)
    built = {k: offline.path_for(k) for k in offline.KINDS if offline.is_built(k)}
    for name, path in built.items():
        shutil.copytree(path, target / "stand-ins" / path.name, dirs_exist_ok=True)
    wheels = target / "wheels"
    wheels.mkdir(exist_ok=True)
    cmd = _pip_wheels(wheels)
    try:
        (pip or (lambda c: subprocess.run(c, check=True)))(cmd)
    except (subprocess.CalledProcessError, OSError) as exc:
        raise RuntimeError(f"pip could not collect the wheels for the bundle ({exc})") from exc
    files = [{k: f[k] for k in ("repo", "file", "size", "sha256")} for f in data["files"]]
    (target / "manifest.json").write_text(json.dumps({"models": data["models"], "revisions": data["revisions"],
                                                      "files": files}, indent=1))
    models = "\n".join(f"- `{m}`: " + ", ".join(f"{u['task']} on {u['machine']}" for u in uses)
                       for m, uses in data["models"].items())
    (target / "README.md").write_text(README.format(models=models or "- (none)"))
    (target / "install.sh").write_text(INSTALL_SH)
    (target / "install.sh").chmod(0o755)
    return {"path": str(target), "wheels": sorted(p.name for p in wheels.glob("*.whl")), "stand_ins": sorted(built),
            "pip": cmd}
