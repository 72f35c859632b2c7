"""Request and response bodies: the OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlwarden.access import Approval, ApprovalStatus, NewToken, Token, User
from mlwarden.audit.log import InclusionProof
from mlwarden.audit.signing import Checkpoint
from mlwarden.audit.verify import VerificationResult
from mlwarden.entities import PROVENANCES, AliasChange, Model, ModelVersion
from mlwarden.entities.access import AccessDecision, Grant
from mlwarden.entities.alerts import Alert, Channel, Delivery, Evaluation
from mlwarden.entities.audit import AuditEvent
from mlwarden.entities.policy import Binding, Decision, GatePolicy, Promotion
from mlwarden.monitor.report import MonitorReport
from mlwarden.registry.refs import MAX_VERSION
from mlwarden.server.wire_schema import wire_schema

Scalar = str | int | float | bool | None


class ErrorOut(BaseModel):
    error: str = Field(description="stable error code (the SDK exception's `code`)")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


# ---- entities: each response schema is derived from the entity's dataclass (one definition
# of each shape, with the properties it names in ``wire_derived``; ``RemoteWarden`` decodes
# with ``mlwarden.entities.wire.decode``).

ModelOut = wire_schema(Model)
VersionOut = wire_schema(
    ModelVersion,
    provenance=(
        dict[str, Literal[PROVENANCES]],  # type: ignore[valid-type]  # a tuple of literals
        Field(
            default_factory=dict,
            description="`metrics.NAME` or evidence kind -> measured (computed by the server "
            "from data it holds) or asserted (sent by a client)",
        ),
    ),
)
AliasChangeOut = wire_schema(AliasChange)
UserOut = wire_schema(User)
TokenOut = wire_schema(Token)
NewTokenOut = wire_schema(NewToken)
GrantOut = wire_schema(Grant)
AccessDecisionOut = wire_schema(AccessDecision)
ApprovalOut = wire_schema(Approval)
ApprovalStatusOut = wire_schema(ApprovalStatus)
AuditEventOut = wire_schema(AuditEvent)
CheckpointOut = wire_schema(Checkpoint)
VerificationOut = wire_schema(VerificationResult)
ProofOut = wire_schema(InclusionProof)
DecisionOut = wire_schema(Decision)
PromotionOut = wire_schema(Promotion)
GatePolicyOut = wire_schema(GatePolicy)
BindingOut = wire_schema(Binding)
AlertOut = wire_schema(Alert)
ChannelOut = wire_schema(Channel)
DeliveryOut = wire_schema(Delivery)
EvaluationOut = wire_schema(Evaluation)
MonitorReportOut = wire_schema(MonitorReport)


# ---- registry


class ModelUpdateIn(BaseModel):
    """``wd.update_model``: fields left out are unchanged; a tag set to null is removed. The
    risk tier is not here (``PUT /v1/models/{name}/risk-tier``, validator or admin)."""

    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=10_000)
    intended_use: str | None = Field(default=None, max_length=10_000)
    tags: dict[str, str | None] | None = Field(default=None, max_length=256)


class SetAliasIn(BaseModel):
    version: int = Field(ge=1, le=MAX_VERSION)
    reason: str | None = None
    override: bool = Field(default=False, description="override a protected alias (admins)")


class RegisterIn(BaseModel):
    """A version prepared by the SDK (``RemoteWarden.register_model``): the artifact's bytes
    travel base64-encoded with everything the registry computed from the data."""

    artifact_b64: str
    flavor: str
    flavor_info: dict[str, Any] = Field(default_factory=dict)
    signature: dict[str, Any] = Field(default_factory=dict)
    lineage: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float | None] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)
    blobs_b64: dict[str, str] = Field(
        default_factory=dict, description="extra content-addressed blobs (sha256 -> base64)"
    )
    owner: str | None = None
    # requested only: validators and admins get it, others the server's default tier
    risk_tier: Literal["low", "medium", "high"] | None = None
    intended_use: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


SHA256_PATTERN = r"^[0-9a-f]{64}$"


class DatasetIn(BaseModel):
    """A dataset uploaded as one Parquet blob (``PUT /v1/blobs/{sha256}``)."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=SHA256_PATTERN, description="the Parquet blob's sha256")
    label: str | None = Field(default=None, max_length=256, description="the label column")
    sensitive: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="columns holding sensitive attributes that are not model inputs",
    )
    name: str | None = Field(default=None, max_length=256)


class RegistrationIn(BaseModel):
    """A registration the server measures (``POST /v1/models/{name}/registrations``): the
    artifact and datasets are uploaded blobs; the server loads the artifact with one of its
    own flavors and computes the signature, metrics and evidence itself."""

    model_config = ConfigDict(extra="forbid")

    artifact_sha256: str = Field(pattern=SHA256_PATTERN)
    flavor: str = Field(max_length=64, description="a flavor installed on the server")
    flavor_info: dict[str, Any] = Field(default_factory=dict)
    train: DatasetIn | None = None
    eval: DatasetIn | None = None
    sensitive_features: list[str] = Field(default_factory=list, max_length=256)
    owner: str | None = Field(default=None, max_length=256)
    # requested only: validators and admins get it, others the server's default tier
    risk_tier: Literal["low", "medium", "high"] | None = None
    intended_use: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    favorable_label: Scalar = Field(
        default=None, description="the class fairness counts as favourable (one of the classes)"
    )
    client: dict[str, Any] = Field(
        default_factory=dict,
        description="lineage the client reports about itself (code, environment); recorded "
        "as reported",
    )


