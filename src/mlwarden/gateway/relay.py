"""The stdio gateway's frame relay: JSON-RPC lines forwarded between the agent (this process's
stdin/stdout) and the upstream server (a child process) as bytes.

The SDK's session costs milliseconds per message (pydantic models, memory streams, task
groups on both hops); the relay parses each line with orjson only far enough to find
``tools/call`` requests and their responses. Those go through ``Gateway.govern`` (the same
decision, approval wait, masking, log and audit as the SDK session) and are validated with the
SDK's types; every other message (``initialize``, listings, notifications, the upstream's own
requests) passes through: the agent and the upstream speak MCP to each other.

What the agent sends is checked before it counts: a line that is not one JSON object, or is
longer than ``max_line_bytes``, is answered with a JSON-RPC error and never forwarded, and
what is forwarded is the relay's own serialization of what it parsed, so the upstream cannot
read a line differently (escapes, duplicate keys) from how the relay judged it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp.types as types
import orjson
from mcp import StdioServerParameters
from mcp.client.stdio import get_default_environment
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from mlwarden.gateway.proxy import Gateway, log

MAX_LINE_BYTES = 8 * 1024 * 1024
PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32602, -32603
STOP_WAIT_S = 5.0  # after the agent leaves: the upstream's time to answer and exit


class _Upstream:
    """The upstream server's process, and the governed calls waiting for its answers."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.waiting: dict[Any, asyncio.Future[dict[str, Any]]] = {}

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def call(self, request_id: Any, data: bytes) -> dict[str, Any]:
        """Forward a governed request; its response's ``CallToolResult`` as JSON."""
        answer = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = answer
        try:
            self.send(data)
            response = await answer
        finally:
            self.waiting.pop(request_id, None)
        if "error" in response:
            error = types.ErrorData.model_validate(response["error"])
            raise MCPError(error.code, error.message, error.data)
        result: dict[str, Any] = response.get("result")  # type: ignore[assignment]
        types.CallToolResult.model_validate(result)  # the upstream's answer has the MCP shape
        return result

    def answered(self, line: bytes) -> bool:
        """Hand a response to the governed call waiting for it; False for any other line."""
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(message, dict) or "method" in message:
            return False
        request_id = message.get("id")
        if not isinstance(request_id, str | int):
            return False
        answer = self.waiting.get(request_id)
        if answer is None or answer.done():
            return False
        answer.set_result(message)
        return True

    def gone(self) -> None:
        for answer in self.waiting.values():
            if not answer.done():
                answer.set_exception(ConnectionError("the upstream server exited"))


async def _lines(reader: asyncio.StreamReader, oversize: Any = None) -> AsyncIterator[bytes]:
    """The reader's lines (ending included); a line over the reader's limit is discarded and
    ``oversize()`` called instead."""
    while True:
        try:
            yield await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            if end.partial.strip():
                yield end.partial
            return
        except asyncio.LimitOverrunError as over:
            consumed = over.consumed
            while True:  # skip to the end of the line
                await reader.readexactly(consumed)
                try:
                    await reader.readuntil(b"\n")
                    break
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError as again:
                    consumed = again.consumed
            if oversize is not None:
                oversize()


def _error(request_id: Any, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}) + b"\n"


