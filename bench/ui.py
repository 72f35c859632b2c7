"""Dashboard benchmark: server time of the inventory (500 models) and of a model page (1,000
versions), signed in, through the real app.

Fills a store directly through the SQL stores (what the API's registration route writes):
every model gets two versions, a production alias, a stored gate decision, three monitored
windows and an approval; one model gets 1,000 versions. Server time is measured by an ASGI
wrapper around the app (from the request to the last byte of the body), median of several
requests after a warm-up. Side by side: the same inventory built the naive way, by calling
the facade once per model (the N+1 pattern views.py avoids).

    python bench/ui.py [--quick] [--uri postgresql://…]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

import mlwarden as mw
from mlwarden.entities.policy import Decision, RuleResult
from mlwarden.server import ServerSettings, create_app
from mlwarden.server.dashboard import views
from mlwarden.store.registry_store import NewModel, NewVersion

BUDGET_MS = 300.0


def version_spec(i: int) -> NewVersion:
    return NewVersion(
        artifact_sha256=f"{i:064x}",
        artifact_size=1000 + i,
        flavor="sklearn",
        flavor_info={},
        signature={"inputs": [{"name": f"f{j}", "type": "double"} for j in range(12)]},
        lineage={
            "datasets": {
                "train": {"name": "train", "sha256": f"{i:064x}", "rows": 100_000},
                "eval": {"name": "eval", "sha256": f"{i + 1:064x}", "rows": 20_000},
            },
            "code": {"commit": f"{i:040x}", "dirty": False},
        },
        metrics={"roc_auc": 0.8 + (i % 100) / 1000, "accuracy": 0.85, "f1": 0.6, "brier": 0.1},
        params={"n_estimators": 100},
    )


def decision(ref: str, passed: bool) -> Decision:
    return Decision(
        policy="production-gate",
        policy_sha256="0" * 64,
        ref=ref,
        passed=passed,
        applies=True,
        results=(
            RuleResult(
                "min-auc",
                "error",
                "pass" if passed else "fail",
                "AUC >= 0.8",
                {"version.metrics.roc_auc": 0.85},
                (),
                "version.metrics.roc_auc >= 0.8",
            ),
            RuleResult("card", "warn", "pass", "card", {}, (), "has(card.intended_use)"),
        ),
        time=datetime.now(UTC),
        actor="alice",
        purpose="check",
    )


def window_result(day: int, drifted: bool) -> dict[str, Any]:
    cols = {
        f"f{j}": {
            "statistic": 0.05 * j,
            "drifted": drifted and j < 6,
            "method": "psi",
            "threshold": 0.2,
        }
        for j in range(12)
    }
    return {
        "drift": {
            "dataset_drifted": drifted,
            "share_drifted": 0.5 if drifted else 0.0,
            "drifted_columns": [c for c, r in cols.items() if r["drifted"]],
            "columns": cols,
        },
        "quality": {"failed": 0},
        "performance": {"accuracy": 0.85},
        "estimated": {"roc_auc": 0.82},
        "fairness": {},
    }


def fill(wd: Any, n_models: int, n_versions: int) -> None:
    store = wd.registry.store
    access = wd.access.store
    monitor = wd.monitoring.results
    decisions = wd.policies.decisions_store
    start = datetime(2026, 11, 1, tzinfo=UTC)
    big = "model-big"
    for m in range(n_models):
        name = big if m == 0 else f"model-{m:04d}"
        store.get_or_create_model(
            NewModel(
                name,
                f"team-{m % 17}",
                ("low", "medium", "high")[m % 3],
                f"Use case {m}",
                None,
                {"domain": f"d{m % 5}"},
            ),
            "bob",
        )
        count = n_versions if m == 0 else 2
        for v in range(count):
            store.create_version(name, version_spec(m * 10_000 + v), {}, "bob")
        store.move_alias(name, "production", 1, actor="alice", action="set")
        model_id = store.model_id(name)
        for v in range(1, min(count, 50) + 1):
            decisions.add(name, v, decision(f"{name}@{v}", passed=(m + v) % 4 != 0))
        access.add_approval(name, 1, "carol", "validator", None)
        monitor.save(
            model_id,
            1,
            "1d",
            [
                {
                    "key": (start + timedelta(days=d)).isoformat(),
                    "start": start + timedelta(days=d),
                    "end": start + timedelta(days=d + 1),
                    "segment": "all",
                    "rows": 1000,
                    "result": window_result(d, drifted=(m % 7 == 0 and d == 2)),
                }
                for d in range(3)
            ],
        )


class ServerTimer:
    """ASGI wrapper: time from the request to the end of the response body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_ms = (time.perf_counter() - started) * 1000

        await self.app(scope, receive, timed)


