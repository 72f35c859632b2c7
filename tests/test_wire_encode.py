"""``encode``: an entity's JSON is its fields plus the properties it names in
``wire_derived``, less its ``wire_exclude`` fields; ``decode`` reads it back; the server's
derived schemas document the same keys."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.access import ApprovalStatus
from mlwarden.entities import AliasChange
from mlwarden.entities.audit import AuditEvent
from mlwarden.entities.policy import Binding, Decision, Promotion, RuleResult
from mlwarden.entities.wire import Wire, decode, encode
from mlwarden.monitor.report import MonitorReport, WindowResult
from mlwarden.server.wire_schema import wire_schema

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _decision(purpose: str = "dry-run") -> Decision:
    rule = RuleResult("auc", "error", "fail", "too low", {"metrics.auc": 0.5}, ("x.y",))
    return Decision("gate", "ab" * 32, "m@1", False, True, (rule,), WHEN, "ann", purpose)


def test_derived_keys_travel_beside_the_fields_and_decode_ignores_them():
    status = ApprovalStatus("m@1", "high", 2, 1, ("ann",), "bob")
    body = encode(status)
    assert body == {
        "ref": "m@1",
        "risk_tier": "high",
        "required": 2,
        "have": 1,
        "approvers": ["ann"],
        "registered_by": "bob",
        "missing": 1,
        "approved": False,
    }
    assert status.to_dict() == body
    assert decode(ApprovalStatus, body) == status


def test_nested_entities_round_trip_with_their_derived_keys():
    change = AliasChange("m", "production", None, 1, "set", "ann", None, WHEN)
    promotion = Promotion("m@1", "production", _decision("promote"), {"have": 1}, True, False,
                          change, ("ok",))  # fmt: skip
    body = encode(promotion)
    assert body["moved"] is True and body["decision"]["dry_run"] is False
    assert body["decision"]["results"][0] == {
        "id": "auc",
        "severity": "error",
        "verdict": "fail",
        "message": "too low",
        "values": {"metrics.auc": 0.5},
        "missing": ["x.y"],
        "check": "",
    }
    assert body["decision"]["time"] == "2026-03-04T05:06:07+00:00"
    assert body["change"]["at"] == "2026-03-04T05:06:07+00:00"
    assert decode(Promotion, body) == promotion
    binding = Binding("alias:production", "gate", "ann", WHEN)
    assert (encode(binding)["kind"], encode(binding)["value"]) == ("alias", "production")


def test_excluded_fields_stay_home():
    event = AuditEvent.create("ann", "model.register", "m", {"a": [1, 2]}, b"s" * 16)
    body = encode(event)
    assert "payload_json" not in body and body["payload"] == {"a": [1, 2]}
    assert body["salt"] == event.salt


def test_leaves_become_plain_json():
    class Colour(StrEnum):
        RED = "red"

    window = WindowResult(pd.Timestamp(WHEN), pd.Timestamp(WHEN), "all", np.int64(5), 0,
                          {"share": np.float64(math.nan), "cols": np.array([1, 2])},
                          {"kind": Colour.RED})  # fmt: skip
    body = encode(MonitorReport("m", 1, "1D", None, (window,)))
    got = body["windows"][0]
    assert got["start"] == "2026-03-04T05:06:07+00:00"
    assert got["rows"] == 5 and type(got["rows"]) is int
    assert got["drift"] == {"share": None, "cols": [1, 2]}
    assert got["quality"] == {"kind": "red"}


def test_a_dataclass_with_its_own_shape_keeps_it():
    @dataclass(frozen=True)
    class Summary:
        items: tuple[int, ...]

        def to_dict(self) -> dict[str, Any]:
            return {"count": len(self.items)}

    @dataclass(frozen=True)
    class Holder(Wire):
        summary: Summary

    assert encode(Holder(Summary((1, 2, 3)))) == {"summary": {"count": 3}}


def test_the_derived_schema_documents_the_same_keys():
    status = wire_schema(ApprovalStatus).model_json_schema()
    assert {"missing", "approved"} <= set(status["required"])
    assert status["properties"]["approved"]["type"] == "boolean"
    event = wire_schema(AuditEvent).model_json_schema()
    assert "payload" in event["properties"] and "payload_json" not in event["properties"]
    assert "payload" not in event.get("required", [])
    decision = wire_schema(Decision)
    assert set(decision.model_fields) == set(encode(_decision()))
