"""prefetch with the Hub mocked: planning per task x machine, verification, resume/re-fetch, bundle, CLI contract."""

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from qwen_course.hardware import describe

from qwen_course import cli, prefetch as pf


class FakeHub:
    """A Hub in memory: every repo has a config, tokenizer, weights (LFS) and a README that prefetch must skip."""

    def __init__(self):
        self.calls = []
        self.corrupt_next = False

    def files(self, repo):
        weights = hashlib.sha256(repo.encode()).digest() * 64
        return {"config.json": b'{"model_type": "qwen3"}', "tokenizer.json": b'{"v": 1}',
                "model.safetensors": weights, "README.md": b"# card"}

    def model_info(self, repo, files_metadata=False):
        assert files_metadata, "sizes and hashes need files_metadata=True"
        siblings = []
        for name, data in self.files(repo).items():
            lfs = SimpleNamespace(sha256=hashlib.sha256(data).hexdigest()) if name.endswith(".safetensors") else None
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            siblings.append(SimpleNamespace(rfilename=name, size=len(data), lfs=lfs, blob_id=blob))
        return SimpleNamespace(sha="rev-" + repo.split("/")[-1], siblings=siblings)

    @staticmethod
    def path(cache_dir, repo, name):
        return Path(cache_dir) / ("models--" + repo.replace("/", "--")) / "snapshots" / "rev" / name

    def locate(self, repo, name, revision, cache_dir):
        p = self.path(cache_dir, repo, name)
        return str(p) if p.exists() else None

    def download(self, repo, name, revision, cache_dir, force):
        self.calls.append((repo, name, force))
        p = self.path(cache_dir, repo, name)
        p.parent.mkdir(parents=True, exist_ok=True)
        data = self.files(repo)[name]
        p.write_bytes(data[:-1] + b"?" if self.corrupt_next else data)
        return str(p)

    def kwargs(self, cache_dir):
        return dict(model_info=self.model_info, download=self.download, locate=self.locate, cache_dir=cache_dir,
                    online=(True, "mocked"), quiet=True)


@pytest.fixture(autouse=True)
def picker_online(monkeypatch):
    """The picker answers with real ids (online), so no stand-in is built."""
    monkeypatch.setattr("qwen_course.hardware.online_status", lambda: (True, "mocked"))


def test_plan_covers_every_task_and_machine_once():
    result = pf.plan(["chat", "vision", "chat"], ["cpu-2gb", "t4", "a100-80gb"])
    seen = [(u["task"], u["machine"]) for uses in result["models"].values() for u in uses]
    seen += [(s["task"], s["machine"]) for s in result["skipped"]]
    assert sorted(seen) == sorted((t, m) for t in ("chat", "vision") for m in ("cpu-2gb", "t4", "a100-80gb"))
    assert all(m.startswith("Qwen/") for m in result["models"])
    assert len(result["models"]) >= 2  # an A100 and a 2 GB Binder do not get the same chat model


def test_unknown_machine_lists_known_ones():
    with pytest.raises(KeyError, match="t4"):
        pf.plan(["chat"], ["t5"])


def test_first_run_downloads_and_verifies_then_second_run_skips(tmp_path):
    hub = FakeHub()
    data = pf.prefetch(["chat"], machines=["t4"], **hub.kwargs(tmp_path))
    names = {f["file"] for f in data["files"]}
    assert names == {"config.json", "tokenizer.json", "model.safetensors"}  # README.md is not fetched
    assert {f["status"] for f in data["files"]} == {"downloaded"}
    assert data["total_bytes"] == sum(f["size"] for f in data["files"])
    hub.calls.clear()
    again = pf.prefetch(["chat"], machines=["t4"], **hub.kwargs(tmp_path))
    assert hub.calls == [] and {f["status"] for f in again["files"]} == {"verified (cached)"}
    assert "all verified" in pf.summary(again)


