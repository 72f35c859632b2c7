"""``RemoteWarden.oversight`` and ``RemoteWarden.findings``: the review queue and the findings
register over HTTP, with the local services' signatures. The server decides who acts (the
token's user): the ``actor`` argument the local services take is accepted and ignored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from mlwarden.store.finding_store import Finding

Call = Callable[..., Any]


def _when(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _item(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "flagged_at": _when(d["flagged_at"]), "decided_at": _when(d["decided_at"])}


def _finding(d: dict[str, Any]) -> Finding:
    fields = {k: v for k, v in d.items() if k != "ref"}
    return Finding(**{**fields, "created_at": _when(d["created_at"]),
                      "updated_at": _when(d["updated_at"])})  # fmt: skip


class RemoteOversight:
    """``wd.oversight`` (``mlwarden.monitor.oversight.OversightService``) over HTTP."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def set_rule(self, name: str, rule: str, *, actor: str | None = None) -> dict[str, Any]:
        return self._call("PUT", f"/v1/models/{name}/review-rule", json={"rule": rule})  # type: ignore[no-any-return]

    def flag(self, name: str, *, actor: str | None = None) -> int:
        return int(self._call("POST", f"/v1/models/{name}/reviews/flag")["flagged"])

    def queue(
        self, name: str, *, actor: str | None = None, status: str | None = "pending"
    ) -> list[dict[str, Any]]:
        got = self._call("GET", f"/v1/models/{name}/reviews", params={"status": status or "all"})
        return [_item(i) for i in got["items"]]

    def decide(
        self,
        name: str,
        prediction_id: str,
        *,
        actor: str | None = None,
        override: Any = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        body = {"decision": "confirm" if override is None else "override", "comment": comment}
        if override is not None:
            body["output"] = str(override)
        path = f"/v1/models/{name}/reviews/{quote(str(prediction_id), safe='')}"
        return _item(self._call("POST", path, json=body))

    def override_rate(self, name: str) -> dict[str, Any]:
        got = self._call("GET", f"/v1/models/{name}/reviews", params={"status": "pending"})
        return {k: v for k, v in got.items() if k != "items"}


class RemoteFindings:
    """``wd.findings`` (``mlwarden.reports.findings.FindingService``) over HTTP."""

    def __init__(self, call: Call, version_of: Callable[[str], int]) -> None:
        self._call = call
        self._version_of = version_of  # "name@alias" -> its version number, as locally

    def _subject(self, ref: str) -> tuple[str, int | None]:
        name, _, version = ref.partition("@")
        return name, (None if not version else self._version_of(ref))

    def add(
        self,
        ref: str,
        *,
        title: str,
        severity: str,
        owner: str,
        actor: str | None = None,
        description: str | None = None,
        status: str = "open",
    ) -> Finding:
        name, version = self._subject(ref)
        body = {"title": title, "severity": severity, "owner": owner,
                "description": description, "status": status, "version": version}  # fmt: skip
        return _finding(self._call("POST", f"/v1/models/{name}/findings", json=body))

    def update(self, finding_id: int, *, actor: str | None = None, **changes: Any) -> Finding:
        body = {k: v for k, v in changes.items() if v is not None}
        return _finding(self._call("PATCH", f"/v1/findings/{int(finding_id)}", json=body))

    def list(self, ref: str) -> list[Finding]:
        name, version = self._subject(ref)
        params = {"version": version}
        return [
            _finding(d) for d in self._call("GET", f"/v1/models/{name}/findings", params=params)
        ]
