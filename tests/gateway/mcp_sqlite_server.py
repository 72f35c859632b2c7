"""A real MCP server (the SDK's MCPServer) with SQLite tools: ``query`` reads, ``execute``
writes. Run: ``python mcp_sqlite_server.py DB_PATH [--http PORT]``."""

from __future__ import annotations

import json
import sqlite3
import sys

from mcp.server.mcpserver import MCPServer

DB = sys.argv[1]
app = MCPServer("sqlite-tools")


@app.tool()
def query(sql: str) -> str:
    """Run a read-only SELECT; rows as JSON."""
    conn = sqlite3.connect(f"file:{DB}?mode=ro", uri=True)
    try:
        cur = conn.execute(sql)
        cols = [d[0] for d in cur.description or ()]
        return json.dumps([dict(zip(cols, row, strict=True)) for row in cur.fetchall()])
    finally:
        conn.close()


@app.tool()
def execute(sql: str) -> str:
    """Run a write (INSERT, UPDATE, DELETE); the number of rows changed."""
    conn = sqlite3.connect(DB)
    try:
        with conn:
            return str(conn.execute(sql).rowcount)
    finally:
        conn.close()


@app.tool()
def lookup(customer_id: int) -> str:
    """One customer's record, by id."""
    return query(f"SELECT * FROM customers WHERE id = {int(customer_id)}")


if __name__ == "__main__":
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        app.run(transport="streamable-http", host="127.0.0.1", port=port)
    else:
        app.run()
