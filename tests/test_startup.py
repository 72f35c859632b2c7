"""Start-up stays light: ``import mlwarden`` and ``mlwarden --help`` load none of the heavy
libraries (they arrive with the feature that needs them), ``python -m mlwarden`` works, and the
help shows no stray ``<bool>``/``<str>`` type labels. ``bench/startup.py`` has the timings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import typer.main
from typer.testing import CliRunner

from mlwarden.cli.main import app

SRC = Path(__file__).resolve().parent.parent / "src"

#: what made every command take seconds: none of it may load before a command needs it
HEAVY = {"sklearn", "scipy", "pandas", "fastapi", "starlette", "sqlalchemy", "numpy"}

_REPORT = (
    "import json, sys; loaded = {m.split('.')[0] for m in sys.modules}; "
    f"print(json.dumps(sorted(loaded & set({sorted(HEAVY)!r}))), file=sys.stderr)"
)


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120
    )


def _heavy_loaded(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return json.loads(proc.stderr.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_mlwarden_loads_no_heavy_library():
    proc = _python("-c", f"import mlwarden; {_REPORT}")
    assert proc.returncode == 0, proc.stderr
    assert _heavy_loaded(proc) == []


def test_public_names_load_on_first_use():
    proc = _python("-c", f"import mlwarden; mlwarden.Warden; mlwarden.profile; {_REPORT}")
    assert proc.returncode == 0, proc.stderr
    assert {"pandas", "sqlalchemy"} <= set(_heavy_loaded(proc))


def test_mlwarden_help_loads_no_heavy_library():
    script = (
        "import sys; sys.argv = ['mlwarden', '--help']\n"
        "from mlwarden.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"{_REPORT}\n"
    )
    proc = _python("-c", script)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout and "models" in proc.stdout
    assert _heavy_loaded(proc) == []


def test_python_m_mlwarden():
    proc = _python("-m", "mlwarden", "version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == __import__("mlwarden").__version__
    proc = _python("-m", "mlwarden", "--help")
    assert proc.returncode == 0 and "Usage" in proc.stdout


def _command_paths(command, path=()):  # type: ignore[no-untyped-def]
    yield list(path)
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*path, name))


def test_help_has_no_stray_type_labels():
    runner = CliRunner()
    paths = list(_command_paths(typer.main.get_command(app)))
    assert len(paths) > 40  # every group and command
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        stray = re.findall(r"<(?:bool|str)>", result.output)
        assert not stray, (path, result.output)
    out = runner.invoke(app, ["models", "show", "--help"], env={"COLUMNS": "200"}).output
    assert re.search(r"--uri\s+URI\s", out) and re.search(r"--json\s+Print", out)
