"""The ``RemoteWarden`` methods for data subjects, masking, alerts, reports and bundles.

Kept apart from ``remote.py`` to keep modules small; ``RemoteWarden`` inherits them. Files
named by the caller (policies, report outputs, bundles) are read and written here, on the
caller's machine: the server only ever sees and sends their contents.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlwarden.alerts.policy import MonitoringPolicy, load, loads
from mlwarden.entities import ModelVersion
from mlwarden.entities.alerts import Alert, Channel, Delivery, Evaluation
from mlwarden.entities.wire import decode
from mlwarden.errors import ValidationError
from mlwarden.privacy.masking import MaskingPolicy


def _monitoring_policy(d: dict[str, Any]) -> MonitoringPolicy:
    loaded = loads(d["source"], filename=d.get("path") or "<string>")
    return MonitoringPolicy(**{**loaded.__dict__, "path": d.get("path")})


def _policy_text(policy: str | Path | MonitoringPolicy) -> dict[str, Any]:
    # loaded (and checked) here, as locally: a missing file or a bad rule fails before sending
    pol = load(policy)
    return {"source": pol.source, "path": pol.path}


def _masking_text(policy: str | os.PathLike[str]) -> str:
    """YAML text, or the text of the file it names (the rule ``MaskingPolicy.from_yaml``
    applies locally)."""
    text = str(policy)
    if isinstance(policy, os.PathLike) or ("\n" not in text and Path(text).is_file()):
        return Path(policy).read_text()
    return text


def _iso(value: Any) -> str | None:
    """A time for the wire: ISO text as given, a datetime (or Timestamp) as ISO."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()  # type: ignore[no-any-return]


def _write(path: str | Path, data: bytes) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


