"""The audit stream for SIEMs: OCSF API Activity records (JSON lines) and RFC 5424 syslog.

Both are views of stored events, made on export: the signed log stays the record, these are
what Splunk, Sentinel, Elastic or a syslog relay ingest. Each carries the event's ``seq`` and
payload digest, so a finding in the SIEM leads back to an event that ``mlwarden audit proof``
proves in the signed tree.

OCSF: class API Activity (``class_uid`` 6003, category Application Activity, 6), schema 1.3.
Syslog: RFC 5424, facility 13 (log audit), severity informational, or warning for refusals,
structured data under the documentation enterprise number 32473 (RFC 5612): operators who
own a number can set their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from mlwarden.entities.audit import DENIED, AuditEvent

OCSF_VERSION = "1.3.0"
API_ACTIVITY = 6003
APPLICATION_ACTIVITY = 6
CREATE, READ, UPDATE, DELETE, OTHER = 1, 2, 3, 4, 99
_CREATE = ("create", "register", "add", "install", "checkpoint")
_READ = ("read", "export", "view", "list", "get")
_DELETE = ("delete", "revoke", "erase", "remove", "unbind")
SYSLOG_FACILITY = 13  # log audit
ENTERPRISE = 32473  # RFC 5612's documentation number
_NOT_PRINT = re.compile(r"[^\x21-\x7e]")


def activity_id(action: str) -> int:
    verb = action.rsplit(".", 1)[-1]
    if verb.startswith(_CREATE):
        return CREATE
    if verb.startswith(_READ):
        return READ
    if verb.startswith(_DELETE):
        return DELETE
    return UPDATE if verb else OTHER


def _millis(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def ocsf(event: AuditEvent, *, product_version: str = "") -> dict[str, Any]:
    """One event as an OCSF API Activity record."""
    payload = event.payload
    denied = event.action == DENIED
    operation = (payload or {}).get("action", event.action) if denied else event.action
    act = activity_id(str(operation))
    kind, _, name = event.subject.partition(":")
    src: dict[str, Any] = {"svc_name": "mlwarden"}
    if kind == "client":
        src["ip"] = name
    return {
        "class_uid": API_ACTIVITY,
        "class_name": "API Activity",
        "category_uid": APPLICATION_ACTIVITY,
        "category_name": "Application Activity",
        "activity_id": act,
        "type_uid": API_ACTIVITY * 100 + act,
        "time": _millis(event.time),
        "severity_id": 3 if denied else 1,  # Medium / Informational
        "status_id": 2 if denied else 1,  # Failure / Success
        "status": "Failure" if denied else "Success",
        **({"status_detail": str(payload.get("reason", ""))} if denied and payload else {}),
        "actor": {"user": {"name": event.actor}},
        "api": {"operation": str(operation), "service": {"name": "mlwarden"}},
        "src_endpoint": src,
        "resources": [{"type": kind or "unknown", "name": name or event.subject}],
        "metadata": {
            "version": OCSF_VERSION,
            "uid": str(event.seq),
            "product": {"name": "Warden", "vendor_name": "mlwarden", "version": product_version},
            "log_name": "audit",
        },
        "unmapped": {
            "seq": event.seq,
            "payload_digest": event.payload_digest,
            "payload": payload,  # None once erased: the digest still proves the event
        },
    }


def _header_field(value: str, limit: int) -> str:
    value = _NOT_PRINT.sub("_", value)[:limit]
    return value or "-"


def _sd_value(value: str) -> str:
    # RFC 5424 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog(event: AuditEvent, *, hostname: str = "-", app_name: str = "mlwarden") -> str:
    """One event as an RFC 5424 line (no trailing newline)."""
    denied = event.action == DENIED
    pri = SYSLOG_FACILITY * 8 + (4 if denied else 6)
    params = {
        "seq": str(event.seq),
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "digest": event.payload_digest,
    }
    sd = (
        f"[audit@{ENTERPRISE} " + " ".join(f'{k}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    )
    message = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
    return (
        f"<{pri}>1 {event.time} {_header_field(hostname, 255)} {_header_field(app_name, 48)} "
        f"- {_header_field(event.action, 32)} {sd} \ufeff{message}"
    )


def export_lines(events: Iterable[AuditEvent], fmt: str, **options: Any) -> Iterator[str]:
    for event in events:
        if fmt == "ocsf":
            yield json.dumps(ocsf(event, **options), separators=(",", ":"), ensure_ascii=False)
        else:
            yield syslog(event, **options)
