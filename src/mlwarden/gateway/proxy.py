"""The MCP gateway: an MCP server (the SDK's low-level ``Server``) in front of one upstream
MCP server, over stdio or streamable HTTP.

``tools/list`` and everything but ``tools/call`` is forwarded as is. Each ``tools/call`` is
decided by the agent policies (``GatewayService.decide``): denied calls get an MCP error and
never reach the upstream; calls needing approval wait (``--approval-timeout``) for people to
decide in the CLI or the dashboard; redacted calls reach the upstream but the agent gets the
result masked. Every call is logged with its audit event.

Who the agent is, is the gateway's to say: over HTTP the bearer token's user (checked before
the request body is read), over stdio the operator's ``--agent``.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import mcp.types as types
from mcp import Client, StdioServerParameters
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from mlwarden.entities.agents import APPROVE, APPROVED, DENIED, DENY, DONE, FAILED, REDACT
from mlwarden.gateway.service import AgentIdentity, Call, GatewayService

#: JSON-RPC error codes the gateway answers with (the server-defined range).
POLICY_DENIED = -32001
APPROVAL_DENIED = -32002
UPSTREAM_FAILED = -32003
#: ``_meta`` key naming the data subject a call is about (its payloads are sealed for it).
SUBJECT_META = "mlwarden/subject"
AGENT_STATE = "mlwarden_agent"


def upstream_target(upstream: str) -> str | StdioServerParameters:
    """A URL (streamable HTTP) or a command line (stdio, run without a shell)."""
    if upstream.startswith(("http://", "https://")):
        return upstream
    argv = shlex.split(upstream)
    if not argv:
        raise ValueError("--upstream is empty: give a command or an http(s):// URL")
    return StdioServerParameters(command=argv[0], args=argv[1:])


class Gateway:
    """The proxy's request handlers over one connected upstream ``Client``."""

    def __init__(
        self,
        service: GatewayService,
        *,
        identify: Callable[[Any], AgentIdentity],
        approval_timeout_s: float = 300.0,
        subject_arg: str | None = None,
    ) -> None:
        self.service = service
        self.identify = identify
        self.approval_timeout_s = approval_timeout_s
        self.subject_arg = subject_arg
        self.upstream: Client | None = None

    @asynccontextmanager
    async def connected(self, upstream: str) -> AsyncIterator[Gateway]:
        async with Client(upstream_target(upstream), mode="legacy") as client:
            self.upstream = client
            try:
                yield self
            finally:
                self.upstream = None
                await anyio.to_thread.run_sync(self.service.flush)

    def _client(self) -> Client:
        if self.upstream is None:
            raise MCPError(UPSTREAM_FAILED, "the gateway is not connected to its upstream")
        return self.upstream

    def server(self, name: str = "mlwarden-gateway") -> Server[Any]:
        async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
            return await self._client().list_tools()

        async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
            return await self._client().list_resources()

        async def read_resource(ctx: Any, params: Any) -> types.ReadResourceResult:
            return await self._client().read_resource(params.uri)  # type: ignore[return-value]

        async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
            return await self._client().list_prompts()

        async def get_prompt(ctx: Any, params: Any) -> types.GetPromptResult:
            return await self._client().get_prompt(params.name, params.arguments)  # type: ignore[return-value]

        return Server(
            name,
            instructions="Tool calls pass through Warden: policies, masking, approvals, audit.",
            on_list_tools=list_tools,
            on_call_tool=self.call_tool,
            on_list_resources=list_resources,
            on_read_resource=read_resource,
            on_list_prompts=list_prompts,
            on_get_prompt=get_prompt,
        )

    def _subject(self, params: types.CallToolRequestParams) -> str | None:
        meta: dict[str, Any] = dict(params.meta or {})
        subject = meta.get(SUBJECT_META)
        if subject is None and self.subject_arg and params.arguments:
            subject = params.arguments.get(self.subject_arg)
        return None if subject is None else str(subject)

    async def call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> Any:
        """The SDK session's tools/call handler: ``govern`` over the upstream ``Client``."""

        async def forward() -> dict[str, Any]:
            result = await self._client().call_tool(params.name, params.arguments or {})
            return result.model_dump(mode="json", by_alias=True, exclude_none=True)

        payload = await self.govern(self.identify(ctx), params, forward)
        return types.CallToolResult.model_validate(payload)

    async def govern(
        self,
        agent: AgentIdentity,
        params: types.CallToolRequestParams,
        forward: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """One tools/call under governance, whatever the transport: decide; deny, or hold for
        approval; ``forward`` it to the upstream (it returns the ``CallToolResult`` as JSON or
        raises ``MCPError``); mask the result when redacted; record it. Returns the result the
        agent gets (JSON); a refusal raises ``MCPError``."""
        started = time.perf_counter()
        service = self.service
        call = Call(agent, params.name, dict(params.arguments or {}), self._subject(params))
        outcome = service.decide(call)
        if outcome.decision == DENY:
            service.record(call, outcome, status=DENIED, error=outcome.message)
            raise MCPError(
                POLICY_DENIED,
                f"Warden denied tool call {params.name!r}: {outcome.message}",
                {"call": call.id, "rules": list(outcome.rules)},
            )
        if outcome.decision == APPROVE:
            await anyio.to_thread.run_sync(service.hold, call, outcome)
            status = await anyio.to_thread.run_sync(service.wait, call.id, self.approval_timeout_s)
            if status != APPROVED:
                service.metrics.approvals.labels(call.agent.name, status).inc()
                service.record(call, outcome, status=status, error=f"approval {status}")
                raise MCPError(
                    APPROVAL_DENIED,
                    f"tool call {params.name!r} needed approval and was {status} (call {call.id})",
                    {"call": call.id, "status": status},
                )
            started = time.perf_counter()  # the wait for people is not the tool's latency
        try:
            payload = await forward()
        except MCPError as exc:
            service.record(call, outcome, status=FAILED, error=exc.message, latency_ms=_ms(started))
            raise
        except Exception as exc:  # the upstream went away: the agent gets an MCP error
            service.record(call, outcome, status=FAILED, error=str(exc), latency_ms=_ms(started))
            raise MCPError(UPSTREAM_FAILED, f"upstream tool call failed: {exc}") from None
        status = FAILED if payload.get("isError") else DONE
        service.record(call, outcome, status=status, result=payload, latency_ms=_ms(started))
        if outcome.decision == REDACT:
            return service.mask(call.agent.name, payload)  # type: ignore[no-any-return]
        return payload


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def serve_stdio(
    gateway: Gateway, upstream: str, *, relay: bool = True, max_line_bytes: int | None = None
) -> None:
    """Serve the gateway on this process's stdin/stdout until the agent disconnects: through
    the frame relay (``relay.py``) for a command upstream on pipes, else the SDK's session."""
    target = upstream_target(upstream)
    if relay and isinstance(target, StdioServerParameters) and _pipes():
        from mlwarden.gateway.relay import MAX_LINE_BYTES, serve_relay

        await serve_relay(gateway, target, max_line_bytes=max_line_bytes or MAX_LINE_BYTES)
        return
    from mcp.server.stdio import stdio_server

    async with gateway.connected(upstream):
        server = gateway.server()
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def _pipes() -> bool:
    """stdin and stdout are pipes, sockets or terminals (not files): what asyncio can watch."""
    try:
        return not any(stat.S_ISREG(os.fstat(fd).st_mode) for fd in (0, 1))
    except OSError:
        return False


def http_app(
    gateway: Gateway,
    upstream: str,
    *,
    authenticate: Callable[[str], AgentIdentity],
    cached: Callable[[str], AgentIdentity | None] = lambda token: None,
    max_body_bytes: int = 1024 * 1024,
) -> Any:
    """An ASGI app: ``/mcp`` (streamable HTTP, bearer token required) and ``/metrics``.
    ``cached``: the identity of a token accepted lately, without a database look-up (asked on
    the event loop first; ``authenticate`` runs in a thread when it says ``None``)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route

    server = gateway.server()
    inner = server.streamable_http_app(
        streamable_http_path="/mcp", max_request_body_size=max_body_bytes
    )

    async def metrics(request: Any) -> Response:
        from mlwarden.gateway.metrics import CONTENT_TYPE

        return Response(gateway.service.metrics.render(), media_type=CONTENT_TYPE)

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        # authorization before anything reads the body
        if scope["type"] == "http":
            header = dict(scope.get("headers") or ()).get(b"authorization", b"").decode()
            scheme, _, token = header.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token:
                    raise PermissionError("a bearer token is required")
                agent = cached(token.strip()) or await anyio.to_thread.run_sync(
                    authenticate, token.strip()
                )
            except Exception as exc:  # AuthenticationError and friends: one 401, no detail
                await JSONResponse(
                    {"error": "unauthenticated", "message": str(exc)}, status_code=401
                )(scope, receive, send)
                return
            scope.setdefault("state", {})[AGENT_STATE] = agent
        await inner(scope, receive, send)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(gateway.connected(upstream))
            await stack.enter_async_context(inner.router.lifespan_context(inner))
            yield

    return Starlette(
        routes=[Route("/metrics", metrics), Mount("/", app=guarded)], lifespan=lifespan
    )


def http_identity(ctx: Any) -> AgentIdentity:
    """The identity ``http_app``'s guard put on the request."""
    request = getattr(ctx, "request", None)
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    agent = state.get(AGENT_STATE)
    if agent is None:  # unreachable behind the guard; refuse rather than guess
        raise MCPError(POLICY_DENIED, "no authenticated agent on this request")
    return agent  # type: ignore[no-any-return]


def log(message: str) -> None:
    """The gateway's own messages go to stderr: stdout is the MCP wire on stdio."""
    print(message, file=sys.stderr, flush=True)
