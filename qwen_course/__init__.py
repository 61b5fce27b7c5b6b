"""qwen_course: the helper package of the Qwen course (sizing, offline stand-ins, measuring, checks)."""

__version__ = "0.1.0"

__all__ = ["__version__", "home", "data_path"]

from ._paths import data_path, home  # noqa: E402  (light: no torch)
