"""Dashboard fixtures: one store with four users (admin, developer, validator, viewer), a
LightGBM ``credit`` model in two versions (v1 in production), predictions with reason codes
logged through the API, labels, stored monitoring windows, and a second model; the app in
process (TestClient) and, for the browser tests, a live server and Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from chromium_support import CHROMIUM, CHROMIUM_ARGS, IN_CI, chromium_or_fail, serving

import mlwarden as mw
from mlwarden.server import ServerSettings, create_app

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parents[1] / "test-artifacts" / "dashboard"
DEMO_POLICY = """\
name: demo-gate
description: A gate the test model passes.
rules:
  - id: min-auc
    check: version.metrics.roc_auc >= 0.7
    message: ROC AUC must be at least 0.70
  - id: card-complete
    check: has(card.intended_use) && has(card.limitations)
    severity: warn
    message: The model card should state the intended use and the limitations
"""


@dataclass
class Scenario:
    warden: mw.Warden
    tokens: dict[str, str]
    policy_dir: str
    prediction_ids: list[str] = field(default_factory=list)

    def app(self) -> Any:
        app = create_app(ServerSettings(access_log=False), self.warden)
        app.state.dashboard_policy_dir = self.policy_dir
        return app


def _as(wd: mw.Warden, actor: str) -> mw.Warden:
    other = object.__new__(type(wd))
    other.__dict__.update(wd.__dict__)
    other.settings = wd.settings.model_copy(update={"actor": actor})
    return other


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, small_adult) -> Iterator[Scenario]:
    import lightgbm as lgb
    from fastapi.testclient import TestClient

    root = tmp_path_factory.mktemp("dashboard")
    wd = mw.Warden(
        f"sqlite:///{root / 'warden.db'}", artifacts=str(root / "artifacts"), actor="alice"
    )
    tokens = {}
    for name, role in (
        ("alice", "admin"),
        ("bob", "developer"),
        ("carol", "validator"),
        ("vic", "viewer"),
    ):
        wd.create_user(name, role)
        tokens[name] = wd.create_token(name).token
    train, test = small_adult
    X, y = train.drop(columns="income"), train["income"]
    Xt, yt = test.drop(columns="income"), test["income"]
    bob = _as(wd, "bob")
    for leaves in (7, 15):
        model = lgb.LGBMClassifier(n_estimators=20, num_leaves=leaves, verbose=-1, n_jobs=1)
        bob.register_model(
            "credit",
            model.fit(X, y),
            train=mw.Dataset(X, y, name="adult-train"),
            eval=mw.Dataset(Xt, yt, name="adult-test"),
            sensitive_features=["sex"],
            owner="risk-team",
            risk_tier="medium",
            intended_use="Pre-screening of credit applications.",
        )
    small = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1)
    bob.register_model(
        "churn",
        small.fit(X.head(500), y.head(500)),
        train=mw.Dataset(X.head(500), y.head(500), name="adult-head"),
        owner="growth",
        risk_tier="low",
        intended_use="Retention offers.",
    )
    wd.set_alias("credit", "production", 1, override=True, reason="test setup")
    # a developer's registration gets the default tier: the admin sets the intended ones
    wd.set_risk_tier("credit", "medium", reason="test setup")
    wd.set_risk_tier("churn", "low", reason="test setup")
    policy_dir = root / "policies"
    policy_dir.mkdir()
    (policy_dir / "demo-gate.yaml").write_text(DEMO_POLICY)
    wd.bind_policy(wd.install_policy(policy_dir / "demo-gate.yaml").name, alias="production")
    sc = Scenario(wd, tokens, str(policy_dir))
    wd.check("credit@1", str(policy_dir / "demo-gate.yaml"))

    # predictions with reason codes, through the API (as the service logs them)
    app = sc.app()
    with TestClient(app, headers={"Authorization": f"Bearer {tokens['bob']}"}) as api:
        rows = Xt.head(40).astype(object).where(Xt.head(40).notna(), None)
        for start in (0, 20):
            r = api.post(
                "/v1/models/credit/predict?explain=true",
                json={"records": rows.iloc[start : start + 20].to_dict(orient="records")},
            )
            assert r.status_code == 200, r.text
            sc.prediction_ids += r.json()["ids"]
    # three days of logged traffic (the last one shifted) with labels, then monitoring
    rng = np.random.default_rng(0)
    for day in range(3):
        part = Xt.iloc[day * 300 : (day + 1) * 300].copy()
        if day == 2:  # a population shift: most numeric features move
            for col in part.select_dtypes("number").columns:
                part[col] = part[col] * 1.6 + 5
        when = pd.Timestamp("2026-11-20", tz="UTC") + pd.Timedelta(days=day, hours=1)
        ts = [when + pd.Timedelta(seconds=int(s)) for s in rng.integers(0, 80000, len(part))]
        ids = bob.log_predictions(
            "credit",
            part,
            wd.load_model("credit@1").predict(part),
            scores=wd.load_model("credit@1").predict_proba(part)[:, 1],
            timestamps=ts,
        )
        bob.log_labels("credit", ids, yt.iloc[day * 300 : (day + 1) * 300].astype(str))
    wd.monitor(
        "credit",
        since=pd.Timestamp("2026-11-01", tz="UTC"),
        until=pd.Timestamp("2026-11-23", tz="UTC"),
        window="1d",
    )
    yield sc
    wd.close()


@pytest.fixture(scope="module")
def app(scenario):
    return scenario.app()


@pytest.fixture(scope="module")
def signed_in(app, scenario) -> Any:
    """``signed_in(user)``: a TestClient signed in to the dashboard as ``user`` (the cookie
    set by /login); ``signed_in(None)``: one with no session."""
    from fastapi.testclient import TestClient

    def make(user: str | None) -> Any:
        client = TestClient(app, base_url="http://testserver")
        if user is not None:
            r = client.post("/login", json={"token": scenario.tokens[user], "next": "/"})
            assert r.status_code == 200 and r.headers.get("HX-Redirect") == "/", r.text
        return client

    return make


# ------------------------------------------------------------------------------ browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium_or_fail()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if IN_CI:
            pytest.fail("CI=true but playwright is not installed")
        pytest.skip("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def live(app) -> Iterator[str]:
    """The app on a loopback port (uvicorn in a thread); yields its base URL."""
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def shots() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
