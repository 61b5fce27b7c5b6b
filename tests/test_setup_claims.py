"""What the README, pyproject, constraints.txt, environment.yml and CI's shell scripts promise about setup agrees:
one Python floor everywhere and every pin installs on it; Binder installs the tested pins; a CPU-only machine is told
how to get the CPU torch; CI's Chromium install works as root (empty $sudo) and as a user."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
NEWEST_MINOR = 14  # newest Python the pins were resolved on (pip dry runs); raise it after checking a newer one
BASH = shutil.which("bash")


def floor() -> Version:
    """The lowest Python that pyproject's requires-python admits (it must be one `>=` bound)."""
    lower = [s for s in SpecifierSet(PROJECT["requires-python"]) if s.operator == ">="]
    assert len(lower) == 1, f"requires-python should state one floor: {PROJECT['requires-python']!r}"
    return Version(lower[0].version)


def claimed_pythons() -> list[str]:
    """Every patch release of the floor's minor (pins can need a patch level) and each newer minor's first release."""
    major, minor, first = (*floor().release, 0)[:3]
    return ([f"{major}.{minor}.{patch}" for patch in range(first, 20)]
            + [f"{major}.{m}.0" for m in range(minor + 1, NEWEST_MINOR + 1)])


def pins() -> list[Requirement]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    reqs = [Requirement(line.split(" #")[0].strip()) for line in lines if line.strip() and not line.startswith("#")]
    for req in reqs:
        exact = [s for s in req.specifier if s.operator == "=="]
        assert len(exact) == 1 and len(req.specifier) == 1, f"constraints.txt pins exact versions: {req}"
    return reqs


def pinned_version(req: Requirement) -> str:
    return next(iter(req.specifier)).version


def applies(req: Requirement, python: str) -> bool:
    env = {"python_version": ".".join(python.split(".")[:2]), "python_full_version": python}
    return req.marker is None or req.marker.evaluate(env)


def test_readme_and_classifiers_state_the_floor_of_requires_python():
    stated = re.findall(r"Python (\d+\.\d+(?:\.\d+)?)(?:\+| or newer| or later)", README)
    assert stated, "the README should say which Python the course needs ('Python 3.x or newer')"
    assert {Version(v) for v in stated} == {floor()}, f"README states Python {stated}, pyproject's floor is {floor()}"
    versions = [c.rsplit("::", 1)[1].strip() for c in PROJECT.get("classifiers", [])
                if re.fullmatch(r"Programming Language :: Python :: \d+\.\d+", c)]
    want = ".".join(map(str, floor().release[:2]))
    assert versions and min(versions, key=Version) == want, f"classifiers list Pythons {versions}, floor is {want}"


def test_pins_install_on_every_claimed_python():
    """Each claimed Python gets one pin per package, and each pin installed here at its pinned version declares
    (Requires-Python) that it installs on the Pythons its line applies to."""
    by_name: dict[str, list[Requirement]] = {}
    for req in pins():
        by_name.setdefault(canonicalize_name(req.name), []).append(req)
    for name, reqs in by_name.items():
        for python in claimed_pythons():
            hits = [str(r) for r in reqs if applies(r, python)]
            assert len(hits) == 1, f"constraints.txt: {name} on Python {python} has {len(hits)} pins: {hits}"
    installed = {canonicalize_name(d.metadata["Name"]): d for d in importlib.metadata.distributions()}
    checked, refused = 0, []
    for req in pins():
        dist = installed.get(canonicalize_name(req.name))
        if dist is None or Version(dist.version).public != Version(pinned_version(req)).public:
            continue  # not installed here, or another version (only the pinned one's metadata counts)
        checked += 1
        needs = SpecifierSet(dist.metadata.get("Requires-Python") or "")
        no = [python for python in claimed_pythons() if applies(req, python) and not needs.contains(python)]
        if no:
            refused.append(f"{req.name}=={pinned_version(req)} needs Python {needs}: not {no[0]} ({len(no)} refused)")
    if checked < len(pins()) // 2:
        pytest.skip(f"only {checked} of {len(pins())} pins are installed here at their pinned version")
    claim = PROJECT["requires-python"]
    assert not refused, f"requires-python {claim!r} claims more than the pins allow:\n" + "\n".join(refused)


