"""Data-quality rules against the version's signature and reference profile, by column."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

NULL_JUMP = 0.05  # absolute rise in null rate that counts as a jump
NUMERIC_TYPES = ("integer", "float")


def _issue(rule: str, column: str, passed: bool, value: Any, message: str) -> dict[str, Any]:
    return {"rule": rule, "column": column, "passed": passed, "value": value, "message": message}


def check_quality(signature: dict[str, Any], reference: Any, frame: pd.DataFrame) -> list[dict]:
    """Every rule's result for every column: missing and extra columns, type changes, unseen
    categories, values outside the reference range, null-rate jumps."""
    results: list[dict[str, Any]] = []
    specs = {c["name"]: c for c in signature.get("inputs", [])}
    for name in specs:
        if name not in frame.columns:
            results.append(
                _issue(
                    "missing_column",
                    name,
                    False,
                    None,
                    f"{name} is in the signature but not in the data",
                )
            )
    for name in frame.columns:
        if name not in specs:
            results.append(
                _issue("extra_column", name, False, None, f"{name} is not in the signature")
            )
    n = len(frame)
    for name, spec in specs.items():
        if name not in frame.columns or n == 0:
            continue
        col = frame[name]
        null = None
        if spec["type"] in NUMERIC_TYPES:
            if col.dtype.kind in "fiu":  # a numeric array already: the same counts in numpy
                numeric = col.to_numpy()
                null = np.isnan(numeric) if col.dtype.kind == "f" else np.zeros(n, dtype=bool)
                bad = 0
            else:
                numeric = pd.to_numeric(col, errors="coerce")
                bad = int((numeric.isna() & col.notna()).sum())
            results.append(
                _issue(
                    "type",
                    name,
                    bad == 0,
                    bad,
                    f"{bad} non-numeric values in a {spec['type']} column",
                )
            )
            ref = reference[name] if reference is not None and name in reference else None
            if ref is not None and ref.n_finite_:
                outside = int(((numeric < ref.min_) | (numeric > ref.max_)).sum())
                results.append(
                    _issue(
                        "range",
                        name,
                        outside == 0,
                        outside / n,
                        f"{outside} values outside the reference range "
                        f"[{ref.min_:g}, {ref.max_:g}]",
                    )
                )
        elif spec.get("categories") is not None:
            known = set(map(str, spec["categories"]))
            values = col.dropna().astype(str)
            unseen_mask = ~values.isin(known)
            unseen = sorted(values[unseen_mask].unique().tolist())[:10]
            results.append(
                _issue(
                    "unseen_categories",
                    name,
                    not unseen,
                    unseen,
                    f"{int(unseen_mask.sum())} values in unseen categories",
                )
            )
        null_rate = float((col.isna() if null is None else null).mean())
        ref_rate = 0.0
        if reference is not None and name in reference and reference[name].count_:
            ref_rate = reference[name].null_count_ / reference[name].count_
        jump = null_rate - ref_rate
        results.append(
            _issue(
                "null_rate",
                name,
                bool(jump <= NULL_JUMP),
                null_rate,
                f"null rate {null_rate:.1%} vs {ref_rate:.1%} in the reference",
            )
        )
    return results


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in results if not r["passed"]]
    return {
        "checks": len(results),
        "failed": len(failed),
        "failed_columns": sorted({r["column"] for r in failed}),
        "results": results,
        "pass_rate": float(np.mean([r["passed"] for r in results])) if results else 1.0,
    }
