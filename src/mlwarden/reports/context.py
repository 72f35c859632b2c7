"""Everything the documents say about one version, gathered once, each piece with its hash.

Documents never query the store themselves: they read a :class:`ReportContext`, so a card, the
Annex IV file and the bundle built in one call all describe the same state, and every
statement can name the record it came from (:meth:`ReportContext.cite`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlwarden.entities import AliasChange, Model, ModelVersion
from mlwarden.errors import IntegrityError, NotFound

if TYPE_CHECKING:
    from mlwarden.reports.source import ReportSource

#: Evidence kinds the documents know how to read; others are listed but not interpreted.
KNOWN_KINDS = (
    "reference_profile",
    "fairness",
    "explain",
    "privacy",
    "calibration",
    "ll144",
    "validation",
    "art12",
    "iso42001",
)

#: Actions of the audit events that describe a version's governance (prediction batches are
#: left out: a busy model has millions, and the bundle proves the decisions, not the traffic).
GOVERNANCE_ACTIONS = (
    "model.create",
    "version.register",
    "version.approve",
    "policy.decision",
    "alias.set",
    "alias.delete",
    "alias.rollback",
    "model.promote",
    "access.denied",
    "evidence.record",
    "finding.add",
    "finding.update",
)


def canonical_bytes(content: Any) -> bytes:
    """The exact text the registry hashes evidence with (``store/sql/registry.py``), so a
    bundled evidence file's sha256 equals the digest the version (and its audit event) holds."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def short(digest: str | None, n: int = 12) -> str:
    return f"sha256:{digest[:n]}…" if digest else "sha256:—"


@dataclass(frozen=True)
class Evidence:
    kind: str
    sha256: str
    content: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.content.get("status", "ok") == "ok"

    @property
    def reason(self) -> str | None:
        return self.content.get("reason")


@dataclass
class ReportContext:
    """One version's registry record, evidence, approvals, decisions, alias moves, monitoring
    configuration and governance audit events, as read at ``generated_at``."""

    model: Model
    version: ModelVersion
    evidence: dict[str, Evidence]
    approvals: list[dict[str, Any]]
    approval_status: dict[str, Any] | None
    decisions: list[dict[str, Any]]
    alias_changes: list[AliasChange]
    monitoring: dict[str, Any]
    audit_events: list[Any]
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    store: str = ""

    @property
    def ref(self) -> str:
        return self.version.ref

    @property
    def version_sha256(self) -> str:
        """Hash of the version's registry record (what "registry record" citations name)."""
        return sha256_hex(canonical_bytes(self.version.to_dict()))

    def ev(self, kind: str) -> Evidence | None:
        """The evidence of ``kind`` when it was collected successfully, else ``None``."""
        item = self.evidence.get(kind)
        return item if item is not None and item.ok else None

    def tag(self, key: str) -> str | None:
        value = (self.model.tags or {}).get(key)
        return str(value) if value not in (None, "") else None

    def cite(self, what: str) -> str:
        """ "source: fairness evidence sha256:ab12…" for evidence kinds; the registry record,
        approvals, decisions or audit log otherwise."""
        if what in self.evidence:
            return f"{what} evidence {short(self.evidence[what].sha256)}"
        if what == "version":
            return f"registry record {self.ref} {short(self.version_sha256)}"
        if what == "artifact":
            return f"model artifact {short(self.version.artifact_sha256)}"
        if what == "model":
            return f"model record {self.model.name} (audit event model.create)"
        if what.startswith("dataset:"):
            role = what.split(":", 1)[1]
            ds = self.version.lineage.get("datasets", {}).get(role, {})
            return f"{role} dataset fingerprint {short(ds.get('sha256'))}"
        if what == "approvals":
            return f"approvals of {self.ref} (audit events version.approve)"
        if what == "decisions":
            ids = ", ".join(f"#{d['id']}" for d in self.decisions[:3] if d.get("id") is not None)
            return f"policy decisions {ids or '(none)'}"
        if what == "monitoring":
            pols = self.monitoring.get("policies") or []
            if pols:
                return "; ".join(
                    f"monitoring policy {p['name']} {short(p.get('sha256'))}" for p in pols
                )
            return f"monitoring configuration ({self.monitoring.get('source', 'none')})"
        if what == "tags":
            return f"model tags of {self.model.name}"
        return what


