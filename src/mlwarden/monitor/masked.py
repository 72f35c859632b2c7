"""A version's reference profile seen through its model's masking policy.

Inputs are masked before a prediction is logged, so a window of the log holds ``30-39`` where
the reference profile holds 34, or ``pz1:…`` where it holds ``94107``. Compared as they are, a
generalized input reads "kind changed: numeric -> categorical" and a pseudonymized one drifts in
every window. So monitoring maps the reference the way the log was masked, column by column:

- categorical reference columns: every category goes through the policy itself (generalize,
  pseudonymize, span redaction), counts are summed per masked value: exact while the reference
  counted its categories exactly (below the categorical cap), else over its frequent items;
- numeric reference columns generalized by age: band counts [lo, lo + width) (and ``top+``) from
  the reference's quantile sketch (exact while the sketch is, else within its rank error);
  datetime columns generalized by date: month counts the same way;
- anything else (a numeric column pseudonymized or redacted, a whole value redacted) has no
  comparable reference: the column is left out of drift with the reason, never mis-reported;
- dropped columns are left out with the reason.

``check_policy`` refuses, when the policy is set, the generalizations no reference can follow
(a numeric input generalized as a postcode or a date, a datetime one as an age or a postcode).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError

DATE = "datetime"
NUMERIC_TYPES = ("integer", "float")
# the generalizations a reference profile of each signature type can follow
FOLLOWS = {"integer": ("age",), "float": ("age",), DATE: ("date",)}


def check_policy(policy: Any, signature: dict[str, Any], ref: str) -> None:
    """Raise ``ValidationError`` if ``policy`` generalizes an input of ``ref`` (a version,
    ``name@v``) in a way its reference profile cannot be mapped to."""
    for spec in signature.get("inputs", []):
        column, kind = spec["name"], spec.get("type")
        rule = policy.rule_for(column)
        if rule.action != "generalize" or kind not in FOLLOWS or rule.kind in FOLLOWS[kind]:
            continue
        raise ValidationError(
            f"column {column!r}: generalize (kind {rule.kind}) turns {ref}'s {kind} input into "
            f"labels its reference profile cannot be mapped to, which would make drift for "
            f"this input meaningless; mask it with drop or pseudonymize (hash), or generalize "
            f"it with kind {' or '.join(FOLLOWS[kind])}",
            field=f"columns.{column}",
            column=column,
            action="generalize",
            kind=rule.kind,
        )


def masked_reference(ref: Any, policy: Any, skip: tuple[str, ...] = ()) -> tuple[Any, dict]:
    """(``ref`` with every masked column mapped as the log is, {column: why it is left out of
    drift}). ``policy`` None returns ``ref`` unchanged; ``skip`` names columns never masked
    (the logged prediction and score)."""
    from mlwarden.engines.profile import ColumnProfile, Profile
    from mlwarden.engines.profile.column import CATEGORICAL

    if policy is None:
        return ref, {}
    columns: dict[str, ColumnProfile] = {}
    left_out: dict[str, str] = {}
    for name in ref.columns:
        col = ref[name]
        rule = policy.rule_for(name)
        if name in skip or rule.action == "keep" or col.kind is None:
            columns[name] = col
            continue
        if rule.action == "drop":
            left_out[name] = "dropped by the masking policy"
            continue
        if rule.action == "redact" and not rule.spans:
            left_out[name] = "redacted by the masking policy: no values to compare"
            continue
        counts: dict[str, int] | None = None
        if col.kind == CATEGORICAL:
            counts = _map_categories(policy, name, col.category_counts())
        elif rule.action == "generalize" and rule.kind == "age":
            counts = _bands(policy, name, col, _age_edges(col, rule))
        elif rule.action == "generalize" and rule.kind == "date" and col.type_counts_["other"]:
            counts = _bands(policy, name, col, _month_edges(col), as_time=True)
        if counts is None:
            kind = f" ({rule.kind})" if rule.kind else ""
            left_out[name] = (
                f"masked by the masking policy ({rule.action}{kind}): its numeric reference "
                "cannot be masked the same way; not compared"
            )
            continue
        nulls = col.count_ - sum(counts.values())
        columns[name] = ColumnProfile.from_counts(
            name,
            {k: c for k, c in counts.items() if k != ""},
            null_count=max(nulls, col.null_count_),
            kll_k=col.kll_k,
            categorical_cap=col.categorical_cap,
        )
    out = Profile(columns, ref.n_rows, reference=ref.reference, params=ref.params)
    return out, left_out


def _map_categories(policy: Any, name: str, counts: dict[str, int]) -> dict[str, int]:
    keys = list(counts)
    frame = pd.DataFrame({name: pd.Series(keys, dtype=object)})
    masked = policy.apply(frame)[name].tolist()
    out: dict[str, int] = {}
    for value, n in zip(masked, counts.values(), strict=True):
        if value is not None:  # unreadable values are masked to None: nulls in the log too
            out[str(value)] = out.get(str(value), 0) + int(n)
    return out


def _age_edges(col: Any, rule: Any) -> np.ndarray:
    """Band boundaries inside [min, max]: multiples of the width below ``top``, and ``top``."""
    lo, hi = col.min_, col.max_
    if not (np.isfinite(lo) and np.isfinite(hi)):
        lo, hi = col.quantile(0.0), col.quantile(1.0)
    width = rule.width
    inner = np.arange(np.floor(lo / width) * width + width, hi + width, width, dtype=np.float64)
    inner = inner[inner <= hi]
    if rule.top is not None:
        inner = inner[inner < rule.top]
        if lo < rule.top <= hi:
            inner = np.append(inner, float(rule.top))
    return inner


def _month_edges(col: Any) -> np.ndarray:
    """Month starts inside (min, max], in seconds since the epoch (profiles store datetimes so)."""
    start = pd.Timestamp(col.min_, unit="s").to_period("M").to_timestamp()
    months = pd.date_range(start, pd.Timestamp(col.max_, unit="s"), freq="MS")[1:]
    return (months.asi8 // 1_000_000_000).astype(np.float64)


def _bands(
    policy: Any, name: str, col: Any, inner: np.ndarray, as_time: bool = False
) -> dict[str, int]:
    """Rows per masked label, left-closed bins between ``inner`` boundaries."""
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    estimated = col.counts_in(edges)
    counts = _round_total(estimated, col.n_)
    starts = np.concatenate([[col.min_], inner])
    out: dict[str, int] = {}
    for start, n in zip(starts.tolist(), counts.tolist(), strict=True):
        if not n:
            continue
        value: Any = pd.Timestamp(start, unit="s") if as_time else start
        label = policy.apply_record({name: value}).get(name)
        key = "" if label is None else str(label)
        out[key] = out.get(key, 0) + int(n)
    return out


def _round_total(estimated: np.ndarray, total: int) -> np.ndarray:
    """Integers summing to ``total`` (largest remainders) from estimated counts."""
    floor = np.floor(estimated).astype(np.int64)
    short = int(total - floor.sum())
    if short > 0:
        order = np.argsort(-(estimated - floor), kind="stable")[:short]
        floor[order] += 1
    return floor


def masked_signature(signature: dict[str, Any], policy: Any) -> dict[str, Any]:
    """``signature`` as the masked log meets it, for quality checks: dropped inputs are not
    expected, masked ones are checked for nulls only (their types and ranges are the mask's)."""
    if policy is None:
        return signature
    inputs = []
    for spec in signature.get("inputs", []):
        action = policy.rule_for(spec["name"]).action
        if action == "drop":
            continue
        inputs.append(spec if action == "keep" else {"name": spec["name"], "type": "string"})
    return {**signature, "inputs": inputs}
