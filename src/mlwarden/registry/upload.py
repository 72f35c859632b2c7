"""Registration from uploaded blobs: the owner of the store measures the evidence itself.

A remote client uploads the artifact and its datasets (Parquet) to the content-addressed
artifact store and names them by sha256. Here the artifact is loaded with an installed flavor
(never a client-named loader), the datasets are read back, and ``RegistryService.prepare``
computes the signature, metrics and evidence on them, so all of it is ``measured``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mlwarden.entities import Dataset
from mlwarden.errors import IntegrityError, ValidationError
from mlwarden.registry.flavors import FLAVORS
from mlwarden.registry.service import PreparedVersion, RegistryService

#: the scikit-learn wrappers the XGBoost flavor rebuilds by name (``getattr(xgboost, name)``)
XGBOOST_WRAPPERS = frozenset(
    {"XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}
)


@dataclass(frozen=True)
class DatasetBlob:
    """A dataset uploaded as one Parquet blob: the model's inputs, plus the label column
    (``label``) and the sensitive attributes that are not inputs (``sensitive``)."""

    sha256: str
    label: str | None = None
    sensitive: tuple[str, ...] = ()
    name: str | None = None


@dataclass(frozen=True)
class Upload:
    """What a remote client asks the server to register (``POST …/registrations``)."""

    artifact_sha256: str
    flavor: str
    flavor_info: dict[str, Any] = field(default_factory=dict)
    train: DatasetBlob | None = None
    eval: DatasetBlob | None = None
    sensitive_features: tuple[str, ...] = ()
    owner: str | None = None
    risk_tier: str = "medium"
    intended_use: str | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    favorable_label: Any = None
    # lineage the client reports about itself (its git commit, its environment): recorded
    # as reported, beside the server's own environment, which did the measuring
    client: dict[str, Any] = field(default_factory=dict)


def check_flavor(flavor: str, info: dict[str, Any]) -> None:
    """Only flavors installed on the server load uploads, and their info names no code."""
    if flavor not in FLAVORS:
        raise ValidationError(
            f"flavor {flavor!r} cannot be loaded by the server; choose one of {list(FLAVORS)} "
            "(a generic flavor would run a loader the client names)",
            field="flavor",
        )
    if flavor == "xgboost" and info.get("wrapper") not in (None, *XGBOOST_WRAPPERS):
        raise ValidationError(
            f"flavor_info.wrapper must be one of {sorted(XGBOOST_WRAPPERS)}",
            field="flavor_info.wrapper",
        )


def read_dataset(blob: DatasetBlob, data: bytes, role: str) -> Dataset:
    import pandas as pd

    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types on bad input
        raise ValidationError(
            f"{role} is not a readable Parquet file: {type(exc).__name__}: {exc}",
            field=f"datasets.{role}",
        ) from exc
    wanted = [*([blob.label] if blob.label else []), *blob.sensitive]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"{role} has no column(s) {missing}", field=f"datasets.{role}", missing=missing
        )
    y = frame[blob.label] if blob.label else None
    sensitive = frame[list(blob.sensitive)] if blob.sensitive else None
    X = frame.drop(columns=wanted)
    return Dataset(X, y, name=blob.name, sensitive=sensitive)


def prepare_upload(
    service: RegistryService,
    name: str,
    upload: Upload,
    *,
    actor: str,
    progress: Callable[[str], None] = lambda text: None,
) -> PreparedVersion:
    """Load the uploaded artifact with the server's flavor, read the datasets, and prepare
    the version (measured). Writes nothing; ``service.commit`` stores the result."""
    check_flavor(upload.flavor, upload.flavor_info)
    artifact = _blob(service, upload.artifact_sha256, "artifact")
    datasets: dict[str, Dataset | None] = {}
    for role, blob in (("train", upload.train), ("eval", upload.eval)):
        if blob is not None:
            progress(f"reading the {role} data")
            datasets[role] = read_dataset(blob, _blob(service, blob.sha256, role), role)
    sample = next((ds.X.head(8) for ds in datasets.values() if ds is not None), None)
    # first in the sandbox (a separate process with time and memory limits), then here
    progress("checking the artifact in the sandbox")
    info = service.verify_artifact(upload.flavor, dict(upload.flavor_info), artifact, {}, sample)
    progress("loading the artifact")
    try:
        model = FLAVORS[upload.flavor].load(artifact, info)
    except ValidationError:
        raise
    except Exception as exc:  # what the sandbox could not foresee: refused, never stored
        raise ValidationError(
            f"the artifact does not load as a {upload.flavor} model: "
            f"{type(exc).__name__}: {str(exc)[:300]}",
            field="artifact_sha256",
        ) from exc
    progress("measuring: signature, metrics, profile, fairness, importance")
    prepared = service.prepare(
        name,
        model,
        actor=actor,
        train=datasets.get("train"),
        eval=datasets.get("eval"),
        sensitive_features=list(upload.sensitive_features),
        owner=upload.owner,
        risk_tier=upload.risk_tier,
        intended_use=upload.intended_use,
        description=upload.description,
        tags=dict(upload.tags),
        flavor=upload.flavor,
        favorable_label=upload.favorable_label,
        saved=(artifact, info),
    )
    if not upload.client:
        return prepared
    lineage = dict(prepared.spec.lineage)
    # the server's own working copy is not the client's code: record what the client reports
    lineage["code"] = upload.client.get("code")
    lineage["client_environment"] = upload.client.get("environment")
    lineage["reported_by_client"] = ["code", "client_environment"]
    return replace(prepared, spec=replace(prepared.spec, lineage=lineage))


def _blob(service: RegistryService, digest: str, role: str) -> bytes:
    try:
        return service.artifacts.get(digest, what=role)
    except IntegrityError as exc:
        raise ValidationError(
            f"{role}: no uploaded blob with sha256 {digest[:12]}… (PUT /v1/blobs/{{sha256}} first)",
            field=f"{role}.sha256",
        ) from exc
