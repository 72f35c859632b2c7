"""Any object with ``predict``, persisted by the user's own save and load functions."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlwarden.errors import UntrustedCode, ValidationError
from mlwarden.registry.flavors.base import Flavor, Trust

#: loaders shipped with mlwarden itself (proxy mode's endpoint description)
BUILTIN_LOADERS = frozenset({"mlwarden.server.proxy:load_proxy"})


def function_path(fn: Callable[..., Any], field: str) -> str:
    """``module:qualname`` of an importable function; lambdas and closures cannot be found
    again in another process, so they are refused."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or "<" in qualname or module == "__main__":
        raise ValidationError(
            f"{field} must be an importable module-level function (got {fn!r}); "
            "define it in a module so the version can be loaded elsewhere",
            field=field,
        )
    return f"{module}:{qualname}"


def _path_or_none(fn: Callable[..., Any]) -> str | None:
    try:
        return function_path(fn, "load_fn")
    except ValidationError:
        return None


def import_function(path: str) -> Callable[..., Any]:
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class GenericFlavor(Flavor):
    """A stored version names its loader as ``module:callable``: that is code, so it runs only
    when it is a built-in loader, one the operator trusts, or the very function this caller
    passed (``load_fn``). A client-named loader is never imported."""

    name = "generic"

    def __init__(
        self,
        save_fn: Callable[[Any, Path], None] | None = None,
        load_fn: Callable[[Path], Any] | None = None,
        trust: Trust = Trust(),
    ) -> None:
        self.save_fn, self.load_fn = save_fn, load_fn
        self.trust = trust

    def trusting(self, trust: Trust) -> GenericFlavor:
        return GenericFlavor(self.save_fn, self.load_fn, self.trust | trust)

    def check_loader(self, info: dict[str, Any]) -> str:
        """The loader ``info`` names, if this host may run it; ``UntrustedCode`` otherwise."""
        loader = info.get("loader")
        if not isinstance(loader, str) or not loader:
            raise ValidationError(
                "a generic version needs flavor_info.loader", field="flavor_info.loader"
            )
        own = self.load_fn is not None and _path_or_none(self.load_fn) == loader
        if not own and loader not in BUILTIN_LOADERS | self.trust.loaders:
            raise UntrustedCode(
                f"the generic loader {loader!r} is not trusted on this host: only built-in "
                "flavors, mlwarden.flavors entry points and loaders the operator lists in "
                "MLWARDEN_TRUSTED_LOADERS run",
                field="flavor_info.loader",
                loader=loader,
            )
        return loader

    def matches(self, model: Any) -> bool:
        return self.save_fn is not None

    def save(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        if self.save_fn is None or self.load_fn is None:
            raise ValidationError(
                "the generic flavor needs both save_fn and load_fn", field="save_fn"
            )
        if not hasattr(model, "predict"):
            raise ValidationError("a generic model must have a predict method", field="model")
        loader = function_path(self.load_fn, "load_fn")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            self.save_fn(model, path)
            if not path.is_file():
                raise ValidationError(
                    "save_fn must write a single file at the path it is given", field="save_fn"
                )
            data = path.read_bytes()
        return data, {"loader": loader, "class": f"{type(model).__module__}.{type(model).__name__}"}

    def load(self, data: bytes, info: dict[str, Any]) -> Any:
        loader = self.check_loader(info)
        own = self.load_fn is not None and _path_or_none(self.load_fn) == loader
        load_fn = self.load_fn if own and self.load_fn is not None else import_function(loader)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            path.write_bytes(data)
            return load_fn(path)