class GovernanceMethods:
    """Mixed into ``RemoteWarden``, which provides ``_call``."""

    _call: Any

    def _ref_path(self, ref: str) -> str:
        from mlwarden.remote import _url_ref

        name, target = _url_ref(ref)
        return f"/v1/models/{name}/versions/{target}"

    # -- data subjects --------------------------------------------------------------------

    def erase_subject(
        self, subject: str, *, reason: str | None = None, vacuum: bool = False
    ) -> dict[str, Any]:
        body = {"subject": subject, "reason": reason, "vacuum": vacuum}
        return self._call("POST", "/v1/subjects/erase", json=body)  # type: ignore[no-any-return]

    def export_subject(self, subject: str) -> dict[str, Any]:
        body = {"subject": subject}
        return self._call("POST", "/v1/subjects/export", json=body)  # type: ignore[no-any-return]

    def set_retention(self, name: str, days: int) -> None:
        self._call("PUT", f"/v1/models/{name}/retention", json={"days": days})

    def apply_retention(self) -> dict[str, int]:
        return self._call("POST", "/v1/retention/apply")  # type: ignore[no-any-return]

    def set_masking_policy(self, name: str, policy: str) -> MaskingPolicy:
        """The policy as stored (without the server's pseudonymization keys)."""
        body = {"policy_yaml": _masking_text(policy)}
        return MaskingPolicy.from_dict(
            self._call("PUT", f"/v1/models/{name}/masking-policy", json=body)
        )

    # -- monitoring policies and alerts ---------------------------------------------------

    def evaluate_monitoring(
        self,
        policies: list[str | Path | MonitoringPolicy] | None = None,
        *,
        names: list[str] | None = None,
        refresh: bool = False,
    ) -> Evaluation:
        body = {
            "policies": None if policies is None else [_policy_text(p) for p in policies],
            "names": names,
            "refresh": refresh,
        }
        return decode(Evaluation, self._call("POST", "/v1/monitoring/evaluate", json=body))

    def install_monitoring_policy(self, policy: str | Path | MonitoringPolicy) -> MonitoringPolicy:
        body = _policy_text(policy)
        return _monitoring_policy(self._call("POST", "/v1/monitoring/policies", json=body))

    def monitoring_policies(self) -> list[MonitoringPolicy]:
        return [_monitoring_policy(p) for p in self._call("GET", "/v1/monitoring/policies")]

    def alerts(
        self,
        name: str | None = None,
        *,
        status: str | None = None,
        policy: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        params = {"name": name, "status": status, "policy": policy, "limit": limit}
        return [decode(Alert, a) for a in self._call("GET", "/v1/alerts", params=params)]

    def alert_deliveries(
        self, alert_id: int | None = None, *, failed: bool | None = None, limit: int | None = None
    ) -> list[Delivery]:
        params = {"alert_id": alert_id, "failed": failed, "limit": limit}
        return [
            decode(Delivery, d) for d in self._call("GET", "/v1/alerts/deliveries", params=params)
        ]

    def install_alert_channel(
        self,
        name: str,
        url: str | None = None,
        *,
        format: str = "json",
        secret_env: str | None = None,
    ) -> Channel:
        body = {"name": name, "url": url, "format": format, "secret_env": secret_env}
        return decode(Channel, self._call("POST", "/v1/alerts/channels", json=body))

    def alert_channels(self) -> list[Channel]:
        return [decode(Channel, c) for c in self._call("GET", "/v1/alerts/channels")]

    def remove_alert_channel(self, name: str) -> None:
        self._call("DELETE", f"/v1/alerts/channels/{name}")

    def block(self, ref: str, *, reason: str) -> ModelVersion:
        return self._version_action(ref, "block", reason)

    def unblock(self, ref: str, *, reason: str) -> ModelVersion:
        return self._version_action(ref, "unblock", reason)

    def _version_action(self, ref: str, action: str, reason: str) -> ModelVersion:
        path = f"{self._ref_path(ref)}/{action}"
        return decode(ModelVersion, self._call("POST", path, json={"reason": reason}))

    # -- documentation and evidence bundles -----------------------------------------------

    def report(
        self,
        kind: str,
        ref: str,
        other: str | None = None,
        *,
        format: str = "md",
        out: str | Path | None = None,
    ) -> str | Path:
        """The document as text, or written to ``out`` here (a PDF needs ``out``)."""
        if format == "pdf" and out is None:  # refused before the server renders it
            raise ValidationError("PDF output needs an output file (--out FILE.pdf)", field="out")
        params = {"format": format, "other": other}
        data = self._call("GET", f"{self._ref_path(ref)}/reports/{kind}", params=params)
        if out is None:
            return bytes(data).decode("utf-8")
        return _write(out, data)

    def bias_audit(
        self,
        ref: str,
        *,
        since: Any = None,
        until: Any = None,
        sex: str = "sex",
        race: str | None = None,
        scoring: bool | None = None,
        data_source: str | None = None,
    ) -> dict[str, Any]:
        """The LL144 audit, run and recorded by the server (needs ``checks.run``)."""
        name, _, pinned = ref.partition("@")
        version = self.get_model_version(ref).version if pinned else None  # type: ignore[attr-defined]
        body = {"version": version, "since": _iso(since), "until": _iso(until), "sex": sex,
                "race": race, "scoring": scoring, "data_source": data_source}  # fmt: skip
        return self._call("POST", f"/v1/models/{name}/ll144", json=body)  # type: ignore[no-any-return]

    def validate(self, ref: str, *, challenger: str | None = None) -> dict[str, Any]:
        """The validation measurements, run and recorded by the server (``checks.run``)."""
        path = f"{self._ref_path(ref)}/validation"
        return self._call("POST", path, json={"challenger": challenger})  # type: ignore[no-any-return]

    def bundle(self, ref: str, path: str | Path) -> Path:
        """The signed bundle, built (and signed) by the server, written to ``path`` here."""
        return _write(path, self._call("GET", f"{self._ref_path(ref)}/bundle"))
