"""The read audit: who looked at prediction inputs and evidence of models of chosen risk tiers.

One signed event per view would grow the log with every page load, so views are counted per
(hour, user, model, kind) and each count is appended as one ``read.view`` event when its hour
is over (checked at each view) and when the server stops (``flush``). A crash loses the
counts of the current hour, never a whole log's worth; the routes' own access log still has
each request. Off unless ``audit_reads`` names risk tiers (``Settings.audit_reads``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlwarden.entities import RISK_TIERS
from mlwarden.errors import ValidationError

READ_VIEW = "read.view"
_TIER_TTL_S = 60.0


def check_tiers(tiers: tuple[str, ...] | list[str]) -> frozenset[str]:
    bad = [t for t in tiers if t not in RISK_TIERS]
    if bad:
        raise ValidationError(
            f"audit_reads: unknown risk tiers {bad}: use some of {list(RISK_TIERS)}",
            field="audit_reads",
        )
    return frozenset(tiers)


class ReadAudit:
    def __init__(
        self,
        record: Callable[[str, str, str, dict[str, Any]], None],
        tiers: tuple[str, ...] | list[str],
        tier_of: Callable[[str], str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tiers = check_tiers(tiers)
        self._record = record
        self._tier_of = tier_of
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[tuple[int, str, str, str]] = Counter()
        self._tier_cache: dict[str, tuple[float, str]] = {}

    def _tier(self, model: str) -> str:
        now = time.monotonic()
        hit = self._tier_cache.get(model)
        if hit is None or hit[0] <= now:
            hit = (now + _TIER_TTL_S, self._tier_of(model))
            self._tier_cache[model] = hit
        return hit[1]

    def seen(self, user: str, model: str, kind: str) -> None:
        """Count one view (``kind``: prediction, evidence) of ``model`` by ``user``."""
        if not self.tiers or self._tier(model) not in self.tiers:
            return
        hour = int(self._clock() // 3600)
        with self._lock:
            self._counts[(hour, user, model, kind)] += 1
            past = [k for k in self._counts if k[0] < hour]
        if past:
            self.flush(before=hour)

    def flush(self, before: int | None = None) -> int:
        """Append one ``read.view`` event per counted key (of hours before ``before``, or
        all); returns how many were appended."""
        with self._lock:
            keys = [k for k in self._counts if before is None or k[0] < before]
            taken = [(k, self._counts.pop(k)) for k in keys]
        for (hour, user, model, kind), count in sorted(taken):
            start = datetime.fromtimestamp(hour * 3600, UTC).isoformat()
            self._record(
                user, READ_VIEW, f"model:{model}", {"kind": kind, "hour": start, "count": count}
            )
        return len(taken)
