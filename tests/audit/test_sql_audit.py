"""The audit log on SQLite and PostgreSQL: transactions, tampering done directly in SQL,
concurrent writers in real processes, the key, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import mlwarden as mw
import mlwarden.audit.sql_log as sql_log
import mlwarden.store.sql.audit as sql_audit
from mlwarden.audit import AuditLog, Problem, Signer, parallel, verify_export
from mlwarden.audit.signing import load_public_key
from mlwarden.audit.sql_log import SqlAuditLog
from mlwarden.cli.main import app
from mlwarden.errors import IntegrityError, WardenError
from mlwarden.store.sql.audit import SqlAuditBackend, key_path, public_key_path

BATCH = 4  # events per append_many: checkpoints at 4, 8, 12


def _settings(tmp_path: Path) -> mw.Settings:
    return mw.Settings(key_file=tmp_path / "keys" / "audit.pem")


@pytest.fixture
def wd(store_uri: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    w = mw.Warden(
        store_uri, artifacts=str(tmp_path / "a"), actor="alice", settings=_settings(tmp_path)
    )
    yield w
    w.close()


def _force_parallel(monkeypatch: pytest.MonkeyPatch, *, workers: int = 2, page: int = 5) -> None:
    """Every online verification of the SQL store through the parallel path: pages of
    ``page`` events, ``workers`` processes, every chunk checked in a worker process."""
    monkeypatch.setattr(SqlAuditLog, "parallel_min", 1)
    monkeypatch.setattr(SqlAuditLog, "verify_workers", workers)
    monkeypatch.setattr(parallel, "_LOCAL", False)
    monkeypatch.setattr(sql_audit, "_PAGE", page)


@pytest.fixture(params=["one_scan", "parallel"])
def verify_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test runs on the one-scan verifier, and again with the parallel one forced on."""
    if request.param == "parallel":
        _force_parallel(monkeypatch)
    return str(request.param)


def _fill(log: AuditLog, batches: int = 3) -> None:
    for b in range(batches):
        log.append_many(
            ("alice", "model.promote", f"model:m{b * BATCH + i + 1}", {"n": b * BATCH + i + 1})
            for i in range(BATCH)
        )


def _sql(wd: mw.Warden, *statements: str) -> None:
    """Tamper as an attacker with database access would: plain SQL, committed."""
    with wd.db.engine.begin() as conn:
        for s in statements:
            conn.exec_driver_sql(s)


