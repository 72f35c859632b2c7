"""The frozen result every drift method and ``detect`` return."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def _json_float(x: float | None) -> float | None:
    if x is None or math.isnan(x):
        return None
    return x if math.isfinite(x) else (1e308 if x > 0 else -1e308)


@dataclass(frozen=True)
class DriftResult:
    """One drift measurement between a reference and a current sample of one column.

    ``statistic`` is the method's value (a distance, PSI, or test statistic); ``p_value`` is the
    method's own p-value for tests, or the companion test's (``p_value_method``) beside an
    effect size, or ``None``. ``threshold`` and ``drifted`` are set by ``detect``/``compare``.
    ``approximate`` marks values computed from sketches; ``error_bound`` bounds the statistic's
    error where a bound is known (KLL rank error, 99 % confidence).
    """

    method: str
    statistic: float
    p_value: float | None = None
    threshold: float | None = None
    drifted: bool | None = None
    column: str | None = None
    kind: str | None = None
    n_ref: int | None = None
    n_cur: int | None = None
    approximate: bool = False
    error_bound: float | None = None
    p_value_method: str | None = None
    p_value_adjusted: float | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable dict (infinite values clipped, NaN as null)."""
        out = asdict(self)
        for key in ("statistic", "p_value", "threshold", "error_bound", "p_value_adjusted"):
            out[key] = _json_float(out[key])
        out["details"] = {
            k: _json_float(v) if isinstance(v, float) else v for k, v in self.details.items()
        }
        return out