def test_readme_tells_a_cpu_only_machine_how_to_get_the_cpu_torch_and_keeps_two_commands():
    torch_pin = next(pinned_version(r) for r in pins() if r.name == "torch")
    line = re.search(r"pip install torch==(\S+) --index-url (\S+?)`", README)
    assert line, "README should give the CPU-only torch line (PyTorch's CPU wheel index)"
    assert (line.group(1), line.group(2)) == (torch_pin, CPU_INDEX), \
        f"README's CPU torch line {line.group(0)!r} should install torch=={torch_pin} from {CPU_INDEX}"
    assert "Colab" in README[line.start() - 300:line.end() + 300], "say next to it that Colab keeps its own torch"
    section = README.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert section.count("```bash") == 2, "the 'Two commands' section should hold exactly two command blocks"


def test_ci_installs_the_pinned_torch_from_the_cpu_index():
    run = (ROOT / ".ci" / "run").read_text()
    torch_pin = next(pinned_version(r) for r in pins() if r.name == "torch")
    lines = [l for l in run.splitlines() if re.search(r"pip install .*torch", l) and not l.lstrip().startswith("#")]
    assert lines and all(CPU_INDEX in l for l in lines), \
        f".ci/run must take torch from {CPU_INDEX} (PyPI's Linux torch is the CUDA build): {lines}"
    for line in lines:
        version = re.search(r"torch==([^\s\"']+)", line).group(1)
        if version.startswith("$"):  # read from constraints.txt by an assignment above
            name = version.strip("${}")
            assigned = re.search(rf"^{name}=.*constraints\.txt", run, re.M)
            assert assigned, f".ci/run: ${name} is not read from constraints.txt"
        else:
            assert version == torch_pin, f".ci/run installs torch=={version}, constraints.txt pins {torch_pin}"


def test_environment_yml_installs_with_the_constraints():
    """conda and micromamba run the pip section from the yml's folder: its -c/-r paths are relative to that folder."""
    env_file = ROOT / "environment.yml"
    env = yaml.safe_load(env_file.read_text())
    deps = env["dependencies"]
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    args = [a.split() for a in pip_section if a.startswith("-")]
    constraints = [a[1] for a in args if a[0] in ("-c", "--constraint")]
    requirements = [a[1] for a in args if a[0] in ("-r", "--requirement")]
    assert constraints, "environment.yml's pip section should install with -c constraints.txt"
    for rel in constraints + requirements:
        assert (env_file.parent / rel).is_file(), f"environment.yml: {rel} is not a file next to environment.yml"
    assert any((env_file.parent / c).samefile(ROOT / "constraints.txt") for c in constraints)
    assert any(a == ["--extra-index-url", CPU_INDEX] for a in args), "Binder has no GPU: torch from the CPU index"
    python = next(re.fullmatch(r"python\s*=+\s*([\d.]+)", d).group(1) for d in deps
                  if isinstance(d, str) and re.fullmatch(r"python\s*=+\s*[\d.]+", d))
    assert SpecifierSet(PROJECT["requires-python"]).contains(python + ".0" if python.count(".") == 1 else python), \
        f"environment.yml's python={python} is outside requires-python {PROJECT['requires-python']!r}"


# --- CI's shell scripts --------------------------------------------------------------------------------------------

def shell_scripts() -> list[Path]:
    found = sorted({*ROOT.glob("tools/*.sh"), *ROOT.glob(".ci/*"), *ROOT.glob("benchmarks/*.sh")})
    return [p for p in found if p.is_file() and (p.suffix == ".sh" or p.read_text().startswith("#!/usr/bin/env bash"))]


