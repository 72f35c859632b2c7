"""Where the server may send a webhook: the egress rules of :mod:`mlwarden.egress` (public
addresses, or hosts listed in ``MLWARDEN_ALERTS_ALLOWED_HOSTS``), worded for channels."""

from __future__ import annotations

from mlwarden.egress import (
    EgressPolicy as _EgressPolicy,
)
from mlwarden.egress import (
    EgressRefused,
    IPAddress,
    Resolver,
    Target,
    blocked_reason,
    literal_address,
    pinned_request,
    system_resolver,
)


class EgressPolicy(_EgressPolicy):
    """Webhook destinations; allow-listed through ``MLWARDEN_ALERTS_ALLOWED_HOSTS``."""

    what = "webhook"
    setting = "MLWARDEN_ALERTS_ALLOWED_HOSTS"
    noun = "channel url"


__all__ = [
    "EgressPolicy",
    "EgressRefused",
    "IPAddress",
    "Resolver",
    "Target",
    "blocked_reason",
    "literal_address",
    "pinned_request",
    "system_resolver",
]
