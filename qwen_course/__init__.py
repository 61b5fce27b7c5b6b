"""qwen_course: the helper package of the Qwen course (sizing, offline stand-ins, measuring, checks)."""

__version__ = "0.1.0"

__all__ = ["__version__", "home", "data_path"]

from ._paths import data_path, home  # noqa: E402  (light: no torch)
from ._quiet import install as _install_quiet  # noqa: E402

_install_quiet()  # known harmless library noise stays out of notebooks and CI logs (see _quiet.py)
