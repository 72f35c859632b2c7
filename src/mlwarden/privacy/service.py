"""Per-model masking policies, applied before any prediction input is written."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from mlwarden._time import utcnow
from mlwarden.privacy.keys import KeyRing
from mlwarden.privacy.masking import MaskingPolicy
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import masking_policies

CACHE_SECONDS = 5.0  # a policy changed by another process applies within this delay

Recorder = Callable[[str, str, str, dict[str, Any]], None]


class MaskingService:
    def __init__(self, db: Database, keyring_path: Path, *, record: Recorder) -> None:
        self.db = db
        self._keyring_path = keyring_path
        self._keyring: KeyRing | None = None
        self._record = record
        self._cache: dict[str, tuple[float, MaskingPolicy | None]] = {}

    @property
    def keyring(self) -> KeyRing:
        if self._keyring is None:  # created on first use, 0600, never logged
            self._keyring = KeyRing.load_or_create(self._keyring_path)
        return self._keyring

    def set(
        self,
        model: str,
        policy_yaml: str,
        *,
        actor: str,
        check: Callable[[MaskingPolicy], None] | None = None,
    ) -> MaskingPolicy:
        """Validate and store ``model``'s policy (YAML text or a path to it); ``check`` may
        refuse it (a ``ValidationError``) before anything is stored."""
        policy = MaskingPolicy.from_yaml(policy_yaml, keyring=self.keyring)
        if check is not None:
            check(policy)
        text = policy.to_yaml()
        with self.db.transaction() as conn:
            conn.execute(masking_policies.delete().where(masking_policies.c.model == model))
            conn.execute(
                masking_policies.insert().values(
                    model=model, policy=text, updated_at=utcnow(), updated_by=actor
                )
            )
            self._record(actor, "masking.set", f"model:{model}", {"policy": policy.to_dict()})
        self._cache.pop(model, None)
        return policy

    def get(self, model: str) -> MaskingPolicy | None:
        cached = self._cache.get(model)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        with self.db.reading() as conn:
            text = conn.execute(
                select(masking_policies.c.policy).where(masking_policies.c.model == model)
            ).scalar_one_or_none()
        policy = None if text is None else MaskingPolicy.from_yaml(text, keyring=self.keyring)
        self._cache[model] = (time.monotonic(), policy)
        return policy

    def get_many(self, models: list[str]) -> dict[str, MaskingPolicy | None]:
        """``get`` for many models in one read (a fleet job's), refreshing the cache; a
        policy that no longer parses is left out, so that model's own ``get`` reports it."""
        wanted = sorted(set(models))
        texts: dict[str, str] = {}
        with self.db.reading() as conn:
            for i in range(0, len(wanted), 1000):  # bounded IN lists
                query = select(masking_policies.c.model, masking_policies.c.policy).where(
                    masking_policies.c.model.in_(wanted[i : i + 1000])
                )
                texts.update({model: text for model, text in conn.execute(query)})
        now = time.monotonic()
        found: dict[str, MaskingPolicy | None] = {}
        for model in wanted:
            text = texts.get(model)
            try:
                policy = (
                    None if text is None else MaskingPolicy.from_yaml(text, keyring=self.keyring)
                )
            except Exception:  # one model's error, not the whole job's (see above)
                continue
            found[model] = policy
            self._cache[model] = (now, policy)
        return found

    def mask(self, model: str, frame: pd.DataFrame) -> pd.DataFrame:
        policy = self.get(model)
        return frame if policy is None else policy.apply(frame)
