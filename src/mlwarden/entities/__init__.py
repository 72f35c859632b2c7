"""Frozen records shared by every layer."""

from mlwarden.entities._frozen import FrozenDict, freeze, thaw
from mlwarden.entities.dataset import Dataset, as_frame
from mlwarden.entities.registry import RISK_TIERS, AliasChange, Model, ModelVersion

__all__ = [
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
