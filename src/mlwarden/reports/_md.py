"""Small Markdown-writing helpers shared by the documents (tables, numbers, citations)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

NEEDS_INPUT = "**Needs human input**"


def cell(value: Any) -> str:
    """One table cell: numbers rounded, lists joined, pipes and newlines made harmless."""
    if value is None:
        text = "—"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int | float):
        text = num(value)
    elif isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value) or "—"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rows = list(rows)
    if not rows:
        return "_None recorded._\n"
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def fields_table(rows: Iterable[tuple[str, Any, str]]) -> str:
    """Field | Value | Source: the Annex IV layout, every value tied to its record."""
    return table(("Field", "Value", "Source"), [(f, v, f"source: {s}") for f, v, s in rows])


def bullets(items: Iterable[Any]) -> str:
    items = [str(i) for i in items]
    return "\n".join(f"- {i}" for i in items) + "\n" if items else "_None._\n"


def needs(what: str) -> str:
    return f"{NEEDS_INPUT}: {what}"
