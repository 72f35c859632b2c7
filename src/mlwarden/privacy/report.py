"""``PrivacyReport``: what a scan found, as records, a frame, JSON evidence and HTML.

The report never holds raw values: findings carry entity types, confidences, fractions and
counts, and spans carry offsets only. That is what makes ``to_dict()`` safe to store as a model
version's ``privacy`` evidence and to show in a dashboard.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

# How a finding was reached; policies and reviewers weigh a name match less than validated values.
EVIDENCE = ("name", "value", "name+value", "spans")


@dataclass(frozen=True)
class ColumnFinding:
    """One entity type found in one column.

    confidence : 0–1, combined from the column-name and value evidence.
    fraction : share of the sampled non-null values that validated (for free text: share of
        sampled rows with at least one span of this type).
    evidence : one of ``EVIDENCE``.
    n_sampled : how many non-null values were examined.
    kind : ``identifier``, ``quasi_identifier`` or ``free_text``; drives the default masking.
    n_spans : for free text, spans of this type in the sample.
    """

    column: str
    entity: str
    confidence: float
    fraction: float
    evidence: str
    n_sampled: int
    kind: str
    n_spans: int = 0

    def to_dict(self) -> dict[str, Any]:
        # scores rounded to 4 places for the evidence
        out = asdict(self)
        out["confidence"] = round(float(self.confidence), 4)
        out["fraction"] = round(float(self.fraction), 4)
        return out


@dataclass
class PrivacyReport:
    """Result of :func:`mlwarden.privacy.scan`.

    findings : every :class:`ColumnFinding` at or above ``threshold``, best first per column.
    columns : all scanned column names (findings or not).
    spans : DataFrame (row, column, start, end, entity, score) of spans found in the sampled
        rows of free-text columns; ``row`` is the frame's index label. Offsets only, no text.
    """

    findings: list[ColumnFinding]
    columns: list[str]
    n_rows: int
    sample_size: int
    threshold: float
    backend: str = "warden"
    spans: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def pii_features(self) -> list[str]:
        """Columns holding personal data, in frame order (what policies read)."""
        flagged = {f.column for f in self.findings}
        return [c for c in self.columns if c in flagged]

    @property
    def free_text_features(self) -> list[str]:
        flagged = {f.column for f in self.findings if f.kind == "free_text"}
        return [c for c in self.columns if c in flagged]

    def entity_of(self, column: str) -> str | None:
        """The most confident entity type of a structured column, or None."""
        best = [f for f in self.findings if f.column == column and f.kind != "free_text"]
        return max(best, key=lambda f: f.confidence).entity if best else None

    def by_column(self) -> dict[str, list[ColumnFinding]]:
        out: dict[str, list[ColumnFinding]] = {}
        for f in self.findings:
            out.setdefault(f.column, []).append(f)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable evidence: ``privacy.pii_features``, ``privacy.columns.<c>`` …"""
        columns = {
            col: {
                "entity": fs[0].entity,
                "confidence": round(float(fs[0].confidence), 4),
                "kind": fs[0].kind,
                "findings": [f.to_dict() for f in fs],
            }
            for col, fs in self.by_column().items()
        }
        entities = sorted({f.entity for f in self.findings})
        return {
            "backend": self.backend,
            "n_rows": int(self.n_rows),
            "sample_size": int(self.sample_size),
            "threshold": float(self.threshold),
            "scanned_columns": [str(c) for c in self.columns],
            "pii_features": self.pii_features,
            "free_text_features": self.free_text_features,
            "entities": entities,
            "has_pii": bool(self.findings),
            "columns": columns,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per finding."""
        cols = ["column", "entity", "confidence", "fraction", "evidence", "n_sampled", "kind"]
        if not self.findings:
            return pd.DataFrame(columns=[*cols, "n_spans"])
        return pd.DataFrame([f.to_dict() for f in self.findings])

    def __repr__(self) -> str:
        return (
            f"PrivacyReport(columns={len(self.columns)}, pii_features={self.pii_features!r}, "
            f"backend={self.backend!r})"
        )

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>Privacy scan</b> ({html.escape(self.backend)}): {len(self.pii_features)} of "
            f"{len(self.columns)} columns hold personal data; up to {self.sample_size} values "
            f"sampled per column, threshold {self.threshold:.2f}.</p>"
        )
        if not self.findings:
            return head
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    f.column,
                    f.entity,
                    f"{f.confidence:.2f}",
                    f"{f.fraction:.1%}",
                    f.evidence,
                    f.kind,
                    f.n_sampled,
                )
            )
            + "</tr>"
            for f in self.findings
        )
        header = "".join(
            f"<th>{h}</th>"
            for h in ("column", "entity", "confidence", "validated", "evidence", "kind", "sampled")
        )
        return f"{head}<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
