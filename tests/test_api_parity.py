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
    # which version ``monitor`` reads and why (issue 15 item 7, merged while this test was
    # written): the remote ``monitor`` returns the same note in its report; a route for it
    # alone is still to do
    # a fleet job runs where the store is (the server's scheduler runs the same path); a
    # route that starts one for a remote client is still to do
    "Warden": {"monitored_version", "monitor_fleet"},
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


def test_connect_picks_the_backend_by_scheme(tmp_path, monkeypatch):
    import mlwarden as mw
    from mlwarden import backends

    monkeypatch.delenv("MLWARDEN_TOKEN", raising=False)
    remote = mw.connect("https://warden.example", token="mlw_x")
    assert isinstance(remote, RemoteWarden) and remote.uri == "https://warden.example"
    remote.close()
    with mw.connect(f"sqlite:///{tmp_path / 'a.db'}", artifacts=str(tmp_path / "a")) as local:
        assert type(local) is Warden and local.list_models() == []
    # a plain path is a SQLite file, its artifacts beside it
    with mw.connect(str(tmp_path / "b.db")) as by_path:
        assert by_path.uri == f"sqlite:///{tmp_path / 'b.db'}"
        assert by_path.settings.resolved_artifacts() == str(tmp_path / "artifacts")
    assert backends.scheme_of("postgresql+psycopg://u@h/db") == "postgresql"
    assert backends.scheme_of(r"C:\data\w.db") == backends.PATH
    with pytest.raises(mw.ValidationError) as bad:
        mw.connect("ftp://example.org/w.db")
    assert bad.value.details["field"] == "uri" and "https" in bad.value.details["schemes"]
    assert isinstance(mw.connect("http://127.0.0.1:9", token="mlw_x"), RemoteWarden)


def test_a_plugin_registers_a_scheme(monkeypatch):
    import mlwarden as mw
    from mlwarden import backends

    seen: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setitem(
        backends._FACTORIES, "mock", lambda uri, **kw: seen.append((uri, kw)) or "opened"
    )
    assert mw.connect("mock://x", token="t") == "opened"
    assert seen == [("mock://x", {"token": "t"})]
