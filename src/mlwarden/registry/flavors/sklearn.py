"""scikit-learn estimators and Pipelines through skops, never plain pickle."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from mlwarden.errors import IntegrityError, ValidationError, require
from mlwarden.registry.flavors.base import Flavor, library_versions


def _stable_zip(data: bytes) -> bytes:
    """Rewrite skops' zip with fixed timestamps and entry order, so saving the same fitted
    object twice gives the same bytes and the content-addressed store keeps one copy."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst,
    ):
        for name in sorted(src.namelist()):
            dst.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), src.read(name))
    return out.getvalue()


class SklearnFlavor(Flavor):
    name = "sklearn"

    def matches(self, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:
            return False
        return isinstance(model, BaseEstimator)

    def save(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        sio = require("skops.io", "sklearn")
        try:
            check_is_fitted(model)
        except NotFittedError as exc:
            raise ValidationError(
                f"the {type(model).__name__} is not fitted: fit it before registering",
                field="model",
            ) from exc
        data = _stable_zip(sio.dumps(model))
        # The registering user vouches for the types in their own model; those, and only
        # those, are trusted when the version is loaded again.
        trusted = sorted(sio.get_untrusted_types(data=data))
        return data, {
            "format": "skops",
            "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
            "trusted_types": trusted,
            "libraries": library_versions("scikit-learn", "skops", "lightgbm", "xgboost"),
        }

    def load(self, data: bytes, info: dict[str, Any]) -> Any:
        sio = require("skops.io", "sklearn")
        from skops.io.exceptions import UntrustedTypesFoundException

        try:
            return sio.loads(data, trusted=list(info.get("trusted_types", [])))
        except UntrustedTypesFoundException as exc:
            raise IntegrityError(
                f"the artifact holds types that were not trusted at registration: {exc}"
            ) from exc