def record(wd: Any, ref: str, kind: str, content: dict[str, Any]) -> str:
    """Store a measurement made after registration as ``kind`` evidence of ``ref`` (audited):
    validators and admins only, as for running checks, since policies gate on it."""
    wd.access.require(wd.actor, "checks.run", f"model:{ref.partition('@')[0]}")
    return str(wd.registry.record_evidence(ref, kind, content, actor=wd.actor))


def gather(wd: ReportSource, ref: str) -> ReportContext:
    """Read everything the documents need about ``ref`` through the ``Warden`` facade."""
    mv = wd.get_model_version(ref)
    model = wd.get_model(mv.name)
    evidence: dict[str, Evidence] = {}
    for kind, digest in sorted(mv.evidence.items()):
        try:
            content = wd.get_evidence(mv.ref, kind)
        except NotFound:
            continue
        # Documents cite this digest as the source of what they show: refuse to cite it for
        # content that no longer hashes to it (a row edited around the registry).
        actual = sha256_hex(canonical_bytes(content))
        if actual != digest:
            raise IntegrityError(
                f"{mv.ref} {kind} evidence does not match its recorded sha256 "
                f"({actual[:12]}… != {digest[:12]}…)",
                ref=mv.ref,
                kind=kind,
            )
        evidence[kind] = Evidence(kind, digest, dict(content))
    approvals = [_plain(a.to_dict()) for a in wd.approvals(mv.ref)]
    try:
        status = wd.approval_status(mv.ref)
        approval_status = status.to_dict() if hasattr(status, "to_dict") else vars(status)
    except NotFound:
        approval_status = None
    decisions = [_plain(d.to_dict()) for d in wd.decisions(mv.ref)]
    changes = [c for c in wd.alias_history(mv.name) if mv.version in (c.from_version, c.to_version)]
    monitoring = monitoring_config(wd, mv, model)
    return ReportContext(
        model=model,
        version=mv,
        evidence=evidence,
        approvals=approvals,
        approval_status=_plain(approval_status),
        decisions=decisions,
        alias_changes=changes,
        monitoring=monitoring,
        audit_events=version_events(wd, mv, monitoring.get("policies") or []),
        store=getattr(wd, "uri", ""),
    )


def version_events(
    wd: ReportSource, mv: ModelVersion, policies: list[dict[str, Any]] | None = None
) -> list[Any]:
    """The governance events of ``mv``: its model's creation, its registration, approvals,
    decisions and refusals, every alias move to or from it, and the installation of each
    monitoring policy that applies (so the plan's policies are proven in the log too)."""
    own = f"model:{mv.name}/{mv.version}"
    out = []
    for e in wd.audit.events(model=mv.name):
        if e.action not in GOVERNANCE_ACTIONS:
            continue
        if e.subject in (own, f"model:{mv.name}"):
            out.append(e)
        elif e.action.startswith("alias.") or e.action == "model.promote":
            payload = e.payload or {}
            moved = {payload.get("from_version"), payload.get("to_version")}
            if mv.version in moved or payload.get("ref") == mv.ref:
                out.append(e)
    for p in policies or []:
        installs = wd.audit.events(
            subject=f"monitoring-policy:{p['name']}", action="monitoring.policy.install"
        )
        same = [e for e in installs if (e.payload or {}).get("sha256") == p.get("sha256")]
        out += same[-1:]  # the installation of the version in force
    return sorted(out, key=lambda e: e.seq)


