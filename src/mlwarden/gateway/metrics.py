"""Per-agent Prometheus metrics of the MCP gateway: calls by decision, approvals, errors and
latency. In-process counters (one registry per gateway process), exposed on the gateway's
``/metrics`` route; the names follow ``mlwarden.alerts.metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

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
