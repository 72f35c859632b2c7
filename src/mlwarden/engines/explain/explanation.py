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
        # ``value`` may be a numpy scalar or array: written as plain Python
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
        with ``units="probability"``, in probability points (see :meth:`contribution_matrix`).
        """
        return self.contribution_matrix(units, rows=[row])[0]

    def contribution_matrix(self, units: str | None = None, rows: Any = None) -> np.ndarray:
        """Contributions of ``rows`` (default all), shape (n_rows, n_features), in the
        explanation's output space or, with ``units="probability"``, in probability points.

        A log-odds explanation is turned into probability points by sharing each row's change
        in probability, sigmoid(output) - sigmoid(base), in proportion to each log-odds
        contribution: additive (they sum to that change) and of the same signs and ranking.
        """
        rows = slice(None) if rows is None else rows
        phi = self.values[rows]
        if units in (None, self.output_space):
            return phi
        if units != "probability" or self.output_space != "log_odds":
            raise ValidationError(
                f"reason codes in {self.output_space} cannot be given in {units}: only "
                "log-odds explanations convert to probability",
                field="units",
            )
        total = phi.sum(axis=1)
        base = self.base_values[rows]
        p_out = _sigmoid(base + total)
        flat = np.abs(total) < 1e-12  # no net change: the slope at the output scales each term
        safe = np.where(flat, 1.0, total)
        scale = np.where(flat, p_out * (1 - p_out), (p_out - _sigmoid(base)) / safe)
        return phi * scale[:, None]

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
        phi = self.contribution_matrix(units, rows=[row])
        order, valid = self._top(phi, k, direction, exclude)
        unit = units or self.output_space
        return [
            self._code(rank, j, self.data.iloc[row, j], float(phi[0, j]), unit)
            for rank, (j, ok) in enumerate(zip(order[0], valid[0], strict=True), start=1)
            if ok
        ]

    def reason_codes_all(
        self,
        k: int = 3,
        direction: str = "both",
        *,
        units: str | None = None,
        exclude: Sequence[str] = (),
    ) -> list[list[ReasonCode]]:
        """:meth:`reason_codes` of every row, selected for all rows at once (no per-row sort)."""
        phi = self.contribution_matrix(units)
        order, valid = self._top(phi, k, direction, exclude)
        unit = units or self.output_space
        cited = np.unique(order[valid])
        # one column at a time: reading a frame cell by cell is the slow part for big batches
        columns = {int(j): self.data.iloc[:, j].to_numpy(dtype=object) for j in cited}
        contrib = np.take_along_axis(phi, order, axis=1).tolist()
        order_l, valid_l = order.tolist(), valid.tolist()
        return [
            [
                self._code(rank, j, columns[j][i], c, unit)
                for rank, (j, ok, c) in enumerate(zip(js, oks, cs, strict=True), start=1)
                if ok
            ]
            for i, (js, oks, cs) in enumerate(zip(order_l, valid_l, contrib, strict=True))
        ]

    def _top(
        self, phi: np.ndarray, k: int, direction: str, exclude: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(column indices (n, k') of the largest |phi| per row, whether each may be cited).

        A stable sort keeps ties in column order, so one row and a batch agree exactly.
        """
        if direction not in ("both", "lowered", "raised"):
            raise ValidationError(
                "direction must be 'both', 'lowered' or 'raised'", field="direction"
            )
        skip = set(exclude)
        allowed = np.array([f not in skip for f in self.feature_names], dtype=bool)
        valid = (phi != 0) & allowed
        if direction != "both":
            valid &= (phi < 0) == (direction == "lowered")
        key = np.where(valid, np.abs(phi), -1.0)
        order = np.argsort(-key, axis=1, kind="stable")[:, : max(k, 0)]
        return order, np.take_along_axis(valid, order, axis=1)

    def _code(self, rank: int, j: int, value: Any, c: float, unit: str) -> ReasonCode:
        name = self.feature_names[j]
        verb = "raised" if c > 0 else "lowered"
        return ReasonCode(
            rank=rank,
            feature=name,
            value=_plain(value),
            contribution=c,
            direction=verb,
            output_space=self.output_space,
            unit=unit,
            text=f"{name} = {_fmt_value(value)} {verb} the score by {_amount(c, unit)}",
        )

    def excluded_contribution(
        self, features: Sequence[str], row: int = 0, units: str | None = None
    ) -> float:
        """The summed contribution of ``features`` (left out of reason codes) to ``row``."""
        return float(self.excluded_contributions(features, units, rows=[row])[0])

    def excluded_contributions(
        self, features: Sequence[str], units: str | None = None, rows: Any = None
    ) -> np.ndarray:
        """:meth:`excluded_contribution` of ``rows`` (default all): shape (n_rows,)."""
        wanted = set(features)
        mask = np.array([f in wanted for f in self.feature_names], dtype=bool)
        return self.contribution_matrix(units, rows)[:, mask].sum(axis=1)

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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _amount(c: float, unit: str) -> str:
    if unit == "probability":
        return f"{abs(c) * 100:.1f} percentage points"
    return f"{abs(c):.2f} ({unit.replace('_', '-')})"
