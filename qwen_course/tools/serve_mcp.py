"""Run the lesson's tools as a stdio MCP server: python -m qwen_course.tools.serve_mcp --root DOCS.

McpTools (mcp_server.py) starts this for you; the package facade never imports it, so `python -m` finds it fresh.
"""

from __future__ import annotations

import argparse

from .mcp_server import build_server


def main(argv: list[str] | None = None) -> None:
    """Parse --root and serve over stdin/stdout until the client closes the pipe."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the only folder read_file may read")
    build_server(parser.parse_args(argv).root).run("stdio")


if __name__ == "__main__":
    main()
