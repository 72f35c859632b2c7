"""Proxy mode against a second uvicorn app on loopback, and the group-commit writer."""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from serve_support import LiveServer, records

import mlwarden as mw
from mlwarden.server import ServerSettings, create_app
from mlwarden.server.proxy import register_endpoint
from mlwarden.server.settings import ProxySettings
from mlwarden.server.writer import Pending, PredictionWriter
from mlwarden.store.sql.predictions import new_ids


def upstream_app(model) -> tuple[FastAPI, dict[str, int]]:
    """A tiny model server: OIP v2, plain JSON, one that fails and one that hangs."""
    app = FastAPI()
    calls = {"fail": 0, "slow": 0}

    def frame(columns: dict) -> pd.DataFrame:
        X = pd.DataFrame(columns)
        for c, cats in zip(
            [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])],
            model.booster_.pandas_categorical,
            strict=True,
        ):
            X[c] = pd.Categorical(X[c], categories=cats)
        return X

    @app.post("/v2/models/up/infer")
    async def infer(body: dict) -> dict:
        X = frame({t["name"]: t["data"] for t in body["inputs"]})
        n = len(X)
        return {
            "model_name": "up",
            "outputs": [
                {"name": "predict", "shape": [n], "datatype": "BYTES",
                 "data": model.predict(X).tolist()},
                {"name": "probability", "shape": [n], "datatype": "FP64",
                 "data": model.predict_proba(X)[:, 1].tolist()},
            ],
        }  # fmt: skip

    @app.post("/json")
    async def plain(body: dict) -> dict:
        X = frame(pd.DataFrame(body["records"]).to_dict(orient="list"))
        return {"predictions": model.predict(X).tolist()}

    @app.post("/fail")
    async def fail(request: Request) -> JSONResponse:
        calls["fail"] += 1
        return JSONResponse({"detail": "upstream broke"}, status_code=500)

    @app.post("/slow")
    async def slow(request: Request) -> dict:
        calls["slow"] += 1
        await asyncio.sleep(1.0)
        return {"predictions": []}

    return app, calls


@pytest.fixture
def upstream(store, lgb_model, monkeypatch):
    # the upstream listens on loopback, which the egress rules allow only when listed: in
    # the environment (read at registration) and in the tree the server is built from
    monkeypatch.setenv("MLWARDEN_PROXY_ALLOWED_HOSTS", "127.0.0.1")
    wd = store.warden
    wd.settings = wd.settings.model_copy(update={"proxy": ProxySettings()})
    app, calls = upstream_app(lgb_model)
    with LiveServer(app) as server:
        server.calls = calls
        yield server


def test_proxied_versions_are_validated_logged_and_audited(store, upstream, lgb_model, credit_data):
    X, y, test = credit_data
    wd = store.warden
    sample = mw.Dataset(X.head(300), y.head(300))
    oip = register_endpoint(
        wd, "credit", f"{upstream.url}/v2/models/up/infer", "oip-v2", train=sample,
        classes=["<=50K", ">50K"],
    )  # fmt: skip
    plain = register_endpoint(wd, "credit", f"{upstream.url}/json", "json", train=sample,
                              classes=["<=50K", ">50K"])  # fmt: skip
    assert oip.flavor == "generic" and oip.metrics["accuracy"] > 0.7
    assert oip.signature["inputs"][0]["name"] == "age"
    rows = records(test, 10)
    expected = lgb_model.predict(test.head(10)).tolist()
    with TestClient(create_app(ServerSettings(), wd), headers=store.headers()) as api:
        a = api.post(f"/v1/models/credit/predict?version={oip.version}", json={"records": rows})
        assert a.status_code == 200, a.text
        assert a.json()["outputs"] == expected and a.json()["logged"]
        np.testing.assert_allclose(a.json()["scores"], lgb_model.predict_proba(test.head(10))[:, 1])
        wd.set_alias("credit", "production", plain.version, override=True, reason="test setup")
        b = api.post("/v1/models/credit/predict", json={"records": rows}).json()
        assert b["version"] == plain.version and b["outputs"] == expected and b["scores"] is None
        bad = api.post(f"/v1/models/credit/predict?version={oip.version}",
                       json={"records": [{"age": "old"}]})  # fmt: skip
        assert bad.status_code == 422 and len(bad.json()["details"]["errors"]) > 1
    logged = wd.predictions("credit", ids=a.json()["ids"] + b["ids"])
    assert len(logged) == 20 and set(logged["version"]) == {oip.version, plain.version}
    subjects = {e.subject for e in wd.audit.events(model="credit", action="predictions.log")}
    assert {f"model:credit/{oip.version}", f"model:credit/{plain.version}"} <= subjects