def test_truncated_file_is_refetched_with_force(tmp_path):
    hub = FakeHub()
    data = pf.prefetch(["chat"], machines=["t4"], **hub.kwargs(tmp_path))
    weights = next(Path(f["path"]) for f in data["files"] if f["file"] == "model.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])  # an interrupted copy
    hub.calls.clear()
    again = pf.prefetch(["chat"], machines=["t4"], **hub.kwargs(tmp_path))
    assert [c[1:] for c in hub.calls] == [("model.safetensors", True)]
    status = {f["file"]: f["status"] for f in again["files"]}
    assert "truncated" in status["model.safetensors"] and status["config.json"] == "verified (cached)"


def test_same_size_corruption_is_caught_by_the_hash(tmp_path):
    hub = FakeHub()
    data = pf.prefetch(["chat"], machines=["t4"], **hub.kwargs(tmp_path))
    for f in data["files"]:
        p = Path(f["path"])
        p.write_bytes(p.read_bytes()[:-1] + b"#")
    hub.calls.clear()
    again = pf.prefetch(["chat"], machines=["t4"], **hub.kwargs(tmp_path))
    assert len(hub.calls) == 3
    reasons = {f["file"]: f["status"] for f in again["files"]}
    assert "sha256 mismatch" in reasons["model.safetensors"] and "git blob id mismatch" in reasons["config.json"]


def test_a_download_that_stays_wrong_is_an_error(tmp_path):
    hub = FakeHub()
    hub.corrupt_next = True
    with pytest.raises(RuntimeError, match="failed verification"):
        pf.prefetch(["chat"], machines=["t4"], **hub.kwargs(tmp_path))


def test_network_drop_says_rerun(tmp_path):
    hub = FakeHub()

    def drop(*args):
        raise ConnectionError("reset by peer")

    with pytest.raises(RuntimeError, match="run prefetch again"):
        pf.prefetch(["chat"], machines=["t4"], **{**hub.kwargs(tmp_path), "download": drop})


def test_offline_refuses_with_the_fix(tmp_path):
    with pytest.raises(RuntimeError, match="offline build"):
        pf.prefetch(["chat"], machines=["t4"], **{**FakeHub().kwargs(tmp_path), "online": (False, "no route")})


def test_verify_reasons(tmp_path):
    spec = pf.FileSpec("r", "f", 3, hashlib.sha256(b"abc").hexdigest())
    (tmp_path / "f").write_bytes(b"abc")
    assert pf.verify(tmp_path / "f", spec) is None
    assert pf.verify(None, spec) == "missing" and pf.verify(tmp_path / "nope", spec) == "missing"
    (tmp_path / "f").write_bytes(b"ab")
    assert "truncated" in pf.verify(tmp_path / "f", spec)


def test_bundle_holds_cache_wheels_manifest_and_install_script(tmp_path, monkeypatch):
    from qwen_course import offline

    monkeypatch.setattr(offline, "is_built", lambda kind: False)
    hub, pip_calls = FakeHub(), []

    def pip(cmd):
        pip_calls.append(cmd)
        Path(cmd[cmd.index("-w") + 1], "qwen_course-0.1.0-py3-none-any.whl").write_bytes(b"wheel")

    kwargs = {**hub.kwargs(None), "bundle": tmp_path / "bundle", "pip": pip}
    data = pf.prefetch(["chat", "vision"], machines=["t4"], **kwargs)
    bundle = tmp_path / "bundle"
    assert data["cache_dir"] == str(bundle / "hf-cache")
    assert all(Path(f["path"]).is_relative_to(bundle / "hf-cache") for f in data["files"])
    assert data["bundle"]["wheels"] == ["qwen_course-0.1.0-py3-none-any.whl"]
    assert "wheel" in pip_calls[0] and "jupyterlab" in pip_calls[0]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert set(manifest["models"]) == set(data["models"]) and all(f["size"] for f in manifest["files"])
    install = (bundle / "install.sh").read_text()
    assert "--no-index" in install and "HF_HUB_CACHE" in install
    assert all(m in (bundle / "README.md").read_text() for m in data["models"])


def test_bundle_copies_from_a_separate_cache(tmp_path, monkeypatch):
    from qwen_course import offline

    monkeypatch.setattr(offline, "is_built", lambda kind: False)
    hub = FakeHub()
    kwargs = {**hub.kwargs(tmp_path / "cache"), "bundle": tmp_path / "b", "pip": lambda cmd: None}
    data = pf.prefetch(["chat"], machines=["t4"], **kwargs)
    repo = next(iter(data["models"]))
    copied = tmp_path / "b" / "hf-cache" / ("models--" + repo.replace("/", "--"))
    assert sorted(p.name for p in copied.rglob("*") if p.is_file()) == ["config.json", "model.safetensors",
                                                                          "tokenizer.json"]


def test_cli_json_is_one_object(monkeypatch, capsys, tmp_path):
    import qwen_course.hardware as hardware

    hub = FakeHub()
    monkeypatch.setattr(hardware, "online_status", lambda: (True, "mocked"))
    monkeypatch.setattr(pf, "_hub_model_info", hub.model_info)
    monkeypatch.setattr(pf, "_hub_download", hub.download)
    monkeypatch.setattr(pf, "_hub_locate", hub.locate)
    code = cli.main(["prefetch", "--task", "chat", "--machine", "t4", "--machine", "laptop-8gb",
                     "--cache-dir", str(tmp_path), "--json"])
    out = capsys.readouterr().out
    assert code == 0 and len(out.strip().splitlines()) == 1
    data = json.loads(out)
    assert set(data) >= {"cache_dir", "models", "skipped", "files", "total_bytes"}


def test_cli_errors_are_one_line(monkeypatch, capsys):
    import qwen_course.hardware as hardware

    monkeypatch.setattr(hardware, "online_status", lambda: (False, "QWEN_COURSE_OFFLINE=1"))
    assert cli.main(["prefetch", "--machine", "t4", "--json"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "offline build" in err
    monkeypatch.setattr(hardware, "online_status", lambda: (True, "mocked"))
    assert cli.main(["prefetch", "--machine", "t5", "--json"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown machine profile 't5'" in err


def test_an_fp8_pick_prefetches_the_fp8_repository():
    result = pf.plan(["chat"], hardware=describe("cuda", 80, compute_capability="9.0"), context=131072)
    fp8 = [repo for repo, uses in result["models"].items() if any(u["precision"] == "fp8" for u in uses)]
    assert fp8 and all(repo.endswith("-FP8") for repo in fp8), result
