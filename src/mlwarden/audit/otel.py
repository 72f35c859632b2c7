"""Governance events to OpenTelemetry: committed audit events whose action is in
``otel.actions`` (decisions, promotions, rollbacks, alerts by default) become spans sent over
OTLP/HTTP to ``otel.endpoint`` (docs/integrations.md, "OpenTelemetry").

The exporter follows the audit log by sequence number, so it sees only what committed (an
event rolled back with its change never reached the log) and works the same whichever process
made the change. A span carries the event's seq, actor, subject and payload digest; an event
whose payload names a ``traceparent`` becomes a child of that trace. Needs ``mlwarden[otel]``.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from mlwarden.audit.log import AuditLog
from mlwarden.errors import MissingDependency
from mlwarden.settings import OtelSettings
from mlwarden.tracing import parse_traceparent


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1_000_000_000)


class GovernanceExporter:
    """Exports the audit events appended after it was made (or after ``from_seq``)."""

    def __init__(self, audit: AuditLog, settings: OtelSettings, *, from_seq: int | None = None):
        if not settings.endpoint:
            raise ValueError("otel.endpoint is not set")
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise MissingDependency(
                "exporting to OpenTelemetry needs: pip install 'mlwarden[otel]'", extra="otel"
            ) from exc
        self.audit = audit
        self.actions = frozenset(settings.actions)
        self.cursor = audit.size if from_seq is None else from_seq - 1
        endpoint = settings.endpoint.rstrip("/") + "/v1/traces"
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name})
        )
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self.tracer = self.provider.get_tracer("mlwarden.governance")
        self._lock = threading.Lock()

    def export_new(self) -> int:
        """Send the events committed since the last call; returns how many were sent."""
        with self._lock:
            size = self.audit.size
            if size <= self.cursor:
                return 0
            sent = 0
            for event in self.audit.backend.read(self.cursor + 1, size):
                if event.action in self.actions:
                    self._span(event)
                    sent += 1
            self.cursor = size
        if sent:
            self.provider.force_flush()
        return sent

    def _span(self, event: Any) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        payload = event.payload or {}
        parent = parse_traceparent(payload.get("traceparent"))
        context = (
            TraceContextTextMapPropagator().extract({"traceparent": parent}) if parent else None
        )
        attributes: dict[str, Any] = {
            "warden.action": event.action,
            "warden.seq": event.seq,
            "warden.actor": event.actor,
            "warden.subject": event.subject,
            "warden.payload_digest": event.payload_digest,
        }
        # a few payload facts a trace viewer can filter on; the rest stays in the audit log
        for key in ("alias", "version", "from_version", "passed", "policy", "severity", "rule"):
            value = payload.get(key)
            if isinstance(value, (str, bool, int, float)):
                attributes[f"warden.{key}"] = value
        at = _ns(event.time)
        span = self.tracer.start_span(
            event.action, context=context, start_time=at, attributes=attributes
        )
        span.end(end_time=at)

    def shutdown(self) -> None:
        self.provider.shutdown()


class ExportLoop:
    """``GovernanceExporter.export_new`` every ``interval_s`` on a daemon thread (the server)."""

    def __init__(self, exporter: GovernanceExporter, interval_s: float) -> None:
        self.exporter = exporter
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otel-export", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.exporter.export_new()
            except Exception:  # a collector outage must not stop the server; retried next tick
                continue

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        try:
            self.exporter.export_new()  # what committed since the last tick
        finally:
            self.exporter.shutdown()
