"""A real MCP server with file tools confined to one folder, and an outbound ``http_post``
(which only records what it would send). Run: ``python mcp_file_server.py ROOT``."""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer

ROOT = Path(sys.argv[1]).resolve()
app = MCPServer("file-tools")


def _inside(path: str) -> Path:
    target = (ROOT / path).resolve()
    if not target.is_relative_to(ROOT):
        raise ValueError(f"{path} is outside the tool's folder")
    return target


@app.tool()
def read_file(path: str) -> str:
    """A text file's content."""
    return _inside(path).read_text()


@app.tool()
def write_file(path: str, text: str) -> str:
    """Write a text file; the bytes written."""
    return str(_inside(path).write_text(text))


@app.tool()
def http_post(url: str, body: str) -> str:
    """Send ``body`` to ``url`` (recorded in outbox.txt: tests must not reach the network)."""
    with (ROOT / "outbox.txt").open("a") as fh:
        fh.write(f"{url}\t{body}\n")
    return "sent"


if __name__ == "__main__":
    app.run()
