"""``MaskingPolicy``: apply redact / pseudonymize / generalize / drop / keep to frames and records.

The frame path is columnar (pandas string ops, one HMAC list comprehension per pseudonymized
column, one regex pass per entity for free text); the record path, used per prediction, runs
the same per-value functions on one value, and tests hold the two to the same output.

Pseudonyms are keyed (HMAC-SHA256 with a versioned key from a :class:`KeyRing`), never a bare
hash: a bare hash of an e-mail address or a phone number is reversed by hashing every candidate.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mlwarden import _yaml
from mlwarden.errors import PolicyError, ValidationError
from mlwarden.privacy.keys import KeyRing
from mlwarden.privacy.policy import KIND_OF_ENTITY, Rule, parse_policy
from mlwarden.privacy.recognizers import IDENTIFIER, QUASI_IDENTIFIER, default_recognizers
from mlwarden.privacy.report import PrivacyReport
from mlwarden.privacy.spans import replace_span_arrays, span_arrays

REDACTED = "<REDACTED>"
# No useful generalization and nothing to join on: the default policy removes the value.
REDACT_BY_DEFAULT = {"ADDRESS"}
_SPANS = Rule("redact", spans=True)


def canonical_text(value: Any) -> str:
    """The text a value is pseudonymized as: 94107, 94107.0 and " 94107 " agree."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return str(value).strip()


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