def test_proxy_retries_times_out_and_opens_the_circuit(store, upstream, credit_data):
    _, _, test = credit_data
    wd = store.warden
    fail = register_endpoint(wd, "credit", f"{upstream.url}/fail", "json")
    slow = register_endpoint(wd, "credit", f"{upstream.url}/slow", "json")
    settings = ServerSettings(
        proxy_timeout_s=0.2, proxy_retries=2, proxy_breaker_failures=2, proxy_breaker_reset_s=60
    )
    rows = {"records": records(test, 1)}
    with TestClient(create_app(settings, wd), headers=store.headers()) as api:
        url = f"/v1/models/credit/predict?version={fail.version}"
        first = api.post(url, json=rows)
        assert first.status_code == 502 and first.json()["error"] == "upstream_error"
        assert first.json()["details"]["attempts"] == 3 and upstream.calls["fail"] == 3
        assert api.post(url, json=rows).status_code == 502  # second failure opens the circuit
        calls = upstream.calls["fail"]
        third = api.post(url, json=rows)
        assert third.status_code == 503 and third.json()["error"] == "upstream_unavailable"
        assert upstream.calls["fail"] == calls  # not called while open
        timed = api.post(f"/v1/models/credit/predict?version={slow.version}", json=rows)
        assert timed.status_code == 502 and "timed out" in timed.json()["message"]
    assert wd.predictions("credit").empty  # nothing is logged for a failed prediction


def test_settle_heap_freezes_after_start_and_after_each_model_load(store, credit_data):
    _, _, test = credit_data
    gc.unfreeze()
    settings = ServerSettings(settle_heap=True)
    try:
        with TestClient(create_app(settings, store.warden), headers=store.headers()) as api:
            assert gc.get_freeze_count() > 0  # the app, frozen at start-up
            gc.unfreeze()
            r = api.post("/v1/models/credit/predict", json={"records": records(test, 1)})
            assert r.status_code == 200, r.text
            assert gc.get_freeze_count() > 0  # and again once the model was loaded
    finally:
        gc.unfreeze()


def _pending(mid: int, n: int = 1) -> Pending:
    return Pending("alice", "credit", mid, 1, new_ids(n), datetime.now(UTC),
                   [{"age": 30}] * n, ["<=50K"] * n, [0.1] * n, 1.0)  # fmt: skip


def test_writer_group_commits_concurrent_requests(store):
    wd = store.warden
    mid = wd.registry.store.model_id("credit")
    writer = PredictionWriter(wd, max_wait_ms=5)
    writer.start()
    futures, lock = [], threading.Lock()

    def client() -> None:
        for _ in range(25):
            f = writer.submit(_pending(mid, 2))
            with lock:
                futures.append(f)
            f.result(10)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    assert all(f.done() and f.exception() is None for f in futures)
    assert writer.rows == 400 and writer.batches < 200  # grouped, not one commit per request
    assert len(wd.predictions("credit")) == 400
    events = wd.audit.events(action="predictions.log")
    assert sum(e.payload["count"] for e in events) == 400 and len(events) == writer.batches
    assert wd.audit.verify().ok


def test_one_turn_of_the_event_loop_is_one_batch_and_shares_its_fate(store):
    """``log`` from the event loop: the requests of one turn go over together (one commit,
    one audit event) and each waiter learns the batch's outcome, failure included."""
    import asyncio

    wd = store.warden
    mid = wd.registry.store.model_id("credit")
    writer = PredictionWriter(wd)
    writer.start()

    async def turn(items: list[Pending]) -> list[BaseException | None]:
        waiters = [writer.log(item, wait=True) for item in items]  # one turn, no await
        return await asyncio.gather(*waiters, return_exceptions=True)  # type: ignore[arg-type]

    good = [_pending(mid) for _ in range(10)]
    assert asyncio.run(turn(good)) == [None] * 10
    assert writer.batches == 1 and writer.rows == 10
    dup = _pending(mid)
    dup.ids = good[0].ids  # an id already logged: the whole batch is refused
    results = asyncio.run(turn([_pending(mid), dup, _pending(mid)]))
    assert all(isinstance(r, Exception) for r in results)
    unwaited = _pending(mid)  # async durability: nothing waits, the row is still written

    async def fire_and_forget() -> None:
        assert writer.log(unwaited, wait=False) is None
        await asyncio.sleep(0)  # the turn ends: its requests go to the writer

    asyncio.run(fire_and_forget())
    writer.stop()
    assert unwaited.waiter is None
    assert len(wd.predictions("credit")) == 11
    assert len(wd.audit.events(model="credit", action="predictions.log")) == 2


