"""Monitoring windows: calendar days, weeks, months and quarters in a time zone, across DST."""

from __future__ import annotations

import pandas as pd
import pytest

from mlwarden.errors import ValidationError
from mlwarden.monitor.windows import bounds, parse_window, split


def utc(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True))


def local(series: pd.Series, tz: str) -> list[str]:
    return list(series.dt.tz_convert(tz).dt.strftime("%Y-%m-%d %H:%M"))


def test_calendar_windows_start_at_local_boundaries():
    tz = "Europe/Berlin"
    ts = utc("2026-01-31T23:30Z", "2026-05-20T12:00Z", "2026-11-15T08:00Z")  # Feb 1 00:30 local
    cases = {
        "1d": ["2026-02-01", "2026-05-20", "2026-11-15"],
        "1w": ["2026-01-26", "2026-05-18", "2026-11-09"],  # Mondays
        "1mo": ["2026-02-01", "2026-05-01", "2026-11-01"],
        "1q": ["2026-01-01", "2026-04-01", "2026-10-01"],
        "6mo": ["2026-01-01", "2026-01-01", "2026-07-01"],
    }
    for spec, days in cases.items():
        start, _ = bounds(ts, spec, tz)
        assert local(start, tz) == [f"{d} 00:00" for d in days], spec
    _, end = bounds(ts, "1mo", tz)
    assert local(end, tz) == ["2026-03-01 00:00", "2026-06-01 00:00", "2026-12-01 00:00"]
    # the same instant is in January in UTC
    start, _ = bounds(ts.head(1), "1mo", "UTC")
    assert local(start, "UTC") == ["2026-01-01 00:00"]


def test_days_across_daylight_saving_are_23_and_25_hours_long():
    tz = "America/New_York"
    start, end = bounds(utc("2026-03-08T12:00Z", "2026-11-01T12:00Z"), "1d", tz)
    assert list((end - start).dt.total_seconds() / 3600) == [23, 25]
    assert local(start, tz) == ["2026-03-08 00:00", "2026-11-01 00:00"]


def test_split_groups_rows_by_calendar_month():
    frame = pd.DataFrame(
        {"ts": utc("2026-01-03T00:00Z", "2026-01-31T10:00Z", "2026-02-01T00:00Z"), "x": [1, 2, 3]}
    )
    parts = list(split(frame, "1mo"))
    assert [len(p) for _, _, p in parts] == [2, 1]
    assert [(s.day, s.month, e.month) for s, e, _ in parts] == [(1, 1, 2), (1, 2, 3)]


def test_bad_windows_and_zones_are_named():
    for spec in ("1y", "0d", "mo", "1mo\n", "30"):
        with pytest.raises(ValidationError, match="invalid window"):
            parse_window(spec)
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        bounds(utc("2026-01-01T00:00Z"), "1d", "Mars/Olympus")
