"""Real server processes: ``kill -9`` under load loses no acknowledged prediction, and two
replicas on one database share one log and one audit order."""

from __future__ import annotations

import threading

import pytest
from serve_support import free_port, hammer, records, spawn_server, wait_ready

import mlwarden as mw


def _fresh(store) -> mw.Warden:
    settings = mw.Settings(key_file=store.key_file)
    return mw.Warden(store.uri, artifacts=store.artifacts, actor="alice", settings=settings)


# on SQLite only (the writer syncs the WAL before answering); PostgreSQL the same way
@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_kill_9_under_load_loses_no_acknowledged_prediction(store, credit_data, tmp_path):
    _, _, test = credit_data
    body = {"records": records(test, 1)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = spawn_server(store, port, log)
    try:
        wait_ready(url, proc, log)
        # kill it in the middle of the load, while commits are in flight
        killer = threading.Timer(1.5, proc.kill)
        killer.start()
        acked, failed = hammer([url], store.token, body, seconds=2.5)
        killer.join()
        assert proc.wait(10) == -9
        assert len(acked) > 20 and failed > 0, (len(acked), failed)

        proc = spawn_server(store, port, log)  # restart on the same store
        wait_ready(url, proc, log)
        after, _ = hammer([url], store.token, body, seconds=0.3, threads=1)
        assert after
    finally:
        proc.kill()
        proc.wait(10)
    wd = _fresh(store)
    logged = set(wd.predictions("credit", ids=acked + after)["id"])
    missing = set(acked + after) - logged
    assert not missing, f"{len(missing)} acknowledged predictions lost"
    result = wd.audit.verify()
    assert result.ok, result.message
    counted = sum(e.payload["count"] for e in wd.audit.events(action="predictions.log"))
    assert counted == len(wd.predictions("credit"))  # every stored row is audited, no more
    wd.close()


@pytest.mark.postgres
@pytest.mark.parametrize("store_uri", ["postgresql"], indirect=True)
def test_two_replicas_share_one_log_and_one_audit_order(store, credit_data, tmp_path):
    _, _, test = credit_data
    body = {"records": records(test, 1)}
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    logs = [tmp_path / f"replica{i}.log" for i in range(2)]
    procs = [spawn_server(store, p, log) for p, log in zip(ports, logs, strict=True)]
    try:
        for url, proc, log in zip(urls, procs, logs, strict=True):
            wait_ready(url, proc, log)
            hammer([url], store.token, body, seconds=0.1, threads=1)  # loads the model
        start = store.warden.audit.size
        acked, failed = hammer(urls, store.token, body, seconds=2.5)
        # an alias move through one replica lands in the same audit order
        import httpx

        r = httpx.put(f"{urls[1]}/v1/models/credit/aliases/staging", json={"version": 1},
                      headers=store.headers())  # fmt: skip
        assert r.status_code == 200
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
    assert failed == 0 and len(acked) > 10
    assert len(set(acked)) == len(acked)  # no duplicated ids across replicas
    wd = _fresh(store)
    assert set(wd.predictions("credit", ids=acked)["id"]) == set(acked)
    events = wd.audit.events(since=None)
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1))  # one gap-free order
    logged = [e for e in events[start:] if e.action == "predictions.log"]
    assert sum(e.payload["count"] for e in logged) >= len(acked)  # + the warm-up requests
    assert events[-1].action == "alias.set"
    assert wd.audit.verify().ok
    wd.close()


def test_kserve_halves_reaching_different_replicas_pair(store, credit_data, tmp_path):
    """KServe's logger posts an inference's request and response as two requests: behind
    several workers or replicas they land on different processes, and still pair (once)."""
    import httpx

    _, _, test = credit_data
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    logs = [tmp_path / f"replica{i}.log" for i in range(2)]
    procs = [spawn_server(store, p, log) for p, log in zip(ports, logs, strict=True)]
    kind = "org.kubeflow.serving.inference"

    def post(url: str, half: str, eid: str, data: dict) -> httpx.Response:
        headers = {
            **store.headers(),
            "ce-specversion": "1.0",
            "ce-id": eid,
            "ce-source": "http://predictor/",
            "ce-type": f"{kind}.{half}",
            "ce-inferenceservicename": "credit",
            "Content-Type": "application/json",
        }
        return httpx.post(f"{url}/v1/ingest/cloudevents", json=data, headers=headers, timeout=30)

    try:
        for url, proc, log in zip(urls, procs, logs, strict=True):
            wait_ready(url, proc, log)
        ids = []
        for i in range(6):
            eid = f"kserve-{i}"
            first, second = (urls[0], urls[1]) if i % 2 else (urls[1], urls[0])
            r = post(first, "request", eid, {"instances": records(test.iloc[i : i + 1], 1)})
            assert r.status_code == 202, r.text
            r = post(second, "response", eid, {"predictions": ["<=50K"]})
            assert r.status_code == 201, r.text
            assert r.json()["ids"] == [eid]  # one row keeps KServe's id
            ids += r.json()["ids"]
        r = post(urls[0], "response", "kserve-0", {"predictions": ["<=50K"]})
        assert r.status_code == 202  # paired and forgotten: a new half waits again
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
    wd = _fresh(store)
    assert sorted(wd.predictions("credit", ids=ids)["id"]) == sorted(ids)
    wd.close()
