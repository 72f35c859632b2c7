"""Frozen records shared by every layer."""

from mlwarden.entities._frozen import FrozenDict, freeze, thaw
from mlwarden.entities.dataset import Dataset, as_frame
from mlwarden.entities.registry import (
    ASSERTED,
    MEASURED,
    PROVENANCES,
    RISK_TIERS,
    AliasChange,
    Model,
    ModelVersion,
)

__all__ = [
    "ASSERTED",
    "MEASURED",
    "PROVENANCES",
    "RISK_TIERS",
    "AliasChange",
    "Dataset",
    "FrozenDict",
    "Model",
    "ModelVersion",
    "as_frame",
    "freeze",
    "thaw",
]
