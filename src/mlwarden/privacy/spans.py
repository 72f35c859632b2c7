"""Entity spans in free text, found with one regex pass per entity over the whole column.

Rather than looping over rows, the texts are joined with a NUL separator into one string; each
recognizer's compiled regex runs over it once (the loop is inside the C regex engine), and
match offsets are mapped back to (row, start, end) with one ``searchsorted``. Validators then run
on the candidates only, and overlaps are resolved by score, then by length. Python work is
proportional to the number of candidates, not rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from mlwarden.privacy.recognizers import Recognizer

SEP = "\x00"
SPAN_COLUMNS = ["row", "start", "end", "entity", "score"]


def _join(texts: Sequence[str]) -> tuple[str, np.ndarray]:
    # A NUL inside a text would let a match straddle two rows; a space keeps offsets intact.
    cleaned = [t.replace(SEP, " ") if SEP in t else t for t in texts]
    lengths = np.fromiter((len(t) + 1 for t in cleaned), dtype=np.int64, count=len(cleaned))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return SEP.join(cleaned), starts


def find_spans(
    texts: Iterable[object], recognizers: Sequence[Recognizer], min_score: float = 0.5
) -> pd.DataFrame:
    """Spans of PII in each text.

    texts : n strings (None/NaN count as empty).
    Returns a DataFrame with columns (row, start, end, entity, score); ``row`` is the position
    0..n-1 in ``texts``; offsets are Python string indices into that text.
    """
    values = [t if isinstance(t, str) else "" for t in texts]
    if not values:
        return pd.DataFrame(columns=SPAN_COLUMNS)
    joined, starts = _join(values)
    # Highest-scoring recognizers go first; a later candidate overlapping an accepted span is
    # dropped before validation, which both resolves overlaps (a card number is not also a
    # phone number) and skips most of the expensive validator calls.
    ordered = sorted(
        (r for r in recognizers if r.text_pattern() is not None), key=lambda r: -r.text_score
    )
    acc_start = np.empty(0, dtype=np.int64)
    acc_end = np.empty(0, dtype=np.int64)
    acc_entity: list[str] = []
    acc_score: list[float] = []
    for rec in ordered:
        pattern = rec.text_pattern()
        assert pattern is not None
        bounds = np.array([m.span() for m in pattern.finditer(joined)], dtype=np.int64)
        if not len(bounds):
            continue
        free = ~_overlaps(acc_start, acc_end, bounds[:, 0], bounds[:, 1])
        bounds = bounds[free]
        if not len(bounds):
            continue
        candidates = [joined[a:b] for a, b in bounds]
        new: list[tuple[int, int, float]] = []
        if rec.refine is None:
            ok = rec.validate(pd.Series(candidates, dtype=object))
            new = [
                (int(a), int(b), rec.text_score) for (a, b), v in zip(bounds, ok, strict=True) if v
            ]
        else:
            for (a, _), text in zip(bounds, candidates, strict=True):
                refined = rec.refine(text, joined[max(0, a - 40) : a].rpartition(SEP)[2])
                if refined is not None:
                    new.append((int(a) + refined[0], int(a) + refined[1], refined[2]))
        new = [t for t in new if t[2] >= min_score]
        if not new:
            continue
        acc_start = np.concatenate([acc_start, [t[0] for t in new]])
        acc_end = np.concatenate([acc_end, [t[1] for t in new]])
        acc_entity += [rec.entity] * len(new)
        acc_score += [t[2] for t in new]
        order = np.argsort(acc_start, kind="stable")
        acc_start, acc_end = acc_start[order], acc_end[order]
        acc_entity = [acc_entity[i] for i in order]
        acc_score = [acc_score[i] for i in order]
    if not len(acc_start):
        return pd.DataFrame(columns=SPAN_COLUMNS)
    rows = np.searchsorted(starts, acc_start, side="right") - 1
    return pd.DataFrame(
        {
            "row": rows,
            "start": acc_start - starts[rows],
            "end": acc_end - starts[rows],
            "entity": acc_entity,
            "score": acc_score,
        }
    )


def _overlaps(starts: np.ndarray, ends: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each candidate [a, b): does it overlap one of the sorted, disjoint accepted spans?"""
    if not len(starts):
        return np.zeros(len(a), dtype=bool)
    i = np.searchsorted(starts, b, side="left")  # accepted spans starting before b
    prev_end = np.where(i > 0, ends[np.maximum(i - 1, 0)], -1)
    return (i > 0) & (prev_end > a)


def replace_spans(
    texts: Sequence[object], spans: pd.DataFrame, replacement: dict[str, str] | None = None
) -> list[object]:
    """Texts with each span replaced by its ``token`` column when present, else by
    ``replacement[entity]`` (default ``<ENTITY>``).

    ``spans`` as returned by :func:`find_spans` for the same ``texts``. Non-strings pass through.
    """
    out = list(texts)
    if spans.empty:
        return out
    replacement = replacement or {}
    if "token" not in spans.columns:
        tokens = [replacement.get(e, f"<{e}>") for e in spans["entity"]]
        spans = spans.assign(token=tokens)
    for row, group in spans.groupby("row", sort=False):
        text = out[int(row)]
        if not isinstance(text, str):
            continue
        pieces, cursor = [], 0
        for start, end, token in zip(group["start"], group["end"], group["token"], strict=True):
            pieces.append(text[cursor:start])
            pieces.append(token)
            cursor = end
        pieces.append(text[cursor:])
        out[int(row)] = "".join(pieces)
    return out
