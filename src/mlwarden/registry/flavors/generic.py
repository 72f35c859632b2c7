"""Any object with ``predict``, persisted by the user's own save and load functions."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlwarden.errors import ValidationError
from mlwarden.registry.flavors.base import Flavor


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


def import_function(path: str) -> Callable[..., Any]:
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class GenericFlavor(Flavor):
    name = "generic"

    def __init__(
        self,
        save_fn: Callable[[Any, Path], None] | None = None,
        load_fn: Callable[[Path], Any] | None = None,
    ) -> None:
        self.save_fn, self.load_fn = save_fn, load_fn

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
        load_fn = import_function(info["loader"])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            path.write_bytes(data)
            return load_fn(path)
