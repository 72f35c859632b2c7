"""scikit-learn estimators and Pipelines through skops, never plain pickle."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from mlwarden.errors import (
    ArtifactRejected,
    IntegrityError,
    UntrustedCode,
    ValidationError,
    require,
)
from mlwarden.registry.flavors.base import Flavor, Trust, library_versions

#: packages whose types (estimators, arrays, trees) a skops artifact may hold
SAFE_TYPE_MODULES = ("sklearn", "numpy", "scipy", "lightgbm", "xgboost", "skops")
SAFE_TYPES = frozenset(
    {"collections.OrderedDict", "collections.defaultdict", "collections.Counter", "builtins.slice"}
)
#: parts of those packages that read or write files, compile or run code
UNSAFE_PREFIXES = (
    "numpy.load",
    "numpy.save",
    "numpy.fromfile",
    "numpy.memmap",
    "numpy.lib.npyio",
    "numpy.lib.format",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
    "numpy.ctypeslib",
    "scipy.io",
    "scipy.LowLevelCallable",
    "sklearn.datasets",
    "sklearn.utils._testing",
)


def type_allowed(name: str, trust: Trust = Trust()) -> bool:
    """Whether a type (or function) a skops artifact names may be created on this host."""
    if name in trust.types or any(name.startswith(f"{t}.") for t in trust.types):
        return True
    if any(name == p or name.startswith((f"{p}.", f"{p}_")) for p in UNSAFE_PREFIXES):
        return False
    return name in SAFE_TYPES or name.split(".", 1)[0] in SAFE_TYPE_MODULES


def vetted_types(data: bytes, trust: Trust = Trust()) -> list[str]:
    """The types in a skops artifact that skops does not trust by itself, computed here from
    the bytes (never read from a client's ``trusted_types``); ``UntrustedCode`` names any
    outside the packages this host trusts."""
    sio = require("skops.io", "sklearn")
    try:
        found = sorted(sio.get_untrusted_types(data=data))
    except Exception as exc:  # not a zip, not a skops schema: the bytes are not an artifact
        raise ArtifactRejected(
            f"the artifact is not a skops file: {type(exc).__name__}: {exc}",
            field="artifact",
            problem="format",
        ) from exc
    refused = [t for t in found if not type_allowed(t, trust)]
    if refused:
        raise UntrustedCode(
            f"the artifact holds types this host does not trust: {refused}; only "
            f"{list(SAFE_TYPE_MODULES)} and types the operator lists in MLWARDEN_TRUSTED_TYPES "
            "are loaded",
            field="artifact",
            types=refused,
        )
    return found


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

    def __init__(self, trust: Trust = Trust()) -> None:
        self.trust = trust

    def trusting(self, trust: Trust) -> SklearnFlavor:
        return SklearnFlavor(self.trust | trust)

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

        recorded = [str(t) for t in info.get("trusted_types", [])]
        refused = [t for t in recorded if not type_allowed(t, self.trust)]
        if refused:
            raise UntrustedCode(
                f"the version trusts types this host does not: {refused}; the operator may "
                "list them in MLWARDEN_TRUSTED_TYPES",
                field="flavor_info.trusted_types",
                types=refused,
            )
        try:
            return sio.loads(data, trusted=recorded)
        except UntrustedTypesFoundException as exc:
            raise IntegrityError(
                f"the artifact holds types that were not trusted at registration: {exc}"
            ) from exc
