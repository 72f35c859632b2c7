"""One logged prediction by id, with the inclusion proof of the audit event of its batch.

Behind ``wd.prediction(id)``, ``GET /v1/predictions/{id}`` and the dashboard's look-up page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlwarden.audit.signing import CHECKPOINT_ORIGIN, public_key_b64
from mlwarden.errors import NotFound, ValidationError
from mlwarden.monitor.predictions import MAX_BATCH_IDS
from mlwarden.store.prediction_store import PredictionStore

#: How many of a version's newest prediction batches are searched for a prediction's event.
BATCH_SCAN = 5000
#: Prediction ids are UUIDs (36 characters) or a caller's own ids; longer ones are refused.
MAX_ID_LENGTH = 64


def get_prediction(
    store: PredictionStore, audit: Any, prediction_id: str, *, unseal: bool = True
) -> dict[str, Any]:
    """:func:`find_prediction`, raising ``NotFound`` for an unknown id and
    ``ValidationError`` for one that cannot be an id."""
    if not isinstance(prediction_id, str) or not prediction_id.strip():
        raise ValidationError("a prediction id is a non-empty string", field="id")
    if len(prediction_id) > MAX_ID_LENGTH:
        raise ValidationError(f"a prediction id is at most {MAX_ID_LENGTH} characters", field="id")
    found = find_prediction(store, audit, prediction_id, unseal=unseal)
    if found is None:
        raise NotFound(f"no prediction with id {prediction_id!r}", id=prediction_id)
    return found


def find_prediction(
    store: PredictionStore, audit: Any, prediction_id: str, *, unseal: bool = True
) -> dict[str, Any] | None:
    """The prediction as a JSON-ready dict, or ``None`` when no prediction has this id.

    Keys: ``id``, ``model``, ``version``, ``ts`` (ISO 8601, UTC), ``inputs`` (as logged,
    masked), ``output``, ``score``, ``reasons`` (reason codes, when it was explained),
    ``label``, ``sealed`` (subject-linked and read without ``subject.read``: no inputs, output
    or reasons), ``erased`` (its subject was erased), ``proof`` (see :func:`batch_proof`) and
    ``proof_note`` (why there is no proof)."""
    row = store.get(prediction_id, unseal=unseal)
    if row is None:
        return None
    proof, note = batch_proof(
        store, audit, row["model"], row["version"], row["model_id"], row["id"], row["batch"]
    )
    return {
        "id": row["id"],
        "model": row["model"],
        "version": row["version"],
        "ts": _utc(row["ts"]).isoformat(),
        "inputs": None if row["inputs"] is None else json.loads(row["inputs"]),
        "output": row["output"],
        "score": row["score"],
        "reasons": None if row["reasons"] is None else json.loads(row["reasons"]),
        "label": row["label"],
        "sealed": row["sealed"],
        "erased": row["erased"],
        "traceparent": row.get("traceparent"),
        "proof": proof,
        "proof_note": note,
    }


def _utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite may hand back text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def batch_proof(
    store: PredictionStore,
    audit: Any,
    name: str,
    version: int,
    model_id: int,
    prediction_id: str,
    batch: str | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``predictions.log`` event of the batch holding a prediction, its inclusion proof in
    the latest signed checkpoint, that checkpoint, and the batch's ids in logged order, so a
    client can check end to end: ids → ids_sha256 → payload digest → leaf → signed root.

    A row names its ``batch`` (the batch's first id, the ``first_id`` of its event), whose
    transaction recorded the event's seq and the batch's ids (``PredictionStore.link_batches``).
    Rows logged before migration 0026 name none: their event is searched for among the
    version's newest batch events and their batch put together by the rows' physical order
    (SQLite rowid, PostgreSQL ctid), which later updates or concurrent inserts can break on
    PostgreSQL. A client re-hashes the ids, so a batch put together wrongly can only fail the
    check, never pass it.
    """
    subject = f"model:{name}/{version}"
    if batch is not None:
        event, ids = _linked_batch(store, audit, batch, subject)
        missing = "no audit event is recorded for this prediction's batch"
    else:  # logged before migration 0026
        event, ids = _searched_batch(store, audit, subject, model_id, version, prediction_id)
        missing = "the batch event of this prediction was not found among the newest batches"
    if event is None:
        return None, missing
    cp = audit.backend.latest_checkpoint()
    # proven in the signed tree when it holds the event, so the proof checks against it
    in_signed = cp is not None and cp.tree_size >= event.seq
    proof = audit.prove(event.seq, cp.tree_size if in_signed else None)
    signed = None
    if cp is not None and audit.public_key is not None:
        signed = cp.verify(audit.public_key)
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
                # for a client's own Ed25519 check of the signed text
                "origin": CHECKPOINT_ORIGIN,
                "public_key": None
                if audit.public_key is None
                else public_key_b64(audit.public_key),
            },
            "ids": ids,
            "prediction_id": prediction_id,
        },
        None,
    )


def _linked_batch(
    store: PredictionStore, audit: Any, batch: str, subject: str
) -> tuple[Any, list[str] | None]:
    """The batch's ``predictions.log`` event and ids as its transaction recorded them, when
    the event is that batch's (a client re-checks it all the same)."""
    link = store.batch_link(batch)
    if link is None:  # purged with its rows, or logged without an audit log
        return None, None
    seq, ids = link
    event = audit.get(seq)
    if (
        event.action != "predictions.log"
        or event.subject != subject
        or event.payload_json is None
        or event.payload.get("first_id") != batch
    ):
        return None, None
    return event, ids


def _searched_batch(
    store: PredictionStore,
    audit: Any,
    subject: str,
    model_id: int,
    version: int,
    prediction_id: str,
) -> tuple[Any, list[str] | None]:
    """The event and ids of a row logged before batches were recorded: the event among the
    version's ``BATCH_SCAN`` newest, the ids by the rows' physical order."""
    want = store.positions(model_id, version, [prediction_id]).get(prediction_id)
    if want is None:
        return None, None
    events = audit.events(
        subject=subject, action="predictions.log", limit=BATCH_SCAN, newest_first=True
    )
    events = [e for e in events if e.payload_json is not None]
    ends = store.positions(
        model_id,
        version,
        [x for e in events for x in (e.payload.get("first_id"), e.payload.get("last_id")) if x],
    )
    for e in events:
        first, last = ends.get(e.payload.get("first_id")), ends.get(e.payload.get("last_id"))
        if first is not None and last is not None and first <= want <= last:
            big = int(e.payload.get("count") or 0) > MAX_BATCH_IDS
            return e, None if big else store.ids_between(model_id, version, first, last)
    return None, None
