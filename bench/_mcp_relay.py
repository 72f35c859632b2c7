"""A do-nothing MCP relay for bench/gateway.py: the SDK's low-level server in front of the
SDK's client, forwarding ``tools/list`` and ``tools/call`` with no policy, masking or log.
Its added latency is the floor of any gateway built on the SDK (the second hop).

    python bench/_mcp_relay.py UPSTREAM [PORT]    # stdio, or streamable HTTP on PORT
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
from mcp import Client
from mcp.server.lowlevel import Server

from mlwarden.gateway.proxy import upstream_target


def main() -> None:
    upstream = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else None
    held: dict[str, Client] = {}

    async def list_tools(ctx: Any, params: Any) -> Any:
        return await held["client"].list_tools()

    async def call_tool(ctx: Any, params: Any) -> Any:
        return await held["client"].call_tool(params.name, params.arguments or {})

    server: Server[Any] = Server("relay", on_list_tools=list_tools, on_call_tool=call_tool)

    @asynccontextmanager
    async def connected() -> AsyncIterator[None]:
        async with Client(upstream_target(upstream), mode="legacy") as client:
            held["client"] = client
            yield

    if port is None:
        from mcp.server.stdio import stdio_server

        async def serve() -> None:
            async with connected(), stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(serve)
        return
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    inner = server.streamable_http_app(streamable_http_path="/mcp")

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(connected())
            await stack.enter_async_context(inner.router.lifespan_context(inner))
            yield

    app = Starlette(routes=[Mount("/", app=inner)], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