class MaskingPolicy:
    """Masking rules for one model's inputs and logs.

    columns : column → :class:`Rule`; entities : entity type → :class:`Rule` (applies to columns
    whose entity is known from ``column_entities`` and to spans in free text); default : action
    for everything else (``keep``, ``drop`` or ``redact``); keyring : needed by ``pseudonymize``.
    """

    def __init__(
        self,
        columns: Mapping[str, Rule] | None = None,
        entities: Mapping[str, Rule] | None = None,
        default: str = "keep",
        key_version: int | None = None,
        column_entities: Mapping[str, str] | None = None,
        keyring: KeyRing | None = None,
        region: str = "US",
    ) -> None:
        self.columns = dict(columns or {})
        self.entities = dict(entities or {})
        self.default = default
        self.key_version = key_version
        self.column_entities = dict(column_entities or {})
        self.keyring = keyring
        self.region = region
        self._recognizers = default_recognizers(region)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, keyring: KeyRing | None = None, **kwargs: Any) -> MaskingPolicy:
        return cls(**parse_policy(data), keyring=keyring, **kwargs)

    @classmethod
    def from_yaml(
        cls, source: str | os.PathLike[str], keyring: KeyRing | None = None, **kwargs: Any
    ) -> MaskingPolicy:
        """From a YAML file path or the YAML text itself."""
        text = str(source)
        if isinstance(source, os.PathLike) or ("\n" not in text and Path(text).is_file()):
            text = Path(source).read_text()
        try:
            data = _yaml.load(text)
        except yaml.YAMLError as exc:
            limit = isinstance(exc, _yaml.YamlLimitError)
            raise (PolicyError if limit else ValidationError)(
                f"masking policy is not valid YAML: {exc}", field="policy"
            ) from None
        return cls.from_dict(data, keyring=keyring, **kwargs)

    @classmethod
    def from_report(cls, report: PrivacyReport, keyring: KeyRing | None = None) -> MaskingPolicy:
        """The default policy: pseudonymize identifiers, generalize dates of birth and
        postcodes, redact street addresses and the spans in free text, keep the rest."""
        columns: dict[str, Rule] = {}
        entities: dict[str, str] = {}
        for column, findings in report.by_column().items():
            best = findings[0]
            if best.kind == "free_text":
                columns[column] = Rule("redact", spans=True)
                continue
            entities[column] = best.entity
            if best.kind == QUASI_IDENTIFIER and best.entity in KIND_OF_ENTITY:
                columns[column] = Rule("generalize", kind=KIND_OF_ENTITY[best.entity])
            elif best.entity in REDACT_BY_DEFAULT:
                columns[column] = Rule("redact")
            elif best.kind in (IDENTIFIER, QUASI_IDENTIFIER):
                columns[column] = Rule("pseudonymize")
        return cls(columns=columns, column_entities=entities, keyring=keyring)

    def to_dict(self) -> dict[str, Any]:
        # the policy file's format (versioned, optional sections left out), not the fields
        out: dict[str, Any] = {"version": 1, "default": self.default}
        if self.key_version is not None:
            out["key_version"] = self.key_version
        out["columns"] = {c: r.to_dict() for c, r in self.columns.items()}
        if self.entities:
            out["entities"] = {e: r.to_dict() for e, r in self.entities.items()}
        if self.column_entities:
            out["column_entities"] = dict(self.column_entities)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    # -- resolution ---------------------------------------------------------------------------

    def rule_for(self, column: str) -> Rule:
        """Column rule, else the rule of the column's entity, else the default action."""
        if column in self.columns:
            return self.columns[column]
        entity = self.column_entities.get(column)
        if entity in self.entities:
            return self.entities[entity]
        return Rule(self.default)

    def _token(self, column: str) -> str:
        entity = self.column_entities.get(column)
        return f"<{entity}>" if entity else REDACTED

    def _pseudonymize(self, column: str, values: list[str]) -> list[str]:
        if self.keyring is None:
            raise ValidationError(
                f"column {column!r}: action 'pseudonymize' needs a KeyRing (keyring=...)",
                column=column,
                action="pseudonymize",
            )
        return self.keyring.pseudonymize(values, self.key_version)

    # -- frames -------------------------------------------------------------------------------

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """A masked copy of ``df`` (n rows, the kept columns in order)."""
        out = {}
        for column in df.columns:
            rule = self.rule_for(str(column))
            if rule.action == "drop":
                continue
            out[column] = self._apply_series(str(column), df[column], rule)
        return pd.DataFrame(out, index=df.index)

    def _apply_series(self, column: str, s: pd.Series, rule: Rule) -> pd.Series:
        if rule.action == "keep":
            return s
        present = s.notna().to_numpy()
        out = np.full(len(s), None, dtype=object)
        if rule.action == "redact" and not rule.spans:
            out[present] = self._token(column)
            return pd.Series(out, index=s.index, dtype=object)
        # Mask each distinct value once: logs repeat values, and an HMAC or a span search
        # per distinct value is the whole cost.
        codes, uniques = pd.factorize(s[present])
        distinct = pd.Series(uniques)
        if rule.spans:
            masked = self._mask_texts(column, distinct.tolist(), rule)
        elif rule.action == "pseudonymize":
            masked = self._pseudonymize(column, [canonical_text(v) for v in distinct.tolist()])
        else:
            masked = _generalize_series(distinct, rule).tolist()
        out[present] = np.asarray(masked, dtype=object)[codes]
        return pd.Series(out, index=s.index, dtype=object)

    def _mask_texts(self, column: str, texts: list[Any], rule: Rule) -> list[Any]:
        texts = [t if isinstance(t, str) else canonical_text(t) for t in texts]
        rows, starts, ends, entities, _ = span_arrays(texts, self._recognizers)
        if not len(rows):
            return texts
        actions = [self.entities.get(e, rule).action for e in entities]
        chosen = [i for i, a in enumerate(actions) if a != "keep"]
        tokens = [f"<{entities[i]}>" for i in chosen]
        pz = [j for j, i in enumerate(chosen) if actions[i] == "pseudonymize"]
        if pz:
            originals = [texts[rows[chosen[j]]][starts[chosen[j]] : ends[chosen[j]]] for j in pz]
            for j, token in zip(pz, self._pseudonymize(column, originals), strict=True):
                tokens[j] = token
        idx = np.asarray(chosen, dtype=np.int64)
        return replace_span_arrays(texts, rows[idx], starts[idx], ends[idx], tokens)

    # -- records ------------------------------------------------------------------------------

    def apply_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """One masked record (a prediction's inputs); agrees with :meth:`apply` on a frame."""
        out = {}
        for column, value in record.items():
            rule = self.rule_for(str(column))
            if rule.action == "drop":
                continue
            if rule.action == "keep" or _is_null(value):
                out[column] = value
            elif rule.spans:
                out[column] = self._mask_texts(str(column), [value], rule)[0]
            elif rule.action == "redact":
                out[column] = self._token(str(column))
            elif rule.action == "pseudonymize":
                out[column] = self._pseudonymize(str(column), [canonical_text(value)])[0]
            else:
                out[column] = _generalize_value(value, rule)
        return out

    def apply_json(self, value: Any) -> Any:
        """A masked copy of a JSON document (an agent's tool arguments or a tool's result).

        A key path (``customer.email``) with a column rule gets that rule; every other string
        has its personal-data spans replaced (``<EMAIL>``; ``entities`` may say otherwise),
        since a tool's free text is where an agent meets customers' data. The free strings
        are masked in one batch: the recognizers' cost is per call, not per string."""
        slots: list[tuple[Any, Any]] = []  # (container, key) of each free string
        out = self._copy_json(value, "", slots)
        texts = [container[key] for container, key in slots]
        if texts:
            for (container, key), text in zip(
                slots, self._mask_texts("", texts, _SPANS), strict=True
            ):
                container[key] = text
        return out[0] if isinstance(out, list) and not isinstance(value, list) else out

    def _copy_json(self, value: Any, path: str, slots: list[tuple[Any, Any]]) -> Any:
        if not isinstance(value, dict | list):
            box = [value]  # a bare string is masked in place in a one-item list
            if isinstance(value, str) and value:
                slots.append((box, 0))
            return box
        if isinstance(value, list):
            items: list[Any] = []
            for item in value:
                items.append(self._leaf(item, path, slots, items, len(items)))
            return items
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if sub in self.columns or sub in self.column_entities:
                masked = self.apply_record({sub: item})
                if sub in masked:
                    out[key] = masked[sub]
            else:
                out[key] = self._leaf(item, sub, slots, out, key)
        return out

    def _leaf(
        self, item: Any, path: str, slots: list[tuple[Any, Any]], container: Any, key: Any
    ) -> Any:
        if isinstance(item, dict | list):
            return self._copy_json(item, path, slots)
        if isinstance(item, str) and item:
            slots.append((container, key))
        return item

    def __repr__(self) -> str:
        return (
            f"MaskingPolicy(columns={len(self.columns)}, entities={len(self.entities)}, "
            f"default={self.default!r})"
        )


