"""Where the browser tests find Chromium, and what happens when it is missing: in CI
(``CI=true``) the tests fail, elsewhere they are skipped."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("MLWARDEN_CHROMIUM", "/usr/bin/chromium")
#: Debian's Chromium in a container (see FIELD-NOTES): no sandbox, no GPU, no phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_or_fail(path: str = CHROMIUM, in_ci: bool = IN_CI) -> None:
    if Path(path).exists() or shutil.which(path):
        return
    if in_ci:
        pytest.fail(f"CI=true but Chromium is missing at {path} (set MLWARDEN_CHROMIUM)")
    pytest.skip(f"Chromium not found at {path}")
