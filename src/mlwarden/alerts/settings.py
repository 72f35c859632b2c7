"""Settings of alerting and metrics: a section of the one settings tree
(:mod:`mlwarden.settings`), re-exported where it was always imported from."""

from __future__ import annotations

from mlwarden.settings import AlertSettings

__all__ = ["AlertSettings"]