# `$SUDO VAR=value cmd` with SUDO="" leaves VAR=value in command position: bash looks for a command of that name.
EMPTY_THEN_ASSIGNMENT = re.compile(r"(?:^|&&|\|\||[;|(!]|\bthen|\bdo|\belse)\s*\$\{?\w+\}?\s+[A-Za-z_]\w*=")


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_shell_scripts_parse_and_put_no_assignment_after_a_possibly_empty_command_word():
    scripts = shell_scripts()
    assert ROOT / "tools" / "ci_site.sh" in scripts and ROOT / ".ci" / "run" in scripts
    problems = []
    for script in scripts:
        proc = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
        problems += [f"{script.name}: bash -n: {proc.stderr.strip()}"] if proc.returncode else []
        problems += [f"{script.name}:{n}: {line.strip()}  (use `$sudo env VAR=value cmd`: an empty $sudo leaves "
                     "VAR=value as the command)" for n, line in enumerate(script.read_text().splitlines(), 1)
                     if not line.lstrip().startswith("#") and EMPTY_THEN_ASSIGNMENT.search(line)]
    assert not problems, "\n".join(problems)


def fake_machine(tmp_path: Path, uid: int, apt_installs_chromium: bool = True) -> tuple[Path, dict]:
    """A copy of tools/ci_site.sh and a PATH of fakes that record their calls: no chromium, `id -u` = uid."""
    repo, bin_ = tmp_path / "repo", tmp_path / "bin"
    (repo / "tools").mkdir(parents=True)
    bin_.mkdir()
    shutil.copy(ROOT / "tools" / "ci_site.sh", repo / "tools" / "ci_site.sh")
    log = tmp_path / "calls.log"
    chromium = (f'printf "#!{BASH}\\n" > "{bin_}/chromium"; {shutil.which("chmod")} +x "{bin_}/chromium"'
                if apt_installs_chromium else ":")
    fakes = {
        "id": f'echo {uid}',
        "sudo": f'echo "sudo $*" >> "{log}"\n'  # like sudo: leading VAR=value words set the command's environment
                'while [[ "${1:-}" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do export "$1"; shift; done\nexec "$@"',
        "apt-get": f'echo "apt-get $* DEBIAN_FRONTEND=${{DEBIAN_FRONTEND:-}}" >> "{log}"\n'
                   f'case " $* " in *" install "*) {chromium};; esac',
        "python": f'echo "python $*" >> "{log}"',
    }
    for name, body in fakes.items():
        (bin_ / name).write_text(f"#!{BASH}\n{body}\n")
        (bin_ / name).chmod(stat.S_IRWXU)
    for tool in ("env", "dirname"):  # the real ones: the script needs them, nothing else from the machine
        (bin_ / tool).symlink_to(shutil.which(tool))
    return repo, {"PATH": str(bin_), "HOME": str(tmp_path), "LC_ALL": "C"}


def run_ci_site(tmp_path, uid, *args, **kw):
    repo, env = fake_machine(tmp_path, uid, **kw)
    proc = subprocess.run([BASH, str(repo / "tools" / "ci_site.sh"), *args], env=env, capture_output=True, text=True)
    log = tmp_path / "calls.log"
    return proc, log.read_text().splitlines() if log.exists() else []


@pytest.mark.skipif(BASH is None, reason="no bash")
@pytest.mark.parametrize("uid", [0, 1000], ids=["root", "user"])
def test_ci_site_installs_chromium_on_a_fresh_machine(tmp_path, uid):
    proc, calls = run_ci_site(tmp_path, uid)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    apt = [c for c in calls if c.startswith("apt-get")]
    assert len(apt) == 2 and apt[0].startswith("apt-get update") and " install " in f" {apt[1]} ", calls
    assert apt[1].endswith("DEBIAN_FRONTEND=noninteractive"), calls  # no debconf prompt on a CI machine
    assert "chromium" in apt[1].split()
    assert any(c.startswith("sudo") for c in calls) == (uid != 0), calls
    assert calls[-1] == "python tools/build_site.py --check", calls


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_ci_site_install_only_and_a_failed_install(tmp_path):
    proc, calls = run_ci_site(tmp_path / "a", 0, "--install-only")
    assert proc.returncode == 0 and not any(c.startswith("python") for c in calls), (proc.stderr, calls)
    proc, calls = run_ci_site(tmp_path / "b", 0, apt_installs_chromium=False)
    assert proc.returncode != 0 and "chromium" in proc.stderr, (proc.returncode, proc.stderr)
    assert not any(c.startswith("python") for c in calls), calls
