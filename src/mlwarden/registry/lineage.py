"""Lineage recorded without the user asking: data fingerprints, code, environment."""

from __future__ import annotations

import contextlib
import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mlwarden._json import jsonable

TRACKED_PACKAGES = (
    "mlwarden",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "skops",
    "lightgbm",
    "xgboost",
    "onnxruntime",
    "shap",
    "fairlearn",
)


def fingerprint(frame: pd.DataFrame, y: Any = None, name: str | None = None) -> dict[str, Any]:
    """sha256 of a canonical Arrow IPC serialization of the data (features and labels).

    Canonical: no index, no pandas metadata, one contiguous chunk per column, so the same
    values with the same types hash the same whatever produced the frame.
    """
    data = frame.reset_index(drop=True)
    if y is not None:
        data = data.assign(__label__=pd.Series(y).reset_index(drop=True))
    table = pa.Table.from_pandas(data, preserve_index=False)
    table = table.replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    digest = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    return {
        "name": name,
        "sha256": digest,
        "rows": len(frame),
        "columns": int(frame.shape[1]),
        "schema": {f.name: str(f.type) for f in table.schema if f.name != "__label__"},
        "has_labels": y is not None,
    }


def git_info(cwd: Path | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag of the repository the user runs in, if any."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        remote = None
        with contextlib.suppress(subprocess.CalledProcessError):
            remote = git("config", "--get", "remote.origin.url") or None
        return {"commit": commit, "dirty": dirty, "remote": remote}
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    packages = {}
    for name in TRACKED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "packages": packages,
    }


def estimator_params(model: Any) -> dict[str, Any]:
    """Hyper-parameters as JSON; nested estimators are shown by their repr."""
    if not hasattr(model, "get_params"):
        return {}
    try:
        params = model.get_params(deep=True)
    except Exception:  # some wrappers fail on deep=True
        params = model.get_params()
    return {
        k: (v if v is None or isinstance(v, bool | int | float | str) else jsonable(repr(v)))
        for k, v in sorted(params.items())
    }
