"""Alert channels installed by an admin (policies name them, never a URL), and the signed
delivery id of each webhook attempt.

Installed monitoring policies whose channels were written inline (``url``, ``format``,
``secret_env``) were installed by an admin, so their channels become installed channels (by
the policy's installer), and the policy's ``channels:`` is rewritten to name them: its sha256
changes accordingly. Delivery still checks each URL against the egress rules and each
``secret_env`` against the allowed names.

Revision ID: 0014
Revises: 0013
"""

import hashlib
import re
from datetime import UTC, datetime

import sqlalchemy as sa
import yaml
from alembic import op

from mlwarden import _yaml

revision = "0014"
down_revision = "0013"

_POLICIES = sa.table(
    "monitoring_policies",
    sa.column("name", sa.String),
    sa.column("source", sa.Text),
    sa.column("sha256", sa.String),
    sa.column("created_by", sa.String),
)
_CHANNELS = sa.table(
    "alert_channels",
    sa.column("name", sa.String),
    sa.column("format", sa.String),
    sa.column("url", sa.Text),
    sa.column("secret_env", sa.String),
    sa.column("created_by", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _channels_node(source: str) -> yaml.Node | None:
    try:
        root = _yaml.compose(source)  # the one loader, with its limits
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if getattr(key, "value", None) == "channels" and isinstance(value, yaml.SequenceNode):
            return value
    return None


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-_.")[:64]
    return slug or "channel"


def _rewrite(source: str, taken: dict[str, tuple], add) -> str | None:
    """``source`` with inline channels replaced by installed names; ``None`` if unchanged."""
    node = _channels_node(source)
    if node is None:
        return None
    names: list[str] = []
    changed = False
    for i, item in enumerate(node.value):
        if isinstance(item, yaml.ScalarNode):
            names.append(str(item.value))
            continue
        if not isinstance(item, yaml.MappingNode):
            return None
        fields = {getattr(k, "value", None): getattr(v, "value", None) for k, v in item.value}
        fmt = fields.get("format") or "json"
        if set(fields) <= {"name"}:
            names.append(str(fields.get("name")))
            continue
        changed = True
        if fmt == "log":
            names.append("log")
            continue
        spec = (fmt, fields.get("url"), fields.get("secret_env"))
        base = _slug(str(fields.get("name") or f"{fmt}-{i + 1}"))
        name, n = base, 1
        while name == "log" or (name in taken and taken[name] != spec):
            n += 1
            name = f"{base[:60]}-{n}"
        if name not in taken:
            taken[name] = spec
            add(name, spec)
        names.append(name)
    if not changed:
        return None
    start, end = node.start_mark.index, node.end_mark.index
    tail = source[end:]
    return (
        source[:start]
        + "["
        + ", ".join(dict.fromkeys(names))
        + "]"
        + ("" if tail.startswith("\n") else "\n")
        + tail
    )


def _convert_inline_channels() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    taken: dict[str, tuple] = {}
    rows = conn.execute(
        sa.select(_POLICIES.c.name, _POLICIES.c.source, _POLICIES.c.created_by)
    ).all()
    for name, source, created_by in rows:

        def add(channel: str, spec: tuple, by: str = created_by) -> None:
            fmt, url, secret_env = spec
            conn.execute(
                _CHANNELS.insert().values(
                    name=channel,
                    format=fmt,
                    url=url,
                    secret_env=secret_env,
                    created_by=by,
                    created_at=now,
                )
            )

        new = _rewrite(source, taken, add)
        if new is not None:
            conn.execute(
                _POLICIES.update()
                .where(_POLICIES.c.name == name)
                .values(source=new, sha256=hashlib.sha256(new.encode()).hexdigest())
            )


def upgrade() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("secret_env", sa.String(128)),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.add_column(sa.Column("delivery_id", sa.String(128)))
    _convert_inline_channels()


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.drop_column("delivery_id")
    op.drop_table("alert_channels")
