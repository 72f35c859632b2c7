"""``RemoteWarden``: the ``Warden`` methods against a running ``mlwarden serve``.

``mw.connect("http://host:8080", token=…)`` returns one. Same method names, same return types,
same exceptions: the server sends ``{"error": code, "message", "details"}`` and the code names
the exception class (``ERRORS_BY_CODE``), raised here again with the same message and details.
Who acts is the token's user, not a local setting.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from mlwarden._hash import sha256_bytes
from mlwarden._json import jsonable
from mlwarden.access import Approval, ApprovalStatus, NewToken, Token, User
from mlwarden.audit.log import InclusionProof
from mlwarden.audit.signing import Checkpoint
from mlwarden.audit.verify import VerificationResult
from mlwarden.entities import AliasChange, Dataset, Model, ModelVersion, as_frame
from mlwarden.entities.access import AccessDecision, Grant
from mlwarden.entities.agents import AgentVersion
from mlwarden.entities.audit import AuditEvent, canonical_json
from mlwarden.entities.policy import Binding, Decision, GatePolicy, Promotion
from mlwarden.entities.wire import decode
from mlwarden.errors import (
    ERRORS_BY_CODE,
    AuthenticationError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
    WardenError,
)
from mlwarden.monitor.report import MonitorReport
from mlwarden.registry.agents import policy_texts
from mlwarden.registry.flavors import Trust, load_flavor
from mlwarden.registry.refs import parse_ref
from mlwarden.remote_governance import GovernanceMethods
from mlwarden.remote_oversight import RemoteFindings, RemoteOversight
from mlwarden.settings import Settings

_BY_STATUS: dict[int, type[WardenError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
}


def error_from_response(resp: httpx.Response) -> WardenError:
    """The exception the server raised, rebuilt from its JSON error body."""
    try:
        body = resp.json()
        code, message = body["error"], body.get("message", "")
        details = body.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = "", f"HTTP {resp.status_code}: {resp.text[:300]}", {}
    cls = ERRORS_BY_CODE.get(code) or _BY_STATUS.get(resp.status_code, WardenError)
    try:
        exc = cls(message, **details)
    except TypeError:  # a detail named like a parameter
        exc = cls(message)
        exc.details = details
    exc.http_status = resp.status_code  # type: ignore[misc]
    return exc


def _event(d: dict[str, Any]) -> AuditEvent:
    """The wire carries the payload parsed; the event keeps its canonical text, and since the
    stored text is canonical JSON, re-encoding the payload gives it back exactly."""
    payload = d.get("payload")
    text = None if payload is None else canonical_json(payload)
    return decode(AuditEvent, {**d, "payload_json": text})


def _policy_body(policy: Any) -> dict[str, Any]:
    """A policy as the server takes it: a shipped name, or the YAML text of a file or of a
    loaded ``Policy`` (the server never reads a client's paths)."""
    from pathlib import Path

    source = getattr(policy, "source", None)
    if source is not None:
        return {"policy_yaml": source}
    path = Path(policy)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in str(policy):
        return {"policy_yaml": path.read_text()}
    return {"policy": str(policy)}


def _url_ref(ref: str) -> tuple[str, str]:
    r = parse_ref(ref)
    if r.version is not None:
        return r.name, str(r.version)
    return r.name, r.alias or "latest"


def _records(X: Any) -> list[dict[str, Any]]:
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    frame = frame.astype(object).where(frame.notna(), None)
    return jsonable(frame.to_dict(orient="records"))  # type: ignore[no-any-return]


#: the Parquet column that carries a dataset's labels to the server
LABEL_COLUMN = "__label__"

#: rows asked for per request when paging; the server's maxima are 1000 for most lists and
#: 10,000 for the prediction and audit logs
PAGE = 1000
BULK_PAGE = 10_000


def _pages(
    call: Callable[..., Any],
    path: str,
    params: dict[str, Any] | None = None,
    *,
    limit: int | None = None,
    page: int = PAGE,
    key: str | None = None,
) -> list[Any]:
    """Every row of a list route (up to ``limit``), a page at a time: the server answers at
    most a page per request."""
    rows: list[Any] = []
    while limit is None or len(rows) < limit:
        size = page if limit is None else min(page, limit - len(rows))
        got = call("GET", path, params={**(params or {}), "limit": size, "offset": len(rows)})
        got = got[key] if key is not None else got
        rows.extend(got)
        if len(got) < size:
            break
    return rows


def _list(values: Any) -> list[Any] | None:
    if values is None:
        return None
    arr = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    return jsonable(arr.tolist())  # type: ignore[no-any-return]


class RemoteAudit:
    """``wd.audit`` of a remote Warden: read, prove, checkpoint and verify on the server."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    @property
    def size(self) -> int:
        return int(self._call("GET", "/v1/audit/size")["size"])

    def events(
        self,
        model: str | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        limit: int | None = None,
        *,
        subject: str | None = None,
        actor: str | None = None,
        until: str | datetime | None = None,
        newest_first: bool = False,
    ) -> list[AuditEvent]:
        params = {
            "model": model,
            "action": action,
            "since": since.isoformat() if isinstance(since, datetime) else since,
            "until": until.isoformat() if isinstance(until, datetime) else until,
            "subject": subject,
            "actor": actor,
            "newest_first": newest_first,
        }
        found = _pages(self._call, "/v1/audit/events", params, limit=limit, page=BULK_PAGE)
        return [_event(e) for e in found]

    def get(self, seq: int) -> AuditEvent:
        return _event(self._call("GET", f"/v1/audit/events/{int(seq)}"))

    def checkpoint(self) -> Checkpoint:
        return decode(Checkpoint, self._call("POST", "/v1/audit/checkpoint"))

    def verify(self) -> VerificationResult:
        return decode(VerificationResult, self._call("GET", "/v1/audit/verify"))

    def export(self, path: str | Path) -> int:
        """Write the server's JSON Lines export to ``path`` here; returns events written."""
        resp = self._call("GET", "/v1/audit/export", raw=True)
        Path(path).write_bytes(resp.content)
        return int(resp.headers["X-Events"])

    def prove(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        params = {"tree_size": tree_size}
        d = self._call("GET", f"/v1/audit/proofs/{int(seq)}", params=params)
        return decode(InclusionProof, d)


class RemoteWarden(GovernanceMethods):
    """Govern models through a Warden server (see the module docstring)."""

    def __init__(
        self,
        uri: str | None = None,
        *,
        token: str | None = None,
        settings: Settings | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        **_: Any,
    ) -> None:
        self.settings = settings or Settings()
        self.uri = (uri or self.settings.resolved_uri()).rstrip("/")
        if token is None and self.settings.token is not None:
            token = self.settings.token.get_secret_value()
        if token is None and self.settings.oidc.issuer:
            from mlwarden.access.oidc_login import cached_token

            token = cached_token(self.settings.oidc)  # from `mlwarden login`
        if not token:
            raise AuthenticationError(
                f"a token is needed for {self.uri}: pass token=…, set MLWARDEN_TOKEN or run "
                "`mlwarden login`",
                field="token",
            )
        self._http = httpx.Client(
            base_url=self.uri,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )
        self.audit = RemoteAudit(self._call)
        self.oversight = RemoteOversight(self._call)
        self.findings = RemoteFindings(self._call, lambda ref: self.get_model_version(ref).version)
        self._me: User | None = None

    def _call(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        """The decoded body (JSON, else bytes); with ``raw``, the response (headers too).
        Query parameters set to ``None`` are left out (the server's defaults apply)."""
        if kwargs.get("params"):
            kwargs["params"] = {k: v for k, v in kwargs["params"].items() if v is not None}
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            # the message says it all: httpx's and httpcore's frames would bury it
            raise WardenError(f"cannot reach the Warden server {self.uri}: {exc}") from None
        if resp.status_code >= 400:
            raise error_from_response(resp)
        if raw:
            return resp
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.content

    @property
    def actor(self) -> str:
        if self._me is None:
            self._me = decode(User, self._call("GET", "/v1/users/me"))
        return self._me.name

    def __repr__(self) -> str:
        return f"Warden({self.uri!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteWarden:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- registry -------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        model: Any,
        *,
        train: Dataset | None = None,
        eval: Dataset | None = None,
        sensitive_features: list[str] | None = None,
        owner: str | None = None,
        risk_tier: str | None = None,
        intended_use: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        flavor: str | None = None,
        save_fn: Callable[..., Any] | None = None,
        load_fn: Callable[..., Any] | None = None,
        favorable_label: Any = None,
    ) -> ModelVersion:
        """Upload the artifact and the datasets (Parquet, content-addressed: a blob the
        server holds already is not sent again), then let the server load the artifact with
        its own flavor and measure the signature, metrics and evidence itself (a job, polled
        with a progress spinner). The version's evidence is ``measured``."""
        from mlwarden.registry.flavors import flavor_for

        if save_fn is not None or load_fn is not None or flavor == "generic":
            raise ValidationError(
                "a remote server loads models only with its installed flavors, never with a "
                "client's save_fn/load_fn: register generic-flavor models locally",
                field="flavor",
            )
        chosen = flavor_for(model, flavor)
        artifact, flavor_info = chosen.save(model)  # refuses unfitted estimators
        body: dict[str, Any] = {
            "artifact_sha256": self._upload(artifact),
            "flavor": chosen.name,
            "flavor_info": jsonable(flavor_info),
            "sensitive_features": list(sensitive_features or []),
            "owner": owner,
            "risk_tier": risk_tier,
            "intended_use": intended_use,
            "description": description,
            "tags": dict(tags or {}),
            "favorable_label": favorable_label,
            "client": _client_lineage(),
        }
        for role, ds in (("train", train), ("eval", eval)):
            if ds is not None:
                body[role] = self._upload_dataset(ds, role)
        job = self._call("POST", f"/v1/models/{name}/registrations", json=body)
        return decode(ModelVersion, self._wait(job, f"registering {name}"))

    def _upload(self, data: bytes) -> str:
        """Store ``data`` on the server (unless it has it) and return its sha256."""
        digest = sha256_bytes(data)
        head = self._http.head(f"/v1/blobs/{digest}")
        if head.status_code == 200:
            return digest
        if head.status_code != 404:
            raise error_from_response(head)
        self._call(
            "PUT",
            f"/v1/blobs/{digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return digest

    def _upload_dataset(self, ds: Dataset, role: str) -> dict[str, Any]:
        X = ds.frame(role)
        y = ds.labels(role, len(X))
        extra = ds.sensitive_frame(role, len(X))
        columns = [str(c) for c in X.columns]
        frame = X.copy()
        if LABEL_COLUMN in columns:
            raise ValidationError(
                f"{role}.X has a column named {LABEL_COLUMN!r}, which carries the labels",
                field=f"{role}.X",
            )
        label = None
        if y is not None:
            label = LABEL_COLUMN
            frame[label] = y
        sensitive: list[str] = []
        if extra is not None:
            sensitive = [str(c) for c in extra.columns]
            clash = sorted({*sensitive} & {*columns, LABEL_COLUMN})
            if clash:
                raise ValidationError(
                    f"{role}.sensitive has columns also in {role}.X: {clash}; rename them",
                    field=f"{role}.sensitive",
                )
            frame = pd.concat([frame, extra.reset_index(drop=True).set_axis(frame.index)], axis=1)
        buffer = io.BytesIO()
        try:
            frame.to_parquet(buffer, index=False)
        except (ValueError, TypeError, ImportError) as exc:
            raise ValidationError(
                f"{role} cannot be sent as Parquet: {exc}", field=f"{role}.X"
            ) from exc
        return {
            "sha256": self._upload(buffer.getvalue()),
            "label": label,
            "sensitive": sensitive,
            "name": ds.name,
        }

    def _wait(self, job: dict[str, Any], what: str) -> dict[str, Any]:
        """Poll a job until it ends, with a spinner showing its progress; its result, or its
        error raised as the exception class the server named."""
        from rich.console import Console

        delay = 0.05
        with Console(stderr=True).status(f"{what}: {job['progress']}") as status:
            while job["state"] in ("queued", "running"):
                time.sleep(delay)
                delay = min(delay * 1.5, 1.0)
                job = self._call("GET", f"/v1/jobs/{job['id']}")
                status.update(f"{what}: {job['progress']}")
        if job["state"] == "succeeded":
            return job["result"]  # type: ignore[no-any-return]
        err = job.get("error") or {}
        cls = ERRORS_BY_CODE.get(err.get("error", ""), WardenError)
        message = err.get("message", "the job failed")
        try:
            exc = cls(message, **(err.get("details") or {}))
        except TypeError:
            exc = cls(message)
        if err.get("http_status"):
            exc.http_status = err["http_status"]  # type: ignore[misc]
        raise exc

    def register_agent(
        self,
        name: str,
        *,
        instructions: str = "",
        tools: list[str] | None = None,
        model: str | None = None,
        policies: list[str | Path] | None = None,
        owner: str | None = None,
        risk_tier: str | None = None,
        description: str | None = None,
    ) -> AgentVersion:
        # policy files are read here; the server parses and checks their text
        body = {
            "instructions": instructions,
            "tools": list(tools or ()),
            "model": model,
            "policies": list(policy_texts(policies)),
            "owner": owner,
            "risk_tier": risk_tier,
            "description": description,
        }
        return decode(AgentVersion, self._call("POST", f"/v1/agents/{name}/versions", json=body))

    def get_agent(self, ref: str) -> AgentVersion:
        name, target = _url_ref(ref)
        return decode(AgentVersion, self._call("GET", f"/v1/agents/{name}/versions/{target}"))

    def list_agents(self) -> list[Model]:
        return [decode(Model, m) for m in _pages(self._call, "/v1/agents")]

    def get_model(self, name: str) -> Model:
        return decode(Model, self._call("GET", f"/v1/models/{name}"))

    def update_model(
        self,
        name: str,
        *,
        owner: str | None = None,
        description: str | None = None,
        intended_use: str | None = None,
        tags: dict[str, str | None] | None = None,
    ) -> Model:
        body = {"owner": owner, "description": description, "intended_use": intended_use,
                "tags": tags}  # fmt: skip
        return decode(Model, self._call("PATCH", f"/v1/models/{name}", json=body))

    def list_models(self) -> list[Model]:
        return [decode(Model, m) for m in _pages(self._call, "/v1/models")]

    def list_versions(self, name: str) -> list[ModelVersion]:
        return [decode(ModelVersion, v) for v in _pages(self._call, f"/v1/models/{name}/versions")]

    def get_model_version(self, ref: str) -> ModelVersion:
        name, target = _url_ref(ref)
        return decode(ModelVersion, self._call("GET", f"/v1/models/{name}/versions/{target}"))

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str | None = None,
        override: bool = False,
    ) -> AliasChange:
        body = {"version": version, "reason": reason, "override": override}
        return decode(
            AliasChange, self._call("PUT", f"/v1/models/{name}/aliases/{alias}", json=body)
        )

    def delete_alias(
        self, name: str, alias: str, *, reason: str | None = None, override: bool = False
    ) -> AliasChange:
        params = {"reason": reason, "override": "true" if override else None}
        path = f"/v1/models/{name}/aliases/{alias}"
        return decode(AliasChange, self._call("DELETE", path, params=params))

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        rows = _pages(self._call, f"/v1/models/{name}/alias-history", {"alias": alias})
        return [decode(AliasChange, c) for c in rows]

    def load_model(self, ref: str) -> Any:
        """Download the artifact, check its sha256 against the registry, load it here."""
        mv = self.get_model_version(ref)
        data = self._call("GET", f"/v1/models/{mv.name}/versions/{mv.version}/artifact")
        if sha256_bytes(data) != mv.artifact_sha256:
            raise WardenError(f"the artifact of {mv.ref} changed in transit", ref=mv.ref)
        # only code this host trusts runs: the server's flavor_info never names a callable here
        trust = Trust.of(self.settings.trusted_loaders, self.settings.trusted_types)
        return load_flavor(mv.flavor, trust).load(data, dict(mv.flavor_info))

    def get_evidence(self, ref: str, kind: str) -> dict[str, Any]:
        name, target = _url_ref(ref)
        return self._call(  # type: ignore[no-any-return]
            "GET", f"/v1/models/{name}/versions/{target}/evidence/{kind}"
        )

    # -- policies ---------------------------------------------------------------------------

    def check(self, ref: str, policy: Any) -> Any:
        name, target = _url_ref(ref)
        path = f"/v1/models/{name}/versions/{target}/checks"
        return decode(Decision, self._call("POST", path, json=_policy_body(policy)))

    def promote(
        self,
        ref: str,
        *,
        alias: str,
        policy: Any = None,
        dry_run: bool = False,
        reason: str | None = None,
    ) -> Any:
        name, target = _url_ref(ref)
        sent = {} if policy is None else _policy_body(policy)
        body = {**sent, "alias": alias, "dry_run": dry_run, "reason": reason}
        return decode(
            Promotion, self._call("POST", f"/v1/models/{name}/versions/{target}/promote", json=body)
        )

    def install_policy(self, policy: Any) -> Any:
        from mlwarden.policy.loader import load, loads

        text = policy if isinstance(policy, str) and "\n" in policy else None
        pol = loads(text, "<install>") if text is not None else load(policy)
        return decode(
            GatePolicy, self._call("POST", "/v1/policies", json={"policy_yaml": pol.source})
        )

    def bind_policy(
        self, policy: str, *, alias: str | None = None, risk_tier: str | None = None
    ) -> Any:
        body = {"policy": policy, "alias": alias, "risk_tier": risk_tier}
        return decode(Binding, self._call("PUT", "/v1/bindings", json=body))

    def unbind_policy(self, *, alias: str | None = None, risk_tier: str | None = None) -> Any:
        params = {"alias": alias, "risk_tier": risk_tier}
        return decode(Binding, self._call("DELETE", "/v1/bindings", params=params))

    def gate_policies(self) -> list[Any]:
        return [decode(GatePolicy, p) for p in self._call("GET", "/v1/policies")]

    def gate_policy(self, name: str, version: int | None = None) -> Any:
        params = {"version": version}
        return decode(GatePolicy, self._call("GET", f"/v1/policies/{name}", params=params))

    def policy_bindings(self) -> list[Any]:
        return [decode(Binding, b) for b in self._call("GET", "/v1/bindings")]

    def protected_aliases(self) -> list[str]:
        return list(self._call("GET", "/v1/protected-aliases"))

    def set_risk_tier(self, name: str, tier: str, *, reason: str) -> dict[str, Any]:
        body = {"risk_tier": tier, "reason": reason}
        return self._call("PUT", f"/v1/models/{name}/risk-tier", json=body)  # type: ignore[no-any-return]

    def rollback(self, name: str, *, alias: str, reason: str) -> AliasChange:
        body = {"alias": alias, "reason": reason}
        return decode(AliasChange, self._call("POST", f"/v1/models/{name}/rollback", json=body))

    def decisions(self, ref: str, *, limit: int | None = None) -> list[Any]:
        name, target = _url_ref(ref)
        path = f"/v1/models/{name}/versions/{target}/decisions"
        return [decode(Decision, d) for d in _pages(self._call, path, limit=limit)]

    def policy_context(self, ref: str) -> dict[str, Any]:
        name, target = _url_ref(ref)
        return self._call(  # type: ignore[no-any-return]
            "GET", f"/v1/models/{name}/versions/{target}/policy-context"
        )

    # -- approvals and access control -----------------------------------------------------

    def approve(self, ref: str, *, comment: str | None = None) -> Approval:
        name, target = _url_ref(ref)
        path = f"/v1/models/{name}/versions/{target}/approvals"
        return decode(Approval, self._call("POST", path, json={"comment": comment}))

    def approvals(self, ref: str) -> list[Approval]:
        name, target = _url_ref(ref)
        path = f"/v1/models/{name}/versions/{target}/approvals"
        return [decode(Approval, a) for a in _pages(self._call, path)]

    def approval_status(self, ref: str) -> ApprovalStatus:
        name, target = _url_ref(ref)
        return decode(
            ApprovalStatus,
            self._call("GET", f"/v1/models/{name}/versions/{target}/approval-status"),
        )

    def create_user(self, name: str, role: str) -> User:
        return decode(User, self._call("POST", "/v1/users", json={"name": name, "role": role}))

    def list_users(self) -> list[User]:
        return [decode(User, u) for u in _pages(self._call, "/v1/users")]

    def set_role(self, name: str, role: str) -> User:
        return decode(User, self._call("PUT", f"/v1/users/{name}/role", json={"role": role}))

    def create_token(
        self,
        user: str,
        *,
        expires_in: str | timedelta | None = None,
        description: str | None = None,
        scope: str | None = None,
    ) -> NewToken:
        if isinstance(expires_in, timedelta):
            expires_in = f"{max(1, int(expires_in.total_seconds()))}s"
        body = {
            "user": user,
            "expires_in": expires_in,
            "description": description,
            "scope": scope,
        }
        return decode(NewToken, self._call("POST", "/v1/tokens", json=body))

    def revoke_token(self, token_id: int) -> Token:
        return decode(Token, self._call("DELETE", f"/v1/tokens/{int(token_id)}"))

    def list_tokens(self, user: str | None = None) -> list[Token]:
        return [decode(Token, t) for t in _pages(self._call, "/v1/tokens", {"user": user})]

    # -- permissions per team and model ------------------------------------------------------

    def create_team(self, name: str) -> str:
        return str(self._call("POST", "/v1/access/teams", json={"name": name})["name"])

    def list_teams(self) -> list[str]:
        return [t["name"] for t in _pages(self._call, "/v1/access/teams")]

    def assign_team(self, model: str, team: str) -> None:
        self._call("PUT", f"/v1/access/models/{model}/team", json={"team": team})

    def grant(
        self, user: str, role: str, *, team: str | None = None, model: str | None = None
    ) -> Grant:
        body = {"user": user, "effect": "allow", "what": role, "team": team, "model": model}
        return decode(Grant, self._call("POST", "/v1/access/grants", json=body))

    def deny(
        self, user: str, action: str, *, team: str | None = None, model: str | None = None
    ) -> Grant:
        body = {"user": user, "effect": "deny", "what": action, "team": team, "model": model}
        return decode(Grant, self._call("POST", "/v1/access/grants", json=body))

    def revoke_grant(
        self,
        user: str,
        what: str,
        *,
        deny: bool = False,
        team: str | None = None,
        model: str | None = None,
    ) -> bool:
        effect = "deny" if deny else "allow"
        body = {"user": user, "effect": effect, "what": what, "team": team, "model": model}
        return bool(self._call("POST", "/v1/access/grants/revoke", json=body)["removed"])

    def list_grants(self, user: str | None = None) -> list[Grant]:
        return [decode(Grant, g) for g in _pages(self._call, "/v1/access/grants", {"user": user})]

    def explain(self, user: str, model: str, action: str) -> AccessDecision:
        params = {"user": user, "model": model, "action": action}
        return decode(AccessDecision, self._call("GET", "/v1/access/explain", params=params))

    # -- predictions and monitoring ---------------------------------------------------------

    def serving_version(self, name: str, version: int | None = None) -> ModelVersion:
        if version is not None:
            return self.get_model_version(f"{name}@{version}")
        try:
            return self.get_model_version(f"{name}@production")
        except NotFound:
            return self.get_model_version(name)

    def predict(
        self,
        name: str,
        X: Any,
        *,
        alias: str | None = None,
        version: int | None = None,
        explain: bool = False,
        sensitive: Any = None,
    ) -> dict[str, Any]:
        """Governed predictions from the server (logged there): outputs, scores, ids.
        ``sensitive``: protected attributes per row, logged for fairness, not given to the
        model."""
        params = {"explain": explain, "alias": alias, "version": version}
        body: dict[str, Any] = {"records": _records(X)}
        if sensitive is not None:
            body["sensitive"] = _records(sensitive)
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/v1/models/{name}/predict", params=params, json=body
        )

    def log_predictions(
        self,
        name: str,
        X: Any,
        y_pred: Any,
        *,
        scores: Any = None,
        ids: Any = None,
        version: int | None = None,
        timestamps: Any = None,
        subjects: Any = None,
        subject_column: str | None = None,
        sensitive: Any = None,
    ) -> list[str]:
        if subject_column is not None:  # as locally: the identifier is a key, never an input
            frame = as_frame(X, "X")
            if subject_column not in frame.columns:
                raise ValidationError(
                    f"subject_column {subject_column!r} is not a column of X",
                    field="subject_column",
                )
            subjects = frame[subject_column].astype(str).tolist()
            X = frame.drop(columns=subject_column)
        stamps = None
        if timestamps is not None:
            stamps = [
                pd.Timestamp(t).isoformat() for t in pd.to_datetime(_list(timestamps), utc=True)
            ]
        body = {
            "records": _records(X),
            "y_pred": _list(y_pred),
            "scores": _list(scores),
            "ids": None if ids is None else [str(i) for i in _list(ids) or []],
            "version": version,
            "timestamps": stamps,
            "subjects": _list(subjects),
            "sensitive": None if sensitive is None else _records(sensitive),
        }
        return self._call("POST", f"/v1/models/{name}/predictions", json=body)["ids"]  # type: ignore[no-any-return]

    def log_labels(self, name: str, ids: Any, y_true: Any) -> dict[str, Any]:
        body = {"ids": [str(i) for i in ids], "y_true": _list(y_true)}
        return self._call("POST", f"/v1/models/{name}/labels", json=body)  # type: ignore[no-any-return]

    def predictions(self, name: str, **filters: Any) -> pd.DataFrame:
        params = {}
        for key in ("since", "until"):
            if filters.get(key) is not None:
                params[key] = pd.Timestamp(filters[key]).isoformat()
        if filters.get("version") is not None:
            params["version"] = int(filters["version"])
        limit = None if filters.get("limit") is None else int(filters["limit"])
        unknown = set(filters) - {"since", "until", "version", "limit", "ids"}
        if unknown:
            raise ValidationError(f"unknown filters {sorted(unknown)}", field="filters")
        path = f"/v1/models/{name}/predictions"
        rows = _pages(self._call, path, params, limit=limit, page=BULK_PAGE, key="rows")
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        if filters.get("ids") is not None:
            frame = frame[frame["id"].isin([str(i) for i in filters["ids"]])]
        return frame.reset_index(drop=True)

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        from urllib.parse import quote

        path = f"/v1/predictions/{quote(str(prediction_id), safe='')}"
        return self._call("GET", path)  # type: ignore[no-any-return]

    def receipt(self, prediction_id: str) -> dict[str, Any]:
        """The signed receipt, built and signed by the server (subject data as this token may
        read it); ``mlwarden.reports.verify_receipt`` checks it here."""
        from urllib.parse import quote

        path = f"/v1/predictions/{quote(str(prediction_id), safe='')}/receipt"
        return self._call("GET", path)  # type: ignore[no-any-return]

    def monitor(
        self,
        name: str,
        *,
        since: Any = None,
        until: Any = None,
        window: str = "1d",
        segment_by: str | None = None,
        version: int | None = None,
        explain: bool = False,
    ) -> MonitorReport:
        params = {
            "window": window,
            "since": None if since is None else pd.Timestamp(since).isoformat(),
            "until": None if until is None else pd.Timestamp(until).isoformat(),
            "segment_by": segment_by,
            "version": version,
            "explain": "true" if explain else None,
        }
        return decode(MonitorReport, self._call("GET", f"/v1/models/{name}/monitor", params=params))

    def monitor_rollup(
        self, name: str, *, source: str = "1d", window: str = "7d", version: int | None = None
    ) -> MonitorReport:
        params = {"source": source, "window": window, "version": version}
        return decode(
            MonitorReport, self._call("GET", f"/v1/models/{name}/monitor/rollup", params=params)
        )


def _client_lineage() -> dict[str, Any]:
    """What the client reports about itself: the git commit it runs in, its environment."""
    from mlwarden.registry import lineage

    return jsonable({"code": lineage.git_info(), "environment": lineage.environment()})
