"""Per-agent Prometheus metrics of the MCP gateway: calls by decision, approvals, errors and
latency. In-process counters (one registry per gateway process), exposed on the HTTP
gateway's ``/metrics`` route, and by a stdio gateway on ``--metrics-port`` (``serve``); the
names follow ``mlwarden.alerts.metrics``. Alert rules over them:
``deploy/prometheus/agents.yml``."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)

from mlwarden.alerts.metrics import CONTENT_TYPE, LATENCY_BUCKETS

__all__ = ["CONTENT_TYPE", "GatewayMetrics"]


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "mlwarden_agent_tool_calls",
            "Tool calls seen by the MCP gateway, by the policy's decision",
            ["agent", "tool", "decision"],
            registry=self.registry,
        )
        self.approvals = Counter(
            "mlwarden_agent_approvals",
            "Calls held for approval, by how they ended (approved, denied, expired)",
            ["agent", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "mlwarden_agent_tool_errors",
            "Tool calls that failed upstream or returned an error result",
            ["agent", "tool"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlwarden_agent_tool_call_seconds",
            "Tool call latency through the gateway (approval waits excluded)",
            ["agent"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> Any:
        """Serve ``/metrics`` over HTTP on a daemon thread (a stdio gateway has no HTTP side
        of its own); the server, to ``shutdown()`` when done. Read-only counters: no token,
        so bind it to loopback or a scrape-only network."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
