"""Human oversight at prediction time (issue 20 item 4): on a real uvicorn server, each served
prediction the model's review rule flags is queued in the same commit as the prediction log
write, with a ``review.flag`` audit event; a row the rule cannot evaluate is queued too."""

from __future__ import annotations

import httpx
from serve_support import records


def test_served_predictions_enter_the_queue_as_they_are_logged(store, live, credit_data):
    _, _, Xt = credit_data
    rows = records(Xt, 60)
    wd = store.warden
    with httpx.Client(base_url=live.url, headers=store.headers(), timeout=60) as c:
        # the server's rule: an adverse outcome, or a protected segment
        rule = "output == '<=50K' && inputs.sex == 'Female' || inputs.age >= 60"
        assert c.put("/v1/models/credit/review-rule", json={"rule": rule}).status_code == 200
        served = c.post("/v1/models/credit/predict", json={"records": rows})
        assert served.status_code == 200 and served.json()["logged"], served.text
        body = served.json()
        expected = {
            pid
            for pid, out, row in zip(body["ids"], body["outputs"], rows, strict=True)
            if (out == "<=50K" and row["sex"] == "Female") or row["age"] >= 60
        }
        assert 0 < len(expected) < len(rows)
        queue = c.get("/v1/models/credit/reviews").json()
        assert {i["prediction_id"] for i in queue["items"]} == expected
        assert queue["pending"] == len(expected)
        # nothing left for an on-demand run: each prediction is queued once
        assert c.post("/v1/models/credit/reviews/flag").json()["flagged"] == 0

        # a rule that cannot read a row (no such input) queues it: a person looks at it
        broken = {"rule": "inputs.no_such_input > 1"}
        assert c.put("/v1/models/credit/review-rule", json=broken).status_code == 200
        more = c.post("/v1/models/credit/predict", json={"records": rows[:3]}).json()
        queued = c.get("/v1/models/credit/reviews").json()["items"]
        assert set(more["ids"]) <= {i["prediction_id"] for i in queued}
    flags = [e for e in wd.audit.events() if e.action == "review.flag"]
    auto = [e.payload for e in flags if e.payload.get("automatic")]
    assert [p["flagged"] for p in auto] == [len(expected), 3]
    assert auto[1]["unevaluable"] == 3 and auto[0]["unevaluable"] == 0
    assert wd.audit.verify().ok
