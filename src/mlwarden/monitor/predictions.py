"""Logging predictions and labels: validated, batched, audited per batch."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.entities import ModelVersion, as_frame
from mlwarden.errors import AlreadyExists, ValidationError
from mlwarden.monitor.oversight import Logged
from mlwarden.registry.signature import canonical_labels
from mlwarden.store.prediction_store import PredictionStore
from mlwarden.store.sql.predictions import RecordsJSON, new_ids, reasons_json

Masker = Callable[[str, pd.DataFrame], pd.DataFrame]
Signature = Callable[[str, int], dict[str, Any]]  # (model, version) -> signature
#: appends an audit event in the caller's transaction; returns it (with its seq)
Recorder = Callable[[str, str, str, dict[str, Any]], Any]


#: above this many ids a batch's ids are not kept for receipts (its event is still proven)
MAX_BATCH_IDS = 100_000


def batch_payload(ids: Sequence[str]) -> tuple[dict[str, Any], str | None]:
    """A logged batch's ``predictions.log`` payload, whose ``ids_sha256`` commits to exactly
    which predictions were logged, in order, and the text it hashes (the ids joined by
    newlines) as kept for receipts, ``None`` above ``MAX_BATCH_IDS``."""
    text = "\n".join(ids)
    payload = {
        "count": len(ids),
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
        "ids_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    return payload, text if len(ids) <= MAX_BATCH_IDS else None


#: longest prediction id (the column is a UUID's 36 characters)
MAX_PREDICTION_ID = 36


def _column(values: Any, n: int, field: str) -> np.ndarray:
    arr = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values)
    if arr.ndim != 1 or len(arr) != n:
        raise ValidationError(
            f"{field} must be one-dimensional with {n} values (one per row of X), "
            f"got shape {arr.shape}",
            field=field,
        )
    return arr


def attach_sensitive(mv: ModelVersion, frame: pd.DataFrame, sensitive: Any) -> pd.DataFrame:
    """``frame`` with the version's protected attributes beside it, for fairness in monitoring:
    one row per row of ``frame``, only attributes declared at registration that are not model
    inputs (so they never reach the model)."""
    if sensitive is None:
        return frame
    if isinstance(sensitive, dict):  # {attribute: values}
        sensitive = pd.DataFrame(sensitive)
    extra = as_frame(sensitive, "sensitive").reset_index(drop=True)
    _check_attributes(mv, list(extra.columns), len(extra), len(frame))
    return pd.concat([frame.reset_index(drop=True), extra], axis=1)


def merge_sensitive(
    mv: ModelVersion, records: list[dict[str, Any]], sensitive: list[dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """The server's form of :func:`attach_sensitive`: one object (or null) per record."""
    names = list(dict.fromkeys(k for attrs in sensitive for k in attrs or {}))
    _check_attributes(mv, names, len(sensitive), len(records))
    return [{**r, **(a or {})} for r, a in zip(records, sensitive, strict=True)]


def _check_attributes(mv: ModelVersion, names: list[str], rows: int, expected: int) -> None:
    allowed = mv.sensitive_attributes
    unknown = [c for c in names if c not in allowed]
    if unknown:
        why = (
            "model inputs: log them with the inputs"
            if set(unknown) <= set(mv.input_names)
            else f"not declared at registration as sensitive attributes (declared: {allowed})"
        )
        raise ValidationError(f"sensitive: {', '.join(map(repr, unknown))} are {why}",
                              field="sensitive")  # fmt: skip
    if rows != expected:
        raise ValidationError(
            f"sensitive has {rows} rows but there are {expected} predictions: one per row",
            field="sensitive",
        )


def _records(frame: pd.DataFrame, fields: frozenset[str] | None) -> list[dict[str, Any]]:
    """Rows for a review rule: only the columns it reads (converting all of them would cost
    more than the rule), missing values as ``None``."""
    part = frame if fields is None else frame[[c for c in frame.columns if c in fields]]
    return part.astype(object).where(part.notna(), None).to_dict("records")  # type: ignore[return-value]


