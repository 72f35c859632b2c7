"""XGBoost in its native UBJSON format (Booster or the scikit-learn wrappers)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlwarden.errors import ValidationError, require
from mlwarden.registry.flavors.base import Flavor, library_versions

_WRAPPERS = frozenset(
    {"XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}
)


class XGBoostFlavor(Flavor):
    name = "xgboost"

    def matches(self, model: Any) -> bool:
        return type(model).__module__.startswith("xgboost")

    def save(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        xgb = require("xgboost", "xgboost")
        wrapper = None if isinstance(model, xgb.Booster) else type(model).__name__
        if wrapper:
            try:
                model.get_booster()
            except Exception as exc:
                raise ValidationError(
                    f"the {wrapper} is not fitted: fit it before registering", field="model"
                ) from exc
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.ubj"
            model.save_model(path)
            data = path.read_bytes()
        return data, {"wrapper": wrapper, "libraries": library_versions("xgboost")}

    def load(self, data: bytes, info: dict[str, Any]) -> Any:
        xgb = require("xgboost", "xgboost")
        wrapper = info.get("wrapper")
        if wrapper and wrapper not in _WRAPPERS:
            # flavor_info may come from a client: never call a name it chose
            raise ValidationError(
                f"unknown XGBoost wrapper {wrapper!r}; one of {sorted(_WRAPPERS)}",
                field="flavor_info.wrapper",
            )
        model = getattr(xgb, wrapper)() if wrapper else xgb.Booster()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.ubj"
            path.write_bytes(data)
            model.load_model(path)
        return model
