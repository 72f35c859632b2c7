"""Column classification: ``scan(df) -> PrivacyReport``.

Per column we draw a bounded sample of non-null values (1,000 by default, seeded), so a scan
costs the same on a thousand rows or a billion. Candidates come from pandas ``.str.fullmatch``
over the whole sample per recognizer; only matches reach the validators. A column whose values
do not validate as a whole but read like prose (several words on average) is treated as free
text and searched for spans instead.

Confidence combines two independent kinds of evidence, ``1 - (1 - name)(1 - value)``:

* name: the normalised column name matches the recognizer's pattern (``name_score``), halved
  when the sampled values clearly contradict it (fewer than 10 % validate);
* value: ``value_score * fraction``, the share of sampled values that validated, scaled by how
  much a validated value is worth for this type (a checksum beats a ZIP-code shape).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError, require
from mlwarden.privacy.recognizers import Recognizer, default_recognizers, normalise_name
from mlwarden.privacy.report import ColumnFinding, PrivacyReport
from mlwarden.privacy.spans import SPAN_COLUMNS, find_spans

BACKENDS = ("warden", "presidio")


class PIIScanner:
    """Classify the columns of a frame and find spans in its free-text columns.

    Parameters
    ----------
    sample_size : non-null values examined per column (``None`` = all).
    threshold : minimum confidence for a finding to be reported.
    min_span_score : minimum score of a span in free text.
    free_text_min_words : median word count from which a string column counts as free text.
    region : ISO country where phone numbers without ``+`` are dialled.
    recognizers : override the built-in list (see :func:`default_recognizers`).
    seed : sampling seed, so repeated scans of the same frame agree.
    """

    def __init__(
        self,
        sample_size: int | None = 1000,
        threshold: float = 0.5,
        min_span_score: float = 0.5,
        free_text_min_words: int = 4,
        region: str = "US",
        recognizers: Sequence[Recognizer] | None = None,
        seed: int = 0,
    ) -> None:
        self.sample_size = sample_size
        self.threshold = threshold
        self.min_span_score = min_span_score
        self.free_text_min_words = free_text_min_words
        self.region = region
        self.recognizers = recognizers
        self.seed = seed

    def _recognizers(self) -> list[Recognizer]:
        if self.recognizers is not None:
            return list(self.recognizers)
        return default_recognizers(self.region)

    def scan(self, df: pd.DataFrame) -> PrivacyReport:
        if not isinstance(df, pd.DataFrame):
            raise ValidationError("scan expects a pandas DataFrame", field="df")
        if self.sample_size is not None and self.sample_size < 1:
            raise ValidationError("sample_size must be at least 1", field="sample_size")
        recognizers = self._recognizers()
        findings: list[ColumnFinding] = []
        span_frames = []
        for column in df.columns:
            sample = self._sample(df[column])
            col_findings = self._scan_values(str(column), sample, recognizers)
            # Whole values that validate settle it (a spaced IBAN has five "words"); otherwise
            # values that read like prose are searched for spans.
            structured = any(f.fraction >= 0.5 for f in col_findings)
            if not structured and self._is_free_text(sample):
                col_findings, spans = self._scan_text(str(column), sample, recognizers)
                if not spans.empty:
                    spans.insert(1, "column", str(column))
                    span_frames.append(spans)
            findings.extend(sorted(col_findings, key=lambda f: -f.confidence))
        spans = (
            pd.concat(span_frames, ignore_index=True)
            if span_frames
            else pd.DataFrame(columns=["row", "column", *SPAN_COLUMNS[1:]])
        )
        return PrivacyReport(
            findings=findings,
            columns=[str(c) for c in df.columns],
            n_rows=len(df),
            sample_size=self.sample_size or len(df),
            threshold=self.threshold,
            backend="warden",
            spans=spans,
        )

    def find_spans(self, texts: Sequence[object] | pd.Series) -> pd.DataFrame:
        """Spans (row, start, end, entity, score) in every text; see :func:`find_spans`."""
        return find_spans(texts, self._recognizers(), self.min_span_score)

    def _sample(self, values: pd.Series) -> pd.Series:
        non_null = values.dropna()
        if self.sample_size is not None and len(non_null) > self.sample_size:
            non_null = non_null.sample(self.sample_size, random_state=self.seed)
        if pd.api.types.is_datetime64_any_dtype(non_null.dtype):
            return non_null.dt.strftime("%Y-%m-%d")
        if pd.api.types.is_float_dtype(non_null.dtype):
            # 94107.0 is a ZIP code that went through a float column; compare it as 94107.
            as_int = non_null.round()
            if (as_int == non_null).all():
                non_null = as_int.astype("int64")
        return non_null.astype(str).str.strip()

    def _is_free_text(self, sample: pd.Series) -> bool:
        if sample.empty:
            return False
        words = sample.str.count(" ") + 1
        return float(words.median()) >= self.free_text_min_words

    def _scan_values(
        self, column: str, sample: pd.Series, recognizers: list[Recognizer]
    ) -> list[ColumnFinding]:
        key = normalise_name(column)
        n = len(sample)
        # each distinct value is matched once (a category column has a handful, not 1,000);
        # as plain Python strings, so the regex is compiled once, not re-parsed per call
        counts = sample.value_counts(sort=False)
        distinct = pd.Series(counts.index.to_numpy(dtype=object), dtype=object)
        values = distinct.tolist()
        weights = counts.to_numpy(dtype=np.int64)
        out = []
        for rec in recognizers:
            pattern = rec.name_pattern()
            name = rec.name_score if pattern is not None and pattern.search(key) else 0.0
            fraction = 0.0
            if n:
                # a loop over compiled patterns: pandas' str.fullmatch costs more per call
                # than matching a column's few distinct values
                fullmatch = rec.value_pattern(named=bool(name)).fullmatch
                matched = np.fromiter(
                    (fullmatch(v) is not None for v in values), dtype=bool, count=len(values)
                )
                if matched.any():
                    # validators see every occurrence: some judge a value by its column
                    candidates = distinct[matched].repeat(weights[matched])
                    fraction = float(np.count_nonzero(rec.validate(candidates))) / n
            if name and n >= 10 and fraction < 0.1:
                name /= 2  # the values contradict the name
            value = rec.value_score * fraction
            confidence = 1.0 - (1.0 - name) * (1.0 - value)
            if confidence < self.threshold:
                continue
            evidence = "name+value" if name and value else ("name" if name else "value")
            out.append(
                ColumnFinding(column, rec.entity, confidence, fraction, evidence, n, rec.kind)
            )
        # A column holds one kind of value: keep the best finding; on a tie the column name
        # decides (nine digits in a column called "bsn"), then recognizer order.
        return sorted(out, key=lambda f: (-round(f.confidence, 6), "name" not in f.evidence))[:1]

    def _scan_text(
        self, column: str, sample: pd.Series, recognizers: list[Recognizer]
    ) -> tuple[list[ColumnFinding], pd.DataFrame]:
        spans = find_spans(sample.tolist(), recognizers, self.min_span_score)
        out = []
        n = len(sample)
        for entity, group in spans.groupby("entity", sort=True):
            out.append(
                ColumnFinding(
                    column,
                    str(entity),
                    float(group["score"].max()),
                    group["row"].nunique() / n,
                    "spans",
                    n,
                    "free_text",
                    n_spans=len(group),
                )
            )
        if not spans.empty:
            spans["row"] = sample.index.to_numpy()[spans["row"].to_numpy()]
        return out, spans


def scan(
    df: pd.DataFrame,
    backend: str = "warden",
    *,
    sample_size: int | None = 1000,
    threshold: float = 0.5,
    **options: Any,
) -> PrivacyReport:
    """Classify every column of ``df`` and find PII spans in its free-text columns.

    backend : ``"warden"`` (validators, no extra dependency) or ``"presidio"`` (needs the
        ``mlwarden[presidio]`` extra and a spaCy model).
    options : passed to :class:`PIIScanner` (or the Presidio backend).
    """
    if backend == "warden":
        scanner = PIIScanner(sample_size=sample_size, threshold=threshold, **options)
        return scanner.scan(df)
    if backend == "presidio":
        require("presidio_analyzer", "presidio")
        from mlwarden.privacy.presidio import PresidioScanner

        return PresidioScanner(sample_size=sample_size, threshold=threshold, **options).scan(df)
    raise ValidationError(
        f"unknown privacy backend {backend!r}; expected one of {BACKENDS}", field="backend"
    )