def monitoring_config(
    wd: ReportSource, mv: ModelVersion, model: Model | None = None
) -> dict[str, Any]:
    """The installed monitoring policies that apply to the model, and what monitoring runs
    have stored (window lengths, segments, latest results). ``source`` says which the plan
    rests on: ``monitoring policies``, else ``monitor windows``, else ``none``."""
    policies = _monitoring_policies(wd, model or wd.get_model(mv.name))
    windows = _stored_windows(wd, mv)
    source = "monitoring policies" if policies else "monitor windows" if windows else "none"
    return {
        "source": source,
        "policies": policies,
        "windows": windows,
        "alerts": _alerts(wd, mv),
    }


def _alerts(wd: ReportSource, mv: ModelVersion, limit: int = 20) -> list[dict[str, Any]]:
    getter = getattr(wd, "alerts", None)
    if getter is None:
        return []
    try:
        found = getter(mv.name, limit=200)
    except NotFound:
        return []
    return [_plain(a.to_dict()) for a in found if a.version == mv.version][:limit]


def _stored_windows(wd: ReportSource, mv: ModelVersion) -> dict[str, dict[str, Any]]:
    try:
        rows = wd.monitoring.history(mv.name, version=mv.version)
    except (AttributeError, NotFound):
        return {}
    windows: dict[str, dict[str, Any]] = {}
    for r in rows:
        w = windows.setdefault(
            r["window"], {"runs": 0, "segments": set(), "first": None, "last": None, "latest": {}}
        )
        w["runs"] += 1
        w["segments"].add(r["segment"])
        start, end = _iso(r["start"]), _iso(r["end"])
        w["first"] = min(filter(None, [w["first"], start]), default=start)
        if w["last"] is None or (end or "") >= w["last"]:
            w["last"] = end
            if r["segment"] == "all":
                w["latest"] = _latest_summary(r["result"], r["rows"])
    for w in windows.values():
        w["segments"] = sorted(w["segments"])
    return windows


def _monitoring_policies(wd: ReportSource, model: Model) -> list[dict[str, Any]]:
    # Installed monitoring policies (mlwarden.alerts) when this Warden has them.
    getter = getattr(wd, "monitoring_policies", None)
    if getter is None:
        return []
    try:
        installed = getter()
    except NotFound:
        return []
    return [_plain(p.to_dict()) for p in installed if p.applies(model)]


def _latest_summary(result: dict[str, Any], rows: int) -> dict[str, Any]:
    drift = result.get("drift") or {}
    quality = result.get("quality") or {}
    return {
        "rows": rows,
        "n_drifted": drift.get("n_drifted"),
        "n_columns": drift.get("n_columns"),
        "drifted_columns": drift.get("drifted_columns") or [],
        "quality_failed": quality.get("failed"),
        "performance": result.get("performance") or {},
    }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _plain(value: Any) -> Any:
    from mlwarden._json import jsonable

    return jsonable(value)


#: Model tags that carry what only people can write (``register_model(tags={...})``); the gap
#: report names the tag to set for each missing statement.
HUMAN_TAGS = {
    "provider": "provider name and contact (Annex IV 1(a), Art. 13(3)(a))",
    "license": "licence of the model",
    "intended_users": "who is meant to use the model's output",
    "out_of_scope": "uses the model must not be put to",
    "limitations": "known limitations beyond what the evidence shows",
    "tradeoffs": "trade-offs accepted (e.g. accuracy against parity)",
    "ethical_considerations": "ethical considerations and their mitigations",
    "human_oversight": "human-oversight measures (Art. 14)",
    "hardware": "computational and hardware resources needed",
    "expected_lifetime": "expected lifetime and maintenance schedule",
    "cybersecurity": "cybersecurity measures (Art. 15)",
    "harmonised_standards": "harmonised standards or specifications applied (Annex IV 7)",
    "eu_declaration": "reference to the EU declaration of conformity (Annex IV 8)",
}
