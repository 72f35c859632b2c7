"""Drift between a reference and a current sample: per-column methods, defaults, dataset view.

Methods work on raw 1-D arrays or on ``ColumnProfile`` pairs; ``detect`` picks the default
method (effect size, not p-value, for large samples) and decides; ``compare`` does every column
of two profiles with Benjamini–Hochberg-adjusted p-values; ``calibrate_thresholds`` derives
per-column thresholds from the reference's own variability.
"""

from ._result import DriftResult
from .dataset import DatasetDrift, benjamini_hochberg, calibrate_thresholds, compare
from .detect import DEFAULT_METHODS, DEFAULT_THRESHOLDS, SMALL_SAMPLE, detect
from .methods import (
    METHODS,
    P_VALUE_METHODS,
    chi_square,
    hellinger,
    jensen_shannon,
    ks,
    psi,
    total_variation,
    wasserstein,
)

__all__ = [
    "DEFAULT_METHODS",
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "P_VALUE_METHODS",
    "SMALL_SAMPLE",
    "DatasetDrift",
    "DriftResult",
    "benjamini_hochberg",
    "calibrate_thresholds",
    "chi_square",
    "compare",
    "detect",
    "hellinger",
    "jensen_shannon",
    "ks",
    "psi",
    "total_variation",
    "wasserstein",
]
