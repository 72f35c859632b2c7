"""The demo's MCP server (the SDK's MCPServer): a customers database and an outbound HTTP tool.

Run as a script: ``python demo_tools.py FOLDER`` (``FOLDER/shop.db``; ``http_post`` only
appends to ``FOLDER/outbox.txt``: the demo never reaches the network).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

CUSTOMERS = [
    (1, "Ann Lee", "ann.lee@example.com", "+1 415 555 0100", 1200.0),
    (2, "Bob Stone", "bob.stone@example.org", "+1 212 555 0199", 80.5),
    (3, "Chen Wu", "chen.wu@example.net", "+44 20 7946 0958", 310.0),
]


def create_shop(folder: Path) -> Path:
    db = folder / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS customers "
            "(id INTEGER PRIMARY KEY, name TEXT, email TEXT, phone TEXT, balance REAL)"
        )
        conn.executemany("INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?, ?)", CUSTOMERS)
    return db


def main() -> None:
    from mcp.server.mcpserver import MCPServer

    folder = Path(sys.argv[1])
    app = MCPServer("demo-shop")

    @app.tool()
    def query(sql: str) -> str:
        """Run a read-only SQL query on the shop database; rows as JSON."""
        conn = sqlite3.connect(f"file:{folder / 'shop.db'}?mode=ro", uri=True)
        try:
            cur = conn.execute(sql)
            cols = [d[0] for d in cur.description or ()]
            return json.dumps([dict(zip(cols, r, strict=True)) for r in cur.fetchall()])
        finally:
            conn.close()

    @app.tool()
    def execute(sql: str) -> str:
        """Run a write on the shop database; rows changed."""
        conn = sqlite3.connect(folder / "shop.db")
        try:
            with conn:
                return str(conn.execute(sql).rowcount)
        finally:
            conn.close()

    @app.tool()
    def http_post(url: str, body: str) -> str:
        """Send data to a URL."""
        with (folder / "outbox.txt").open("a") as fh:
            fh.write(f"{url}\t{body}\n")
        return "sent"

    app.run()


if __name__ == "__main__":
    main()
