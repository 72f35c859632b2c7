"""NYC Local Law 144 bias-audit tables (DCWP rules, 6 RCNY §5-300 ff.).

For each category of sex, of race/ethnicity and of their intersection: the number of people,
how many were selected (or, for a scoring tool, scored above the sample's median), that rate,
and the impact ratio (the rate divided by the highest rate among the categories kept). A
category under ``min_share`` of the audited rows may be excluded from the impact ratios; it is
still listed with its count and rate. People whose category is unknown are counted, not
tabulated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Values that mean "category not known" (compared lower-cased, after stripping).
UNKNOWN = frozenset({"", "nan", "none", "null", "unknown", "?", "<missing>"})
#: The rules let an auditor leave categories under 2% of the data out of the impact ratios.
MIN_SHARE = 0.02
INTERSECTION = "intersection"


def categories(values: Any) -> np.ndarray:
    """Category labels of shape (n_samples,) as text; unknown ones become ``None``."""
    out = np.asarray(values, dtype=object).copy()
    for i, v in enumerate(out):
        text = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
        out[i] = None if text.lower() in UNKNOWN else text
    return out


def scored_above_median(scores: Any) -> tuple[np.ndarray, float]:
    """For scoring tools: ``(above, median)``, ``above[i]`` true where score i exceeds the
    median of the whole sample (the rules' "scoring rate" counts those)."""
    arr = np.asarray(scores, dtype=float)
    median = float(np.nanmedian(arr)) if arr.size else float("nan")
    return arr > median, median


def impact_table(
    groups: np.ndarray, selected: np.ndarray, *, total: int, min_share: float = MIN_SHARE
) -> dict[str, Any]:
    """One LL144 table. ``groups``: shape (n_samples,), text or ``None`` (unknown);
    ``selected``: bool, shape (n_samples,); ``total``: the rows audited (the 2% base)."""
    known = np.array([g is not None for g in groups], dtype=bool)
    labels, inverse = np.unique(groups[known].astype(str), return_inverse=True)
    n = np.bincount(inverse, minlength=len(labels))
    hits = np.bincount(inverse, weights=selected[known].astype(float), minlength=len(labels))
    rates = np.divide(hits, n, out=np.zeros(len(labels)), where=n > 0)
    excluded = n < min_share * total
    kept = ~excluded
    best = float(rates[kept].max()) if kept.any() else 0.0
    rows: list[dict[str, Any]] = []
    for i, label in enumerate(labels):
        ratio = None if excluded[i] or best == 0 else float(rates[i] / best)
        rows.append(
            {
                "category": str(label),
                "n": int(n[i]),
                "selected": int(hits[i]),
                "rate": float(rates[i]),
                "impact_ratio": ratio,
                "excluded": bool(excluded[i]),
            }
        )
    scored = [(float(r["impact_ratio"]), str(r["category"])) for r in rows
              if r["impact_ratio"] is not None]  # fmt: skip
    lowest = min(scored) if scored else (None, None)
    return {
        "rows": rows,
        "unknown": int((~known).sum()),
        "min_impact_ratio": lowest[0],
        "lowest_category": lowest[1],
    }


def bias_tables(
    sex: Any, race: Any, selected: Any, *, min_share: float = MIN_SHARE
) -> dict[str, Any]:
    """The three LL144 tables (``sex``, ``race``, ``intersection``) and the lowest impact
    ratio over all of them. Arrays of shape (n_samples,); ``selected`` is bool."""
    sel = np.asarray(selected, dtype=bool)
    s, r = categories(sex), categories(race)
    both = np.array(
        [None if a is None or b is None else f"{a} / {b}" for a, b in zip(s, r, strict=True)],
        dtype=object,
    )
    total = len(sel)
    tables = {
        "sex": impact_table(s, sel, total=total, min_share=min_share),
        "race": impact_table(r, sel, total=total, min_share=min_share),
        INTERSECTION: impact_table(both, sel, total=total, min_share=min_share),
    }
    ratios = [float(t["min_impact_ratio"]) for t in tables.values()
              if t["min_impact_ratio"] is not None]  # fmt: skip
    return {
        "tables": tables,
        "rows": total,
        "selected": int(sel.sum()),
        "min_impact_ratio": min(ratios) if ratios else None,
        "excluded": [
            {"table": name, "category": row["category"], "n": row["n"]}
            for name, t in tables.items()
            for row in t["rows"]
            if row["excluded"]
        ],
    }
