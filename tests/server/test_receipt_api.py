"""``GET /v1/predictions/{id}/receipt`` on a real uvicorn server (issue 20 item 3): a
LightGBM decision's receipt verifies with the audit key, its counterfactual flips the model's
output, the protected attribute is absent; a viewer's receipt of a subject-linked prediction
is sealed; the SDK over HTTP returns the same document."""

from __future__ import annotations

import httpx
import pandas as pd
from serve_support import records

import mlwarden as mw
from mlwarden.audit.signing import public_key_pem
from mlwarden.remote import RemoteWarden


def test_receipt_over_http(store, live, credit_data):
    _, _, Xt = credit_data
    wd = store.warden
    wd.create_user("vic", "viewer")
    vic = wd.create_token("vic").token
    with httpx.Client(base_url=live.url, headers=store.headers(), timeout=60) as http:
        r = http.post(
            "/v1/models/credit/predict",
            params={"explain": "true"},
            json={"records": records(Xt, 8)},
        )
        assert r.status_code == 200, r.text
        ids = r.json()["ids"]
        pem = public_key_pem(wd.audit.public_key)
        flipped = 0
        for pid in ids:
            got = http.get(f"/v1/predictions/{pid}/receipt")
            assert got.status_code == 200, got.text
            signed = got.json()
            assert not mw.reports.verify_receipt(signed, pem)
            body = signed["receipt"]
            assert "sex" not in body["inputs"] and body["protected_attributes_withheld"] == ["sex"]
            cf = body["counterfactual"]
            if cf is None:
                continue
            ((feature, change),) = cf["changes"].items()
            assert feature != "sex"
            row = wd.prediction(pid)["inputs"]
            model = wd.load_model("credit@1")
            frame = pd.DataFrame([row, {**row, feature: change["to"]}])
            for col in Xt.columns:
                if isinstance(Xt[col].dtype, pd.CategoricalDtype):
                    frame[col] = pd.Categorical(frame[col], categories=Xt[col].cat.categories)
            before, after = model.predict(frame[list(Xt.columns)])
            assert str(before) == body["prediction"]["output"] and str(after) != str(before)
            flipped += 1
        assert flipped >= 6
        assert http.get("/v1/predictions/nope/receipt").json()["error"]
        assert http.get("/v1/predictions/nope/receipt").status_code == 404
    # a subject-linked prediction, read by a viewer: sealed, nothing of the subject in it
    keyed = wd.log_predictions("credit", Xt.iloc[20:21], ["<=50K"], subjects=["s-9"])
    with httpx.Client(base_url=live.url, timeout=60) as anon:
        assert anon.get(f"/v1/predictions/{keyed[0]}/receipt").status_code == 401
        sealed = anon.get(
            f"/v1/predictions/{keyed[0]}/receipt", headers={"Authorization": f"Bearer {vic}"}
        ).json()["receipt"]
    assert sealed["prediction"]["sealed"] and sealed["inputs"] is None
    assert sealed["prediction"]["output"] is None and sealed["counterfactual"] is None
    remote = RemoteWarden(live.url, token=store.token)
    try:
        assert remote.receipt(ids[0])["receipt"]["prediction"]["id"] == ids[0]
    finally:
        remote.close()
