"""Model flavors: detection, saving and loading in one place.

A flavor is code installed on this host: the built-ins below and those an operator's package
declares in the ``mlwarden.flavors`` entry-point group (``name = "pkg.module:FlavorClass"``).
A stored version only names its flavor; it never brings code of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from mlwarden.errors import UntrustedCode, ValidationError
from mlwarden.registry.flavors.base import Flavor, Trust
from mlwarden.registry.flavors.generic import BUILTIN_LOADERS, GenericFlavor
from mlwarden.registry.flavors.lightgbm import LightGBMFlavor
from mlwarden.registry.flavors.onnx import OnnxFlavor, OnnxModel
from mlwarden.registry.flavors.sklearn import SklearnFlavor
from mlwarden.registry.flavors.xgboost import XGBoostFlavor

ENTRY_POINT_GROUP = "mlwarden.flavors"

# Order matters: LightGBM and XGBoost wrappers are also scikit-learn estimators.
FLAVORS: dict[str, Flavor] = {
    f.name: f for f in (LightGBMFlavor(), XGBoostFlavor(), OnnxFlavor(), SklearnFlavor())
}


@lru_cache(maxsize=1)
def plugin_flavors() -> dict[str, Flavor]:
    """Flavors from installed ``mlwarden.flavors`` entry points (a class or an instance).
    A plugin cannot replace a built-in name. Cached: installed packages do not change under
    a running process (``plugin_flavors.cache_clear()`` after installing one)."""
    found: dict[str, Flavor] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in FLAVORS or ep.name == "generic" or ep.name in found:
            continue
        obj = ep.load()
        flavor = obj() if isinstance(obj, type) else obj
        if not isinstance(flavor, Flavor):
            raise ValidationError(
                f"entry point {ep.name} = {ep.value} is not a mlwarden Flavor", field="flavor"
            )
        flavor.name = ep.name
        found[ep.name] = flavor
    return found


def available_flavors() -> dict[str, Flavor]:
    """Every flavor this host can load, but ``generic`` (its loader needs trust)."""
    return {**FLAVORS, **plugin_flavors()}


def flavor_names() -> list[str]:
    return [*available_flavors(), "generic"]


def flavor_for(
    model: Any,
    flavor: str | None = None,
    save_fn: Callable[..., Any] | None = None,
    load_fn: Callable[..., Any] | None = None,
) -> Flavor:
    if save_fn is not None or load_fn is not None or flavor == "generic":
        return GenericFlavor(save_fn, load_fn)
    flavors = available_flavors()
    if flavor is not None:
        if flavor not in flavors:
            raise ValidationError(
                f"unknown flavor {flavor!r}; choose one of {flavor_names()}",
                field="flavor",
            )
        return flavors[flavor]
    for candidate in flavors.values():
        if candidate.matches(model):
            return candidate
    raise ValidationError(
        f"cannot tell how to save a {type(model).__name__}: pass save_fn and load_fn "
        "to use the generic flavor",
        field="model",
    )


def load_flavor(name: str, trust: Trust = Trust()) -> Flavor:
    """The installed flavor ``name``, allowed to run what ``trust`` names and nothing else."""
    if name == "generic":
        return GenericFlavor(trust=trust)
    flavor = available_flavors().get(name)
    if flavor is None:
        raise UntrustedCode(
            f"the flavor {name!r} is not installed on this host; installed: {flavor_names()}",
            field="flavor",
        )
    return flavor.trusting(trust)


__all__ = [
    "BUILTIN_LOADERS",
    "ENTRY_POINT_GROUP",
    "FLAVORS",
    "Flavor",
    "OnnxModel",
    "Trust",
    "available_flavors",
    "flavor_for",
    "flavor_names",
    "load_flavor",
    "plugin_flavors",
]
