"""Serving a version: resolve the alias, load the model once, validate inputs against the
signature, predict.

The hot path is one row: validation is plain Python over the record (microseconds), LightGBM
models predict on a numpy row built from cached column order and category maps, and a pandas
frame is only built for models that need one.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.engines.fitted import as_fitted
from mlwarden.entities import MEASURED, ModelVersion
from mlwarden.errors import NotFound, ValidationError

Record = dict[str, Any]

_NUMBER = (int, float)


# --------------------------------------------------------------------------- input checks


@dataclass(frozen=True)
class InputSpec:
    """A version's input signature in the form validation reads fastest."""

    names: tuple[str, ...]
    types: dict[str, str]
    categories: dict[str, frozenset[Any]]
    category_lists: dict[str, tuple[Any, ...]]
    #: category columns whose training values were all strings: a number there is a type error
    text_categories: frozenset[str] = frozenset()

    @classmethod
    def from_signature(cls, signature: Mapping[str, Any]) -> InputSpec:
        inputs = list(signature.get("inputs") or [])
        cats = {
            c["name"]: tuple(c["categories"]) for c in inputs if c.get("categories") is not None
        }
        return cls(
            names=tuple(c["name"] for c in inputs),
            types={c["name"]: c.get("type", "string") for c in inputs},
            categories={k: frozenset(v) for k, v in cats.items()},
            category_lists=cats,
            text_categories=frozenset(
                k for k, v in cats.items() if v and all(isinstance(c, str) for c in v)
            ),
        )


def _type_error(kind: str, value: Any) -> str | None:
    """Why ``value`` cannot be a ``kind`` input, or ``None`` when it can."""
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            return "must be an integer"
        if isinstance(value, float) and not value.is_integer():
            return "must be an integer"
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            return "must be a number"
    elif kind == "boolean":
        if not isinstance(value, bool):
            return "must be true or false"
    elif kind == "datetime":
        if not isinstance(value, str):
            return "must be an ISO-8601 date-time string"
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return "must be an ISO-8601 date-time string"
    elif kind in ("string", "category"):
        if isinstance(value, dict | list):
            return "must be a single value"
        if kind == "string" and not isinstance(value, str):
            return "must be a string"
    return None


def validate_records(
    spec: InputSpec, records: Sequence[Any], *, strict: bool = False, limit: int = 100
) -> None:
    """Raise one ``ValidationError`` listing every bad field (up to ``limit``).

    Errors: ``missing`` (a signature field absent), ``unknown`` (a field the model does not
    take), ``type`` (wrong JSON type), ``category`` (a value unseen in training, only when
    ``strict``) and ``null`` (a null, only when ``strict``).
    """
    if not spec.names:
        return  # registered without data: nothing to check against
    errors: list[dict[str, Any]] = []
    names, types, cats, text = spec.names, spec.types, spec.categories, spec.text_categories
    known = set(names)
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            errors.append({"row": i, "field": None, "error": "type", "message": "not an object"})
            continue
        if len(rec) != len(names) or rec.keys() != known:
            errors.extend(
                {"row": i, "field": f, "error": "missing", "message": "required field"}
                for f in names
                if f not in rec
            )
            errors.extend(
                {"row": i, "field": str(f), "error": "unknown", "message": "not an input"}
                for f in rec
                if f not in known
            )
        for f in names:
            if f not in rec:
                continue
            v = rec[f]
            if v is None:
                if strict:
                    errors.append({"row": i, "field": f, "error": "null", "message": "is null"})
                continue
            why = _type_error(types[f], v)
            if why is None and f in text and not isinstance(v, str):
                why = "must be a string (one of the training categories)"
            if why is not None:
                errors.append({"row": i, "field": f, "error": "type", "message": why})
            elif strict and f in cats and v not in cats[f]:
                errors.append(
                    {"row": i, "field": f, "error": "category", "message": "unseen category"}
                )
        if len(errors) >= limit:
            break
    if errors:
        shown = errors[:limit]
        raise ValidationError(
            f"{len(shown)}{'+' if len(errors) > limit else ''} invalid input field(s): "
            + "; ".join(f"row {e['row']} {e['field']}: {e['message']}" for e in shown[:5]),
            errors=shown,
        )


