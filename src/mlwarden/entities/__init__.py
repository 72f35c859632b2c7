"""Frozen records shared by every layer.

The names below load on first use (PEP 562): ``mlwarden.entities.audit`` must not pull in
pandas through ``Dataset``, so the audit verifier's worker processes start in a blink.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "FrozenDict": "_frozen",
    "freeze": "_frozen",
    "thaw": "_frozen",
    "Dataset": "dataset",
    "as_frame": "dataset",
    "ASSERTED": "registry",
    "MEASURED": "registry",
    "PROVENANCES": "registry",
    "RISK_TIERS": "registry",
    "AliasChange": "registry",
    "Model": "registry",
    "ModelVersion": "registry",
}

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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"mlwarden.entities.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlwarden.entities' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
