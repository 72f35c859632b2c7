"""Keys and files (issue 14, requirement 8): private modes, the master key's check value,
no erased key left in SQLite's write-ahead log, pinned audit keys and published checkpoints."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app
from mlwarden.store.files import private_dir, private_file
from mlwarden.store.sql.keycheck import KeyMismatch, master_key_path

runner = CliRunner()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)  # what most shells have: new files 0644, folders 0755
    yield
    os.umask(old)


def test_store_folders_are_0700_and_files_0600(tmp_path, loose_umask):
    store = tmp_path / "store"
    settings = mw.Settings(key_file=tmp_path / "keys" / "audit.pem")
    with mw.Warden(
        f"sqlite:///{store / 'warden.db'}",
        artifacts=str(store / "artifacts"),
        actor="alice",
        settings=settings,
    ) as wd:
        wd.create_user("alice", "admin")
        digest = wd.artifacts.put(b"model bytes")
        wd.vault.seal([wd.vault.pseudonym("s")], ["payload"])  # the WAL exists while open
        wal = store / "warden.db-wal"
        assert wal.exists() and mode(wal) == 0o600
    assert mode(store) == 0o700 and mode(store / "warden.db") == 0o600
    blob = store / "artifacts" / "sha256" / digest[:2] / digest[2:]
    assert mode(blob) == 0o600
    folder = blob.parent
    while folder != store:
        assert mode(folder) == 0o700, folder
        folder = folder.parent
    keys = tmp_path / "keys"
    assert mode(keys) == 0o700
    assert mode(keys / "audit.pem") == 0o600 and mode(keys / "master.key") == 0o600


def test_private_helpers_leave_existing_folders_alone(tmp_path, loose_umask):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    made = private_file(shared / "a" / "b" / "f")
    assert mode(made) == 0o600 and mode(shared / "a") == 0o700
    assert mode(shared / "a" / "b") == 0o700 and mode(shared) == 0o755
    assert private_dir(shared) == shared and mode(shared) == 0o755


def test_a_second_host_with_another_or_no_master_key_is_refused(store_uri, tmp_path):
    first = mw.Settings(key_file=tmp_path / "a" / "audit.pem")
    with mw.Warden(store_uri, artifacts=str(tmp_path / "art"), settings=first) as wd:
        wd.vault.seal([wd.vault.pseudonym("cust-1")], ["payload"])
        pseudonym = wd.vault.pseudonym("cust-1")
    master = (tmp_path / "a" / "master.key").read_bytes()
    shared_audit = {"key_file": tmp_path / "a" / "audit.pem"}

    missing = mw.Settings(**shared_audit, master_key_file=tmp_path / "b" / "master.key")
    with pytest.raises(KeyMismatch, match="keyed by a master key that is not here"):
        mw.Warden(store_uri, artifacts=str(tmp_path / "art"), settings=missing)
    assert not (tmp_path / "b" / "master.key").exists()  # nothing silently created

    other = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(KeyMismatch, match="key-check value differs"):
        settings = mw.Settings(**shared_audit, master_key=other)
        mw.Warden(store_uri, artifacts=str(tmp_path / "art"), settings=settings)

    # the same key from a secret manager (base64 in an environment variable) is accepted
    same = mw.Settings(**shared_audit, master_key=base64.b64encode(master).decode())
    with mw.Warden(store_uri, artifacts=str(tmp_path / "art"), settings=same) as wd:
        assert wd.vault.pseudonym("cust-1") == pseudonym

    with pytest.raises(mw.errors.ValidationError, match="32 bytes in base64"):
        mw.Warden(store_uri, settings=mw.Settings(**shared_audit, master_key="not-base64!"))


def _open_and_pseudonymize(uri: str, artifacts: str, barrier) -> str:  # type: ignore[no-untyped-def]
    barrier.wait(timeout=120)
    with mw.Warden(uri, artifacts=artifacts) as wd:
        return wd.vault.pseudonym("cust-1")


def test_processes_opening_a_new_store_at_once_agree_on_its_master_key(
    store_uri, tmp_path, processes
):
    """The first opens of a new store race to make the master key (in MLWARDEN_HOME on
    PostgreSQL, beside the file on SQLite) and to write its check value: none is refused,
    none reads a half-written key, all derive the same pseudonyms, no draft file is left."""
    n = 4
    with processes.Manager() as manager:
        barrier = manager.Barrier(n)
        with processes.Pool(n) as pool:
            pseudonyms = pool.starmap(
                _open_and_pseudonymize, [(store_uri, str(tmp_path / "art"), barrier)] * n
            )
    assert len(set(pseudonyms)) == 1
    with mw.Warden(store_uri, artifacts=str(tmp_path / "art")) as wd:
        assert wd.vault.pseudonym("cust-1") == pseudonyms[0]
        keys = master_key_path(wd.settings).parent
    assert [p.name for p in keys.iterdir() if p.name.endswith(".tmp")] == []


def test_a_store_keyed_before_check_values_is_checked_by_unwrapping(store_uri, tmp_path):
    settings = mw.Settings(key_file=tmp_path / "a" / "audit.pem")
    with mw.Warden(store_uri, artifacts=str(tmp_path / "art"), settings=settings) as wd:
        wd.vault.seal([wd.vault.pseudonym("cust-1")], ["payload"])
        with wd.db.transaction() as conn:  # as an old release left it: no check value
            conn.execute(text("DELETE FROM store_keys"))
    other = mw.Settings(key_file=settings.key_file, master_key=base64.b64encode(os.urandom(32)))
    with pytest.raises(KeyMismatch, match="key-check value differs"):
        mw.Warden(store_uri, artifacts=str(tmp_path / "art"), settings=other)
    # the right key unwraps a stored subject key, and its check value is written
    with (
        mw.Warden(store_uri, artifacts=str(tmp_path / "art"), settings=settings) as wd,
        wd.db.reading() as conn,
    ):
        assert conn.execute(text("SELECT count(*) FROM store_keys")).scalar() == 1


def test_erasure_leaves_no_wrapped_key_in_the_sqlite_files(tmp_path):
    db = tmp_path / "warden.db"
    settings = mw.Settings(key_file=tmp_path / "keys" / "audit.pem")
    with mw.Warden(f"sqlite:///{db}", actor="alice", settings=settings) as wd:
        wd.create_user("alice", "admin")
        wd.vault.seal([wd.vault.pseudonym(s) for s in ("cust-1", "cust-2")], ["a", "b"])
        with wd.db.reading() as conn:
            wrapped = bytes(
                conn.execute(
                    text("SELECT wrapped FROM subject_keys WHERE subject = :s"),
                    {"s": wd.vault.pseudonym("cust-1")},
                ).scalar_one()
            )
        wal = Path(f"{db}-wal")
        assert wrapped in wal.read_bytes()  # where it sits until a checkpoint
        result = wd.erase_subject("cust-1")
        assert result["wal_truncated"] is True
        assert wal.stat().st_size == 0
        assert wrapped not in db.read_bytes()  # secure_delete zeroed the freed cell
        assert wd.export_subject("cust-2")["subject"]  # the other subject is untouched


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


@pytest.fixture
def audited(tmp_path, monkeypatch):
    monkeypatch.setenv("MLWARDEN_HOME", str(tmp_path / "home"))
    for name in ("MLWARDEN_URI", "MLWARDEN_KEY_FILE", "MLWARDEN_AUDIT_PUBKEY"):
        monkeypatch.delenv(name, raising=False)
    with mw.Warden(actor="alice") as wd:
        wd.create_user("alice", "admin")
        wd.create_user("bob", "viewer")
    return tmp_path / "home"


def test_audit_verify_warns_when_no_public_key_is_pinned(audited, monkeypatch):
    plain = invoke("audit", "verify", "--json")
    assert plain.exit_code == 0, plain.output
    assert "no public key pinned" in plain.stderr
    assert json.loads(plain.stdout)["key_pinned"] is False
    pub = audited / "keys" / "audit-ed25519.pub.pem"
    pinned = invoke("audit", "verify", "--pubkey", str(pub), "--json")
    assert pinned.exit_code == 0 and "pinned" not in pinned.stderr
    assert json.loads(pinned.stdout)["key_pinned"] is True
    monkeypatch.setenv("MLWARDEN_AUDIT_PUBKEY", str(pub))
    env_pinned = invoke("audit", "verify")
    assert env_pinned.exit_code == 0 and "OK" in env_pinned.stdout
    assert "pinned" not in env_pinned.stderr


def test_audit_consistency_against_a_published_checkpoint(audited, tmp_path):
    published = tmp_path / "published.json"
    assert invoke("audit", "checkpoint", "--out", str(published)).exit_code == 0
    assert json.loads(published.read_text())["tree_size"] == 2
    pub = str(audited / "keys" / "audit-ed25519.pub.pem")
    pub_copy = tmp_path / "pinned.pub.pem"  # what the auditor kept
    pub_copy.write_text(Path(pub).read_text())
    with mw.Warden(actor="alice") as wd:
        wd.create_user("carol", "viewer")  # the log grows: still consistent
    ok = invoke("audit", "consistency", "--checkpoint", str(published), "--pubkey", str(pub_copy))
    assert ok.exit_code == 0, ok.output
    assert "extends the published checkpoint of size 2" in ok.stdout

    # Rewrite history with the same key: drop the log and record another past.
    with mw.Warden(actor="alice") as wd, wd.db.transaction() as conn:
        for table in ("audit_checkpoints", "audit_nodes", "audit_events"):
            conn.execute(text(f"DELETE FROM {table}"))
    with mw.Warden(actor="alice") as wd:
        for name in ("mallory", "trent", "peggy"):
            wd.create_user(name, "viewer")
    assert invoke("audit", "verify", "--pubkey", str(pub_copy)).exit_code == 0  # self-consistent
    bad = invoke("audit", "consistency", "--checkpoint", str(published), "--json")
    assert bad.exit_code == 1
    assert "history was rewritten" in json.loads(bad.stdout)["message"]

    # Swap the key and re-sign: plain verify reads OK; the pinned key and the checkpoint do not.
    keys = audited / "keys"
    for f in keys.glob("audit-ed25519*"):
        f.unlink()
    with mw.Warden(actor="alice") as wd, wd.db.transaction() as conn:
        for table in ("audit_checkpoints", "audit_nodes", "audit_events"):
            conn.execute(text(f"DELETE FROM {table}"))
    with mw.Warden(actor="alice") as wd:
        wd.create_user("oscar", "viewer")
    swapped = invoke("audit", "verify")
    assert swapped.exit_code == 0 and "no public key pinned" in swapped.stderr
    assert invoke("audit", "verify", "--pubkey", str(pub_copy)).exit_code == 1
    changed = invoke("audit", "consistency", "--checkpoint", str(published))
    assert changed.exit_code == 1 and "the signing key changed" in changed.stdout
