"""Data of the prediction look-up: the logged prediction and the audit proof of its batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlwarden.server.dashboard.views import utc

if TYPE_CHECKING:
    from mlwarden.client import Warden


@dataclass
class PredictionPage:
    id: str
    model: str
    version: int
    ts: datetime
    inputs: dict[str, Any]
    output: str | None
    score: float | None
    label: str | None
    reasons: list[dict[str, Any]]
    proof: dict[str, Any] | None = None
    note: str | None = None
    #: subject-linked and read without ``subject.read``: inputs, output and reasons withheld
    sealed: bool = False
    #: its data subject was erased: inputs, output and reasons are gone
    erased: bool = False


def prediction(wd: Warden, prediction_id: str, *, unseal: bool = True) -> PredictionPage | None:
    found = wd.prediction_log.lookup(prediction_id, wd.audit, unseal=unseal)
    if found is None:
        return None
    return PredictionPage(
        id=found["id"],
        model=found["model"],
        version=found["version"],
        ts=utc(found["ts"]),
        inputs=found["inputs"] or {},
        output=found["output"],
        score=found["score"],
        label=found["label"],
        reasons=found["reasons"] or [],
        proof=found["proof"],
        note=found["proof_note"],
        sealed=found["sealed"],
        erased=found["erased"],
    )
