"""The known-noise filters drop exactly their messages and nothing else."""

import logging
import subprocess
import sys


def test_torchao_kernel_load_failures_are_dropped_other_warnings_kept(caplog):
    import qwen_course  # noqa: F401  (installs the filters)

    logger = logging.getLogger("torchao")
    with caplog.at_level(logging.WARNING, logger="torchao"):
        logger.warning("Failed to load /x/torchao/_C_mxfp8.so: Could not load this library")
        logger.warning("something else went wrong")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["something else went wrong"]


def test_importing_torchao_after_the_course_prints_nothing():
    proc = subprocess.run([sys.executable, "-c", "import qwen_course, torchao"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "Failed to load" not in proc.stderr and "Enum subclass" not in proc.stderr, proc.stderr
