"""Lineage recorded without the user asking: data fingerprints, code, environment."""

from __future__ import annotations

import contextlib
import hashlib
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mlwarden._json import jsonable
from mlwarden.registry.flavors.base import package_version

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


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # a worktree or submodule: ".git" names the real folder
            text = candidate.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            target = folder / text.removeprefix("gitdir:").strip()
            return target.resolve() if target.is_dir() else None
    return None


def _git_state_key(git_dir: Path) -> tuple[object, ...] | None:
    """Cheap stat-based key: HEAD's target and the index's mtime change with every commit,
    checkout or staged edit, so the git subprocess only runs when something moved."""
    try:
        head = (git_dir / "HEAD").read_text().strip()
        # a worktree keeps its HEAD and index but shares the branches of the main repository
        common = git_dir / "commondir"
        refs = (git_dir / common.read_text().strip()).resolve() if common.exists() else git_dir
        ref = refs / head.removeprefix("ref: ") if head.startswith("ref: ") else None
        ref_stat = ref.stat().st_mtime_ns if ref is not None and ref.exists() else None
        index = git_dir / "index"
        index_stat = index.stat().st_mtime_ns if index.exists() else None
        return (str(git_dir), head, ref_stat, index_stat)
    except OSError:
        return None


_git_cache: dict[tuple[object, ...], dict[str, Any] | None] = {}


def git_info(cwd: Path | None = None) -> dict[str, Any] | None:
    """Commit, dirty flag and remote of the repository the user runs in, if any.

    The dirty flag covers tracked files; an edit to a tracked file that is not yet staged is
    seen because ``git status`` compares the work tree (re-run when the index or HEAD moved).
    """
    folder = (cwd or Path.cwd()).resolve()
    git_dir = _git_dir(folder)
    if git_dir is None:
        return None
    key = _git_state_key(git_dir)
    if key is not None and key in _git_cache:
        return _git_cache[key]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=5, check=True
        ).stdout

    try:
        status = git("status", "--porcelain=v2", "--branch", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    commit = None
    dirty = False
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            commit = line.split()[-1]
        elif not line.startswith("#"):
            dirty = True
    remote = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        remote = git("config", "--get", "remote.origin.url").strip() or None
    info = {"commit": None if commit == "(initial)" else commit, "dirty": dirty, "remote": remote}
    if key is not None:
        _git_cache.clear()  # one repository at a time is enough
        _git_cache[key] = info
    return info


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Interpreter and package versions (cached: they do not change under a process)."""
    packages = {name: v for name in TRACKED_PACKAGES if (v := package_version(name))}
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