def median_server_ms(client: Any, timer: ServerTimer, url: str, repeat: int) -> tuple[float, int]:
    size = 0
    for _ in range(2):  # warm-up: templates compiled, connections open
        r = client.get(url)
        assert r.status_code == 200, r.text[:500]
        size = len(r.content)
    samples = []
    for _ in range(repeat):
        client.get(url)
        samples.append(timer.last_ms)
    return statistics.median(samples), size


def naive_inventory(wd: Any) -> int:
    """The N+1 way: facade calls per model (what views.inventory replaces)."""
    n = 0
    for model in wd.list_models():
        wd.decisions(model.name, limit=1)
        history = wd.monitoring.results.history(wd.registry.store.model_id(model.name))
        _ = history[-1] if history else None
        wd.alias_history(model.name)
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 models, 200 versions")
    parser.add_argument("--uri", help="a database URI (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    n_models, n_versions = (100, 200) if args.quick else (500, 1000)
    from fastapi.testclient import TestClient

    schema = None
    if args.uri and args.uri.startswith("postgresql"):
        schema, uri_pg = pg_schema(args.uri)
    with tempfile.TemporaryDirectory() as tmp:
        uri = uri_pg if schema else (args.uri or f"sqlite:///{Path(tmp) / 'warden.db'}")
        wd = mw.Warden(uri, artifacts=str(Path(tmp) / "artifacts"), actor="alice")
        wd.create_user("alice", "admin")
        wd.create_user("bob", "developer")
        wd.create_user("carol", "validator")
        token = wd.create_token("carol").token
        t0 = time.perf_counter()
        fill(wd, n_models, n_versions)
        fill_s = time.perf_counter() - t0
        app = create_app(ServerSettings(access_log=False, log_predictions=False), wd)
        timer = ServerTimer(app)
        with TestClient(timer) as client:
            r = client.post("/login", json={"token": token})
            assert r.status_code == 200, r.text
            inv_ms, inv_bytes = median_server_ms(client, timer, "/", args.repeat)
            model_ms, model_bytes = median_server_ms(
                client, timer, "/models/model-big", args.repeat
            )
            search_ms, _ = median_server_ms(client, timer, "/?q=team-3&tier=high", args.repeat)
        batched_ms = _median(lambda: views.inventory(wd), args.repeat)
        naive_ms = _median(lambda: naive_inventory(wd), max(3, args.repeat // 5))
        backend = "postgresql" if uri.startswith("postgresql") else "sqlite"
        wd.close()
    if schema:
        drop_schema(args.uri, schema)

    rows = [
        (f"inventory page ({n_models} models)", inv_ms, inv_bytes),
        ("inventory search (htmx fragment)", search_ms, None),
        (f"model page ({n_versions} versions)", model_ms, model_bytes),
    ]
    print(f"store filled in {fill_s:.1f} s ({backend}); server time, median of {args.repeat}")
    print(f"{'page':<40}{'server ms':>12}{'HTML KB':>10}{'budget':>10}")
    for name, ms, size in rows:
        kb = f"{size / 1024:.0f}" if size else "—"
        verdict = "ok" if ms < BUDGET_MS else "OVER"
        print(f"{name:<40}{ms:>12.1f}{kb:>10}{verdict:>10}")
    print(
        f"inventory data: batched views.inventory {batched_ms:.1f} ms vs facade per model "
        f"(N+1) {naive_ms:.1f} ms: {naive_ms / batched_ms:.1f}x"
    )
    emit(
        {
            "bench": "ui",
            "size": f"{n_models} models; {n_versions} versions",
            "backend": backend,
            "inventory_ms": round(inv_ms, 1),
            "search_ms": round(search_ms, 1),
            "model_page_ms": round(model_ms, 1),
            "budget_ms": BUDGET_MS,
            "within_budget": inv_ms < BUDGET_MS and model_ms < BUDGET_MS,
            "peer": "facade per model (N+1)",
            "warden_data_ms": round(batched_ms, 1),
            "peer_data_ms": round(naive_ms, 1),
            "ratio": round(naive_ms / batched_ms, 1),
        }
    )


def pg_schema(url: str) -> tuple[str, str]:
    """A fresh schema on a shared PostgreSQL, so the benchmark's tables collide with none."""
    import uuid

    import psycopg

    schema = f"bench_ui_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _median(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


if __name__ == "__main__":
    main()
