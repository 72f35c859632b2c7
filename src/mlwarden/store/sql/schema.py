"""Table definitions (SQLAlchemy Core): every table of the store, in this one module.

Alembic migrations create exactly these (tests/test_migrations.py compares the two). Stores
under ``store/sql`` import their tables from here; nothing else defines a ``Table``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")
Timestamp = DateTime(timezone=True)
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGSERIAL.
BigId = BigInteger().with_variant(Integer(), "sqlite")

models = Table(
    "models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("owner", String(256)),
    Column("risk_tier", String(16), nullable=False),
    Column("intended_use", Text),
    Column("description", Text),
    Column("tags", Json, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("created_by", String(256), nullable=False),
    # the last number handed out; bumped with UPDATE … RETURNING under the row lock
    Column("last_version", Integer, nullable=False, default=0),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("artifact_size", BigInteger, nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("flavor_info", Json, nullable=False),
    Column("signature", Json, nullable=False),
    Column("lineage", Json, nullable=False),
    Column("metrics", Json, nullable=False),
    Column("params", Json, nullable=False),
    Column("status", String(32), nullable=False),
    Column("description", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("created_by", String(256), nullable=False),
    # metric name -> "measured" | "asserted" (migration 0013); NULL: all measured
    Column("metrics_provenance", Json),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("updated_by", String(256), nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer),
    Column("to_version", Integer),
    Column("action", String(32), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("reason", Text),
    Column("at", Timestamp, nullable=False),
    Index("ix_alias_history_model_alias", "model_id", "alias", "id"),
)

# Everything collected about a version (reference profile, fairness audit, explanation
# summary, privacy scan, card), addressed by the sha256 of its canonical JSON.
evidence = Table(
    "evidence",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "version_id", BigId, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("kind", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", Json, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    # "measured" (computed by the side that owns the store) or "asserted" (sent by a client)
    Column("provenance", String(16), nullable=False, server_default="measured"),
    UniqueConstraint("version_id", "kind", name="uq_evidence_version_kind"),
)

# ---- audit log (columns as in mlwarden.audit.log.AuditBackend; docs/audit.md)

# seq is assigned by the audit service under its lock (1, 2, 3, … no gaps), never by the
# database: a sequence would leave gaps on rollback.
SeqId = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", SeqId, primary_key=True, autoincrement=False),
    Column("time", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("payload_digest", String(64), nullable=False),
    # TEXT, never JSON/JSONB: the exact canonical text is what was hashed
    Column("payload", Text),
    Column("salt", String(32)),
    # the Merkle leaf hash recorded at append (32 raw bytes; NULL until integrated): one row
    # per event instead of an event row and a level-0 node row. Verifiers recompute it.
    Column("leaf", LargeBinary(32)),
    # subject: model pages, erasure, prediction lookups; time: since/until. Actor and action
    # have a handful of values each: no index (migration 0025).
    Index("ix_audit_events_subject", "subject"),
    Index("ix_audit_events_time", "time"),
)

# levels >= 1 only: the leaves (level 0) are audit_events.leaf
audit_nodes = Table(
    "audit_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,  # clustered on (level, idx): one b-tree lookup per node
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("time", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", Text),
)

# ---- access control

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

# Only the SHA-256 of a token is kept (see mlwarden.access.tokens for why a fast hash is right).
tokens = Table(
    "tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp),
    Column("revoked_at", Timestamp),
    Column("last_used_at", Timestamp),
    Column("description", Text),
    # what the token may do at most (mlwarden.access.scopes); NULL: all its user may
    Column("scope", Text),
)

# A dashboard session: the cookie holds a random secret, this table only its SHA-256, so
# signing out (revoked_at) holds across restarts, workers and replicas.
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_id", BigId, ForeignKey("tokens.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    Index("ix_dashboard_sessions_expires_at", "expires_at"),
)

# Permissions per team and model (issue 18): teams own models; a role is granted, or an
# action denied, to a user on a team (all its models) or on one model; an explicit deny wins.
teams = Table(
    "teams",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("created_by", String(256), nullable=False),
)

team_models = Table(
    "team_models",
    metadata,
    # one owning team per model
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", BigId, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_name", String(256), nullable=False),
    Column("scope", String(8), nullable=False),  # team | model
    Column("target", String(256), nullable=False),  # the team's or the model's name
    Column("effect", String(8), nullable=False),  # allow (what: a role) | deny (an action, *)
    Column("what", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("created_by", String(256), nullable=False),
    UniqueConstraint("user_name", "scope", "target", "effect", "what", name="uq_grants"),
    Index("ix_grants_user_name", "user_name"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("approver", String(256), nullable=False),
    Column("role", String(16), nullable=False),
    Column("comment", Text),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("model_id", "version", "approver", name="uq_approvals_model_version_approver"),
)

# ---- human oversight (EU AI Act Art. 14): a model's review rule, and the queue of flagged
# predictions with each reviewer's decision

review_rules = Table(
    "review_rules",
    metadata,
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("rule", Text, nullable=False),
    Column("set_by", String(256), nullable=False),
    Column("set_at", Timestamp, nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    Column("prediction_id", String(64), primary_key=True),
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("output", Text),
    Column("status", String(16), nullable=False),  # pending, confirmed, overridden
    Column("decided_output", Text),
    Column("reviewer", String(256)),
    Column("comment", Text),
    Column("flagged_at", Timestamp, nullable=False),
    Column("decided_at", Timestamp),
    Index("ix_reviews_model_status", "model_id", "status"),
)

# ---- policy decisions (mlwarden.policy): one row per gate evaluation, rule inputs included

decisions = Table(
    "decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("policy", String(256), nullable=False),
    Column("policy_sha256", String(64), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("applies", Boolean, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("results", Json, nullable=False),
    # the stored gate's version (None for inline and shipped policies); inline: client-sent
    Column("policy_version", Integer),
    Column("inline", Boolean, nullable=False, server_default=text("false")),
    Index("ix_decisions_model_id_version", "model_id", "version"),
)

# Gate policies an admin installed (policy.gates): every version kept, by hash; and what
# each protected alias or risk tier is bound to (a policy name: its newest version applies).
gate_policies = Table(
    "gate_policies",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

policy_bindings = Table(
    "policy_bindings",
    metadata,
    Column("target", String(160), primary_key=True),  # "alias:production", "risk_tier:high"
    Column("policy", String(128), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

# ---- monitoring policies and alerts (mlwarden.alerts)

# Installed monitoring policies: what the scheduler in `mlwarden serve` and a bare
# `mlwarden monitor run` evaluate. The source is kept verbatim so its sha256 matches the file.
monitoring_policies = Table(
    "monitoring_policies",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

# One row per firing episode of a rule on a model version. At most one firing row per
# fingerprint (partial unique index): two schedulers evaluating at once cannot both fire.
alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("fingerprint", String(512), nullable=False),
    Column("policy", String(256), nullable=False),
    Column("policy_sha256", String(64), nullable=False),
    Column("rule", String(256), nullable=False),
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("actions", Json, nullable=False),
    Column("values", Json, nullable=False),
    Column("window_start", Timestamp),
    Column("window_end", Timestamp),
    Column("started_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("ended_at", Timestamp),
    Column("resolution", Text),
    Index("ix_alerts_fingerprint", "fingerprint"),
    Index("ix_alerts_model_id_status", "model_id", "status"),
    Index(
        "uq_alerts_firing",
        "fingerprint",
        unique=True,
        postgresql_where=Column("status") == "firing",
        sqlite_where=Column("status") == "firing",
    ),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(16), nullable=False),
    Column("channel", String(256), nullable=False),
    Column("format", String(16), nullable=False),
    Column("url", Text),
    Column("attempt", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("http_status", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("delivery_id", String(128)),
    Index("ix_alert_deliveries_alert_id", "alert_id"),
)

# One row per key the store depends on but never holds (the master key, the audit signing
# key): a check value (HMAC of a fixed label under the key, or the public key id) by which a
# server started with a different or missing key refuses instead of silently diverging.
store_keys = Table(
    "store_keys",
    metadata,
    Column("purpose", String(32), primary_key=True),
    Column("check_value", String(128), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

# Alert channels an admin installed: the only places alerts are sent. Policies name them.
alert_channels = Table(
    "alert_channels",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("format", String(16), nullable=False),
    Column("url", Text),
    Column("secret_env", String(128)),
    Column("created_by", String(256), nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

# ---- prediction log (store/sql/predictions.py)

predictions = Table(
    "predictions",
    metadata,
    Column("id", String(36), primary_key=True),
    # no foreign key: the writer resolved the id from the registry, and on PostgreSQL the
    # per-row check would cost 40% of ingest (models are never deleted)
    Column("model_id", BigId, nullable=False),
    Column("version", Integer, nullable=False),
    Column("ts", Timestamp, nullable=False),
    # yyyymmdd, for reading by day; ranges use the (model_id, ts) index
    Column("day", Integer, nullable=False),
    Column("inputs", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("score", Float),
    Column("latency_ms", Float),
    Column("reasons", Text),
    Column("subject", String(128)),
    # the caller's W3C traceparent (mlwarden.tracing), linking the decision to its trace
    Column("traceparent", String(55)),
    # the batch a row was logged in, named by the batch's first id (the first_id of its
    # predictions.log event; see prediction_batches). NULL for rows logged before 0026.
    Column("batch", String(36)),
    Index("ix_predictions_model_ts", "model_id", "ts"),
    # most rows name no subject: only those that do are indexed (erasure, export)
    Index(
        "ix_predictions_subject",
        "subject",
        sqlite_where=text("subject IS NOT NULL"),
        postgresql_where=text("subject IS NOT NULL"),
    ),
)

labels = Table(
    "labels",
    metadata,
    Column("prediction_id", String(36), primary_key=True),
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("label", Text, nullable=False),
    Column("ts", Timestamp, nullable=False),
    # a window's read joins its model's labels at once (hash join), not one probe per row
    Index("ix_labels_model_id", "model_id"),
)

# Monitoring results as a time series (SqlMonitorStore): one row per model, version, window,
# segment and window key.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("window", String(16), nullable=False),
    Column("start", Timestamp, nullable=False),
    Column("end", Timestamp, nullable=False),
    Column("segment", String(256), nullable=False),
    # time windows are keyed by their start, row-count windows by their first prediction
    Column("key", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("profile_sha256", String(64)),
    Column("result", Text, nullable=False),
    Column("computed_at", Timestamp, nullable=False),
    # the result's dataset drift verdict, copied out so the inventory of hundreds of models
    # reads two columns instead of parsing every result (~12 KB each); NULL: no verdict
    Column("drifted", Boolean),
    Column("share_drifted", Float),
    UniqueConstraint(
        "model_id", "version", "window", "segment", "key", name="uq_monitor_windows_key"
    ),
)
#: what readers of stored windows get: the summary columns above are the inventory's
MONITOR_WINDOW_COLUMNS = tuple(
    c for c in monitor_windows.columns if c.name not in ("drifted", "share_drifted")
)

# ---- data-subject rights (store/sql/vault.py; privacy/)

# One wrapped AES key per subject pseudonym: deleting the row shreds the subject's payloads.
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

retention = Table(
    "retention",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("days", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(256), nullable=False),
)

# Per-model masking policies (privacy/service.py), applied before any input is written.
masking_policies = Table(
    "masking_policies",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("policy", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(256), nullable=False),
)

# ---- model-validation findings (reports/findings.py): the register a validation report shows;
# every change is an audit event, so the row holds only the current state
findings = Table(
    "findings",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model", String(128), nullable=False, index=True),
    Column("version", Integer, nullable=True),  # null: the finding is about the model
    Column("title", String(512), nullable=False),
    Column("description", Text, nullable=True),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(256), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_by", String(256), nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

# ---- agents' tool calls through the MCP gateway (store/sql/tool_calls.py; gateway/)

# One row per tools/call the gateway saw. ``arguments`` and ``result`` are masked, and sealed
# under the subject's key when the call names a data subject (erasure shreds them).
tool_calls = Table(
    "tool_calls",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("agent", String(256), nullable=False),
    Column("tool", String(256), nullable=False),
    Column("ts", Timestamp, nullable=False),
    # allow, deny, approve (needs approval) or redact: what the policy decided
    Column("decision", String(16), nullable=False),
    # pending (awaiting approval), approved, denied, done, error, expired
    Column("status", String(16), nullable=False),
    Column("approvals_needed", Integer, nullable=False, default=0),
    Column("rules", Json, nullable=False),
    Column("arguments", Text, nullable=False),
    Column("result", Text),
    Column("error", Text),
    Column("latency_ms", Float),
    Column("subject", String(64)),
    Column("audit_seq", BigInteger),
    Index("ix_tool_calls_agent_ts", "agent", "ts"),
    Index("ix_tool_calls_status", "status"),
)

# Who approved or denied a pending call; one verdict per person and call (separation of duties).
tool_call_approvals = Table(
    "tool_call_approvals",
    metadata,
    Column("call_id", String(36), ForeignKey("tool_calls.id", ondelete="CASCADE"), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("comment", Text),
    Column("ts", Timestamp, nullable=False),
    UniqueConstraint("call_id", "actor", name="uq_tool_call_approvals_call_actor"),
)

# Long server jobs (remote registrations): kept in the store so any worker or replica answers a
# poll, and a job whose process died is reported as interrupted (mlwarden.server.jobs).
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("owner", String(256), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("state", String(16), nullable=False),
    Column("progress", Text, nullable=False),
    Column("result", Text),  # JSON
    Column("error", Text),  # JSON
    # host and process id of the server process that runs it
    Column("runner", String(300), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_jobs_state_updated_at", "state", "updated_at"),
)

# KServe inference-logger halves waiting for their pair (mlwarden.monitor.kserve): in the store,
# so a request and its response reaching different workers or replicas still pair.
ingest_halves = Table(
    "ingest_halves",
    metadata,
    Column("model", String(256), primary_key=True),
    Column("event_id", String(256), primary_key=True),
    Column("request", Text),  # the event as JSON
    Column("response", Text),
    Column("received_at", Timestamp, nullable=False),
    Index("ix_ingest_halves_received_at", "received_at"),
)

# Each logged batch (a predictions.batch), written in the batch's transaction: the seq of its
# predictions.log audit event and its ids in logged order (the text its ids_sha256 hashes;
# NULL above MAX_BATCH_IDS), so a receipt proves a prediction however old, and whatever
# happened to the rows since, without an index on every row.
prediction_batches = Table(
    "prediction_batches",
    metadata,
    Column("batch", String(36), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("ids", Text),
)
