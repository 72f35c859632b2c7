"""One API, two transports: every public member of the local ``Warden`` and of the HTTP
``RemoteWarden`` has the signature the ``WardenAPI`` Protocol gives it (parameter names,
kinds and defaults), and neither backend has a public member the Protocol lacks."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from mlwarden.api import WardenAPI
from mlwarden.client import Warden
from mlwarden.remote import RemoteWarden

#: Public members that exist on one backend only, each with why (keep this short).
ONLY_ON: dict[str, set[str]] = {
    # the local facade's services and stores (``wd.registry``, ``wd.db``, …) are instance
    # attributes, not class members; the remote client has none of them
    "Warden": set(),
    "RemoteWarden": set(),
}

BACKENDS = [Warden, RemoteWarden]


def protocol_members() -> dict[str, Any]:
    skip = set(dir(object)) | {"__protocol_attrs__", "__non_callable_proto_members__"}
    names = {n for n in vars(WardenAPI) if not n.startswith("_") or n in ("__enter__", "__exit__")}
    return {n: getattr(WardenAPI, n) for n in sorted(names - skip)}


def public_members(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def shape(member: Any) -> list[tuple[str, Any, Any]]:
    """What a caller sees of a signature: names, kinds and defaults (not annotations)."""
    if isinstance(member, property):
        return [("<property>", None, None)]
    params = inspect.signature(member).parameters.values()
    return [(p.name, p.kind, p.default) for p in params]


def test_the_protocol_lists_the_public_surface():
    members = protocol_members()
    assert {"predict", "monitor_rollup", "log_predictions", "monitor", "report"} <= set(members)
    assert {"uri", "settings", "audit", "actor"} <= {
        *members,
        *WardenAPI.__annotations__,
    }


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda c: c.__name__)
def test_no_public_member_outside_the_protocol(backend):
    declared = {n for n in protocol_members() if not n.startswith("_")}
    extra = public_members(backend) - declared - ONLY_ON[backend.__name__]
    missing = declared - public_members(backend)
    assert not extra, f"{backend.__name__} has members WardenAPI lacks: {sorted(extra)}"
    assert not missing, f"{backend.__name__} lacks members of WardenAPI: {sorted(missing)}"


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(protocol_members()))
def test_signatures_match_the_protocol(backend, name):
    expected = shape(protocol_members()[name])
    got = shape(getattr(backend, name))
    assert got == expected, f"{backend.__name__}.{name}{got} != WardenAPI.{name}{expected}"
