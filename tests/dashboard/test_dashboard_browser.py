"""The dashboard in Chromium (Playwright): sign in, inventory, model page, approval by a
second user, promotion, the audit event, a prediction's proof checked in the page, the
monitoring charts; axe-core on every page; screenshots under test-artifacts/dashboard/."""

from __future__ import annotations

from pathlib import Path

import pytest

AXE = Path(__file__).resolve().parent / "vendor" / "axe-4.14.1.min.js"


def sign_in(browser, live: str, token: str):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: d.accept())  # the confirmation of each action
    # offline: nothing but this server may be asked for anything
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(live) else route.abort(),
    )
    page.goto(f"{live}/")
    assert "/login" in page.url
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live}/")
    page.errors = errors  # type: ignore[attr-defined]
    return context, page


def axe_check(page, name: str) -> None:
    # evaluated through the DevTools protocol: the page's CSP (no inline script) stays on
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document)")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: accessibility violations:\n" + "\n".join(bad)


def shot(page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def carol(browser, live, scenario):
    context, page = sign_in(browser, live, scenario.tokens["carol"])
    yield page
    assert not page.errors, page.errors
    context.close()


def test_sign_in_and_inventory(carol, live, shots):
    page = carol
    assert page.get_by_role("heading", name="Models").is_visible()
    assert page.get_by_role("link", name="credit").is_visible()
    assert page.get_by_text("Signed in as").is_visible()
    # the session cookie is HttpOnly: scripts cannot read it
    assert "mlw_session" not in page.evaluate("document.cookie")
    page.get_by_label("Search").fill("retention")
    page.wait_for_function(
        "!document.querySelector('#inventory-body').textContent.includes('credit')"
    )
    assert page.get_by_role("link", name="churn").is_visible()
    page.get_by_label("Search").fill("")
    page.wait_for_function(
        "document.querySelector('#inventory-body').textContent.includes('credit')"
    )
    shot(page, shots, "01-inventory")
    axe_check(page, "inventory")
    # keyboard: the first Tab on a fresh page reaches the skip link
    page.goto(f"{live}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_model_page_approve_and_promote(carol, live, shots, scenario):
    page = carol
    page.goto(f"{live}/models/credit?version=2")
    assert page.get_by_role("heading", name="Model card").is_visible()
    assert page.get_by_text("Pre-screening of credit applications.").first.is_visible()
    shot(page, shots, "02-model")
    axe_check(page, "model")
    # carol (validator) did not register v2 (bob did): she may approve it
    page.get_by_label("Approval comment").fill("reviewed the fairness audit")
    page.get_by_role("button", name="Approve credit@2").click()
    page.wait_for_selector(".flash.ok")
    assert "Approved credit@2" in page.locator(".flash.ok").inner_text()
    assert page.get_by_text("carol (validator)").is_visible()
    # promote through the gate
    page.get_by_label("Gate policy", exact=True).select_option("demo-gate")
    page.get_by_label("Reason for promoting").fill("better AUC")
    page.get_by_role("button", name="Promote credit@2").click()
    page.wait_for_selector(".flash.ok >> text=Promoted credit@2 to production")
    assert scenario.warden.get_model("credit").aliases["production"] == 2
    shot(page, shots, "03-promoted")
    # and back: production returns to v1 by its history
    page.get_by_label("Reason for rolling back production").fill("latency regression")
    page.get_by_role("button", name="Roll back").click()
    page.wait_for_selector(".flash.ok >> text=Rolled production back to version 1")
    assert scenario.warden.get_model("credit").aliases["production"] == 1
    history = scenario.warden.alias_history("credit", "production")
    assert [h.action for h in history][-2:] == ["promote", "rollback"]
    assert history[-1].actor == "carol"


def test_audit_trail_shows_the_promotion(carol, live, shots):
    page = carol
    page.goto(f"{live}/audit")
    page.get_by_label("Action").fill("alias.promote")
    page.wait_for_function(
        "!document.querySelector('#audit-body').textContent.includes('alias.rollback')"
    )
    actions = page.locator("#audit-body tr td:nth-child(4)").all_inner_texts()
    assert actions == ["alias.promote"]
    assert "carol" in page.locator("#audit-body tr").first.inner_text()
    assert "action=alias.promote" in page.url  # the filtered view has its own address
    page.get_by_role("button", name="Verify the whole log now").click()
    page.wait_for_selector("#verify-result >> text=Verified")
    shot(page, shots, "04-audit")
    axe_check(page, "audit")


def test_prediction_lookup_verifies_the_proof(carol, live, shots, scenario):
    page = carol
    page.goto(f"{live}/predictions")
    page.get_by_label("Prediction id").fill(scenario.prediction_ids[25])
    page.get_by_role("button", name="Look up").click()
    page.wait_for_selector("#proof-verdict[data-result]")
    assert page.get_attribute("#proof-verdict", "data-result") == "verified"
    assert page.locator("#proof-steps li.fail").count() == 0
    # ids, payload, leaf, path, root, and the checkpoint's Ed25519 signature (WebCrypto)
    assert page.locator("#proof-steps li.pass").count() == 6
    assert "Ed25519 signature is valid" in page.locator("#proof-steps").inner_text()
    # the check is real: a tampered audit path or batch fails in the page
    for tamper in (
        "d.proof.path[0] = d.proof.path[0].replace(/^./, c => c === 'a' ? 'b' : 'a')",
        "d.ids[d.ids.length - 1] = 'not-' + d.ids[d.ids.length - 1]",
        "d.event.actor = 'mallory'",
    ):
        page.evaluate(
            "async () => { const n = document.getElementById('proof-data');"
            f" const d = JSON.parse(n.textContent); {tamper};"
            " n.textContent = JSON.stringify(d); await checkProof(); }"
        )
        assert page.get_attribute("#proof-verdict", "data-result") == "failed", tamper
        page.reload()
        page.wait_for_selector("#proof-verdict[data-result=verified]")
    page.wait_for_selector("[data-spec=waterfall][data-rendered=true]")
    shot(page, shots, "05-prediction")
    axe_check(page, "prediction")


def test_monitoring_charts_render(carol, live, shots):
    page = carol
    page.goto(f"{live}/models/credit/monitoring?feature=age")
    for key in ("heatmap", "distribution", "performance", "fairness"):
        page.wait_for_selector(f"[data-spec={key}][data-rendered=true]")
    shot(page, shots, "06-monitoring")
    axe_check(page, "monitoring")


def test_viewer_sees_no_actions(browser, live, scenario, shots):
    context, page = sign_in(browser, live, scenario.tokens["vic"])
    page.goto(f"{live}/models/credit")
    assert page.get_by_role("heading", name="Model card").is_visible()
    assert page.get_by_role("button", name="Approve").count() == 0
    assert page.get_by_role("button", name="Promote").count() == 0
    assert page.get_by_role("button", name="Roll back").count() == 0
    shot(page, shots, "07-viewer")
    context.close()
