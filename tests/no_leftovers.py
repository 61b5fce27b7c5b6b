"""A pytest plugin for CI (`-p no_leftovers`, tests/ on PYTHONPATH): the suite fails if it leaves a server behind.

At the end of the session no `ManagedServer` of the test process may still run, and no process the tests started
(servers, engines, notebook kernels and their children) may still be alive; whatever is found is named and killed,
and the session's exit status becomes non-zero.
"""

from __future__ import annotations

import os
import time

HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")  # Python's own, end with the interpreter


def _alive_children():
    import psutil

    me = psutil.Process()
    found = []
    for child in me.children(recursive=True):
        try:
            helper = any(h in " ".join(child.cmdline()) for h in HELPERS)
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE and not helper:
                found.append(child)
        except psutil.Error:
            pass
    return found


def pytest_sessionfinish(session, exitstatus):
    import psutil

    from qwen_course.serving import live_servers

    servers = live_servers()
    grace = float(os.environ.get("NO_LEFTOVERS_GRACE_S", "10"))  # kernels stopped at the very end get a moment
    deadline = time.monotonic() + grace
    children = _alive_children()
    while children and time.monotonic() < deadline:
        time.sleep(0.2)
        children = _alive_children()
    if not servers and not children:
        return
    lines = [f"server still running: {s.name} on port {s.port}" for s in servers]
    for child in children:
        try:
            lines.append(f"process left behind: pid {child.pid} {' '.join(child.cmdline()[:4])}")
            child.kill()
        except psutil.Error:
            pass
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("no_leftovers: " + "; ".join(lines), red=True)
    session.exitstatus = 1
