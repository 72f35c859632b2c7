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
    rows, start, end, entity, score = span_arrays(texts, recognizers, min_score)
    if not len(rows):
        return pd.DataFrame(columns=SPAN_COLUMNS)
    return pd.DataFrame({"row": rows, "start": start, "end": end, "entity": entity, "score": score})


def span_arrays(
    texts: Iterable[object], recognizers: Sequence[Recognizer], min_score: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[float]]:
    """:func:`find_spans` without the DataFrame (rows, starts, ends, entities, scores), sorted
    by position; what the per-record masking path uses."""
    values = [t if isinstance(t, str) else "" for t in texts]
    empty = np.empty(0, dtype=np.int64)
    if not values:
        return empty, empty, empty, [], []
    joined, starts = _join(values)
    digits = _per_row_counts(joined, starts, "0123456789")
    ats = _per_row_counts(joined, starts, "@")
    # Highest-scoring recognizers go first; a later candidate overlapping an accepted span is
    # dropped before validation, which both resolves overlaps (a card number is not also a
    # phone number) and skips most of the expensive validator calls.
    ordered = sorted(
        (r for r in recognizers if r.text_pattern() is not None), key=lambda r: -r.text_score
    )
    acc_start, acc_end = empty, empty
    acc_entity: list[str] = []
    acc_score: list[float] = []
    for rec in ordered:
        bounds = _candidates(rec, values, joined, starts, digits, ats)
        if not len(bounds):
            continue
        bounds = bounds[~_overlaps(acc_start, acc_end, bounds[:, 0], bounds[:, 1])]
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
    rows = np.searchsorted(starts, acc_start, side="right") - 1
    return rows, acc_start - starts[rows], acc_end - starts[rows], acc_entity, acc_score


def _per_row_counts(joined: str, starts: np.ndarray, chars: str) -> np.ndarray:
    """How many of ``chars`` each row holds, from one numpy pass over the joined text."""
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    hit = np.isin(codes, np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32))
    # reduceat needs in-range indices: a trailing zero covers an empty last row.
    return np.add.reduceat(np.append(hit, False).astype(np.int64), starts)


def _candidates(
    rec: Recognizer,
    values: list[str],
    joined: str,
    starts: np.ndarray,
    digits: np.ndarray,
    ats: np.ndarray,
) -> np.ndarray:
    """(k, 2) candidate bounds in ``joined``, running the regex only over rows that can match.

    Most prose has no digits and no "@": skipping those rows for the digit-shaped recognizers
    is what keeps masking a log of mostly harmless comments fast.
    """
    pattern = rec.text_pattern()
    assert pattern is not None
    need = (digits >= rec.min_digits) & (ats >= 1 if rec.entity == "EMAIL" else True)
    if need.all() or need.mean() > 0.5:
        return np.array([m.span() for m in pattern.finditer(joined)], dtype=np.int64).reshape(-1, 2)
    idx = np.flatnonzero(need)
    if not len(idx):
        return np.empty((0, 2), dtype=np.int64)
    sub, sub_starts = _join([values[i] for i in idx])
    spans = np.array([m.span() for m in pattern.finditer(sub)], dtype=np.int64).reshape(-1, 2)
    sub_row = np.searchsorted(sub_starts, spans[:, 0], side="right") - 1
    shift = starts[idx[sub_row]] - sub_starts[sub_row]
    return spans + shift[:, None]


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
    if spans.empty:
        return list(texts)
    if "token" in spans.columns:
        tokens = spans["token"].tolist()
    else:
        replacement = replacement or {}
        tokens = [replacement.get(e, f"<{e}>") for e in spans["entity"]]
    return replace_span_arrays(
        texts,
        spans["row"].to_numpy(dtype=np.int64),
        spans["start"].to_numpy(dtype=np.int64),
        spans["end"].to_numpy(dtype=np.int64),
        tokens,
    )


def replace_span_arrays(
    texts: Sequence[object],
    rows: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    tokens: Sequence[str],
) -> list[object]:
    """The edit behind :func:`replace_spans`: done once on the joined text (a loop over spans,
    not rows), then split back; spans must not overlap."""
    out = list(texts)
    if not len(rows):
        return out
    if len(out) == 1:  # the per-prediction path: skip the join
        text = out[0]
        if not isinstance(text, str):
            return out
        pieces, cursor = [], 0
        for i in np.argsort(starts, kind="stable"):
            pieces += [text[cursor : starts[i]], tokens[i]]
            cursor = ends[i]
        return ["".join(pieces) + text[cursor:]]
    is_text = [isinstance(t, str) for t in out]
    joined, offsets = _join([t if isinstance(t, str) else "" for t in out])
    a = offsets[rows] + starts
    b = offsets[rows] + ends
    pieces, cursor = [], 0
    for i in np.argsort(a, kind="stable"):
        if is_text[rows[i]]:
            pieces += [joined[cursor : a[i]], tokens[i]]
            cursor = b[i]
    pieces.append(joined[cursor:])
    edited = "".join(pieces).split(SEP)
    return [e if ok else t for e, t, ok in zip(edited, out, is_text, strict=True)]
