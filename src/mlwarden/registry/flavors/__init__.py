"""Model flavors: detection, saving and loading in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlwarden.errors import ValidationError
from mlwarden.registry.flavors.base import Flavor
from mlwarden.registry.flavors.generic import GenericFlavor
from mlwarden.registry.flavors.lightgbm import LightGBMFlavor
from mlwarden.registry.flavors.onnx import OnnxFlavor, OnnxModel
from mlwarden.registry.flavors.sklearn import SklearnFlavor
from mlwarden.registry.flavors.xgboost import XGBoostFlavor

# Order matters: LightGBM and XGBoost wrappers are also scikit-learn estimators.
FLAVORS: dict[str, Flavor] = {
    f.name: f for f in (LightGBMFlavor(), XGBoostFlavor(), OnnxFlavor(), SklearnFlavor())
}


def flavor_for(
    model: Any,
    flavor: str | None = None,
    save_fn: Callable[..., Any] | None = None,
    load_fn: Callable[..., Any] | None = None,
) -> Flavor:
    if save_fn is not None or load_fn is not None or flavor == "generic":
        return GenericFlavor(save_fn, load_fn)
    if flavor is not None:
        if flavor not in FLAVORS:
            raise ValidationError(
                f"unknown flavor {flavor!r}; choose one of {[*FLAVORS, 'generic']}",
                field="flavor",
            )
        return FLAVORS[flavor]
    for candidate in FLAVORS.values():
        if candidate.matches(model):
            return candidate
    raise ValidationError(
        f"cannot tell how to save a {type(model).__name__}: pass save_fn and load_fn "
        "to use the generic flavor",
        field="model",
    )


def load_flavor(name: str) -> Flavor:
    return GenericFlavor() if name == "generic" else FLAVORS[name]


__all__ = ["FLAVORS", "Flavor", "OnnxModel", "flavor_for", "load_flavor"]
