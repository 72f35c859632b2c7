"""Mergeable per-group count tables, the one summary every fairness metric is computed from.

The table is kept at the finest grain: one *cell* per combination of all sensitive features
(``sex × race`` → ``("Female", "Black")``, ...). A single feature's groups and any intersection
are sums of cells, so a window, a segment or a stream merges by adding cells, and the marginals
of merged tables equal the marginals of the whole data exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError

#: Confusion-count columns, in the order the bootstrap and the metric code rely on.
CONFUSION = ("tp", "fp", "tn", "fn")
#: Regression sums per cell; ``err`` is ``y_pred - y_true``.
REGRESSION = ("n", "sum_err", "sum_sq_err", "sum_abs_err", "sum_true", "sum_pred")
#: Separator for intersection attribute names (``sex__race``): a valid CEL identifier.
INTERSECTION_SEP = "__"
#: Separator for intersection group labels (``Female|Black``).
GROUP_SEP = "|"
MISSING = "<missing>"


def as_feature_frame(sensitive_features: Any, n: int | None = None) -> pd.DataFrame:
    """Normalise Series / DataFrame / dict of arrays / 1-D or 2-D array to a string DataFrame.

    Returns a frame of shape (n_samples, n_features) whose values are group labels as ``str``;
    missing values become ``"<missing>"`` so they form their own, visible group.
    """
    if isinstance(sensitive_features, pd.DataFrame):
        frame = sensitive_features.reset_index(drop=True)
    elif isinstance(sensitive_features, pd.Series):
        frame = sensitive_features.reset_index(drop=True).to_frame(
            name=sensitive_features.name if sensitive_features.name is not None else "group"
        )
    elif isinstance(sensitive_features, Mapping):
        frame = pd.DataFrame({str(k): np.asarray(v) for k, v in sensitive_features.items()})
    else:
        arr = np.asarray(sensitive_features)
        if arr.ndim == 1:
            frame = pd.DataFrame({"group": arr})
        elif arr.ndim == 2:
            frame = pd.DataFrame(arr, columns=[f"sf{i}" for i in range(arr.shape[1])])
        else:
            raise ValidationError("sensitive_features must be 1-D or 2-D", ndim=arr.ndim)
    if frame.shape[1] == 0:
        raise ValidationError("sensitive_features has no columns")
    if n is not None and len(frame) != n:
        raise ValidationError(
            "sensitive_features and labels differ in length", n_labels=n, n_features=len(frame)
        )
    frame.columns = [str(c) for c in frame.columns]
    out = {}
    for col in frame.columns:
        values = frame[col]
        missing = values.isna().to_numpy()
        strings = values.astype(object).astype(str).to_numpy(dtype=object)
        strings[missing] = MISSING
        out[col] = strings
    return pd.DataFrame(out)


def to_binary(y: Any, favorable_label: Any) -> np.ndarray:
    """Map labels of shape (n_samples,) to a bool array: ``True`` where equal to the favorable one.

    String labels (``'>50K'``) and numeric ones compare as given; a numeric favorable label also
    matches its string form so CSV-read labels work.
    """
    arr = np.asarray(y).ravel()
    if arr.dtype == bool and isinstance(favorable_label, bool | int | np.integer):
        return arr == bool(favorable_label)
    hit = arr == favorable_label
    if not np.any(hit) and arr.dtype.kind in "OUS":
        hit = arr.astype(str) == str(favorable_label)
    return np.asarray(hit, dtype=bool)


class GroupCounts:
    """Per-cell confusion counts (or regression error sums) over sensitive-feature combinations.

    Parameters
    ----------
    task : ``"classification"`` or ``"regression"``.
    favorable_label : label value counted as the favorable (positive) outcome.
    n_bins : number of equal-width score bins on [0, 1] kept for calibration.

    Attributes (after ``fit``)
    --------------------------
    features_ : list of sensitive feature names, length n_features.
    cells_ : list of tuples of group labels, length n_cells.
    table_ : dict name → ndarray of shape (n_cells,) (``tp, fp, tn, fn`` or regression sums) or
        (n_cells, n_bins) for the calibration bins ``bin_n, bin_score, bin_label``.
    has_scores_ : whether score sums and calibration bins were collected.
    """

    def __init__(self, task: str = "classification", favorable_label: Any = 1, n_bins: int = 10):
        self.task = task
        self.favorable_label = favorable_label
        self.n_bins = n_bins

    # -- building ---------------------------------------------------------------------------
    def fit(self, y_true: Any, y_pred: Any, sensitive_features: Any, y_score: Any = None):
        """Count ``y_true``/``y_pred`` of shape (n_samples,) per sensitive-feature cell."""
        if self.task not in ("classification", "regression"):
            raise ValidationError("task must be 'classification' or 'regression'", task=self.task)
        yt = np.asarray(y_true).ravel()
        yp = np.asarray(y_pred).ravel()
        if len(yt) != len(yp):
            raise ValidationError("y_true and y_pred differ in length", n=len(yt), m=len(yp))
        frame = as_feature_frame(sensitive_features, len(yt))
        # One integer code per row for its cell: factorize each feature, then unique the rows.
        codes = np.column_stack([pd.factorize(frame[c])[0] for c in frame.columns])
        if codes.shape[1] == 1:  # one feature: the same cells, without unique's row view
            uniq, cell = np.unique(codes[:, 0], return_inverse=True)
        else:
            uniq, cell = np.unique(codes, axis=0, return_inverse=True)
        cell = cell.ravel()
        _, first = np.unique(cell, return_index=True)  # a row per cell, to read its labels
        n_cells = len(uniq)
        self.features_ = list(frame.columns)
        self.cells_ = [tuple(frame.iloc[i].tolist()) for i in first] if len(yt) else []
        table: dict[str, np.ndarray] = {}
        if self.task == "classification":
            t = to_binary(yt, self.favorable_label)
            p = to_binary(yp, self.favorable_label)
            # outcome index 0..3 in CONFUSION order: tp, fp, tn, fn
            outcome = np.where(p, np.where(t, 0, 1), np.where(t, 3, 2))
            flat = np.bincount(cell * 4 + outcome, minlength=n_cells * 4).reshape(n_cells, 4)
            for i, name in enumerate(CONFUSION):
                table[name] = flat[:, i].astype(np.int64)
            self.has_scores_ = y_score is not None
            if y_score is not None:
                s = np.asarray(y_score, dtype=float).ravel()
                if len(s) != len(yt):
                    raise ValidationError("y_score and y_true differ in length")
                table["score_sum"] = np.bincount(cell, weights=s, minlength=n_cells)
                b = np.clip((s * self.n_bins).astype(np.int64), 0, self.n_bins - 1)
                idx = cell * self.n_bins + b
                size = n_cells * self.n_bins
                shape = (n_cells, self.n_bins)
                table["bin_n"] = np.bincount(idx, minlength=size).reshape(shape).astype(np.int64)
                table["bin_score"] = np.bincount(idx, weights=s, minlength=size).reshape(shape)
                table["bin_label"] = np.bincount(idx, weights=t, minlength=size).reshape(shape)
        else:
            self.has_scores_ = False
            yt_f, yp_f = yt.astype(float), yp.astype(float)
            err = yp_f - yt_f
            table["n"] = np.bincount(cell, minlength=n_cells).astype(np.int64)
            for name, w in (
                ("sum_err", err),
                ("sum_sq_err", err * err),
                ("sum_abs_err", np.abs(err)),
                ("sum_true", yt_f),
                ("sum_pred", yp_f),
            ):
                table[name] = np.bincount(cell, weights=w, minlength=n_cells)
        self.table_ = table
        return self

    # -- merging and serialising ------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "table_"):
            raise ValidationError("GroupCounts is not fitted; call fit() first")

    def merge(self, other: GroupCounts) -> GroupCounts:
        """Return a new table equal to the counts of both batches (cells matched by label)."""
        self._check_fitted()
        other._check_fitted()
        same = (
            self.task == other.task
            and self.features_ == other.features_
            and self.n_bins == other.n_bins
            and self.has_scores_ == other.has_scores_
            and str(self.favorable_label) == str(other.favorable_label)
        )
        if not same:
            raise ValidationError(
                "cannot merge GroupCounts with different task, features, bins, scores or label",
                left=self.features_,
                right=other.features_,
            )
        cells = list(dict.fromkeys([*self.cells_, *other.cells_]))
        pos = {c: i for i, c in enumerate(cells)}
        out = GroupCounts(self.task, self.favorable_label, self.n_bins)
        out.features_ = list(self.features_)
        out.cells_ = cells
        out.has_scores_ = self.has_scores_
        out.table_ = {}
        for part in (self, other):
            idx = np.array([pos[c] for c in part.cells_], dtype=np.int64)
            for name, arr in part.table_.items():
                if name not in out.table_:
                    out.table_[name] = np.zeros((len(cells), *arr.shape[1:]), dtype=arr.dtype)
                np.add.at(out.table_[name], idx, arr)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form; ``from_dict`` restores an equal object."""
        self._check_fitted()
        label = self.favorable_label
        if isinstance(label, np.generic):
            label = label.item()
        return {
            "task": self.task,
            "favorable_label": label,
            "n_bins": self.n_bins,
            "features": list(self.features_),
            "cells": [list(c) for c in self.cells_],
            "has_scores": bool(self.has_scores_),
            "table": {k: v.tolist() for k, v in self.table_.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupCounts:
        out = cls(data["task"], data["favorable_label"], int(data["n_bins"]))
        out.features_ = list(data["features"])
        out.cells_ = [tuple(c) for c in data["cells"]]
        out.has_scores_ = bool(data["has_scores"])
        ints = {*CONFUSION, "n", "bin_n"}
        n_cells = len(out.cells_)
        out.table_ = {}
        for k, v in data["table"].items():
            arr = np.asarray(v, dtype=np.int64 if k in ints else float)
            out.table_[k] = arr.reshape((n_cells, *arr.shape[1:])) if arr.size == 0 else arr
        return out

    # -- views --------------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        self._check_fitted()
        if self.task == "classification":
            return int(sum(self.table_[k].sum() for k in CONFUSION))
        return int(self.table_["n"].sum())

    def attributes(self, intersections: bool = True) -> dict[str, tuple[str, ...]]:
        """Attribute name → the sensitive features it combines (singles, then intersections)."""
        self._check_fitted()
        out: dict[str, tuple[str, ...]] = {f: (f,) for f in self.features_}
        if intersections:
            for r in range(2, len(self.features_) + 1):
                for combo in combinations(self.features_, r):
                    out[INTERSECTION_SEP.join(combo)] = combo
        return out

    def membership(self, features: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
        """Group labels and a 0/1 matrix of shape (n_groups, n_cells) assigning cells to groups.

        Groups are sorted by label so reports are stable across windows.
        """
        self._check_fitted()
        cols = [self.features_.index(f) for f in features]
        keys = [GROUP_SEP.join(cell[c] for c in cols) for cell in self.cells_]
        labels = sorted(set(keys))
        pos = {g: i for i, g in enumerate(labels)}
        m = np.zeros((len(labels), len(keys)))
        m[[pos[k] for k in keys], np.arange(len(keys))] = 1.0
        return labels, m

    def group_table(self, features: tuple[str, ...]) -> tuple[list[str], dict[str, np.ndarray]]:
        """Aggregate the cells to the groups of ``features``: arrays of shape (n_groups, ...)."""
        labels, m = self.membership(features)
        out = {k: np.tensordot(m, v, axes=(1, 0)) for k, v in self.table_.items()}
        return labels, out

    def __repr__(self) -> str:
        if not hasattr(self, "table_"):
            return f"GroupCounts(task={self.task!r})"
        return (
            f"GroupCounts(task={self.task!r}, features={self.features_}, "
            f"cells={len(self.cells_)}, n={self.n_samples})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GroupCounts):
            return NotImplemented
        if self.features_ != other.features_ or set(self.cells_) != set(other.cells_):
            return False
        order = [other.cells_.index(c) for c in self.cells_]
        return all(np.allclose(v, other.table_[k][order]) for k, v in self.table_.items()) and set(
            self.table_
        ) == set(other.table_)

    __hash__ = None  # type: ignore[assignment]
