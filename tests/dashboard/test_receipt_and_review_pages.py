"""The prediction page's receipt button (issue 20 item 3): it links to a signed receipt that
verifies offline, with the version's sensitive feature nowhere in it."""

from __future__ import annotations

import re

import mlwarden as mw
from mlwarden.audit.signing import public_key_pem


def test_prediction_page_offers_a_verifiable_receipt(signed_in, scenario):
    c = signed_in("vic")
    pid = scenario.prediction_ids[5]
    page = c.get(f"/predictions?id={pid}")
    assert page.status_code == 200
    href = re.search(r'id="receipt-html" href="([^"]+)"', page.text).group(1)
    r = c.get(href.replace("&amp;", "&"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "attachment" in r.headers["content-disposition"]
    from mlwarden.reports.receipt_check import extract

    signed = extract(r.text)
    pem = public_key_pem(scenario.warden.audit.public_key)
    assert not mw.reports.verify_receipt(signed, pem)
    body = signed["receipt"]
    assert body["prediction"]["id"] == pid
    assert "sex" not in (body["inputs"] or {}) and "sex" in body["protected_attributes_withheld"]
    assert all(c["feature"] != "sex" for c in body["reasons"] or [])
    assert c.get(f"/predictions/{pid}/receipt?format=exe").status_code == 400
    assert c.get("/predictions/nope/receipt").status_code == 404
    assert signed_in(None).get(href, follow_redirects=False).status_code in (302, 303, 401)


def test_reviewers_confirm_and_override_in_the_dashboard(signed_in, scenario):
    wd = scenario.warden
    wd.oversight.set_rule("credit", "output == '<=50K'", actor="alice")
    assert wd.oversight.flag("credit", actor="alice") >= 2
    carol = signed_in("carol")
    page = carol.get("/models/credit/reviews")
    assert (
        page.status_code == 200 and "Rule: <code>output == &#39;&lt;=50K&#39;</code>" in page.text
    )
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    pending = re.findall(r'hx-post="/models/credit/reviews/([^"]+)"', page.text)
    assert len(pending) >= 2
    r = carol.post(
        f"/models/credit/reviews/{pending[0]}",
        json={"csrf": csrf, "decision": "override", "output": ">50K", "comment": "checked"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and "done=override" in r.headers["HX-Redirect"], r.text
    r = carol.post(
        f"/models/credit/reviews/{pending[1]}",
        json={"csrf": csrf, "decision": "confirm"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200, r.text
    assert "override rate 50.0%" in carol.get("/models/credit/reviews").text
    # a viewer sees the queue but has no forms, and is refused a decision
    vic = signed_in("vic")
    page = vic.get("/models/credit/reviews")
    assert page.status_code == 200 and "Confirm</button>" not in page.text
    vic_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    token = vic_csrf.group(1) if vic_csrf else ""
    refused = vic.post(
        f"/models/credit/reviews/{pending[2] if len(pending) > 2 else pending[0]}",
        json={"csrf": token, "decision": "confirm"},
    )
    assert refused.status_code == 403
    assert wd.oversight.override_rate("credit")["overridden"] == 1