class FrameRelay:
    """One agent's stdio session relayed to one upstream command under ``gateway``."""

    def __init__(self, gateway: Gateway, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.gateway = gateway
        self.max_line_bytes = max_line_bytes
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(
        self,
        upstream: StdioServerParameters,
        agent_in: asyncio.StreamReader,
        agent_out: asyncio.StreamWriter,
    ) -> None:
        proc = await asyncio.create_subprocess_exec(
            upstream.command,
            *upstream.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=get_default_environment() | (upstream.env or {}),
            cwd=upstream.cwd,
            limit=self.max_line_bytes,
        )
        up = _Upstream(proc)
        self.out = agent_out
        from_agent = asyncio.create_task(self._from_agent(agent_in, up))
        from_upstream = asyncio.create_task(self._from_upstream(up))
        try:
            await asyncio.wait({from_agent, from_upstream}, return_when=asyncio.FIRST_COMPLETED)
            if from_agent.done():  # the agent left: the upstream answers what it has, then exits
                from_agent.result()
                assert proc.stdin is not None
                proc.stdin.close()
                await asyncio.wait({from_upstream}, timeout=STOP_WAIT_S)
        finally:
            for task in (from_agent, from_upstream, *self.tasks):
                task.cancel()
            await asyncio.gather(from_agent, from_upstream, *self.tasks, return_exceptions=True)
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), STOP_WAIT_S)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            await anyio.to_thread.run_sync(self.gateway.service.flush)

    def _reply(self, data: bytes) -> None:
        self.out.write(data)

    async def _from_agent(self, reader: asyncio.StreamReader, up: _Upstream) -> None:
        limit = f"a message is limited to {self.max_line_bytes} bytes"
        too_long = _error(None, INVALID_REQUEST, limit)
        async for line in _lines(reader, lambda: self._reply(too_long)):
            if not line.strip():
                continue
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                self._reply(_error(None, PARSE_ERROR, f"Parse error: {exc}"))
                continue
            if not isinstance(message, dict):
                self._reply(_error(None, INVALID_REQUEST, "a message must be one JSON object"))
                continue
            if message.get("method") == "tools/call":
                self._start(self._call(message, up))
                continue
            try:
                up.send(orjson.dumps(message) + b"\n")
                await up.proc.stdin.drain()  # type: ignore[union-attr]
            except ConnectionError:  # the upstream exited: its reader ends the session
                return

    def _start(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _call(self, message: dict[str, Any], up: _Upstream) -> None:
        request_id = message.get("id")
        try:
            request = types.JSONRPCRequest.model_validate(message)
            params = types.CallToolRequestParams.model_validate(request.params or {})
        except ValidationError as exc:
            reason = exc.errors()[0]
            where = ".".join(str(p) for p in reason["loc"])
            why = f"invalid tools/call: {where}: {reason['msg']}"
            self._reply(_error(request_id, INVALID_PARAMS, why))
            return
        if request_id in up.waiting:
            self._reply(_error(request_id, INVALID_REQUEST, f"request id {request_id!r} is in use"))
            return
        data = orjson.dumps(message) + b"\n"
        try:
            result = await self.gateway.govern(
                self.gateway.identify(None), params, lambda: up.call(request_id, data)
            )
            answer = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
        except MCPError as exc:
            error = exc.error
            self._reply(_error(request_id, error.code, error.message, error.data))
            return
        except Exception as exc:  # a bug of ours: the agent still gets an answer
            log(f"mlwarden gateway: tools/call {request_id!r} failed: {exc!r}")
            self._reply(_error(request_id, INTERNAL_ERROR, "internal error in the gateway"))
            return
        self._reply(answer + b"\n")

    async def _from_upstream(self, up: _Upstream) -> None:
        assert up.proc.stdout is not None

        def too_long() -> None:
            log(f"mlwarden gateway: dropped an upstream message over {self.max_line_bytes} bytes")

        try:
            async for line in _lines(up.proc.stdout, too_long):
                if up.waiting and up.answered(line):
                    continue
                self.out.write(line if line.endswith(b"\n") else line + b"\n")
                await self.out.drain()
        finally:
            up.gone()


async def _stdio(limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """This process's stdin and stdout as asyncio streams (pipes: the agent launched us)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout.buffer
    )
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


async def serve_relay(
    gateway: Gateway, upstream: StdioServerParameters, *, max_line_bytes: int = MAX_LINE_BYTES
) -> None:
    """Relay this process's stdin/stdout to the upstream command until the agent leaves."""
    reader, writer = await _stdio(max_line_bytes)
    try:
        await FrameRelay(gateway, max_line_bytes=max_line_bytes).run(upstream, reader, writer)
    finally:
        writer.close()


__all__ = ["MAX_LINE_BYTES", "FrameRelay", "serve_relay"]
