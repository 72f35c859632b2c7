"""Data of the prediction look-up: the logged prediction and the audit proof of its batch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import literal_column, select, text

from mlwarden.audit.signing import CHECKPOINT_ORIGIN, public_key_b64
from mlwarden.server.dashboard.views import utc
from mlwarden.store.sql.predictions import labels, predictions
from mlwarden.store.sql.schema import models


@dataclass
class PredictionPage:
    id: str
    model: str
    version: int
    ts: datetime
    inputs: dict[str, Any]
    output: str
    score: float | None
    label: str | None
    reasons: list[dict[str, Any]]
    proof: dict[str, Any] | None = None
    note: str | None = None


def prediction(wd: Any, prediction_id: str) -> PredictionPage | None:
    with wd.db.reading() as conn:
        r = conn.execute(
            select(predictions, models.c.name, labels.c.label)
            .join(models, models.c.id == predictions.c.model_id)
            .outerjoin(labels, labels.c.prediction_id == predictions.c.id)
            .where(predictions.c.id == prediction_id)
        ).first()
    if r is None:
        return None
    page = PredictionPage(
        id=r.id,
        model=r.name,
        version=r.version,
        ts=utc(r.ts),
        inputs=json.loads(r.inputs),
        output=r.output,
        score=r.score,
        label=r.label,
        reasons=json.loads(r.reasons) if r.reasons else [],
    )
    page.proof, page.note = batch_proof(wd, r.name, r.version, r.model_id, r.id)
    return page


#: How many of a version's newest prediction batches are searched for a prediction's event.
BATCH_SCAN = 5000
#: Above this many rows a batch's ids are not sent to the page (only the event is proven).
MAX_BATCH_IDS = 100_000


def batch_proof(
    wd: Any, name: str, version: int, model_id: int, prediction_id: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``predictions.log`` event of the batch holding a prediction, its inclusion proof,
    the latest signed checkpoint and the batch's ids in logged order, for the browser to check
    end to end: ids → ids_sha256 → payload digest → leaf → root.

    A batch is found by the physical order its rows were inserted in (SQLite rowid,
    PostgreSQL ctid): one insert per batch. The browser re-hashes the ids, so a batch put
    together wrongly can only fail the check, never pass it.
    """
    events = wd.audit.events(
        subject=f"model:{name}/{version}",
        action="predictions.log",
        limit=BATCH_SCAN,
        newest_first=True,
    )
    events = [e for e in events if e.payload_json is not None]
    if not events:
        return None, "no audit event found for this prediction's batch"
    pos = _positions(wd, model_id, version)
    want = pos.position_of([prediction_id]).get(prediction_id)
    ends = pos.position_of(
        [x for e in events for x in (e.payload.get("first_id"), e.payload.get("last_id")) if x]
    )
    event = ids = None
    for e in events:
        first, last = ends.get(e.payload.get("first_id")), ends.get(e.payload.get("last_id"))
        if want is not None and first is not None and last is not None and first <= want <= last:
            event = e
            if int(e.payload.get("count") or 0) <= MAX_BATCH_IDS:
                ids = pos.between(first, last)
            break
    if event is None:
        return None, "the batch event of this prediction was not found among the newest batches"
    proof = wd.audit.prove(event.seq)
    cp = wd.audit.backend.latest_checkpoint()
    signed = None
    if cp is not None and wd.audit.public_key is not None:
        signed = cp.verify(wd.audit.public_key)
    return (
        {
            "event": {
                "seq": event.seq,
                "time": event.time,
                "actor": event.actor,
                "action": event.action,
                "subject": event.subject,
                "payload_digest": event.payload_digest,
                "payload_json": event.payload_json,
                "salt": event.salt,
            },
            "proof": proof.to_dict(),
            "checkpoint": None
            if cp is None
            else {
                **cp.to_dict(),
                "signature_ok": signed,
                # for the browser's own Ed25519 check of the signed text
                "origin": CHECKPOINT_ORIGIN,
                "public_key": None
                if wd.audit.public_key is None
                else public_key_b64(wd.audit.public_key),
            },
            "ids": ids,
            "prediction_id": prediction_id,
        },
        None,
    )


class _Positions:
    """Insertion order of a version's prediction rows (see :func:`batch_proof`)."""

    def __init__(self, wd: Any, model_id: int, version: int) -> None:
        self.db = wd.db
        self.sqlite = wd.db.is_sqlite
        self.col: Any = literal_column("rowid" if self.sqlite else "ctid")
        self.where = (predictions.c.model_id == model_id, predictions.c.version == version)

    def _key(self, v: Any) -> Any:
        if self.sqlite:
            return int(v)
        page, _, item = str(v).strip("()").partition(",")
        return (int(page), int(item))

    def position_of(self, ids: list[str]) -> dict[str, Any]:
        if not ids:
            return {}
        with self.db.reading() as conn:
            found = conn.execute(
                select(predictions.c.id, self.col).where(*self.where, predictions.c.id.in_(ids))
            ).all()
        return {i: self._key(p) for i, p in found}

    def between(self, first: Any, last: Any) -> list[str]:
        if self.sqlite:
            lo, hi, cond = first, last, "rowid >= :lo AND rowid <= :hi"
        else:
            lo, hi = f"({first[0]},{first[1]})", f"({last[0]},{last[1]})"
            cond = "ctid >= CAST(:lo AS tid) AND ctid <= CAST(:hi AS tid)"
        with self.db.reading() as conn:
            found = conn.execute(
                select(predictions.c.id, self.col).where(
                    *self.where, text(cond).bindparams(lo=lo, hi=hi)
                )
            ).all()
        return [i for i, _ in sorted(found, key=lambda r: self._key(r[1]))]


def _positions(wd: Any, model_id: int, version: int) -> _Positions:
    return _Positions(wd, model_id, version)
