"""``mlwarden report``: documents to stdout and files, bundle and offline verify."""

from __future__ import annotations

import json
import zipfile

from typer.testing import CliRunner

from mlwarden.cli.main import app
from mlwarden.store.sql.audit import key_path, public_key_path

runner = CliRunner()


def test_report_commands(bundle_store, tmp_path):
    wd, mv, _ = bundle_store
    uri = ["--uri", wd.uri]
    result = runner.invoke(app, ["report", "card", mv.ref, *uri])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("---\n") and f"# Model card: {mv.ref}" in result.output

    out = tmp_path / "annex.html"
    result = runner.invoke(
        app, ["report", "annex-iv", mv.ref, "--format", "html", "--out", str(out), *uri]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")

    for kind in ("gaps", "instructions", "monitoring-plan"):
        result = runner.invoke(app, ["report", kind, mv.ref, *uri])
        assert result.exit_code == 0 and mv.ref in result.output, (kind, result.output)

    result = runner.invoke(app, ["report", "diff", mv.ref, mv.ref, *uri])
    assert result.exit_code == 0 and "# Version diff" in result.output

    result = runner.invoke(app, ["report", "card", "nope@1", *uri])
    assert result.exit_code == 1 and "nope" in result.output


def test_bundle_and_verify_commands(bundle_store, tmp_path):
    wd, mv, _ = bundle_store
    path = tmp_path / "b.zip"
    result = runner.invoke(app, ["report", "bundle", mv.ref, "--out", str(path), "--uri", wd.uri])
    assert result.exit_code == 0, result.output
    pub = public_key_path(key_path(wd.settings))
    result = runner.invoke(app, ["report", "verify", str(path), "--pubkey", str(pub)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK:")

    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for name in zin.namelist():
            if name != "policy/decisions.json":
                zout.writestr(name, zin.read(name))
    result = runner.invoke(app, ["report", "verify", str(tampered), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert {k: report["problems"][0][k] for k in ("file", "problem")} == {
        "file": "policy/decisions.json",
        "problem": "missing",
    }
