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
