"""Markdown to a self-contained HTML page (no external CSS or JS), and HTML to PDF through
Chromium's print-to-PDF when a Chromium is installed (never downloaded)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from mlwarden.errors import MissingDependency, ValidationError, WardenError
from mlwarden.reports._md import NEEDS_INPUT

FORMATS = ("md", "html", "pdf")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PDF_TIMEOUT_S = 60


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt  # ships with rich, a core dependency

    # Raw HTML off: tags and descriptions come from users and must render as text.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


@cache
def _template() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("mlwarden.reports", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    return env.get_template("page.html")


def split_front_matter(text: str) -> tuple[str | None, str]:
    """``(yaml, body)`` of a document that starts with a ``---`` YAML block."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            return text[4 : end + 1], text[end + 5 :]
    return None, text


def to_html(markdown: str, title: str | None = None) -> str:
    from markupsafe import Markup

    from mlwarden._version import __version__

    meta, body = split_front_matter(markdown)
    if title is None:
        first = next((ln for ln in body.splitlines() if ln.startswith("# ")), "# Warden report")
        title = first[2:].strip()
    html = (
        _markdown()
        .render(body)
        .replace(
            f"<strong>{NEEDS_INPUT[2:-2]}</strong>",
            f'<strong class="needs">{NEEDS_INPUT[2:-2]}</strong>',
        )
    )
    return _template().render(
        title=title,
        body=Markup(html),
        front_matter=meta,
        version=__version__,
    )


def find_chromium(explicit: str | None = None) -> str | None:
    """``explicit``, else the ``chromium`` setting (``MLWARDEN_CHROMIUM``) if set, else the
    first Chromium or Chrome on ``PATH``."""
    if explicit is None:
        from mlwarden.settings import Settings

        explicit = Settings().chromium
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def to_pdf(html: str, out: str | Path) -> Path:
    """Print ``html`` to ``out`` with headless Chromium (offline: networking is disabled)."""
    browser = find_chromium()
    if browser is None:
        raise MissingDependency(
            "PDF output needs Chromium or Chrome on PATH (or MLWARDEN_CHROMIUM); "
            "use --format html and print it instead",
            module="chromium",
            extra="none",
        )
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlwarden-pdf-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile",  # never touch the user's own profile
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=PDF_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise WardenError(
                f"{browser} did not finish printing {out} in {PDF_TIMEOUT_S}s"
            ) from exc
    if not out.exists() or out.stat().st_size == 0:
        tail = proc.stderr.decode(errors="replace")[-400:]
        raise WardenError(
            f"{browser} wrote no PDF at {out} (exit {proc.returncode}): {tail}", path=str(out)
        )
    return out


def render(markdown: str, fmt: str = "md", out: str | Path | None = None) -> str | Path:
    """The document as ``md`` or ``html`` text (written to ``out`` when given, returning the
    path), or as a ``pdf`` file (``out`` required)."""
    return deliver(
        fmt, out, FORMATS, html=lambda: to_html(markdown), text=lambda: _as_text(markdown, fmt)
    )


def _as_text(markdown: str, fmt: str) -> str:
    return markdown if fmt == "md" else to_html(markdown)


def deliver(
    fmt: str,
    out: str | Path | None,
    formats: tuple[str, ...],
    *,
    html: Callable[[], str],
    text: Callable[[], str],
) -> str | Path:
    """One document's output in ``fmt`` (one of ``formats``): a ``pdf`` printed from ``html()``
    into ``out`` (required), else ``text()``, written to ``out`` when given (returning the
    path)."""
    if fmt not in formats:
        raise ValidationError(f"format must be one of {list(formats)}, got {fmt!r}", field="format")
    if fmt == "pdf":
        if out is None:
            raise ValidationError("PDF output needs an output file (--out FILE.pdf)", field="out")
        return to_pdf(html(), out)
    if out is None:
        return text()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text(), encoding="utf-8")
    return path