def to_records(records: Any, columns: Any, max_rows: int) -> list[Any]:
    """Records from either form of the request body (records, or columns of equal length)."""
    if (records is None) == (columns is None):
        raise ValidationError("send exactly one of 'records' and 'columns'", field="records")
    if columns is not None:
        lengths = {k: len(v) for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValidationError(
                "columns must all have the same length", field="columns", lengths=lengths
            )
        keys = list(columns)
        n = next(iter(lengths.values()), 0)
        records = [{k: columns[k][i] for k in keys} for i in range(n)]
    if not records:
        raise ValidationError("no rows to predict", field="records")
    if len(records) > max_rows:
        raise ValidationError(
            f"{len(records)} rows is more than the {max_rows} a request may carry",
            field="records",
            max_rows=max_rows,
        )
    return list(records)


def frame_for(spec: InputSpec, records: Sequence[Record]) -> pd.DataFrame:
    """The records as the frame the model was trained on (dtypes from the signature)."""
    if not spec.names:
        return pd.DataFrame.from_records(list(records))
    data: dict[str, Any] = {}
    for name in spec.names:
        values = [r.get(name) for r in records]
        kind = spec.types[name]
        if kind == "category":
            data[name] = pd.Categorical(values, categories=list(spec.category_lists[name]))
        elif kind in ("integer", "float"):
            arr = np.array([np.nan if v is None else v for v in values], dtype=float)
            if kind == "integer" and not np.isnan(arr).any():
                arr = arr.astype(np.int64)
            data[name] = arr
        elif kind == "boolean" and None not in values:
            data[name] = np.array(values, dtype=bool)
        elif kind == "datetime":
            data[name] = pd.to_datetime(values)
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data)


# --------------------------------------------------------------------------- predictors


@dataclass
class Prediction:
    outputs: list[Any]
    scores: list[float | None] | None
    reasons: list[Any] | None = None
    #: with reasons: the features never cited and, per row, their summed contribution
    excluded: Reasons | None = None


@dataclass
class Reasons:
    """Reason codes for a batch: ``codes`` (per row, top ``k``) and what was left out of them:
    ``excluded_features`` (the model inputs never cited) and ``excluded_contribution`` (per row,
    their summed contribution, in ``unit`` like the codes)."""

    codes: list[Any]
    excluded_features: list[str]
    excluded_contribution: list[float]
    unit: str


def reason_exclusions(setting: str, mv: ModelVersion) -> list[str]:
    """The features ``reasons_exclude`` (server settings) names for ``mv``: ``none``,
    ``sensitive`` (the version's sensitive features) or a comma list of names in which
    ``sensitive`` stands for those."""
    items = [item.strip() for item in setting.split(",") if item.strip()]
    if items == ["none"]:
        return []
    out: list[str] = []
    for item in items:
        for name in mv.sensitive_features if item == "sensitive" else [item]:
            if name not in out:
                out.append(name)
    return out


def _classes(mv: ModelVersion, model: Any) -> list[Any] | None:
    out = mv.signature.get("output") or {}
    if out.get("classes") is not None:
        return list(out["classes"])
    if getattr(model, "classes_", None) is not None:
        return np.asarray(model.classes_).tolist()
    return None


def _plain_list(values: np.ndarray) -> list[Any]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values.tolist()]


def _scores_from_proba(proba: np.ndarray) -> list[float | None]:
    # binary: probability of the positive (second) class; multiclass: of the predicted class
    p = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
    return [float(v) for v in p]