class PredictionLog:
    """``log`` writes a batch of predictions in one transaction and one audit event."""

    def __init__(
        self,
        store: PredictionStore,
        *,
        model_id: Callable[[str], int],
        transaction: Callable[[], Any],
        record: Recorder | None = None,
        mask: Masker | None = None,
        signature: Signature | None = None,
        flag: Callable[[Sequence[Logged]], int] | None = None,
    ) -> None:
        self.store = store
        #: human oversight: queues what the model's review rule flags, in the log's transaction
        self._flag = flag
        self._signature = signature
        self._model_id = model_id
        self._transaction = transaction
        self._record = record
        self._mask = mask

    def log(
        self,
        mv: ModelVersion,
        X: Any,
        y_pred: Any,
        *,
        actor: str,
        scores: Any = None,
        ids: Sequence[str] | None = None,
        timestamps: Any = None,
        subjects: Sequence[str | None] | None = None,
        subject_column: str | None = None,
        reasons: Sequence[Any] | None = None,
        latency_ms: Any = None,
        sensitive: Any = None,
    ) -> list[str]:
        frame = as_frame(X, "X")
        if subject_column is not None:  # the identifier is a key, never a logged input
            if subject_column not in frame.columns:
                raise ValidationError(
                    f"subject_column {subject_column!r} is not a column of X",
                    field="subject_column",
                )
            subjects = frame[subject_column].astype(str).tolist()
            frame = frame.drop(columns=subject_column)
        frame = attach_sensitive(mv, frame, sensitive)
        n = len(frame)
        outputs = _column(y_pred, n, "y_pred")
        score = None if scores is None else _column(scores, n, "scores").astype(float)
        if ids is None:
            ids = new_ids(n)
        else:
            ids = [str(i) for i in _column(ids, n, "ids")]
            if len(set(ids)) != n:
                raise AlreadyExists("ids must be unique within a batch", field="ids")
            if any(not 0 < len(i) <= MAX_PREDICTION_ID for i in ids):
                raise ValidationError(
                    f"ids must be 1 to {MAX_PREDICTION_ID} characters long", field="ids"
                )
        if timestamps is None:
            ts = pd.Series([datetime.now(UTC)] * n)
        else:
            try:
                ts = pd.Series(pd.to_datetime(_column(timestamps, n, "timestamps"), utc=True))
            except (ValueError, TypeError, OverflowError) as exc:
                raise ValidationError(
                    f"timestamps: not a date-time ({exc})", field="timestamps"
                ) from None
        if self._mask is not None:
            frame = self._mask(mv.name, frame)  # nothing unmasked reaches the database
        days = (ts.dt.year * 10000 + ts.dt.month * 100 + ts.dt.day).astype(int).tolist()
        latency = None if latency_ms is None else _column(latency_ms, n, "latency_ms")
        rows = {
            "id": ids,
            "model_id": [self._model_id(mv.name)] * n,
            "version": [mv.version] * n,
            "ts": self.store.timestamps(ts),
            "day": days,
            "inputs": RecordsJSON(frame),
            "output": outputs.astype(str).tolist(),
            "score": [None] * n
            if score is None
            else [None if np.isnan(s) else float(s) for s in score],
            "latency_ms": [None] * n if latency is None else latency.astype(float).tolist(),
            "reasons": reasons_json(reasons, n),
            "subject": [None] * n if subjects is None else list(subjects),
        }
        payload, text = batch_payload(ids)
        with self._transaction():
            self.store.insert(rows)
            if self._record is not None:
                # one event per batch: the ids' digest commits to exactly which were logged
                event = self._record(actor, "predictions.log", mv.ref, payload)
                if n and event is not None:  # a receipt finds the batch's event by its key
                    self.store.link_batches([(ids[0], event.seq, text)])
            if self._flag is not None:
                model_id = rows["model_id"][0] if n else 0
                self._flag([Logged(actor, mv.name, model_id, mv.version, ids, rows["output"],
                                   rows["score"], partial(_records, frame))])  # fmt: skip
        return list(ids)

    def log_labels(
        self, name: str, ids: Sequence[str], y_true: Any, *, actor: str
    ) -> dict[str, Any]:
        ids = [str(i) for i in ids]
        values = _column(y_true, len(ids), "y_true")
        model_id = self._model_id(name)
        versions = self.store.id_versions(model_id, ids)
        unknown = [i for i in ids if i not in versions]
        labels = self._checked_labels(name, ids, values, versions)
        pairs = [(i, v) for i, v in zip(ids, labels, strict=True) if i in versions]
        with self._transaction():
            if pairs:
                self.store.upsert_labels(model_id, [p[0] for p in pairs], [p[1] for p in pairs])
            if self._record is not None:
                self._record(
                    actor, "labels.log", name, {"count": len(pairs), "unknown": len(unknown)}
                )
        return {"labelled": len(pairs), "unknown_ids": unknown}

    def lookup(
        self, prediction_id: str, audit: Any, *, unseal: bool = True
    ) -> dict[str, Any] | None:
        """One logged prediction with its audit proof, or ``None`` for an unknown id (see
        :func:`mlwarden.monitor.lookup.find_prediction`; ``unseal``: the caller may read a
        subject-linked prediction's inputs and output)."""
        from mlwarden.monitor.lookup import find_prediction

        return find_prediction(self.store, audit, prediction_id, unseal=unseal)

    def get(self, prediction_id: str, audit: Any, *, unseal: bool = True) -> dict[str, Any]:
        """:meth:`lookup`, raising ``NotFound`` for an unknown id and ``ValidationError`` for
        one that cannot be an id."""
        from mlwarden.monitor.lookup import get_prediction

        return get_prediction(self.store, audit, prediction_id, unseal=unseal)

    def purge(self, name: str, before_day: int, *, actor: str) -> int:
        """Retention by hand: delete ``name``'s predictions (and labels) logged before day
        ``yyyymmdd``, with one audit event in the same transaction; returns how many went."""
        model_id = self._model_id(name)
        with self._transaction():
            deleted = self.store.purge(model_id, before_day)
            if self._record is not None:
                self._record(
                    actor, "predictions.purge", name, {"before_day": before_day, "deleted": deleted}
                )
        return deleted

    def _checked_labels(
        self, name: str, ids: list[str], values: np.ndarray, versions: dict[str, int]
    ) -> list[str]:
        """Labels as stored, each checked against the classes (or numeric output) of the
        version that made the prediction; any bad label refuses the whole batch, so a window
        never meets a label its metrics cannot read."""
        if self._signature is None:
            return values.astype(str).tolist()
        labels = values.astype(str).tolist()
        bad: list[str] = []
        for version in sorted(set(versions.values())):
            at = [k for k, i in enumerate(ids) if versions.get(i) == version]
            fixed, wrong = canonical_labels(values[at], self._signature(name, version))
            for k, label in zip(at, fixed, strict=True):
                labels[k] = label
            bad += [f"{ids[at[w]]} ({values[at[w]]!r})" for w in wrong]
        if bad:
            shown = ", ".join(bad[:20]) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
            raise ValidationError(
                f"{len(bad)} label(s) are not outputs this model can produce: {shown}",
                field="y_true",
            )
        return labels
