"""Human oversight over HTTP on a real uvicorn server (issue 20 item 4): the admin sets the
rule and flags, a validator overrides, the registrant and a viewer are refused, a second
decision conflicts, bad bodies are 4xx naming the field."""

from __future__ import annotations

import httpx


def test_review_queue_over_http(store, live, credit_data):
    _, _, Xt = credit_data
    wd = store.warden
    wd.create_user("val", "validator")
    wd.create_user("vic", "viewer")
    val = {"Authorization": f"Bearer {wd.create_token('val').token}"}
    vic = {"Authorization": f"Bearer {wd.create_token('vic').token}"}
    model = wd.load_model("credit@1")
    ids = wd.log_predictions("credit", Xt.iloc[:40], model.predict(Xt.iloc[:40]))
    with httpx.Client(base_url=live.url, headers=store.headers(), timeout=60) as admin:
        bad = admin.put("/v1/models/credit/review-rule", json={"rule": "score <"})
        assert bad.status_code == 422 and "rule" in bad.text
        ok = admin.put("/v1/models/credit/review-rule", json={"rule": "output == '<=50K'"})
        assert ok.status_code == 200, ok.text
        flagged = admin.post("/v1/models/credit/reviews/flag").json()["flagged"]
        queue = admin.get("/v1/models/credit/reviews").json()
        assert flagged == len(queue["items"]) == queue["pending"] > 1
        first = queue["items"][0]["prediction_id"]
        assert first in ids
        # alice registered credit@1: she may not review its decisions
        mine = admin.post(f"/v1/models/credit/reviews/{first}", json={"decision": "confirm"})
        assert mine.status_code == 403, mine.text
        assert admin.get("/v1/models/credit/reviews?status=nope").status_code == 422
    with httpx.Client(base_url=live.url, timeout=60) as c:
        path = f"/v1/models/credit/reviews/{first}"
        assert c.post(path, json={"decision": "confirm"}, headers=vic).status_code == 403
        no_output = c.post(path, json={"decision": "override"}, headers=val)
        assert no_output.status_code == 422 and "output" in no_output.text
        done = c.post(path, json={"decision": "override", "output": ">50K"}, headers=val)
        assert done.status_code == 200 and done.json()["status"] == "overridden", done.text
        again = c.post(path, json={"decision": "confirm"}, headers=val)
        assert again.status_code == 409
        rate = c.get("/v1/models/credit/reviews?status=all", headers=vic).json()
        assert rate["override_rate"] == 1.0 and rate["overridden"] == 1
        metrics = c.get("/metrics", headers=store.headers()).text
        assert 'mlwarden_review_override_rate{model="credit"} 1.0' in metrics
    assert "review.override" in [e.action for e in wd.audit.events()]
