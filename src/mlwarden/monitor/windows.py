"""Tumbling windows over a time-ordered frame: by time (``1h``, ``1d``, ``1w``) or rows."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd

from mlwarden.errors import ValidationError

WINDOW_RE = re.compile(r"^(\d+)(min|h|d|w|rows)$")
MAX_SEGMENTS = 50  # segments beyond this are refused: per-segment drift needs data


def parse_window(spec: str) -> tuple[int, str]:
    m = WINDOW_RE.match(spec or "")
    if not m or int(m.group(1)) < 1:
        raise ValidationError(
            f"invalid window {spec!r}: use N followed by min, h, d, w or rows (e.g. 1d, 500rows)",
            field="window",
        )
    return int(m.group(1)), m.group(2)


def split(
    frame: pd.DataFrame, spec: str
) -> Iterator[tuple[pd.Timestamp, pd.Timestamp, pd.DataFrame]]:
    """Yield ``(start, end, rows)`` per non-empty window; ``frame`` has a UTC ``ts`` column."""
    size, unit = parse_window(spec)
    if frame.empty:
        return
    if unit == "rows":
        for start in range(0, len(frame), size):
            part = frame.iloc[start : start + size]
            yield part["ts"].iloc[0], part["ts"].iloc[-1], part
        return
    freq = {"min": "min", "h": "h", "d": "D", "w": "W"}[unit]
    offset = pd.tseries.frequencies.to_offset(f"{size}{freq}")
    starts = frame["ts"].dt.floor(f"{size * 7}D" if unit == "w" else offset)
    for start, part in frame.groupby(starts, sort=True):
        yield start, start + (pd.Timedelta(days=7 * size) if unit == "w" else offset), part


def segments(frame: pd.DataFrame, column: str | None) -> Iterator[tuple[str, pd.DataFrame]]:
    yield "all", frame
    if column is None:
        return
    if column not in frame.columns:
        raise ValidationError(
            f"segment column {column!r} is not in the logged inputs", field="segment_by"
        )
    values = frame[column].astype(str)
    if values.nunique() > MAX_SEGMENTS:
        raise ValidationError(
            f"segment column {column!r} has {values.nunique()} values; at most {MAX_SEGMENTS}",
            field="segment_by",
        )
    for value, part in frame.groupby(values, sort=True):
        yield f"{column}={value}", part
