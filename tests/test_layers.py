"""The layers of DESIGN.md hold: import-linter's contracts (``[tool.importlinter]`` in
pyproject.toml) pass, and no import cycle runs at import time (``scripts/import_cycles.py``).
docs/architecture.md explains both."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _cycles_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "import_cycles", ROOT / "scripts/import_cycles.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_import_linter_contracts_are_kept():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_no_import_cycle_runs_at_import_time():
    assert _cycles_script().find_cycles() == []


@pytest.fixture
def tangled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package with one real cycle (via a parent package's ``__init__``), one cycle only
    through a function-level import and one only under ``TYPE_CHECKING``."""
    pkg = tmp_path / "tangled_pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from tangled_pkg.sub.c import C\n",
        "sub/__init__.py": "from tangled_pkg.sub.d import D\n",
        "sub/c.py": "C = 1\n",
        "sub/d.py": "import tangled_pkg.a\nD = 2\n",  # a -> sub (its __init__) -> d -> a
        "lazy_one.py": "def f():\n    import tangled_pkg.lazy_two\n",
        "lazy_two.py": "import tangled_pkg.lazy_one\n",
        "typed_one.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    import tangled_pkg.typed_two\n"
        ),
        "typed_two.py": "import tangled_pkg.typed_one\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "tangled_pkg"


def test_cycle_count_sees_what_runs_at_import_time(tangled: str):
    script = _cycles_script()
    [loop] = script.find_cycles(tangled)
    assert loop[0] == loop[-1] and {"tangled_pkg.a", "tangled_pkg.sub.d"} <= set(loop)
    assert len(script.find_cycles(tangled, lazy=True)) == 2
    assert len(script.find_cycles(tangled, lazy=True, type_checking=True)) == 3
