"""Settings of ``mlwarden serve`` and of proxied versions: sections of the one settings tree
(:mod:`mlwarden.settings`), re-exported where they were always imported from."""

from __future__ import annotations

from mlwarden.settings import ProxySettings, ServerSettings

__all__ = ["ProxySettings", "ServerSettings"]
