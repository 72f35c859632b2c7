"""Fixtures for monitoring policies: a fast two-version model and synthetic stored windows."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlwarden as mw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

T0 = pd.Timestamp("2026-11-01", tz="UTC")
NAME = "scorer"


@pytest.fixture
def numeric_data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.normal(40, 10, 400), "income": rng.normal(50, 15, 400)})
    y = (X["age"] > 40).astype(int)
    return X, y


@pytest.fixture
def served(warden, numeric_data):
    """``scorer`` v1 then v2 promoted behind ``production`` (so a rollback has somewhere
    to go). Generic flavor: registration takes milliseconds."""
    from _generic_model import ThresholdModel, load, save

    X, y = numeric_data
    for threshold in (40.0, 41.0):
        warden.register_model(
            NAME,
            ThresholdModel("age", threshold),
            save_fn=save,
            load_fn=load,
            train=mw.Dataset(X, y, name="train"),
            risk_tier="low",
        )
    warden.set_alias(NAME, "production", 1, reason="first", override=True)
    warden.set_alias(NAME, "production", 2, reason="second", override=True)
    return warden


@pytest.fixture
def put_windows():
    return _put_windows


def _put_windows(wd, shares, *, version=2, start=0, window="1d", extra=None, name=NAME):
    """Store one synthetic window per drift share, a day apart from ``T0 + start`` days."""
    model_id = wd.registry.store.model_id(name)
    items = []
    for i, share in enumerate(shares):
        begin = T0 + pd.Timedelta(days=start + i)
        result = {
            "start": begin.isoformat(),
            "end": (begin + pd.Timedelta(days=1)).isoformat(),
            "segment": "all",
            "rows": 500,
            "labelled": 0,
            "drift": {
                "share_drifted": share,
                "dataset_drifted": share > 0.5,
                "drifted_columns": ["age"] if share > 0.3 else [],
                "columns": {"age": {"statistic": share, "drifted": share > 0.3}},
            },
            "quality": {"checks": 2, "failed": 0, "results": []},
            "performance": {},
            "estimated": {"accuracy": 0.9},
            "fairness": {},
            "attribution": {},
            **(extra or {}),
        }
        items.append(
            {
                "key": begin.isoformat(),
                "start": begin.to_pydatetime(),
                "end": (begin + pd.Timedelta(days=1)).to_pydatetime(),
                "segment": "all",
                "rows": 500,
                "result": result,
            }
        )
    wd.monitoring.results.save(model_id, version, window, items)
