"""``Explanation``: additive attributions on the original input columns, and reason codes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError


@dataclass(frozen=True)
class ReasonCode:
    """One of the top contributions to a single prediction, fit for an adverse-action notice."""

    rank: int
    feature: str
    value: Any
    contribution: float
    direction: str  # "raised" or "lowered"
    output_space: str
    unit: str  # what ``contribution`` is measured in: the output space or "probability"
    text: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = _plain(self.value)
        return d


def mean_abs_shap(values: np.ndarray, feature_names: list[str]) -> dict[str, float]:
    """Mean |contribution| per feature for a batch of shape (n_rows, n_features), sorted desc.

    Monitoring calls this per window; the explainer's ``global_importance`` uses it too.
    """
    imp = np.abs(np.asarray(values, dtype=float)).mean(axis=0) if len(values) else None
    if imp is None:
        return {f: 0.0 for f in feature_names}
    order = np.argsort(-imp, kind="stable")
    return {feature_names[i]: float(imp[i]) for i in order}


class Explanation:
    """Attributions for a batch of rows.

    Attributes
    ----------
    values : ndarray (n_rows, n_features), one column per ORIGINAL input column.
    base_values : ndarray (n_rows,), the expected output the contributions start from.
    output : ndarray (n_rows,), the model output in ``output_space``, computed independently.
    residual : ndarray (n_rows,), ``base_values + values.sum(1) - output``.
    data : DataFrame (n_rows, n_features) of the input values explained.
    method, output_space, background_hash, seed, tolerance : provenance of the numbers.
    """

    def __init__(
        self,
        values: np.ndarray,
        base_values: np.ndarray,
        output: np.ndarray,
        data: pd.DataFrame,
        *,
        method: str,
        output_space: str,
        background_hash: str | None,
        seed: int | None,
        tolerance: float,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.values = np.asarray(values, dtype=float)
        self.base_values = np.broadcast_to(
            np.asarray(base_values, dtype=float), (self.values.shape[0],)
        ).copy()
        self.output = np.asarray(output, dtype=float).reshape(-1)
        self.data = data
        self.feature_names = [str(c) for c in data.columns]
        self.method = method
        self.output_space = output_space
        self.background_hash = background_hash
        self.seed = seed
        self.tolerance = tolerance
        self.notes = notes
        self.residual = self.base_values + self.values.sum(axis=1) - self.output

    @property
    def max_abs_residual(self) -> float:
        return float(np.max(np.abs(self.residual))) if len(self.residual) else 0.0

    @property
    def additive(self) -> bool:
        """Whether base value + contributions reproduce the output within ``tolerance``."""
        return self.max_abs_residual <= self.tolerance

    def __len__(self) -> int:
        return self.values.shape[0]

    def __repr__(self) -> str:
        return (
            f"Explanation(rows={len(self)}, features={len(self.feature_names)}, "
            f"method={self.method!r}, output_space={self.output_space!r}, "
            f"max_abs_residual={self.max_abs_residual:.2e})"
        )

    def contributions(self, row: int = 0, units: str | None = None) -> np.ndarray:
        """``row``'s contributions, shape (n_features,), in the explanation's output space or,
        with ``units="probability"``, in probability points.

        A log-odds explanation is turned into probability points by sharing the row's change in
        probability, sigmoid(output) - sigmoid(base), in proportion to each log-odds
        contribution: additive (they sum to that change) and of the same signs and ranking.
        """
        phi = self.values[row]
        if units in (None, self.output_space):
            return phi
        if units != "probability" or self.output_space != "log_odds":
            raise ValidationError(
                f"reason codes in {self.output_space} cannot be given in {units}: only "
                "log-odds explanations convert to probability",
                field="units",
            )
        total = float(phi.sum())
        p_out = _sigmoid(self.base_values[row] + total)
        if abs(total) < 1e-12:  # no net change: the slope at the output scales each term
            return phi * p_out * (1 - p_out)
        return phi * (p_out - _sigmoid(self.base_values[row])) / total

    def reason_codes(
        self,
        k: int = 3,
        row: int = 0,
        direction: str = "both",
        *,
        units: str | None = None,
        exclude: Sequence[str] = (),
    ) -> list[ReasonCode]:
        """Top-``k`` non-zero contributions of ``row`` by magnitude.

        ``direction="lowered"`` keeps only the contributions that pushed the score down (what an
        adverse-action notice lists), ``"raised"`` only those that pushed it up. ``units``:
        the output space (default) or ``"probability"`` (see :meth:`contributions`).
        ``exclude`` names features never to cite, such as protected attributes an adverse-action
        notice must not give as a reason; :meth:`excluded_contribution` reports their share.
        """
        if direction not in ("both", "lowered", "raised"):
            raise ValidationError(
                "direction must be 'both', 'lowered' or 'raised'", field="direction"
            )
        phi = self.contributions(row, units)
        unit = units or self.output_space
        skip = set(exclude)
        order = [
            j
            for j in np.argsort(-np.abs(phi), kind="stable")
            if phi[j] != 0
            and self.feature_names[j] not in skip
            and (direction == "both" or (phi[j] < 0) == (direction == "lowered"))
        ]
        out = []
        for rank, j in enumerate(order[:k], start=1):
            name = self.feature_names[j]
            value = self.data.iloc[row, j]
            c = float(phi[j])
            verb = "raised" if c > 0 else "lowered"
            out.append(
                ReasonCode(
                    rank=rank,
                    feature=name,
                    value=_plain(value),
                    contribution=c,
                    direction=verb,
                    output_space=self.output_space,
                    unit=unit,
                    text=f"{name} = {_fmt_value(value)} {verb} the score by {_amount(c, unit)}",
                )
            )
        return out

    def excluded_contribution(
        self, features: Sequence[str], row: int = 0, units: str | None = None
    ) -> float:
        """The summed contribution of ``features`` (left out of reason codes) to ``row``."""
        phi = self.contributions(row, units)
        wanted = set(features)
        return float(sum(phi[j] for j, f in enumerate(self.feature_names) if f in wanted))

    def global_importance(self) -> dict[str, float]:
        """Mean |contribution| per original feature over these rows, sorted descending."""
        return mean_abs_shap(self.values, self.feature_names)

    def summary(self) -> dict[str, Any]:
        """JSON-serializable evidence: importance plus how it was computed."""
        return {
            "method": self.method,
            "output_space": self.output_space,
            "n_rows": len(self),
            "background_hash": self.background_hash,
            "seed": self.seed,
            "max_abs_residual": self.max_abs_residual,
            "tolerance": self.tolerance,
            "mean_base_value": float(self.base_values.mean()) if len(self) else None,
            "importance": self.global_importance(),
            "notes": list(self.notes),
        }

    def row_dict(self, row: int = 0, k: int | None = None) -> dict[str, Any]:
        """One row's explanation as JSON-ready data, for a prediction log entry.

        ``k`` keeps the ``k`` largest contributions (by magnitude) instead of all of them.
        """
        phi = self.values[row]
        order = np.argsort(-np.abs(phi), kind="stable")[: k if k is not None else len(phi)]
        return {
            "method": self.method,
            "output_space": self.output_space,
            "base_value": float(self.base_values[row]),
            "output": float(self.output[row]),
            "residual": float(self.residual[row]),
            "contributions": {self.feature_names[j]: float(phi[j]) for j in order},
            "background_hash": self.background_hash,
            "seed": self.seed,
        }

    def to_frame(self) -> pd.DataFrame:
        """Contributions as a DataFrame (n_rows, n_features) plus base, output and residual."""
        frame = pd.DataFrame(self.values, columns=self.feature_names, index=self.data.index)
        frame["_base_value"] = self.base_values
        frame["_output"] = self.output
        frame["_residual"] = self.residual
        return frame


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _fmt_value(value: Any) -> str:
    v = _plain(value)
    if v is None:
        return "missing"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _amount(c: float, unit: str) -> str:
    if unit == "probability":
        return f"{abs(c) * 100:.1f} percentage points"
    return f"{abs(c):.2f} ({unit.replace('_', '-')})"
