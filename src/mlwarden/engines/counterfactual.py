"""Counterfactuals: the smallest change to one actionable feature that flips a model's output.

An exact search, no sampling, written with numpy (``dice-ml`` is not a dependency):

- **trees** (scikit-learn trees and ensembles, LightGBM): a tree's output only changes where a
  split threshold is crossed, so the candidates of a numeric feature are the values just past
  each threshold the trees use for it; the nearest one that flips the output is the answer.
- **linear** (a bare linear classifier on the raw features): the closed form, the value
  where the margin crosses zero, ``x_j - margin / coef_j``.
- **anything else** (pipelines, ONNX, proxies): the feature's reference range on a grid, then
  bisection between the last unflipped and first flipped value, to ``tolerance``.

Categorical features try every other category. Immutable features are never changed and a
monotone feature moves only in its declared direction (``+``: may only increase, as age;
``-``: may only decrease). The change's cost is ``|delta| / scale`` (the reference standard
deviation), 1 for a category, so changes to features of different units compare.

Every candidate is checked by calling the model itself: a counterfactual returned here flips
the model's output by construction, whatever the search took as a hint.

With a ``target`` output (a multiclass model: the runner-up class), a change counts only when
it turns the output into that class, not into any other; the linear closed form then uses the
margin between the predicted class and the target, ``(w_k - w_t) · x + (b_k - b_t)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

#: Candidate values tried per numeric feature on the grid search, and bisection steps after it.
GRID_POINTS = 64
BISECT_STEPS = 40
#: Split thresholds read per feature, at most (bounds the search on a large forest).
MAX_THRESHOLDS = 4096


@dataclass(frozen=True)
class FeatureSpace:
    """What the search may do with one feature. ``kind``: ``numeric`` or ``category``;
    ``low``/``high``: the range searched (reference min and max); ``scale``: the unit of cost;
    ``direction``: ``+`` (may only increase), ``-`` (only decrease) or ``None``;
    ``integer``: candidates are whole numbers."""

    name: str
    kind: str = "numeric"
    low: float | None = None
    high: float | None = None
    scale: float = 1.0
    direction: str | None = None
    integer: bool = False
    categories: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Counterfactual:
    """The change found: ``feature`` from ``before`` to ``after`` turns ``output_before`` into
    ``output_after``; ``cost`` in the feature's scale; ``method``: how it was found."""

    feature: str
    before: Any
    after: Any
    output_before: Any
    output_after: Any
    cost: float
    method: str
    considered: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": {self.feature: {"from": self.before, "to": self.after}},
            "output_before": self.output_before,
            "output_after": self.output_after,
            "cost": self.cost,
            "method": self.method,
            "features_considered": list(self.considered),
        }


Predict = Callable[[list[dict[str, Any]]], Sequence[Any]]
Flips = Callable[[Any], bool]