def _generalize_series(values: pd.Series, rule: Rule) -> pd.Series:
    """Non-null values → generalized strings (None where a value cannot be read)."""
    if rule.kind == "age":
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        lo = np.floor(x / rule.width) * rule.width
        ok = ~np.isnan(lo)
        lo_i = np.where(ok, lo, 0).astype(np.int64)
        labels = pd.Series(lo_i).astype(str) + "-" + pd.Series(lo_i + rule.width - 1).astype(str)
        if rule.top is not None:
            labels[x >= rule.top] = f"{rule.top}+"
        return labels.where(ok, None).set_axis(values.index)
    if rule.kind == "postcode":
        return (
            _as_text(values).str.replace(" ", "", regex=False).str.upper().str.slice(0, rule.keep)
        )
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    return dates.dt.strftime("%Y-%m").where(dates.notna(), None)


def _generalize_value(value: Any, rule: Rule) -> str | None:
    """:func:`_generalize_series` for one value, without building a Series (the prediction
    path); the tests hold both to the same output."""
    if rule.kind == "age":
        try:
            x = float(value)
        except (TypeError, ValueError):
            return None
        if math.isnan(x):
            return None
        if rule.top is not None and x >= rule.top:
            return f"{rule.top}+"
        lo = int(math.floor(x / rule.width) * rule.width)
        return f"{lo}-{lo + rule.width - 1}"
    if rule.kind == "postcode":
        return canonical_text(value).replace(" ", "").upper()[: rule.keep]
    date = pd.to_datetime(value, errors="coerce")
    return None if pd.isna(date) else date.strftime("%Y-%m")


def _as_text(values: pd.Series) -> pd.Series:
    """Vectorised :func:`canonical_text` for the common dtypes (integral floats lose ``.0``)."""
    if pd.api.types.is_float_dtype(values.dtype):
        rounded = values.round()
        integral = (rounded == values).to_numpy()
        text = values.astype(str)
        text[integral] = rounded[integral].astype("int64").astype(str)
        return text
    if pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype):
        return pd.Series(
            [canonical_text(v) for v in values.tolist()], index=values.index, dtype=object
        )
    return values.astype(str).str.strip()
