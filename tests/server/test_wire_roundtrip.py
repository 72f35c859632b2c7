"""Every entity the HTTP API answers with round-trips: entity -> JSON (the server's way: ``out``
and the route's derived response schema, through FastAPI) -> the remote client's decoding ==
the entity. The entities are found by walking the routers, so a new route is covered."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import types
import typing
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import mlwarden.server.routes as routes_pkg
from mlwarden.entities.audit import AuditEvent
from mlwarden.entities.wire import decode, field_types
from mlwarden.remote import _event
from mlwarden.server.routes._util import out
from mlwarden.server.wire_schema import WireOut

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
#: fields whose schema allows fewer values than their type hint says
DOMAIN = {"ModelVersion.provenance": {"metrics.auc": "asserted", "fairness": "measured"}}


def _schemas(model: Any) -> list[type[WireOut]]:
    """The derived schemas in a response model (``X`` or ``list[X]``)."""
    found = [model] if isinstance(model, type) and issubclass(model, WireOut) else []
    return found + [s for arg in typing.get_args(model) for s in _schemas(arg)]


def _exposed() -> dict[type, type[WireOut]]:
    exposed: dict[type, type[WireOut]] = {}
    for info in pkgutil.iter_modules(routes_pkg.__path__):
        module = importlib.import_module(f"{routes_pkg.__name__}.{info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", []):
            if isinstance(route, APIRoute):
                for schema in _schemas(route.response_model):
                    exposed.setdefault(schema.__entity__, schema)
    return exposed


EXPOSED = _exposed()


def sample(hint: Any, name: str = "x") -> Any:
    """A value of ``hint`` that is not a default, so a dropped field shows."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return {"nested": [1, "two", None]}
    if origin in (typing.Union, types.UnionType):
        return sample(next(a for a in args if a is not type(None)), name)
    if origin is tuple:
        return (sample(args[0], name), sample(args[0], name + "2"))
    if origin is dict:
        return {f"{name}.key": sample(args[1], name)}
    if hint is AuditEvent:
        return AuditEvent.create("alice", "model.register", "credit", {"a": [1, 2]}, b"s" * 16)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        fields = field_types(hint)
        values = {k: sample(t, f"{hint.__name__}.{k}") for k, t in fields.items()}
        named = {
            k: DOMAIN[f"{hint.__name__}.{k}"] for k in fields if f"{hint.__name__}.{k}" in DOMAIN
        }
        return hint(**{**values, **named})
    if isinstance(hint, type) and issubclass(hint, Enum):
        return list(hint)[-1]
    if hint is pd.Timestamp:
        return pd.Timestamp(WHEN)
    if hint is datetime:
        return WHEN
    if hint is bool:
        return True
    if hint is int:
        return 7
    if hint is float:
        return 0.25
    if hint is str:
        return f"{name}-value"
    raise AssertionError(f"no sample for {hint!r} ({name})")


def _remote_decode(cls: type, body: Any) -> Any:
    return _event(body) if cls is AuditEvent else decode(cls, body)


def test_the_routes_expose_the_entities():
    names = {cls.__name__ for cls in EXPOSED}
    assert {"Model", "ModelVersion", "AliasChange", "Decision", "Promotion", "AuditEvent"} <= names
    assert {"Alert", "Evaluation", "MonitorReport", "NewToken", "VerificationResult"} <= names


@pytest.mark.parametrize("cls", list(EXPOSED), ids=lambda c: c.__name__)
def test_every_exposed_entity_round_trips(cls):
    original = sample(cls)
    app = FastAPI()

    @app.get("/entity", response_model=EXPOSED[cls])
    def answer() -> Any:
        return out(original)

    with TestClient(app) as client:
        body = client.get("/entity").json()
        doc = client.get("/openapi.json").json()
    # OpenAPI documents every field that travels (the audit event's payload goes parsed)
    documented_in_openapi = set(doc["components"]["schemas"][f"{cls.__name__}Out"]["properties"])
    travelling = {f.name for f in dataclasses.fields(cls)} - {"payload_json"}
    assert travelling <= documented_in_openapi
    documented = set(EXPOSED[cls].model_fields)
    assert documented <= set(body), f"documented fields missing from the JSON: {cls.__name__}"
    assert _remote_decode(cls, body) == original


def test_decode_ignores_what_the_server_adds_and_fills_defaults():
    from mlwarden.access import ApprovalStatus

    status = ApprovalStatus("m@1", "high", 2, 1, ("ann",), "bob")
    body = {**status.to_dict(), "missing": 99, "approved": True}  # properties: recomputed
    got = decode(ApprovalStatus, body)
    assert got == status and got.missing == 1 and not got.approved
    with pytest.raises(TypeError):
        decode(ApprovalStatus, {"ref": "m@1"})


def test_datetimes_travel_as_one_iso_8601_form():
    """Intended: every derived schema writes a UTC time as pydantic does (``…Z``), as the
    typed routes always did; the policy, alert and monitoring routes, untyped before, wrote
    ``…+00:00``. The same instant either way, and both read back with ``fromisoformat``."""
    from mlwarden.entities.policy import Decision

    decision = sample(Decision)
    app = FastAPI()

    @app.get("/decision", response_model=EXPOSED[Decision])
    def answer() -> Any:
        return out(decision)

    with TestClient(app) as client:
        body = client.get("/decision").json()
    assert body["time"] == "2026-03-04T05:06:07.891234Z"
    assert datetime.fromisoformat(body["time"]) == WHEN == decision.time
