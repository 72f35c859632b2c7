"""Which backend a URI names: a small registry from URI scheme to factory (MLflow's
``TrackingStoreRegistry`` pattern): ``mlwarden.connect(uri)`` picks the backend, and a plugin
can add one (``register("myscheme", factory)``). ``Warden(uri)`` is the local backend only.

``sqlite://`` and ``postgresql://`` (and a plain file path, a SQLite file) open the store in
this process (``Warden``); ``http://`` and ``https://`` talk to a running ``mlwarden serve``
(``RemoteWarden``). Both implement ``mlwarden.api.WardenAPI``. The backends are imported only
when chosen, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlwarden.errors import ValidationError

if TYPE_CHECKING:
    from mlwarden.api import WardenAPI

Factory = Callable[..., "WardenAPI"]

_FACTORIES: dict[str, Factory] = {}

#: the key plain paths (no scheme, or a Windows drive letter) are registered under
PATH = ""


def register(scheme: str, factory: Factory) -> None:
    """Open URIs of ``scheme`` with ``factory(uri, **kwargs)`` (replacing any before)."""
    _FACTORIES[scheme.lower()] = factory


def scheme_of(uri: str) -> str:
    """``postgresql+psycopg://…`` -> ``postgresql``; a path (``./w.db``, ``C:\\w.db``) -> ``""``."""
    scheme = urlsplit(uri).scheme.lower()
    if len(scheme) <= 1:  # none, or a drive letter
        return PATH
    return scheme.split("+", 1)[0]


def backend_for(uri: str) -> Factory:
    """The factory registered for ``uri``'s scheme; ``ValidationError`` when none is."""
    factory = _FACTORIES.get(scheme_of(uri))
    if factory is None:
        known = sorted(s for s in _FACTORIES if s)
        raise ValidationError(
            f"no Warden backend for {uri!r}: use a file path or one of "
            + ", ".join(f"{s}://" for s in known),
            field="uri",
            schemes=known,
        )
    return factory


def connect(uri: str | None = None, **kwargs: Any) -> WardenAPI:
    """A Warden on ``uri`` (else ``MLWARDEN_URI``, else the embedded default), local or
    remote by the URI's scheme. ``kwargs`` go to the backend: ``token`` (remote), ``artifacts``
    and ``actor`` (local), ``settings`` (both)."""
    from mlwarden.settings import Settings

    settings = kwargs.get("settings") or Settings()
    resolved = uri or settings.resolved_uri()
    return backend_for(resolved)(resolved, **kwargs)


def local(uri: str, **kwargs: Any) -> WardenAPI:
    """The store in this process (``Warden``; a plain path is a SQLite file)."""
    from mlwarden.client import Warden

    return Warden(uri, **kwargs)


def remote(uri: str, **kwargs: Any) -> WardenAPI:
    """A running ``mlwarden serve`` (``RemoteWarden``; token from ``MLWARDEN_TOKEN``)."""
    from mlwarden.remote import RemoteWarden

    return RemoteWarden(uri, **kwargs)


for _scheme in ("sqlite", "postgresql", "postgres", PATH):
    register(_scheme, local)
for _scheme in ("http", "https"):
    register(_scheme, remote)
