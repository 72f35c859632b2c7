"""Dashboard pages and actions in process: sessions, CSRF, roles, separation of duties, every
page rendering, the API's bearer auth untouched by the cookie."""

from __future__ import annotations

import re

from mlwarden.server.dashboard.session import COOKIE


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_pages_need_a_session(signed_in, scenario):
    c = signed_in(None)
    r = c.get("/models/credit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert c.get("/login").status_code == 200
    bad = c.post("/login", json={"token": "mlw_not-a-token"})
    assert 'role="alert"' in bad.text and COOKIE not in bad.cookies
    # forged cookie
    c.cookies.set(COOKIE, "eyJ1IjoiYWxpY2UifQ.AAAA")
    assert c.get("/", follow_redirects=False).status_code == 303


def test_session_cookie_is_httponly_strict_and_not_the_token(signed_in, scenario):
    c = signed_in(None)
    r = c.post("/login", json={"token": scenario.tokens["vic"]})
    header = r.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header.replace("Strict", "strict")
    assert scenario.tokens["vic"] not in header
    assert scenario.tokens["vic"][4:20] not in header


def test_inventory_filters_and_search(signed_in, scenario):
    c = signed_in("vic")
    page = c.get("/")
    assert page.status_code == 200
    assert "credit" in page.text and "churn" in page.text
    assert "Content-Security-Policy" in page.headers
    rows = c.get("/?q=retention", headers={"HX-Request": "true", "HX-Target": "inventory-body"})
    assert "churn" in rows.text and "credit" not in rows.text and "<html" not in rows.text
    high = c.get("/?tier=medium", headers={"HX-Request": "true", "HX-Target": "inventory-body"})
    assert "credit" in high.text and "churn" not in high.text
    drifting = c.get("/?drift=drift", headers={"HX-Request": "true", "HX-Target": "inventory-body"})
    assert "credit" in drifting.text  # the shifted last day drifted


def test_viewer_sees_but_cannot_act(signed_in, scenario):
    c = signed_in("vic")
    page = c.get("/models/credit?version=2")
    assert page.status_code == 200
    assert "Approve credit@2" not in page.text and "Promote credit@2" not in page.text
    csrf = csrf_of(page.text)
    r = c.post(
        "/models/credit/versions/2/approve",
        json={"csrf": csrf},
        headers={"HX-Request": "true"},
    )
    assert "may not version.approve" in r.text
    denied = scenario.warden.audit.events(action="access.denied", actor="vic")
    assert denied and denied[-1].payload["action"] == "version.approve"


def test_actions_need_the_csrf_token(signed_in, scenario):
    c = signed_in("carol")
    r = c.post("/models/credit/versions/2/approve", json={"comment": "no token"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/models/credit/versions/2/approve", json={"csrf": "forged"})
    assert r.status_code == 403
    page = c.get("/models/credit?version=2")
    r = c.post(
        "/models/credit/versions/2/approve",
        json={"csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "cross-origin" in r.text
    assert scenario.warden.approvals("credit@2") == []


def test_cookie_does_not_authenticate_the_api(signed_in, scenario):
    c = signed_in("alice")
    assert c.get("/v1/models").status_code == 401
    assert c.get("/v1/audit/events").status_code == 401


def test_registrant_cannot_approve_own_version(signed_in, scenario, small_adult):
    # alice (admin) registers v3; the page offers her no approval and the service refuses
    import lightgbm as lgb

    import mlwarden as mw

    wd = scenario.warden
    train, _ = small_adult
    X, y = train.drop(columns="income").head(300), train["income"].head(300)
    model = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1, n_jobs=1).fit(X, y)
    wd.register_model("credit", model, train=mw.Dataset(X, y))
    c = signed_in("alice")
    page = c.get("/models/credit?version=3")
    assert "You registered this version" in page.text
    r = c.post(
        "/models/credit/versions/3/approve",
        json={"csrf": csrf_of(page.text)},
        headers={"HX-Request": "true"},
    )
    assert "separation of duties" in r.text
    assert wd.approvals("credit@3") == []


def test_monitoring_page_has_charts(signed_in, scenario):
    c = signed_in("vic")
    page = c.get("/models/credit/monitoring?feature=age")
    assert page.status_code == 200, page.text
    for spec in ("spec-heatmap", "spec-distribution", "spec-performance"):
        assert f'id="{spec}"' in page.text
    assert "Drift and data-quality events" in page.text


def test_prediction_page_carries_the_batch_and_proof(signed_in, scenario):
    import hashlib
    import json

    c = signed_in("vic")
    pid = scenario.prediction_ids[3]
    page = c.get(f"/predictions?id={pid}")
    assert page.status_code == 200
    data = json.loads(re.search(r'id="proof-data">(.*?)</script>', page.text, re.S).group(1))
    assert pid in data["ids"]
    payload = json.loads(data["event"]["payload_json"])
    assert hashlib.sha256("\n".join(data["ids"]).encode()).hexdigest() == payload["ids_sha256"]
    assert 'id="spec-waterfall"' in page.text
    assert "No prediction with id" in c.get("/predictions?id=nope").text


def test_audit_page_and_export(signed_in, scenario):
    c = signed_in("vic")
    page = c.get("/audit?action=version.register")
    assert page.status_code == 200 and "version.register" in page.text
    assert "Verified" in c.get("/audit/verify").text
    export = c.get("/audit/export")
    assert export.status_code == 200
    assert export.text.splitlines()[0].startswith('{"event_fields"')


def test_logout_ends_the_session(signed_in, scenario):
    c = signed_in("vic")
    page = c.get("/")
    cookie = c.cookies.get(COOKIE)
    r = c.post("/logout", json={"csrf": csrf_of(page.text)})
    assert r.headers.get("HX-Redirect") == "/login"
    c.cookies.set(COOKIE, cookie)  # replaying the old cookie does not work either
    assert c.get("/", follow_redirects=False).status_code == 303


def test_static_assets_are_packaged():
    from importlib.resources import files

    static = files("mlwarden.server.dashboard") / "static"
    for name in ("app.js", "app.css", "vendor/htmx-2.0.11.min.js", "vendor/vega-6.4.0.min.js"):
        assert (static / name).is_file(), name
    assert (files("mlwarden.server.dashboard") / "templates" / "base.html").is_file()


def test_prediction_batch_found_on_postgresql(pg_schema_uri, tmp_path, small_adult):
    """The batch of a prediction is rebuilt from physical row order (ctid) on PostgreSQL."""
    import hashlib

    import lightgbm as lgb

    import mlwarden as mw
    from mlwarden.server.dashboard import predictions

    train, _ = small_adult
    X, y = train.drop(columns="income").head(400), train["income"].head(400)
    with mw.Warden(pg_schema_uri, artifacts=str(tmp_path / "a"), actor="alice") as wd:
        model = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1, n_jobs=1)
        wd.register_model("credit", model.fit(X, y), train=mw.Dataset(X, y))
        first = wd.log_predictions("credit", X.head(30), model.predict(X.head(30)))
        second = wd.log_predictions("credit", X.tail(50), model.predict(X.tail(50)))
        for ids in (first, second):
            page = predictions.prediction(wd, ids[7])
            assert page is not None and page.proof is not None, page and page.note
            assert page.proof["ids"] == ids
            digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
            assert digest in page.proof["event"]["payload_json"]


def test_missing_chromium_fails_in_ci_and_skips_elsewhere():
    import pytest
    from chromium_support import chromium_or_fail

    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        chromium_or_fail("/nonexistent/chromium", in_ci=True)
    with pytest.raises(pytest.skip.Exception):
        chromium_or_fail("/nonexistent/chromium", in_ci=False)


def test_errors_render_as_pages(signed_in):
    c = signed_in("vic")
    r = c.get("/models/no-such-model")
    assert r.status_code == 404 and "<html" in r.text and "no-such-model" in r.text
    r = c.get("/models/credit?version=abc")
    assert r.status_code == 400 and "<html" in r.text


def test_unmonitored_model_and_prediction_without_reasons(signed_in, scenario):
    c = signed_in("vic")
    page = c.get("/models/churn/monitoring")
    assert page.status_code == 200 and "No monitoring windows" in page.text
    wd = scenario.warden
    logged = wd.predictions("credit", since=None, limit=5)
    plain = [i for i, r in zip(logged["id"], logged["reasons"], strict=True) if r is None]
    if plain:
        page = c.get(f"/predictions?id={plain[0]}")
        assert "No reason codes were logged" in page.text


def test_alerts_table_feeds_inventory_and_timeline(signed_in, scenario):
    """Firing alerts (docs/alerts.md) are counted on the inventory and listed on the
    monitoring page."""
    from sqlalchemy import delete

    from mlwarden._time import utcnow
    from mlwarden.store.sql import schema

    table = schema.alerts
    wd = scenario.warden
    model_id = wd.registry.store.model_id("credit")
    now = utcnow()
    with wd.db.transaction() as conn:
        conn.execute(
            table.insert().values(
                fingerprint="test-fp",
                policy="drift-watch",
                policy_sha256="0" * 64,
                rule="dataset-drift",
                model_id=model_id,
                version=1,
                severity="critical",
                status="firing",
                message="half the features drifted",
                actions=[],
                values={},
                started_at=now,
                updated_at=now,
            )
        )
    try:
        c = signed_in("vic")
        rows = c.get("/?q=credit", headers={"HX-Request": "true", "HX-Target": "inventory-body"})
        assert "1 firing alerts" in rows.text
        page = c.get("/models/credit/monitoring")
        assert "half the features drifted" in page.text and "drift-watch/dataset-drift" in page.text
    finally:
        with wd.db.transaction() as conn:
            conn.execute(delete(table).where(table.c.fingerprint == "test-fp"))


def test_sessions_survive_across_workers(scenario):
    """Sessions live in the store: a cookie from one worker (or a restarted one) is good on
    another; signing out on one ends it on every other; a made-up cookie is nobody's."""
    from mlwarden.server.dashboard.session import Sessions

    one = Sessions(scenario.warden.access)
    two = Sessions(scenario.warden.access)
    token = scenario.warden.create_token("vic", description="revoked below").token
    cookie, session = one.sign_in(token)
    assert two.read(cookie) is not None and two.read(cookie).user.name == "vic"
    assert two.read(cookie).csrf == session.csrf
    assert two.read(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
    _, other = one.sign_in(token)
    two.sign_out(other)
    assert one.read(other.sid) is None and one.read(cookie) is not None
    # revoking the token used to sign in ends the session at once
    wd = scenario.warden
    wd.revoke_token(session.token_id)
    assert one.read(cookie) is None
