"""A model the generic flavor saves and loads with user-supplied functions (test helper)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class ThresholdModel:
    def __init__(self, column: str, threshold: float) -> None:
        self.column, self.threshold = column, threshold

    def predict(self, X):  # type: ignore[no-untyped-def]
        return (np.asarray(X[self.column]) > self.threshold).astype(int)


def save(model: ThresholdModel, path: Path) -> None:
    path.write_text(json.dumps({"column": model.column, "threshold": model.threshold}))


def load(path: Path) -> ThresholdModel:
    spec = json.loads(path.read_text())
    return ThresholdModel(spec["column"], spec["threshold"])
