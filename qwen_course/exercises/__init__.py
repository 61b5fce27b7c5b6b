"""Exercise checks for every lesson: `from qwen_course.exercises import check_...`.

Each lesson's checks live in `lessonNN.py`; every public `check_*` there is re-exported here.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._check import CheckResult, check, close_to, unanswered

__all__ = ["CheckResult", "check", "close_to", "unanswered"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("lesson"):
        _module = importlib.import_module(f"{__name__}.{_info.name}")
        for _name in dir(_module):
            if _name.startswith("check_"):
                globals()[_name] = getattr(_module, _name)
                __all__.append(_name)
