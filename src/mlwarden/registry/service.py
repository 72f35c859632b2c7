"""The registry use cases: register, look up, move aliases, load models."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlwarden._hash import sha256_bytes
from mlwarden._json import jsonable
from mlwarden.engines.fitted import as_fitted
from mlwarden.entities import MEASURED, RISK_TIERS, AliasChange, Dataset, Model, ModelVersion
from mlwarden.entities._frozen import thaw
from mlwarden.entities.agents import AGENT_FLAVOR, KIND_TAG
from mlwarden.errors import Conflict, ValidationError
from mlwarden.registry import lineage as lin
from mlwarden.registry.flavors import Trust, available_flavors, flavor_for, load_flavor
from mlwarden.registry.flavors.generic import GenericFlavor
from mlwarden.registry.metrics import classification_metrics, regression_metrics
from mlwarden.registry.refs import ModelRef, check_alias, check_name, parse_ref
from mlwarden.registry.signature import canonical_labels, infer_signature
from mlwarden.store.artifacts import ArtifactStore
from mlwarden.store.registry_store import NewModel, NewVersion, RegistryStore


class EventSink(Protocol):
    """Where state changes are reported (the audit log); called inside the transaction."""

    def __call__(self, actor: str, action: str, subject: str, payload: dict[str, Any]) -> None: ...


@dataclass
class Registration:
    """Everything known about a version while it is being registered.

    Evidence collectors (reference profile, fairness audit, explanations, privacy scan) read
    it and return JSON to store beside the version.
    """

    name: str
    model: Any
    train_X: pd.DataFrame | None
    train_y: np.ndarray | None
    eval_X: pd.DataFrame | None
    eval_y: np.ndarray | None
    eval_pred: np.ndarray | None
    eval_proba: np.ndarray | None
    classes: list[Any] | None
    sensitive: dict[str, pd.DataFrame] = field(default_factory=dict)  # role -> frame
    sensitive_names: list[str] = field(default_factory=list)
    # identifier and free-text columns found by the privacy scan (it runs first): kept out
    # of stored profiles, so no raw personal value is written at registration
    identifying: list[str] = field(default_factory=list)
    # content-addressed blobs the collectors produced (reference profiles): staged here and
    # written by ``commit``, so preparing a version writes nothing
    blobs: dict[str, bytes] = field(default_factory=dict)
    # the outcome fairness counts as favourable, as declared (None: never declared)
    favorable_label: Any = None

    @property
    def favorable(self) -> Any:
        """The declared favourable label, else the last class (the convention before it could
        be declared, and the gap report flags it)."""
        if self.favorable_label is not None:
            return self.favorable_label
        return self.classes[-1] if self.classes else 1

    def put_blob(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        self.blobs[digest] = data
        return digest


@dataclass(frozen=True)
class PreparedVersion:
    """A version computed but not stored (``RegistryService.prepare``): the artifact and the
    blobs to write, the model and version rows, the evidence. ``commit`` stores it in one
    transaction with its audit events."""

    name: str
    artifact: bytes = field(repr=False)
    model: NewModel
    spec: NewVersion
    evidence: dict[str, dict[str, Any]]
    blobs: dict[str, bytes] = field(default_factory=dict, repr=False)


EvidenceCollector = Callable[[Registration], dict[str, dict[str, Any]]]


class RegistryService:
    def __init__(
        self,
        store: RegistryStore,
        artifacts: ArtifactStore,
        *,
        transaction: Callable[[], Any],
        events: EventSink | None = None,
        collectors: list[EvidenceCollector] | None = None,
        trust: Trust = Trust(),
        sandbox: Any = None,
    ) -> None:
        self.store = store
        #: code the operator allows (settings); ``_own`` adds what this process registered
        #: with its own functions, which it may load again
        self.trust = trust
        self._own = Trust()
        self.sandbox = sandbox  # a registry.sandbox.Sandbox; made on first use
        self.artifacts = artifacts
        self._transaction = transaction
        self._events = events
        if collectors is None:
            from mlwarden.registry.evidence import default_collectors

            collectors = default_collectors(artifacts)
        self.collectors = list(collectors)

    def _emit(self, actor: str, action: str, subject: str, payload: dict[str, Any]) -> None:
        if self._events is not None:
            self._events(actor, action, subject, jsonable(payload))

    # -- registration ---------------------------------------------------------------------

    def register(self, name: str, model: Any, *, actor: str, **kwargs: Any) -> ModelVersion:
        """``prepare`` then ``commit``: the one path of every registration."""
        return self.commit(self.prepare(name, model, actor=actor, **kwargs), actor=actor)

    def prepare(
        self,
        name: str,
        model: Any,
        *,
        actor: str,
        train: Dataset | None = None,
        eval: Dataset | None = None,
        sensitive_features: list[str] | None = None,
        owner: str | None = None,
        risk_tier: str = "medium",
        intended_use: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        flavor: str | None = None,
        save_fn: Callable[..., Any] | None = None,
        load_fn: Callable[..., Any] | None = None,
        favorable_label: Any = None,
        saved: tuple[bytes, dict[str, Any]] | None = None,
    ) -> PreparedVersion:
        """Flavor, signature, metrics, lineage and evidence of ``model`` on the data given,
        computed here (so ``measured``); nothing is written to the store or artifacts.

        ``saved``: the artifact and flavor info ``model`` was loaded from (a remote
        registration): stored as they are, so what was measured is exactly what is served."""
        check_name(name)
        if risk_tier not in RISK_TIERS:
            raise ValidationError(
                f"risk_tier must be one of {list(RISK_TIERS)}, got {risk_tier!r}",
                field="risk_tier",
            )
        for role, ds in (("train", train), ("eval", eval)):
            if ds is not None and not isinstance(ds, Dataset):
                raise ValidationError(
                    f"{role} must be a mw.Dataset(X, y, name=…), got {type(ds).__name__}",
                    field=role,
                )
        chosen = flavor_for(model, flavor, save_fn, load_fn)
        # save refuses unfitted estimators
        data, flavor_info = saved if saved is not None else chosen.save(model)
        self._own = self._own | Trust.of(
            [flavor_info["loader"]] if isinstance(chosen, GenericFlavor) else [],
            flavor_info.get("trusted_types", []) if chosen.name == "sklearn" else [],
        )
        # Some formats (ONNX protos) only predict once loaded into their runtime.
        predictor = model if hasattr(model, "predict") else chosen.load(data, flavor_info)

        reg = self._prepare(name, predictor, train, eval, list(sensitive_features or []))
        reg.favorable_label = _check_favorable(favorable_label, reg.classes)
        metrics = self._metrics(reg)
        lineage = {
            "datasets": {
                role: lin.fingerprint(X, y, name=ds.name or role)
                for role, ds, X, y in (
                    ("train", train, reg.train_X, reg.train_y),
                    ("eval", eval, reg.eval_X, reg.eval_y),
                )
                if ds is not None and X is not None
            },
            "sensitive_features": reg.sensitive_names,
            "code": lin.git_info(),
            "environment": lin.environment(),
            "estimator": f"{type(model).__module__}.{type(model).__qualname__}",  # as given
            "flavor": chosen.name,
            "registered_by": actor,
            "registered_at": datetime.now(UTC).isoformat(),
        }
        evidence: dict[str, dict[str, Any]] = {}
        for collect in self.collectors:
            evidence.update({k: jsonable(v) for k, v in collect(reg).items()})
        # after the collectors: the privacy scan decides which columns' values stay unlisted
        signature = (
            infer_signature(
                reg.train_X if reg.train_X is not None else reg.eval_X,
                reg.train_y if reg.train_y is not None else reg.eval_y,
                sensitive=reg.sensitive_names,
                classes=reg.classes,
                has_scores=reg.eval_proba is not None or hasattr(model, "predict_proba"),
                identifying=reg.identifying,
                favorable_label=reg.favorable_label,
            )
            if (reg.train_X is not None or reg.eval_X is not None)
            else {"inputs": [], "output": {}}
        )
        spec = NewVersion(
            artifact_sha256=sha256_bytes(data),
            artifact_size=len(data),
            flavor=chosen.name,
            flavor_info=jsonable(flavor_info),
            signature=jsonable(signature),
            lineage=jsonable(lineage),
            metrics=jsonable(metrics),
            params=lin.estimator_params(model),
            description=description,
            # computed here from the data given: measured, by whoever owns the store
            provenance={
                **{f"metrics.{k}": MEASURED for k in metrics},
                **{kind: MEASURED for kind in evidence},
            },
        )
        return PreparedVersion(
            name=name,
            artifact=data,
            model=NewModel(name, owner, risk_tier, intended_use, description, dict(tags or {})),
            spec=spec,
            evidence=evidence,
            blobs=dict(reg.blobs),
        )

    def commit(
        self,
        prepared: PreparedVersion,
        *,
        actor: str,
        via: str | None = None,
        requested_risk_tier: str | None = None,
    ) -> ModelVersion:
        """Store a prepared version: its blobs and artifact (content-addressed, so an orphan
        left by a failed transaction is harmless), then the model, version, evidence and audit
        events in one transaction: all of them or none. ``requested_risk_tier``: the tier a
        client asked for, recorded in the ``model.create`` event when the tier given differs
        (the server assigns tiers)."""
        for blob in prepared.blobs.values():
            self.artifacts.put(blob)
        digest = self.artifacts.put(prepared.artifact)
        if digest != prepared.spec.artifact_sha256:
            raise ValidationError(
                "the prepared artifact does not match its sha256", field="artifact"
            )
        name, spec = prepared.name, prepared.spec
        with self._transaction():
            created_model, created = self.store.get_or_create_model(prepared.model, actor)
            if created:
                created_event = created_model.to_dict()
                if requested_risk_tier not in (None, created_model.risk_tier):
                    created_event["requested_risk_tier"] = requested_risk_tier
                self._emit(actor, "model.create", name, created_event)
            else:
                is_agent = created_model.tags.get(KIND_TAG) == AGENT_FLAVOR
                if is_agent != (spec.flavor == AGENT_FLAVOR):
                    kind = "an agent" if is_agent else "a model"
                    raise Conflict(
                        f"{name!r} is registered as {kind}; agents and models never share a name",
                        name=name,
                    )
                _warn_ignored(prepared.model, created_model)
            mv = self.store.create_version(name, spec, prepared.evidence, actor)
            payload: dict[str, Any] = {
                "artifact_sha256": digest,
                "flavor": spec.flavor,
                "metrics": spec.metrics,
                "datasets": {
                    k: v.get("sha256") for k, v in (spec.lineage.get("datasets") or {}).items()
                },
                "evidence": dict(mv.evidence),
                "provenance": dict(mv.provenance),
            }
            if via is not None:
                payload["via"] = via
            self._emit(actor, "version.register", mv.ref, payload)
        return mv

    def _prepare(
        self,
        name: str,
        model: Any,
        train: Dataset | None,
        eval: Dataset | None,
        sensitive_names: list[str],
    ) -> Registration:
        frames: dict[str, tuple[pd.DataFrame | None, np.ndarray | None]] = {}
        sensitive: dict[str, pd.DataFrame] = {}
        for role, ds in (("train", train), ("eval", eval)):
            if ds is None:
                frames[role] = (None, None)
                continue
            X = ds.frame(role)
            y = ds.labels(role, len(X))
            extra = ds.sensitive_frame(role, len(X))
            columns = {}
            for col in sensitive_names:
                if extra is not None and col in extra.columns:
                    columns[col] = extra[col].reset_index(drop=True)
                elif col in X.columns:
                    columns[col] = X[col].reset_index(drop=True)
                else:
                    raise ValidationError(
                        f"sensitive feature {col!r} is neither a column of {role}.X nor of "
                        f"{role}.sensitive",
                        field="sensitive_features",
                    )
            if columns:
                sensitive[role] = pd.DataFrame(columns)
            frames[role] = (X, y)
        classes = getattr(model, "classes_", None)
        eval_X, eval_y = frames["eval"] if eval is not None else frames["train"]
        pred = proba = None
        if eval_X is not None:
            # a scikit-learn Pipeline's predict and predict_proba each run every transform
            # first: transform once and ask the final step both (what Pipeline itself does)
            head, final, inputs = _split_pipeline(model, as_fitted(model, eval_X))
            try:
                if head is not None:
                    inputs = head.transform(inputs)
                pred = np.asarray(final.predict(inputs))
            except Exception as exc:
                raise ValidationError(
                    f"the model failed to predict on the {'eval' if eval else 'train'} data: "
                    f"{type(exc).__name__}: {exc}",
                    field="eval" if eval else "train",
                ) from exc
            if hasattr(model, "predict_proba") and (classes is not None or eval_y is not None):
                try:
                    proba = np.asarray(final.predict_proba(inputs))
                except AttributeError:
                    proba = None
            if classes is None and proba is not None and eval_y is not None:
                classes = sorted(np.unique(eval_y).tolist())
        return Registration(
            name=name,
            model=model,
            train_X=frames["train"][0],
            train_y=frames["train"][1],
            eval_X=eval_X,
            eval_y=eval_y,
            eval_pred=pred,
            eval_proba=proba,
            classes=None if classes is None else list(np.asarray(classes).tolist()),
            sensitive=sensitive,
            sensitive_names=sensitive_names,
        )

    @staticmethod
    def _metrics(reg: Registration) -> dict[str, float]:
        if reg.eval_y is None or reg.eval_pred is None:
            return {}
        if reg.classes is not None:
            return classification_metrics(reg.eval_y, reg.eval_pred, reg.eval_proba, reg.classes)
        return regression_metrics(reg.eval_y.astype(float), reg.eval_pred.astype(float))

    # -- look-ups -------------------------------------------------------------------------

    def get_model(self, name: str) -> Model:
        return self.store.get_model(check_name(name))

    def update_model(
        self,
        name: str,
        *,
        actor: str,
        owner: str | None = None,
        description: str | None = None,
        intended_use: str | None = None,
        tags: dict[str, str | None] | None = None,
    ) -> Model:
        """Change model-level fields; ``tags`` are merged (a ``None`` value removes the tag).
        The risk tier is not here: it changes only through the governed ``set_risk_tier``."""
        before = self.store.get_model(check_name(name))
        given = {"owner": owner, "description": description, "intended_use": intended_use}
        changes: dict[str, Any] = {
            k: v for k, v in given.items() if v is not None and v != getattr(before, k)
        }
        if tags and KIND_TAG in tags and tags[KIND_TAG] != before.tags.get(KIND_TAG):
            # what a name is (model or agent) is fixed by its first registration
            raise ValidationError(f"the {KIND_TAG!r} tag cannot be changed", field="tags")
        if tags:
            merged = {**before.tags, **tags}
            merged = {k: str(v) for k, v in merged.items() if v is not None}
            if merged != dict(before.tags):
                changes["tags"] = merged
        if not changes:
            return before
        with self._transaction():
            after = self.store.update_model(name, changes)
            self._emit(
                actor,
                "model.update",
                name,
                {k: {"from": thaw(getattr(before, k)), "to": v} for k, v in changes.items()},
            )
        return after

    def list_models(self) -> list[Model]:
        return self.store.list_models()

    def serving_versions(self, names: list[str] | None = None) -> list[ModelVersion]:
        """What ``production`` serves (else the latest version) for every model or ``names``,
        ordered by name, in a fixed number of reads: a fleet job resolves them all at once."""
        return self.store.serving_versions(names)

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self.store.list_versions(check_name(name))

    def model_id(self, name: str) -> int:
        """The model's row id, which the prediction and monitoring stores key by;
        ``NotFound`` for no such model."""
        return self.store.model_id(name)

    def get_version(self, ref: str | ModelRef) -> ModelVersion:
        r = parse_ref(ref)
        if r.version is not None:
            return self.store.get_version(r.name, r.version)
        if r.alias is not None:
            return self.store.resolve_alias(r.name, r.alias)
        return self.store.latest_version(r.name)

    def load_model(self, ref: str | ModelRef) -> Any:
        mv = self.get_version(ref)
        if mv.flavor == AGENT_FLAVOR:
            raise ValidationError(f"{mv.ref} is an agent, not a model: use get_agent", field="ref")
        data = self.artifacts.get(mv.artifact_sha256, what=mv.ref)
        return load_flavor(mv.flavor, self.trust | self._own).load(data, dict(mv.flavor_info))

    def verify_artifact(
        self,
        flavor: str,
        flavor_info: dict[str, Any],
        data: bytes,
        signature: dict[str, Any],
        sample: pd.DataFrame | None = None,
    ) -> dict[str, Any]:
        """Check an artifact that arrived as bytes before it is stored: its flavor is installed
        here, it names no code this host does not trust, and it loads and predicts a sample of
        its inputs (``sample``, else rows made up from ``signature``) in the sandbox. Returns
        the flavor info to store (for skops artifacts, the types computed here, whatever the
        client listed)."""
        from mlwarden.registry.flavors.sklearn import vetted_types
        from mlwarden.registry.sandbox import Sandbox, sample_frame

        info = dict(flavor_info)
        if flavor == "generic":
            GenericFlavor(trust=self.trust).check_loader(info)
        elif flavor not in available_flavors():
            raise ValidationError(
                f"unknown flavor {flavor!r}; installed: {[*available_flavors(), 'generic']}",
                field="flavor",
            )
        if flavor == "sklearn":
            info["trusted_types"] = vetted_types(data, self.trust)
        if self.sandbox is None:
            self.sandbox = Sandbox()
        if sample is None:
            sample = sample_frame(signature)
        self.sandbox.check_artifact(flavor, info, data, sample, trust=self.trust)
        return info

    # -- aliases --------------------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, reason: str | None = None
    ) -> AliasChange:
        check_name(name)
        check_alias(alias)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValidationError(
                f"version must be a positive integer, got {version!r}", field="version"
            )
        with self._transaction():
            change = self.store.move_alias(
                name, alias, version, actor=actor, action="set", reason=reason
            )
            self._emit(actor, "alias.set", f"{name}@{alias}", change.to_dict())
        return change

    def delete_alias(self, name: str, alias: str, *, actor: str) -> AliasChange:
        with self._transaction():
            change = self.store.move_alias(
                check_name(name), check_alias(alias), None, actor=actor, action="delete"
            )
            self._emit(actor, "alias.delete", f"{name}@{alias}", change.to_dict())
        return change

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        return self.store.alias_history(check_name(name), alias)

    def get_evidence(self, ref: str, kind: str) -> dict[str, Any]:
        mv = self.get_version(ref)
        return self.store.get_evidence(mv.name, mv.version, kind)

    def record_evidence(self, ref: str, kind: str, content: dict[str, Any], *, actor: str) -> str:
        """Store evidence measured after registration (e.g. a bias audit over logged
        predictions), replacing any earlier of ``kind``, with an ``evidence.record`` event
        carrying its digest in the same transaction, so bundles can prove it."""
        if kind in REGISTRATION_KINDS:
            raise ValidationError(
                f"{kind!r} evidence is collected at registration and cannot be replaced",
                field="kind",
            )
        mv = self.get_version(ref)
        content = jsonable(content)
        with self._transaction():
            digest = self.store.put_evidence(mv.name, mv.version, kind, content)
            self._emit(actor, "evidence.record", mv.ref, {"kind": kind, "sha256": digest})
        return digest


#: Evidence measured at registration and cited by its audit event: never replaced afterwards.
REGISTRATION_KINDS = frozenset(
    {"reference_profile", "fairness", "explain", "explain_background", "privacy", "calibration"}
)


def _check_favorable(label: Any, classes: list[Any] | None) -> Any:
    """The declared favourable label as one of the model's classes (``"0"`` from a CLI or JSON
    matches class ``0``), or a ``ValidationError`` naming the classes."""
    if label is None:
        return None
    if classes is None:
        raise ValidationError(
            "favorable_label applies to classifiers; this model has no classes",
            field="favorable_label",
        )
    # the same matching as ground-truth labels: "0" or 0.0 both name class 0
    (text,), bad = canonical_labels(
        np.array([label], dtype=object), {"output": {"classes": classes}}
    )
    if not bad:
        return next(c for c in classes if str(c) == text)
    raise ValidationError(
        f"favorable_label {label!r} is not one of the model's classes {classes}",
        field="favorable_label",
    )


def _warn_ignored(given: NewModel, stored: Model) -> None:
    """Model-level fields belong to the first registration; say so when a later one differs
    rather than dropping them silently."""
    ignored = [
        k
        for k in ("owner", "intended_use")
        if getattr(given, k) is not None and getattr(given, k) != getattr(stored, k)
    ]
    if any(stored.tags.get(k) != v for k, v in (given.tags or {}).items()):
        ignored.append("tags")
    if ignored:
        warnings.warn(
            f"{stored.name}: {', '.join(ignored)} given here differ from the model's and were "
            f"not changed by this registration; use update_model({stored.name!r}, ...)",
            UserWarning,
            stacklevel=4,
        )


def _split_pipeline(model: Any, X: Any) -> tuple[Any, Any, Any]:
    """(transform steps or None, the step that predicts, X) of ``model``: a plain
    scikit-learn ``Pipeline`` of several steps splits in two, anything else stays whole."""
    cls = type(model)
    if (cls.__module__, cls.__name__) != ("sklearn.pipeline", "Pipeline") or len(model) < 2:
        return None, model, X  # subclasses (imblearn's) may predict differently
    final = model.steps[-1][1]
    if isinstance(final, str) or not hasattr(final, "predict"):  # "passthrough"
        return None, model, X
    return model[:-1], final, X