def test_a_lone_client_never_waits_for_company(store):
    wd = store.warden
    mid = wd.registry.store.model_id("credit")
    writer = PredictionWriter(wd, max_wait_ms=400)
    writer.start()
    started = time.monotonic()
    for _ in range(5):  # one request at a time: nobody to wait for
        writer.submit(_pending(mid)).result(10)
    alone = time.monotonic() - started
    writer.stop()
    assert writer.batches == 5
    assert alone < 1.0  # waiting for company would take 5 x 0.4 s


def test_a_failed_batch_fails_its_requests(store):
    wd = store.warden
    mid = wd.registry.store.model_id("credit")
    writer = PredictionWriter(wd)
    writer.start()
    first = _pending(mid)
    writer.submit(first).result(10)
    again = _pending(mid)
    again.ids = first.ids  # an id already logged: the primary key refuses the batch
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError
        writer.submit(again).result(10)
    writer.submit(_pending(mid)).result(10)
    writer.stop()
    assert len(wd.predictions("credit")) == 2
    assert len(wd.audit.events(model="credit", action="predictions.log")) == 2


@pytest.mark.parametrize(
    "store_uri", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_workers_writers_share_one_audit_order(store):
    """Two workers' writers (two Wardens on one store) commit in turn: each batch's audit
    append finds the other's signed head and reads its frontier; one gap-free order."""
    second = mw.Warden(store.uri, artifacts=store.artifacts, actor="alice",
                       settings=mw.Settings(key_file=store.key_file))  # fmt: skip
    mid = store.warden.registry.store.model_id("credit")
    writers = [PredictionWriter(store.warden), PredictionWriter(second)]
    for w in writers:
        w.start()
    start = store.warden.audit.size

    def client(writer: PredictionWriter) -> None:
        for _ in range(30):
            writer.submit(_pending(mid)).result(20)

    threads = [threading.Thread(target=client, args=(w,)) for w in writers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.stop()
    second.close()
    assert [w.rows for w in writers] == [60, 60]
    events = store.warden.audit.events(since=None)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    logged = [e for e in events[start:] if e.action == "predictions.log"]
    assert len(logged) == writers[0].batches + writers[1].batches
    assert sum(e.payload["count"] for e in logged) == 120 == len(store.warden.predictions("credit"))
    assert store.warden.audit.verify().ok


def test_sqlite_batches_are_synced_after_the_write_lock_is_released(store, monkeypatch):
    """SQLite: the writer commits without syncing, then syncs the write-ahead log file
    itself before answering, with the write lock already free for another worker; its
    connection never goes back to the pool that way."""
    import mlwarden.server.writer as writer_module

    wd = store.warden
    if not wd.db.is_sqlite:
        assert writer_module._wal_file(wd.db) is None  # PostgreSQL: _flush_wal's barrier
        return
    syncs: list[tuple[str, bool, bool]] = []  # (file, lock free, request answered)
    futures: list[Any] = []
    real = writer_module._fdatasync

    def fdatasync(fd: int) -> None:
        probe = sqlite3.connect(wd.db.engine.url.database, timeout=0, isolation_level=None)
        try:  # could another worker write now?
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            free = True
        except sqlite3.OperationalError:  # database is locked
            free = False
        finally:
            probe.close()
        syncs.append((os.readlink(f"/proc/self/fd/{fd}"), free, futures[0].done()))
        real(fd)

    monkeypatch.setattr(writer_module, "_fdatasync", fdatasync)
    writer = PredictionWriter(wd)
    writer.start()
    mid = wd.registry.store.model_id("credit")
    futures.append(writer.submit(_pending(mid, 3)))
    futures[0].result(10)
    wal = str(Path(wd.db.engine.url.database).resolve()) + "-wal"
    assert syncs == [(wal, True, False)]
    assert writer._conn is not None
    driver = writer._conn.connection.driver_connection
    assert driver.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with wd.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL elsewhere
    writer.stop()
    assert len(wd.predictions("credit")) == 3 and wd.audit.verify().ok