def _verdicts(wd: mw.Warden, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Online verdicts (the store's joined-query reader, and the generic backend reader) and
    the offline one (export, then verify with the trusted key)."""
    key = wd.audit.public_key
    fresh = SqlAuditLog(SqlAuditBackend(wd.db), public_key=key)  # no cache, no signer
    generic = AuditLog(SqlAuditBackend(wd.db), public_key=key)
    path = tmp_path / "export.jsonl"
    fresh.export(path)
    return fresh.verify(), generic.verify(), verify_export(path, key)


def test_backend_stores_exact_text_and_verifies(verify_path, wd, tmp_path):
    _fill(wd.audit)
    assert wd.audit.size == 3 * BATCH
    assert [c.tree_size for c in wd.audit.backend.checkpoints()] == [4, 8, 12]
    with wd.db.engine.connect() as conn:
        payload = conn.execute(text("SELECT payload FROM audit_events WHERE seq = 5")).scalar()
    assert payload == '{"n":5}'  # TEXT, the exact hashed bytes, not re-encoded JSON
    for verdict in _verdicts(wd, tmp_path):
        assert verdict.ok and verdict.events_checked == 12
    proof = wd.audit.prove(7)
    assert proof.verify_event(wd.audit.get(7), wd.audit.checkpoint(), wd.audit.public_key)
    assert [e.seq for e in wd.audit.events(model="m3")] == [3]
    assert [e.seq for e in wd.audit.events(action="model.promote", limit=2)] == [1, 2]
    assert wd.audit.events(since="2000-01-01", newest_first=True)[0].seq == 12
    assert wd.audit.consistency(4).verify()


def test_registration_and_its_events_commit_together(wd, tmp_path):
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    mv = wd.register_model("credit", model, risk_tier="low")
    wd.set_alias("credit", "staging", mv.version)  # not protected: no override event
    actions = [(e.action, e.subject) for e in wd.audit.events(model="credit")]
    assert actions == [
        ("model.create", "model:credit"),
        ("version.register", "model:credit/1"),
        ("alias.set", "model:credit/staging"),
    ]
    # An event appended inside a transaction that fails is rolled back with it: no gap.
    with pytest.raises(RuntimeError), wd.db.transaction():
        wd.audit.append("alice", "model.note", "model:credit", {"x": 1})
        raise RuntimeError("boom")
    assert wd.audit.size == 3
    assert wd.audit.append("alice", "model.note", "model:credit").seq == 4
    assert wd.audit.verify().ok


# Each tampering, done in SQL, with (problem(s) accepted, first bad seq). Checkpoints at 4, 8,
# 12, so a signature problem on checkpoint 8 is reported at the first seq of its range, 5.
TAMPERING = {
    "altered_payload": (
        ["UPDATE audit_events SET payload = '{\"n\":500}' WHERE seq = 6"],
        {Problem.ALTERED_PAYLOAD},
        6,
    ),
    "erased_payload_without_record": (
        ["UPDATE audit_events SET payload = NULL, salt = NULL WHERE seq = 6"],
        {Problem.ALTERED_PAYLOAD},
        6,
    ),
    "altered_event": (
        ["UPDATE audit_events SET actor = 'mallory' WHERE seq = 6"],
        {Problem.ALTERED_EVENT},
        6,
    ),
    "deleted_event": (["DELETE FROM audit_events WHERE seq = 6"], {Problem.DELETED_EVENT}, 6),
    "deleted_tail": (
        ["DELETE FROM audit_events WHERE seq >= 11"],
        {Problem.DELETED_EVENT},
        11,
    ),
    "inserted_event_at_end": (
        [
            "INSERT INTO audit_events (seq, time, actor, action, subject, payload_digest, "
            "payload, salt) SELECT 13, time, 'mallory', action, subject, payload_digest, "
            "payload, salt FROM audit_events WHERE seq = 12"
        ],
        {Problem.MISSING_SIGNATURE},
        13,
    ),
    "inserted_event_in_the_middle": (
        [
            "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 6",
            "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000",
            # a copy of row 5, recorded leaf included (a row without one is named at 7: the
            # shifted row 6's recorded leaf commits to seq 6)
            "INSERT INTO audit_events (seq, time, actor, action, subject, payload_digest, "
            "payload, salt, leaf) SELECT 6, time, 'mallory', action, 'model:forged', "
            "payload_digest, payload, salt, leaf FROM audit_events WHERE seq = 5",
        ],
        {Problem.INSERTED_EVENT, Problem.ALTERED_EVENT},
        6,
    ),
    "reordered_events": (
        [
            "UPDATE audit_events SET seq = 1003 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 6",
            "UPDATE audit_events SET seq = 6 WHERE seq = 1003",
        ],
        {Problem.ALTERED_EVENT, Problem.REORDERED_EVENTS},
        3,
    ),
    "bad_signature": (
        [
            "UPDATE audit_checkpoints SET signature = (SELECT signature FROM audit_checkpoints "
            "WHERE tree_size = 4) WHERE tree_size = 8"
        ],
        {Problem.BAD_SIGNATURE},
        5,
    ),
    "altered_checkpoint_root": (
        [
            "UPDATE audit_checkpoints SET root_hash = (SELECT root_hash FROM audit_checkpoints "
            "WHERE tree_size = 4) WHERE tree_size = 8"
        ],
        {Problem.BAD_SIGNATURE},
        5,
    ),
    "missing_signature": (
        ["UPDATE audit_checkpoints SET signature = NULL WHERE tree_size = 8"],
        {Problem.MISSING_SIGNATURE},
        5,
    ),
    "all_checkpoints_deleted": (
        ["DELETE FROM audit_checkpoints"],
        {Problem.MISSING_SIGNATURE},
        1,
    ),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_in_sql_is_detected(verify_path, wd, tmp_path, kind):
    statements, problems, first_bad = TAMPERING[kind]
    _fill(wd.audit)
    assert wd.audit.verify().ok
    _sql(wd, *statements)
    for result in _verdicts(wd, tmp_path):
        assert not result.ok, (kind, result)
        assert result.problem in problems, (kind, result)
        assert result.first_bad_seq == first_bad, (kind, result)


@pytest.mark.parametrize(
    "kind", ["altered_payload", "altered_event", "deleted_event", "reordered_events"]
)
def test_tampering_is_detected_across_read_pages(verify_path, wd, tmp_path, monkeypatch, kind):
    """The store's verifier reads pages of 3 (the next on a helper thread): tampering is
    named at the same seq when it sits on a page edge or leaves a page short."""
    import mlwarden.store.sql.audit as sql_audit

    monkeypatch.setattr(sql_audit, "_PAGE", 3)
    statements, problems, first_bad = TAMPERING[kind]
    _fill(wd.audit)
    fresh = SqlAuditLog(SqlAuditBackend(wd.db), public_key=wd.audit.public_key)
    assert fresh.verify().ok and fresh.verify().events_checked == 12
    _sql(wd, *statements)
    for result in _verdicts(wd, tmp_path):
        assert not result.ok and result.problem in problems, (kind, result)
        assert result.first_bad_seq == first_bad, (kind, result)


def test_a_cleared_recorded_leaf_leaves_the_others_on_their_events(verify_path, wd, monkeypatch):
    """A recorded leaf set to NULL (which the verifier takes as none recorded, as in an export
    without leaf hashes) must not shift the others onto the wrong events: the altered event
    after it is still named, not its neighbour."""
    import mlwarden.store.sql.audit as sql_audit

    monkeypatch.setattr(sql_audit, "_PAGE", 5)
    _fill(wd.audit)
    _sql(
        wd,
        "UPDATE audit_events SET leaf = NULL WHERE seq = 6",  # seq 6's recorded leaf
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 7",
    )
    records = list(SqlAuditBackend(wd.db).records())
    assert [r[0] for r in records] == list(range(1, 13))
    assert records[5][8] is None and records[6][8] == wd.audit.backend.get_node(0, 6)
    online = SqlAuditLog(SqlAuditBackend(wd.db), public_key=wd.audit.public_key).verify()
    assert (online.problem, online.first_bad_seq) == (Problem.ALTERED_EVENT, 7), online


def test_altered_event_with_its_leaf_rewritten_is_pinned_to_its_batch(verify_path, wd, tmp_path):
    from dataclasses import replace

    _fill(wd.audit)
    forged = replace(wd.audit.get(6), actor="mallory")
    _sql(wd, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 6")
    with wd.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET leaf = :h WHERE seq = 6"),
            {"h": forged.leaf_hash()},
        )
    for result in _verdicts(wd, tmp_path):
        assert result.problem == Problem.ROOT_MISMATCH and result.first_bad_seq == 5, result


# Beyond TAMPERING: gaps that end a page (a parallel range) or empty a whole one, erasures
# explained by a record in a later range, and a checkpoint beyond the events.
EDGES = {
    "page_end_deleted": ["DELETE FROM audit_events WHERE seq = 3"],
    "whole_page_deleted": ["DELETE FROM audit_events WHERE seq >= 4 AND seq <= 6"],
    "pages_deleted_up_to_the_tail": ["DELETE FROM audit_events WHERE seq >= 4 AND seq <= 12"],
    "last_page_deleted": ["DELETE FROM audit_events WHERE seq >= 13"],
    "erased_lawfully": [],
    "erased_and_its_record_altered": ["UPDATE audit_events SET actor = 'x' WHERE seq = 13"],
    "erased_twice_once_lawfully": [
        "UPDATE audit_events SET payload = NULL, salt = NULL WHERE seq = 9"
    ],
    "payload_without_salt": ["UPDATE audit_events SET salt = NULL WHERE seq = 8"],
    "malformed_digest": ["UPDATE audit_events SET payload_digest = 'zz' WHERE seq = 10"],
    "unsigned_checkpoint_of_the_empty_tree": [
        "INSERT INTO audit_checkpoints (tree_size, root_hash, time, key_id, signature) "
        "SELECT 0, root_hash, time, key_id, NULL FROM audit_checkpoints WHERE tree_size = 4"
    ],
    "checkpoint_beyond_the_events": [
        "INSERT INTO audit_checkpoints (tree_size, root_hash, time, key_id, signature) "
        "SELECT 20, root_hash, time, key_id, signature FROM audit_checkpoints "
        "WHERE tree_size = 12"
    ],
    "checkpoint_root_and_event": [
        "UPDATE audit_checkpoints SET root_hash = (SELECT root_hash FROM audit_checkpoints "
        "WHERE tree_size = 4) WHERE tree_size = 12",
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 11",
    ],
}


@pytest.mark.parametrize("kind", sorted(TAMPERING) + sorted(EDGES))
@pytest.mark.parametrize("page", [3])
def test_parallel_verdict_is_the_one_scan_verdict(wd, monkeypatch, kind, page):
    """Every tampering case gives the same VerificationResult (seq, problem, message and
    every count) through one scan and through the parallel path, in worker processes or in
    this one, whatever the page (range) size."""
    _fill(wd.audit)
    if kind in EDGES:
        wd.audit.erase_payload(2, actor="dpo")  # seq 13 records it, in a later range
    statements = TAMPERING[kind][0] if kind in TAMPERING else EDGES[kind]
    _sql(wd, *statements)
    monkeypatch.setattr(sql_audit, "_PAGE", page)
    key = wd.audit.public_key

    def verdict(**options):  # type: ignore[no-untyped-def]
        return SqlAuditLog(SqlAuditBackend(wd.db), public_key=key, **options).verify()

    one_scan = verdict(verify_workers=1)
    generic = AuditLog(SqlAuditBackend(wd.db), public_key=key).verify()
    assert one_scan == generic
    runs = []
    real = sql_log.verify_parallel
    monkeypatch.setattr(
        sql_log, "verify_parallel", lambda *a, **k: runs.append(k["workers"]) or real(*a, **k)
    )
    in_this_process = verdict(verify_workers=2, parallel_min=1)
    monkeypatch.setattr(parallel, "_LOCAL", False)
    in_workers = verdict(verify_workers=3, parallel_min=1)
    assert runs == [2, 3]  # both took the parallel path
    assert in_this_process == one_scan, kind
    assert in_workers == one_scan, kind
    assert one_scan.ok is (kind == "erased_lawfully")


def test_parallel_path_only_where_it_pays(wd, monkeypatch):
    _fill(wd.audit)
    runs = []
    real = sql_log.verify_parallel
    monkeypatch.setattr(sql_log, "verify_parallel", lambda *a, **k: runs.append(1) or real(*a, **k))
    assert wd.audit.verify().ok and not runs  # 12 events: below parallel_min
    log = SqlAuditLog(wd.audit.backend, public_key=wd.audit.public_key, parallel_min=12)
    log.verify_workers = 1
    assert log.verify().ok and not runs  # one worker
    log.verify_workers = 2
    progress = []
    assert log.verify(progress=lambda done, total: progress.append((done, total))).ok
    assert runs == [1] and progress[-1] == (12, 12)
    with wd.db.transaction():  # other connections could not see this transaction's rows
        wd.audit.append("alice", "x", "y")
        assert log.verify().ok and runs == [1]
    assert log.read_only().parallel_min == 12


def test_a_failed_worker_falls_back_to_one_scan(wd, monkeypatch, caplog):
    _fill(wd.audit)
    _sql(wd, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 7")
    expected = SqlAuditLog(wd.audit.backend, public_key=wd.audit.public_key).verify()
    _force_parallel(monkeypatch)
    monkeypatch.setattr(parallel, "_WORKER", "import sys; sys.exit(3)")  # dies at once
    with caplog.at_level("WARNING", logger="mlwarden.audit"):
        assert wd.audit.verify() == expected
    assert "verification worker failed" in caplog.text and "one scan" in caplog.text


def test_an_append_between_a_verifiers_reads_is_not_a_false_alarm(
    verify_path, wd, tmp_path, monkeypatch
):
    """Another writer appends (and signs) right after a verifier or an export has read the
    checkpoints: the events it verifies or exports are those the checkpoints it read cover,
    not a longer log that looks unsigned past its last checkpoint."""
    _fill(wd.audit)
    other = mw.Warden(wd.uri, artifacts=str(tmp_path / "a"), settings=_settings(tmp_path))
    appended = []

    def appending(real):  # type: ignore[no-untyped-def]
        def read(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            other.audit.append("bob", "model.promote", "model:late")  # its own connection
            appended.append(1)
            return real(self, *args, **kwargs)

        return read

    # what each reader calls after the view it verifies against: pages, or events
    monkeypatch.setattr(SqlAuditBackend, "record_pages", appending(SqlAuditBackend.record_pages))
    monkeypatch.setattr(SqlAuditBackend, "read", appending(SqlAuditBackend.read))
    try:
        verdicts = _verdicts(wd, tmp_path)
    finally:
        other.close()
    assert appended  # the appends did land mid-verification
    for verdict in verdicts:
        assert verdict.ok, verdict
    assert wd.audit.verify().ok  # and the longer log verifies too


def test_appends_refuse_to_sign_rows_written_around_the_service(wd):
    _fill(wd.audit, 1)
    _sql(
        wd,
        "INSERT INTO audit_events (seq, time, actor, action, subject, payload_digest, payload, "
        "salt) SELECT 5, time, 'mallory', action, subject, payload_digest, payload, salt "
        "FROM audit_events WHERE seq = 4",
    )
    with pytest.raises(IntegrityError, match="outside the signed tree"):
        wd.audit.append("alice", "x", "y")
    assert wd.audit.size == 5 and len(wd.audit.backend.checkpoints()) == 1


def test_key_is_outside_the_database_and_a_second_key_is_refused(wd, tmp_path, store_uri):
    key = key_path(wd.settings)
    assert key == tmp_path / "keys" / "audit.pem" and (key.stat().st_mode & 0o777) == 0o600
    assert load_public_key(public_key_path(key)) is not None
    wd.audit.append("alice", "x", "y")
    other = mw.Warden(
        store_uri,
        artifacts=str(tmp_path / "a"),
        actor="bob",
        # the store's master key (another would be refused: tests/test_keys_and_files.py)
        settings=mw.Settings(
            key_file=tmp_path / "other.pem", master_key_file=key.with_name("master.key")
        ),
    )
    # The log is signed already: no key is created for it, writes say what to do.
    assert not (tmp_path / "other.pem").exists()
    with pytest.raises(WardenError, match="MLWARDEN_KEY_FILE"):
        other.audit.append("bob", "x", "y")
    Signer.create(tmp_path / "other.pem")
    other.close()
    other = mw.Warden(
        store_uri,
        artifacts=str(tmp_path / "a"),
        actor="bob",
        # the store's master key (another would be refused: tests/test_keys_and_files.py)
        settings=mw.Settings(
            key_file=tmp_path / "other.pem", master_key_file=key.with_name("master.key")
        ),
    )
    with pytest.raises(IntegrityError, match="signed with key"):
        other.audit.append("bob", "x", "y")
    assert wd.audit.size == 1 and wd.audit.verify().ok
    other.close()


def test_sqlite_key_defaults_beside_the_database(tmp_path):
    w = mw.Warden(f"sqlite:///{tmp_path / 'db' / 'w.db'}", artifacts=str(tmp_path / "a"))
    assert key_path(w.settings) == tmp_path / "db" / "keys" / "audit-ed25519.pem"
    assert key_path(w.settings).exists() and w.audit.signer is not None
    w.close()


# ---- concurrent writers in real processes

WRITERS = 4
PER_WRITER = 15


def _write(uri: str, key: str, artifacts: str, who: int, barrier) -> list[int]:  # type: ignore[no-untyped-def]
    w = mw.Warden(
        uri, artifacts=artifacts, actor=f"w{who}", settings=mw.Settings(key_file=Path(key))
    )
    barrier.wait()
    seqs = []
    for i in range(PER_WRITER):
        if i % 3 == 2:  # batches and single appends interleave
            seqs += [
                e.seq
                for e in w.audit.append_many(
                    [(f"w{who}", "test.batch", f"writer:{who}", {"i": i, "j": j}) for j in range(3)]
                )
            ]
        else:
            seqs.append(w.audit.append(f"w{who}", "test.single", f"writer:{who}", {"i": i}).seq)
    w.close()
    return seqs


def test_concurrent_writers_get_one_total_order(store_uri, tmp_path, processes):
    key = str(tmp_path / "keys" / "audit.pem")
    first = mw.Warden(
        store_uri, artifacts=str(tmp_path / "a"), settings=mw.Settings(key_file=Path(key))
    )
    first.audit.checkpoint()  # `mlwarden init`: the key exists before the writers start
    ctx = processes
    with ctx.Manager() as manager:
        barrier = manager.Barrier(WRITERS)
        with ctx.Pool(WRITERS) as pool:
            results = pool.starmap(
                _write, [(store_uri, key, str(tmp_path / "a"), w, barrier) for w in range(WRITERS)]
            )
    seqs = sorted(s for r in results for s in r)
    total = WRITERS * (PER_WRITER // 3) * (2 + 3)
    assert seqs == list(range(1, total + 1))  # no gaps, no duplicates
    for r in results:  # each writer's own events come back in its order
        assert r == sorted(r)
    events = first.audit.events()
    assert [e.seq for e in events] == seqs
    times = [e.time for e in events]
    assert times == sorted(times)  # stamped under the lock: never decreasing along seq
    result = first.audit.verify()
    assert result.ok and result.events_checked == total
    first.close()


# ---- CLI

runner = CliRunner()


def test_cli_log_proof_export_verify_and_tampering(store_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("MLWARDEN_KEY_FILE", str(tmp_path / "keys" / "audit.pem"))
    monkeypatch.setenv("MLWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLWARDEN_ARTIFACTS", str(tmp_path / "a"))

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, [*args, "--uri", store_uri])

    init = cli("init", "--json")
    assert init.exit_code == 0, init.output
    pub = json.loads(init.stdout)["public_key_file"]
    w = mw.Warden(store_uri, actor="alice")
    _fill(w.audit)

    logged = json.loads(cli("audit", "log", "--json", "--model", "m6").stdout)
    assert [e["seq"] for e in logged] == [6] and logged[0]["payload"] == {"n": 6}
    assert "model.promote" in cli("audit", "log", "--action", "model.promote").stdout
    proof = cli("audit", "proof", "6", "--json")
    assert proof.exit_code == 0 and json.loads(proof.stdout)["verified"] is True
    assert json.loads(cli("audit", "checkpoint", "--json").stdout)["tree_size"] == 12
    pem = cli("audit", "pubkey")
    assert pem.exit_code == 0 and load_public_key(pem.stdout) is not None

    ok = cli("audit", "verify")
    assert ok.exit_code == 0 and "OK" in ok.stdout
    export = tmp_path / "audit.jsonl"
    assert cli("audit", "export", str(export)).exit_code == 0
    offline = runner.invoke(app, ["audit", "verify", "--export", str(export), "--pubkey", pub])
    assert offline.exit_code == 0 and "OK" in offline.stdout

    _sql(w, "UPDATE audit_events SET payload = '{\"n\":60}' WHERE seq = 6")
    bad = cli("audit", "verify", "--json")
    assert bad.exit_code == 1
    verdict = json.loads(bad.stdout)
    assert verdict["first_bad_seq"] == 6 and verdict["problem"] == "altered_payload"
    # The same verdict from the parallel path (forced on for this 12-event log).
    monkeypatch.setenv("MLWARDEN_AUDIT_VERIFY_PARALLEL_MIN", "1")
    runs = []
    real = sql_log.verify_parallel
    monkeypatch.setattr(
        sql_log, "verify_parallel", lambda *a, **k: runs.append(k["workers"]) or real(*a, **k)
    )
    parallel_run = cli("audit", "verify", "--json", "--workers", "2")
    assert parallel_run.exit_code == 1 and json.loads(parallel_run.stdout) == verdict
    assert runs == [2]
    assert cli("audit", "verify", "--workers", "0").exit_code == 2  # a usage error
    monkeypatch.delenv("MLWARDEN_AUDIT_VERIFY_PARALLEL_MIN")
    assert "seq 6" in cli("audit", "verify").stdout
    # The old export is untouched; a new one carries the tampering and fails offline too.
    assert cli("audit", "export", str(tmp_path / "new.jsonl")).exit_code == 0
    again = runner.invoke(
        app, ["audit", "verify", "--export", str(tmp_path / "new.jsonl"), "--pubkey", pub]
    )
    assert again.exit_code == 1 and "altered_payload" in again.stdout
    # Rows written around Warden are never signed by read commands.
    _sql(
        w,
        "INSERT INTO audit_events (seq, time, actor, action, subject, payload_digest) "
        "SELECT 13, time, actor, action, subject, payload_digest FROM audit_events "
        "WHERE seq = 12",
    )
    assert cli("audit", "checkpoint").exit_code == 1
    assert cli("audit", "export", str(tmp_path / "x.jsonl")).exit_code == 1
    w.close()