def find_counterfactual(
    predict: Predict,
    row: Mapping[str, Any],
    spaces: Sequence[FeatureSpace],
    *,
    model: Any = None,
    tolerance: float = 1e-6,
    target: Any = None,
) -> Counterfactual | None:
    """The cheapest single-feature change of ``row`` (a record, as the model's signature
    reads it) over ``spaces`` (the actionable features) that changes ``predict``'s output,
    or ``None`` when no such change exists within the ranges. ``predict`` takes records and
    returns one output per record; ``model`` (optional) lends its split thresholds or
    coefficients to the search. With ``target``, only a change to that output counts."""
    base = dict(row)
    original = predict([base])[0]
    if target is not None and target == original:
        return None

    def flips(out: Any) -> bool:
        return out != original if target is None else out == target

    best: Counterfactual | None = None
    for space in spaces:
        value = base.get(space.name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if space.kind == "category":
            found = _category(predict, base, space, original, flips)
        else:
            pair = None if target is None else (original, target)
            found = _numeric(predict, base, space, original, flips, model, tolerance, pair)
        if found is not None and (best is None or found.cost < best.cost):
            best = found
    if best is None:
        return None
    names = [s.name for s in spaces]
    return replace(best, considered=names)


def _category(
    predict: Predict, base: dict[str, Any], space: FeatureSpace, original: Any, flips: Flips
) -> Counterfactual | None:
    others = [c for c in space.categories if c != base[space.name]]
    if not others:
        return None
    outputs = predict([{**base, space.name: c} for c in others])
    for cat, out in zip(others, outputs, strict=True):
        if flips(out):
            return Counterfactual(space.name, base[space.name], cat, original, out, 1.0, "category")
    return None


def _numeric(
    predict: Predict,
    base: dict[str, Any],
    space: FeatureSpace,
    original: Any,
    flips: Flips,
    model: Any,
    tolerance: float,
    pair: tuple[Any, Any] | None = None,
) -> Counterfactual | None:
    x = float(base[space.name])
    thresholds = tree_thresholds(model, space.name)
    if thresholds is not None:
        step = max(tolerance, 1e-9 * max(1.0, abs(x)))
        candidates = np.concatenate([thresholds + step, thresholds - step])
        method = "tree thresholds"
    else:
        closed = linear_crossing(model, space.name, base, pair)
        if closed is not None:
            # a hair past the crossing, on the far side from x
            step = max(tolerance, 1e-9 * max(1.0, abs(closed)))
            candidates = np.array([closed + math.copysign(step, closed - x)])
            method = "linear closed form"
        else:
            candidates, method = _grid(space, x), "grid + bisection"
    candidates = _allowed(space, x, candidates)
    if candidates.size == 0:
        return None
    order = np.argsort(np.abs(candidates - x), kind="stable")
    candidates = candidates[order]
    outputs = predict([{**base, space.name: _as_value(space, v)} for v in candidates])
    flipped = [i for i, out in enumerate(outputs) if flips(out)]
    if not flipped:
        if method == "linear closed form" and pair is not None:
            # the crossing with the target went to a third class: search the range instead
            return _numeric(predict, base, space, original, flips, None, tolerance)
        return None
    first = flipped[0]
    after = float(candidates[first])
    if method == "grid + bisection":
        # the nearest unflipped point on the same side bounds the boundary from inside
        same_side = [
            float(c)
            for c in candidates[:first]
            if (c - x) * (after - x) > 0 and abs(c - x) < abs(after - x)
        ]
        inside = max(same_side, key=lambda c: abs(c - x), default=x)
        after = _bisect(predict, base, space, flips, inside, after, tolerance)
    value = _as_value(space, after)
    out = predict([{**base, space.name: value}])[0]
    if not flips(out):  # cannot happen for a deterministic model: checked, not assumed
        return None
    return Counterfactual(
        space.name, base[space.name], value, original, out, abs(after - x) / space.scale, method
    )


def _allowed(space: FeatureSpace, x: float, candidates: np.ndarray) -> np.ndarray:
    c = np.asarray(candidates, dtype=float)
    c = c[np.isfinite(c)]
    if space.integer:
        # a whole number on the far side of the threshold from x
        c = np.where(c > x, np.ceil(c), np.floor(c))
    if space.direction == "+":
        c = c[c > x]
    elif space.direction == "-":
        c = c[c < x]
    c = c[c != x]
    return np.unique(c)


def _grid(space: FeatureSpace, x: float) -> np.ndarray:
    low = space.low if space.low is not None else x - 3 * space.scale
    high = space.high if space.high is not None else x + 3 * space.scale
    low, high = min(low, x), max(high, x)
    return np.linspace(low, high, GRID_POINTS)


def _bisect(
    predict: Predict,
    base: dict[str, Any],
    space: FeatureSpace,
    flips: Flips,
    inside: float,
    outside: float,
    tolerance: float,
) -> float:
    """Narrow [inside (unflipped), outside (flipped)] to the boundary; returns a flipped
    value within ``tolerance`` (or one unit for integer features) of it."""
    limit = 1.0 if space.integer else tolerance * max(1.0, abs(outside))
    for _ in range(BISECT_STEPS):
        if abs(outside - inside) <= limit:
            break
        mid = (inside + outside) / 2
        if space.integer:
            mid = math.floor(mid) if outside < inside else math.ceil(mid)
            if mid in (inside, outside):
                break
        if flips(predict([{**base, space.name: _as_value(space, mid)}])[0]):
            outside = mid
        else:
            inside = mid
    return outside


def _as_value(space: FeatureSpace, v: float) -> Any:
    return round(v) if space.integer else float(v)


def _feature_index(model: Any, name: str) -> int | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = getattr(model, "feature_name_", None)  # LightGBM's scikit-learn API
    if names is None:
        return None
    names = [str(n) for n in names]
    return names.index(name) if name in names else None


def tree_thresholds(model: Any, name: str) -> np.ndarray | None:
    """The split thresholds a tree model uses on feature ``name``, or ``None`` when the model
    is not a tree model fitted on named raw features (a pipeline is not: its trees see
    transformed columns)."""
    j = _feature_index(model, name)
    if j is None:
        return None
    booster = getattr(model, "booster_", None)
    if booster is not None and hasattr(booster, "dump_model"):
        return _lightgbm_thresholds(booster, j)
    trees = _sklearn_trees(model)
    if not trees:
        return None
    found = [t.threshold[t.feature == j] for t in trees]
    values = np.unique(np.concatenate(found)) if found else np.array([])
    return values[:MAX_THRESHOLDS]


def _sklearn_trees(model: Any) -> list[Any]:
    if hasattr(model, "tree_"):
        return [model.tree_]
    estimators = getattr(model, "estimators_", None)
    if estimators is None:
        return []
    flat = np.asarray(estimators, dtype=object).ravel().tolist()
    if not all(hasattr(e, "tree_") for e in flat):
        return []
    return [e.tree_ for e in flat]


def _lightgbm_thresholds(booster: Any, j: int) -> np.ndarray:
    out: list[float] = []

    def walk(node: dict[str, Any]) -> None:
        if "split_feature" not in node or len(out) >= MAX_THRESHOLDS:
            return
        if node["split_feature"] == j and node.get("decision_type") == "<=":
            out.append(float(node["threshold"]))
        walk(node.get("left_child", {}))
        walk(node.get("right_child", {}))

    for tree in booster.dump_model().get("tree_info", []):
        walk(tree.get("tree_structure", {}))
    return np.unique(np.asarray(out, dtype=float))


def linear_crossing(
    model: Any, name: str, row: Mapping[str, Any], pair: tuple[Any, Any] | None = None
) -> float | None:
    """For a bare linear classifier on named raw features: the value of ``name`` at which the
    margin ``coef · x + intercept`` crosses zero, the others held; for a multiclass one, the
    margin between the classes of ``pair`` (predicted, target); else ``None``."""
    j = _feature_index(model, name)
    coef = getattr(model, "coef_", None)
    intercept = getattr(model, "intercept_", None)
    if j is None or coef is None or intercept is None:
        return None
    coef = np.asarray(coef, dtype=float)
    bias = np.asarray(intercept, dtype=float).ravel()
    if coef.ndim == 2 and coef.shape[0] != 1:
        classes = [str(c) for c in getattr(model, "classes_", [])]
        if pair is None or str(pair[0]) not in classes or str(pair[1]) not in classes:
            return None  # multiclass without a target: no single margin
        k, t = classes.index(str(pair[0])), classes.index(str(pair[1]))
        coef, bias = coef[k] - coef[t], np.array([bias[k] - bias[t]])
    w = coef.ravel()
    names = [str(n) for n in model.feature_names_in_]
    try:
        x = np.array([float(row[n]) for n in names])
    except (KeyError, TypeError, ValueError):
        return None
    if w[j] == 0:
        return None
    margin = float(w @ x + bias[0])
    return float(x[j] - margin / w[j])
