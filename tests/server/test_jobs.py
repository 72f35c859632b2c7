"""Registration jobs live in the store: any server process answers a poll, and a job whose
process died says so instead of running forever (real server processes on both databases)."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import timedelta

import httpx
from serve_support import free_port, spawn_server, wait_ready

from mlwarden.registry.flavors import flavor_for
from mlwarden.server.jobs import LEASE_S, JobRunner
from mlwarden.store.job_store import Job
from mlwarden.store.sql.jobs import SqlJobStore

OCTETS = {"Content-Type": "application/octet-stream"}


def _blob(url: str, headers: dict, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    r = httpx.put(f"{url}/v1/blobs/{digest}", content=data, headers={**headers, **OCTETS})
    assert r.status_code in (200, 201), r.text
    return digest


def _dataset(url: str, headers: dict, frame, label: str) -> dict:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return {"sha256": _blob(url, headers, buffer.getvalue()), "label": label}


def _wait(url: str, headers: dict, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_any_process_answers_and_a_dead_processs_job_is_interrupted(
    store, lgb_model, credit_data, tmp_path
):
    X, y, _ = credit_data
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    logs = [tmp_path / f"server{i}.log" for i in range(2)]
    procs = [spawn_server(store, p, log) for p, log in zip(ports, logs, strict=True)]
    h = store.headers()
    try:
        for url, proc, log in zip(urls, procs, logs, strict=True):
            wait_ready(url, proc, log)
        data, info = flavor_for(lgb_model).save(lgb_model)
        body = {"artifact_sha256": _blob(urls[0], h, data), "flavor": "lightgbm"}
        body["flavor_info"] = info
        r = httpx.post(f"{urls[0]}/v1/models/quick/registrations", json=body, headers=h)
        assert r.status_code == 202, r.text
        done = _wait(urls[1], h, r.json()["id"])  # accepted by one process, read by the other
        assert done["state"] == "succeeded" and done["result"]["version"] == 1, done
        assert "runner" not in done

        # a job measuring 200,000 evaluation rows; its process is killed under it
        big = X.sample(200_000, replace=True, random_state=0)
        frame = big.assign(income=y.sample(200_000, replace=True, random_state=0).to_numpy())
        body["eval"] = _dataset(urls[0], h, frame, "income")
        r = httpx.post(f"{urls[0]}/v1/models/slow/registrations", json=body, headers=h)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        procs[0].kill()
        assert procs[0].wait(10) == -9
        job = httpx.get(f"{urls[1]}/v1/jobs/{job_id}", headers=h).json()
        assert job["state"] == "failed" and job["progress"] == "interrupted", job
        assert job["error"]["error"] == "interrupted" and job["error"]["http_status"] == 503
        # the restarted process reads it the same way; nothing was registered
        procs[0] = spawn_server(store, ports[0], logs[0])
        wait_ready(urls[0], procs[0], logs[0])
        assert httpx.get(f"{urls[0]}/v1/jobs/{job_id}", headers=h).json() == job
        r = httpx.get(f"{urls[0]}/v1/models/slow/versions", headers=h)
        assert r.status_code == 404 or r.json() == [] or r.json().get("items") == [], r.text
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def test_a_job_left_by_an_earlier_life_of_this_process_is_interrupted(store):
    """A restarted container may run the server under the same host name and process id:
    the earlier life's job has no heartbeat since, so its lease has run out."""
    jobs = SqlJobStore(store.warden.db)
    runner = JobRunner(jobs)
    try:
        earlier = Job(id="a" * 32, kind="registration", owner="alice", subject="model:m")
        earlier.runner = runner._runner.rsplit(":", 1)[0] + ":0123456789abcdef"
        earlier.updated_at -= timedelta(seconds=LEASE_S + 1)
        jobs.create(earlier)
        mine = runner.submit("registration", "alice", "model:n", lambda progress: {"ok": 1})
        found = runner.get(earlier.id)
        assert found is not None and found.state == "failed" and found.progress == "interrupted"
        deadline = time.monotonic() + 30
        while (job := runner.get(mine.id)) is not None and job.state != "succeeded":
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job is not None and job.result == {"ok": 1}
        # another process on this host that is alive keeps its job running
        alive = Job(id="b" * 32, kind="registration", owner="alice", subject="model:o")
        alive.runner = f"{runner._runner.split(':')[0]}:{os.getppid()}:feed"
        jobs.create(alive)
        assert runner.get(alive.id).state == "queued"  # type: ignore[union-attr]
    finally:
        runner.shutdown()


def test_a_job_of_another_host_is_interrupted_when_its_heartbeat_stops(store):
    """A replica on another host cannot be asked whether it lives: its heartbeat (the jobs'
    ``updated_at``, renewed every few seconds while they are unfinished) says so."""
    jobs = SqlJobStore(store.warden.db)
    here = JobRunner(jobs, heartbeat_s=0.05)
    there = Job(id="c" * 32, kind="registration", owner="alice", subject="model:p")
    there.runner = "another-host:4242:beef"
    jobs.create(there)
    try:
        here.lease_s = 2.0
        assert here.get(there.id).state == "queued"  # type: ignore[union-attr]
        # the heartbeat keeps a job that runs longer than the lease alive for every poller
        mine = here.submit("registration", "alice", "model:q", lambda progress: time.sleep(4))
        time.sleep(2.5)
        assert here.get(mine.id).state == "running"  # type: ignore[union-attr]
        other = JobRunner(jobs)  # another poller, with the same lease
        other.lease_s = 2.0
        assert other.get(mine.id).state == "running"  # type: ignore[union-attr]
        other.shutdown()
        found = here.get(there.id)  # no beat from another-host for longer than the lease
        assert found is not None and found.state == "failed" and found.progress == "interrupted"
    finally:
        here.shutdown()
