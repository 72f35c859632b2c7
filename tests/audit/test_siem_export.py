"""Issue 18 item 5: the audit stream for SIEMs, as OCSF API Activity JSON lines and RFC 5424
syslog lines, through ``mlwarden audit export --format``; each record leads back to its
signed event (seq and payload digest)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app
from mlwarden.errors import PermissionDenied

# RFC 5424 section 6: HEADER SP STRUCTURED-DATA [SP MSG]
SYSLOG = re.compile(
    r"^<(?P<pri>\d{1,3})>1 "
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)) "
    r"(?P<host>[\x21-\x7e]{1,255}) (?P<app>[\x21-\x7e]{1,48}) (?P<proc>[\x21-\x7e]{1,128}) "
    r"(?P<msgid>[\x21-\x7e]{1,32}) "
    r'(?P<sd>\[audit@32473( [a-z]+="(\\.|[^"\\\]])*")+\])'
    r"( \ufeff(?P<msg>.*))?$"
)


@pytest.fixture
def events_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'w.db'}"
    wd = mw.Warden(uri, artifacts=str(tmp_path / "a"), actor="root")
    wd.create_user("root", "admin")
    wd.create_user("vic", "viewer")
    wd.create_token("vic", description='quote " and ] in a value')
    vic = mw.Warden(uri, artifacts=str(tmp_path / "a"), actor="vic")
    with pytest.raises(PermissionDenied):
        vic.create_user("eve", "admin")
    return uri, wd


def _export(uri: str, path, fmt: str) -> list[str]:
    out = CliRunner().invoke(app, ["audit", "export", str(path), "--format", fmt, "--uri", uri])
    assert out.exit_code == 0, out.output
    return path.read_text(encoding="utf-8").splitlines()


def test_ocsf_api_activity_lines(events_store, tmp_path):
    uri, wd = events_store
    lines = _export(uri, tmp_path / "ocsf.jsonl", "ocsf")
    records = [json.loads(line) for line in lines]
    events = wd.audit.events()
    assert len(records) == len(events) == 4
    for rec, ev in zip(records, events, strict=True):
        assert rec["class_uid"] == 6003 and rec["category_uid"] == 6
        assert rec["type_uid"] == 600300 + rec["activity_id"]
        assert rec["metadata"]["uid"] == str(ev.seq) and rec["metadata"]["version"] == "1.3.0"
        assert rec["unmapped"]["payload_digest"] == ev.payload_digest
        assert rec["actor"]["user"]["name"] == ev.actor
    created, _, token, denied = records
    assert token["api"]["operation"] == "token.create" and token["activity_id"] == 1
    assert created["activity_id"] == 1 and created["status"] == "Success"
    assert created["api"]["operation"] == "user.create"
    assert created["resources"] == [{"type": "user", "name": "root"}]
    assert denied["status_id"] == 2 and denied["severity_id"] == 3
    assert denied["api"]["operation"] == "user.create"  # what was refused
    assert "may not user.create" in denied["status_detail"]


def test_rfc5424_syslog_lines(events_store, tmp_path):
    uri, wd = events_store
    lines = _export(uri, tmp_path / "audit.log", "syslog")
    events = wd.audit.events()
    assert len(lines) == len(events)
    for line, ev in zip(lines, events, strict=True):
        m = SYSLOG.match(line)
        assert m, line
        assert m["msgid"] == ev.action
        assert f'seq="{ev.seq}"' in m["sd"] and f'digest="{ev.payload_digest}"' in m["sd"]
        assert json.loads(m["msg"]) == ev.payload
    pris = [int(SYSLOG.match(line)["pri"]) for line in lines]
    assert pris == [110, 110, 110, 108]  # log audit (13) x 8 + informational / warning


def test_unknown_format_is_one_line(events_store, tmp_path):
    uri, _ = events_store
    out = CliRunner().invoke(
        app, ["audit", "export", str(tmp_path / "x"), "--format", "csv", "--uri", uri]
    )
    assert out.exit_code != 0 and "--format" in out.output and "Traceback" not in out.output
