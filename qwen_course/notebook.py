"""What every notebook shares: the setup cell and the one-line mode banner."""

from __future__ import annotations

from urllib.parse import quote

from ._paths import load_json

_SETUP = '''# Setup: works in a clone, on Binder, Colab and Kaggle (it never reinstalls their torch).
import importlib.util, pathlib, subprocess, sys
if importlib.util.find_spec("qwen_course") is None:
    repo = pathlib.Path.cwd().parent
    if (repo / "qwen_course").is_dir():  # a clone that was not pip-installed
        sys.path.insert(0, str(repo))
    else:  # Colab / Kaggle: install the course next to the preinstalled torch
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "qwen-course[{extras}] @ git+{repository}@{branch}"], check=True)
import qwen_course.notebook
qwen_course.notebook.banner()'''


def repository() -> dict:
    """The configured repository (URL and branch) that badges and the setup cell point to."""
    return load_json("course.json")


def setup_cell(notebook: str | None = None) -> str:
    """The setup cell of one notebook: Colab/Kaggle install the course with the extras its lesson imports."""
    repo = repository()
    extras = repo["extras"].get(notebook or "", repo["extras"]["default"])
    return _SETUP.format(repository=repo["repository"], branch=repo["branch"], extras=",".join(extras))


SETUP_CELL = setup_cell()  # the notebooks without extra packages (lessons 09 and 11 add theirs)


def badges(notebook: str) -> str:
    """Markdown for the "Open in Colab" and "Launch Binder" badges of one notebook, from data/course.json."""
    repo = repository()
    slug, branch = repo["repository"].removeprefix("https://github.com/"), repo["branch"]
    colab = f"https://colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{notebook}"
    binder = f"https://mybinder.org/v2/gh/{slug}/{branch}?labpath={quote('notebooks/' + notebook, safe='')}"
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Launch Binder](https://mybinder.org/badge_logo.svg)]({binder})")


QUIET_LOGGERS = ("torchao", "torch.utils._pytree",  # harmless CUDA-library and deprecation notices on CPU machines
                 "bitsandbytes.autograd._functions")  # "inputs will be cast to float16", once per matmul on CPU


def banner() -> None:
    """Print one line: course version, offline or online and why, and where the cache is; quiet known library noise."""
    import logging

    from . import __version__, home
    from .hardware import online_status

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)

    online, why = online_status()
    mode = "online" if online else "offline"
    print(f"qwen_course {__version__} | mode: {mode} ({why}) | cache: {home()}")