class Served:
    """A loaded version, ready to predict. Subclasses pick the fastest way in."""

    def __init__(self, mv: ModelVersion, model: Any) -> None:
        self.mv = mv
        self.model = model
        self.spec = InputSpec.from_signature(mv.signature)
        self.classes = _classes(mv, model)
        self._explainer: Any = None
        self._lock = threading.Lock()
        #: ``(version, kind) -> evidence``, set by the model cache: the stored background
        #: that linear models are explained against
        self.evidence: Callable[[ModelVersion, str], dict[str, Any]] | None = None

    def predict(self, records: Sequence[Record]) -> Prediction:
        X = as_fitted(self.model, frame_for(self.spec, records))
        out = np.asarray(self.model.predict(X))
        scores = None
        if self.classes is not None and hasattr(self.model, "predict_proba"):
            try:
                scores = _scores_from_proba(np.asarray(self.model.predict_proba(X)))
            except (AttributeError, NotImplementedError):
                scores = None
        return Prediction(_plain_list(out), scores)

    def proba(self, records: Sequence[Record]) -> np.ndarray | None:
        """Class probabilities, one row per record, columns in ``self.classes`` order;
        ``None`` for a model that gives none (a regressor, a classifier without them)."""
        if self.classes is None or not hasattr(self.model, "predict_proba"):
            return None
        X = as_fitted(self.model, frame_for(self.spec, records))
        try:
            return np.asarray(self.model.predict_proba(X), dtype=float)
        except (AttributeError, NotImplementedError):
            return None

    def explain(
        self, records: Sequence[Record], k: int = 3, exclude: Sequence[str] | None = None
    ) -> Reasons:
        """Top ``k`` reason codes per row, in the explanation's output space. ``exclude``
        (default: the version's sensitive features) are never cited, as adverse-action rules
        require; their summed contribution per row is reported apart."""
        with self._lock:
            if self._explainer is None:
                self._explainer = self._make_explainer()
        exp = self._explainer.explain(frame_for(self.spec, records))
        wanted = self.mv.sensitive_features if exclude is None else exclude
        left_out = [f for f in exp.feature_names if f in set(wanted)]
        return Reasons(
            codes=[
                [c.to_dict() for c in codes]
                for codes in exp.reason_codes_all(k=k, exclude=left_out)
            ],
            excluded_features=left_out,
            excluded_contribution=exp.excluded_contributions(left_out).tolist(),
            unit=exp.output_space,
        )

    def _make_explainer(self) -> Any:
        """TreeSHAP for tree models (the trees are their own background); the exact linear
        formula for linear models, against the background means measured at registration."""
        from mlwarden.engines.explain import explainer_for
        from mlwarden.engines.explain.factory import _tree_class
        from mlwarden.engines.explain.linear import LinearExplainer, is_linear
        from mlwarden.engines.explain.mapping import split_pipeline

        _, est = split_pipeline(self.model)
        if _tree_class(est) is not None:
            return explainer_for(self.model)
        if not is_linear(est):
            raise ValidationError(
                f"explain=true needs a tree or linear model on the server; {self.mv.ref} is a "
                f"{type(est).__name__}, whose explainer needs background rows that the "
                "registry does not store",
                field="explain",
            )
        background = self._background()
        return LinearExplainer(
            self.model, mean=background["means"], background_hash=background.get("background_hash")
        ).fit()

    def _background(self) -> dict[str, Any]:
        """The ``explain_background`` evidence, only as measured by the side that owns the
        store: means a client merely asserted could steer which reasons are given."""
        ref = self.mv.ref
        if self.evidence is None or "explain_background" not in self.mv.evidence:
            raise ValidationError(
                f"explain=true for the linear model {ref} needs the background measured at "
                "registration (evidence 'explain_background'); register it again with training "
                "data to get one",
                field="explain",
            )
        if self.mv.provenance_of("explain_background") != MEASURED:
            raise ValidationError(
                f"{ref}'s explain_background evidence was asserted by a client, not measured: "
                "reason codes are not computed against it",
                field="explain",
            )
        content = self.evidence(self.mv, "explain_background")
        if content.get("status") != "ok" or not isinstance(content.get("means"), list):
            raise ValidationError(
                f"{ref} has no usable background: {content.get('reason') or 'no means stored'}",
                field="explain",
            )
        return content


class LightGBMServed(Served):
    """LightGBM on numpy: category codes from the booster's own category lists, in the
    column order it was trained with; no DataFrame per request."""

    def __init__(self, mv: ModelVersion, model: Any) -> None:
        super().__init__(mv, model)
        self.booster = getattr(model, "booster_", model)
        self.objective = str(dict(mv.flavor_info).get("objective") or "")
        names = list(self.booster.feature_name())
        cat_cols = [n for n in self.spec.names if self.spec.types[n] == "category"]
        pandas_cats = self.booster.pandas_categorical or []
        self.fast = list(self.spec.names) == names and len(cat_cols) == len(pandas_cats)
        self.codes: list[dict[Any, float] | None] = []
        if self.fast:
            by_col = dict(zip(cat_cols, pandas_cats, strict=True))
            self.codes = [
                {c: float(i) for i, c in enumerate(by_col[n])} if n in by_col else None
                for n in names
            ]
        self.single = _single_row_predictor(self.booster) if self.fast else None

    def _values(self, rec: Record) -> list[float]:
        """One record as the booster's row: categories as their codes, nulls as NaN."""
        nan = math.nan
        return [
            m.get(v, nan) if m is not None else nan if v is None else float(v)
            for v, m in zip(map(rec.get, self.spec.names), self.codes, strict=True)
        ]

    def _matrix(self, records: Sequence[Record]) -> np.ndarray:
        X = np.empty((len(records), len(self.spec.names)), dtype=np.float64)
        for i, rec in enumerate(records):
            X[i] = self._values(rec)
        return X

    def predict(self, records: Sequence[Record]) -> Prediction:
        if not self.fast:
            return super().predict(records)
        if self.single is not None and len(records) == 1:
            # the serving hot path, in plain Python: numpy's per-call set-up for one row
            # cost more than the trees
            raw = self.single.predict_values(self._values(records[0]))
            if self.classes is None:  # one value, or a row of them (as _plain_list gives)
                value = raw[0] if len(raw) == 1 else raw
                return Prediction([None if value != value else value], None)  # NaN: null
            if len(raw) == 1:  # binary: probability of the second class
                return Prediction([self.classes[raw[0] > 0.5]], [raw[0]])
            best = max(range(len(raw)), key=raw.__getitem__)  # the first maximum, as argmax
            return Prediction([self.classes[best]], [raw[best]])
        # one thread: for a handful of rows OpenMP's start-up costs more than the trees
        raw = np.asarray(self.booster.predict(self._matrix(records), num_threads=1))
        if self.classes is None:
            return Prediction(_plain_list(raw), None)
        if raw.ndim == 1:  # binary: probability of the second class
            labels = np.asarray(self.classes, dtype=object)[(raw > 0.5).astype(int)]
            return Prediction(labels.tolist(), [float(p) for p in raw])
        labels = np.asarray(self.classes, dtype=object)[raw.argmax(axis=1)]
        return Prediction(labels.tolist(), _scores_from_proba(raw))

    def proba(self, records: Sequence[Record]) -> np.ndarray | None:
        if not self.fast or self.classes is None:
            return super().proba(records)
        raw = np.asarray(self.booster.predict(self._matrix(records), num_threads=1), dtype=float)
        return np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw


def _single_row_predictor(booster: Any) -> Any:
    from mlwarden.serving.lightgbm_row import SingleRowPredictor

    try:
        return SingleRowPredictor(booster)
    except (AttributeError, OSError, RuntimeError):  # a LightGBM without the single-row API
        return None


def served_for(mv: ModelVersion, model: Any) -> Served:
    if getattr(model, "is_proxy", False):
        return model.served(mv)
    if mv.flavor == "lightgbm":
        return LightGBMServed(mv, model)
    return Served(mv, model)


# --------------------------------------------------------------------------- caches


def settle_heap() -> None:
    """Move what is alive now (the app, loaded models) out of the garbage collector's view.

    A full collection walks every tracked object: with pandas, scikit-learn and a model in
    memory that is tens of milliseconds, paid by whichever request triggers it: the p99
    (bench/serve.py: about half at 16 connections). Frozen objects are still freed by
    reference counting; only cycles among them wait for the process to end.
    """
    gc.collect()
    gc.freeze()


@dataclass
class ModelCache:
    """Loaded models by artifact sha256 (two versions with one artifact share it); LRU.

    Requests in flight keep the object they started with, so evicting or swapping an alias
    never breaks them.
    """

    load: Callable[[ModelVersion], Any]
    size: int = 16
    settle: bool = False  # settle_heap() after each load
    #: ``(version, kind) -> evidence`` handed to what it loads (stored explanation backgrounds)
    evidence: Callable[[ModelVersion, str], dict[str, Any]] | None = None
    _items: OrderedDict[tuple[str, str, str], Served] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loading: dict[tuple[str, str, str], threading.Lock] = field(default_factory=dict)

    def get(self, mv: ModelVersion) -> Served:
        # the signature is part of the key: same bytes registered with another schema
        key = (mv.artifact_sha256, mv.name, str(mv.version))
        with self._lock:
            served = self._items.get(key)
            if served is not None:
                self._items.move_to_end(key)
                return served
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load per model, however many requests ask at once
            with self._lock:
                if key in self._items:
                    return self._items[key]
            served = served_for(mv, self.load(mv))
            served.evidence = self.evidence
            if self.settle:
                settle_heap()
            with self._lock:
                self._items[key] = served
                self._loading.pop(key, None)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return served


class Resolver:
    """``name`` + alias or version -> ``ModelVersion``. Versions never change, so they are
    kept; aliases are re-read after ``ttl`` seconds (about 0.2 ms a read), so a promotion or
    rollback made anywhere is served within ``ttl`` without a restart."""

    def __init__(self, get_version: Callable[[str], ModelVersion], ttl: float) -> None:
        self._get = get_version
        self.ttl = ttl
        self._versions: dict[tuple[str, int], ModelVersion] = {}
        self._aliases: dict[tuple[str, str], tuple[float, ModelVersion]] = {}

    def resolve(self, name: str, alias: str | None, version: int | None) -> ModelVersion:
        if version is not None:
            key = (name, version)
            mv = self._versions.get(key)
            if mv is None:
                mv = self._get(f"{name}@{version}")
                if len(self._versions) > 1024:
                    self._versions.clear()
                self._versions[key] = mv
            return mv
        alias = alias or "production"
        now = time.monotonic()
        hit = self._aliases.get((name, alias))
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            mv = self._get(f"{name}@{alias}")
        except NotFound:
            self._aliases.pop((name, alias), None)
            raise
        self._aliases[(name, alias)] = (now, mv)
        return mv

    def forget(self, name: str | None = None) -> None:
        """Drop cached aliases (of one model): called when this server moves an alias."""
        if name is None:
            self._aliases.clear()
        else:
            for key in [k for k in self._aliases if k[0] == name]:
                self._aliases.pop(key, None)
