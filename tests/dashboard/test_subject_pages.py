"""The dashboard's prediction page of a subject-keyed prediction (issue 15 item 10): opened for
an admin, "sealed" for a role without ``subject.read``, "erased" after erasure; never a 500
(it used to ``json.loads`` the ciphertext). On both databases."""

from __future__ import annotations

import pytest

import mlwarden as mw
from mlwarden.server import ServerSettings, create_app


@pytest.fixture
def dashboard(store_uri, tmp_path, small_adult):
    import lightgbm as lgb
    from fastapi.testclient import TestClient

    train, test = small_adult
    X, y = train.drop(columns="income"), train["income"]
    Xt = test.drop(columns="income").head(4)
    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "artifacts"), actor="alice")
    tokens = {}
    for name, role in (("alice", "admin"), ("vic", "viewer")):
        wd.create_user(name, role)
        tokens[name] = wd.create_token(name).token
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1).fit(X, y)
    wd.register_model("credit", model, train=mw.Dataset(X, y))
    wd.set_alias("credit", "production", 1, override=True, reason="test setup")
    app = create_app(ServerSettings(access_log=False), wd)
    rows = Xt.astype(object).where(Xt.notna(), None).to_dict(orient="records")
    with TestClient(app, headers={"Authorization": f"Bearer {tokens['alice']}"}) as api:
        r = api.post(
            "/v1/models/credit/predict?explain=true",
            json={"records": rows, "subjects": ["s-1", "s-2", None, "s-3"]},
        )
        assert r.status_code == 200, r.text
        ids = r.json()["ids"]

    def signed_in(user: str) -> TestClient:
        client = TestClient(app, base_url="http://testserver")
        r = client.post("/login", json={"token": tokens[user], "next": "/"})
        assert r.status_code == 200, r.text
        return client

    yield wd, ids, signed_in, Xt
    wd.close()


def test_subject_keyed_prediction_page_opens_for_admins(dashboard):
    _wd, ids, signed_in, Xt = dashboard
    page = signed_in("alice").get(f"/predictions?id={ids[0]}")
    assert page.status_code == 200, page.text
    assert 'id="pred-output"' in page.text and "sealed" not in page.text.lower()
    assert f"<td>{Xt.iloc[0]['age']}</td>" in page.text  # the decrypted inputs
    assert 'id="spec-waterfall"' in page.text  # its reason codes
    assert 'id="proof-data"' in page.text  # and the audit proof of its batch


def test_subject_keyed_prediction_page_is_sealed_for_a_viewer(dashboard):
    _wd, ids, signed_in, Xt = dashboard
    viewer = signed_in("vic")
    page = viewer.get(f"/predictions?id={ids[0]}")
    assert page.status_code == 200, page.text
    assert '<strong id="pred-output">sealed</strong>' in page.text
    assert 'id="pred-sealed"' in page.text and 'id="spec-waterfall"' not in page.text
    assert f"<td>{Xt.iloc[0]['age']}</td>" not in page.text
    assert 'id="proof-data"' in page.text  # the proof does not reveal the payload
    plain = viewer.get(f"/predictions?id={ids[2]}")  # no subject: readable by every role
    assert plain.status_code == 200 and 'id="pred-sealed"' not in plain.text
    assert f"<td>{Xt.iloc[2]['age']}</td>" in plain.text


def test_erased_subject_prediction_page_says_erased(dashboard):
    wd, ids, signed_in, _Xt = dashboard
    wd.erase_subject("s-2")
    page = signed_in("alice").get(f"/predictions?id={ids[1]}")
    assert page.status_code == 200, page.text
    assert '<strong id="pred-output">erased</strong>' in page.text
    assert 'id="pred-erased"' in page.text