class BlobOut(BaseModel):
    sha256: str
    size: int | None = None
    created: bool


class JobOut(BaseModel):
    id: str
    kind: str
    owner: str
    subject: str
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: str
    result: dict[str, Any] | None = Field(
        default=None, description="when succeeded: the registered version"
    )
    error: dict[str, Any] | None = Field(
        default=None, description="when failed: {error, message, details, http_status}"
    )
    created_at: datetime
    updated_at: datetime


# ---- access


class CreateUserIn(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    role: Literal["viewer", "developer", "validator", "admin"]


class CreateTokenIn(BaseModel):
    user: str = Field(min_length=1, max_length=256)
    expires_in: str | None = Field(default=None, description="e.g. 30d, 12h; none: never")
    description: str | None = None
    scope: str | None = Field(
        default=None,
        max_length=4096,
        description="a service token's scope: model:NAME:ACTION[,ACTION…] clauses, separated "
        "by ; (NAME may be *); none: all its user may",
    )


class ApproveIn(BaseModel):
    comment: str | None = None


# ---- predictions


class PredictIn(BaseModel):
    """Rows as ``records`` (a list of objects) or ``columns`` (an object of equal-length
    lists): exactly one of the two."""

    records: list[dict[str, Any]] | None = None
    columns: dict[str, list[Any]] | None = None
    subjects: list[str | None] | None = Field(
        default=None, description="data-subject key per row (for erasure requests)"
    )
    sensitive: list[dict[str, Scalar] | None] | None = Field(
        default=None,
        description="protected attributes per row, declared at registration and not model "
        "inputs: logged beside the inputs for fairness monitoring, never given to the model",
    )


class PredictOut(BaseModel):
    model: str
    version: int
    alias: str | None
    ids: list[str] = Field(description="prediction ids (UUIDv7), one per row")
    outputs: list[Any]
    scores: list[float | None] | None
    reasons: list[Any] | None = None
    reason_unit: str | None = Field(
        default=None,
        description="with reasons: what contributions are measured in (log_odds, probability, "
        "margin or raw)",
    )
    excluded_features: list[str] | None = Field(
        default=None,
        description="with reasons: model inputs never cited as a reason (by default the "
        "version's sensitive features; MLWARDEN_SERVE_REASONS_EXCLUDE)",
    )
    excluded_contribution: list[float] | None = Field(
        default=None,
        description="with reasons: per row, the summed contribution of excluded_features, in "
        "reason_unit",
    )
    logged: bool = Field(description="true when the predictions are in the log")


class OipTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class OipRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[OipTensor]
    outputs: list[dict[str, Any]] | None = None


class OipResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    outputs: list[OipTensor]


class LogPredictionsIn(BaseModel):
    """``wd.log_predictions`` over HTTP: inputs in either form, one output per row."""

    records: list[dict[str, Any]] | None = None
    columns: dict[str, list[Any]] | None = None
    y_pred: list[Any]
    scores: list[float | None] | None = None
    ids: list[str] | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    timestamps: list[str] | None = None
    subjects: list[str | None] | None = None
    sensitive: list[dict[str, Scalar] | None] | None = None


class IdsOut(BaseModel):
    ids: list[str]


class LabelsIn(BaseModel):
    ids: list[str]
    y_true: list[Scalar]


class LabelsOut(BaseModel):
    labelled: int
    unknown_ids: list[str]


class PurgeIn(BaseModel):
    before_day: int = Field(ge=19700101, le=99991231, description="yyyymmdd, exclusive")


class PurgeOut(BaseModel):
    deleted: int


class PredictionsOut(BaseModel):
    rows: list[dict[str, Any]]


class ReviewRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: str = Field(min_length=1, max_length=4096, description="CEL over output, score, inputs")


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["confirm", "override"]
    output: str | None = Field(default=None, max_length=1024, description="with override")
    comment: str | None = Field(default=None, max_length=4096)


class FindingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION, description="else model-wide")
    title: str = Field(min_length=1, max_length=512)
    severity: str = Field(min_length=1, max_length=16, description="low|medium|high|critical")
    owner: str = Field(min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=16_384)
    status: str = Field(default="open", max_length=16)


class FindingUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(default=None, max_length=16)
    severity: str | None = Field(default=None, max_length=16)
    owner: str | None = Field(default=None, min_length=1, max_length=256)
    title: str | None = Field(default=None, min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=16_384)


class BiasAuditIn(BaseModel):
    """``wd.bias_audit``: NYC LL144 over the logged decisions (docs/compliance.md)."""

    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION, description="else all")
    since: str | None = Field(default=None, max_length=64, description="ISO, inclusive")
    until: str | None = Field(default=None, max_length=64, description="ISO, exclusive")
    sex: str = Field(default="sex", min_length=1, max_length=128)
    race: str | None = Field(default=None, min_length=1, max_length=128)
    scoring: bool | None = None
    data_source: str | None = Field(default=None, max_length=4096)


class ValidationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    challenger: str | None = Field(default=None, max_length=300, description="NAME@V")
