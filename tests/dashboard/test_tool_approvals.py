"""Agents' tool calls held for approval, decided in the dashboard (Chromium via Playwright):
two different people for a two-person rule, never the agent itself, a denial ends the call,
viewers see no buttons, and each verdict is an audit event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chromium_support import serving
from test_dashboard_browser import axe_check, shot, sign_in

import mlwarden as mw
from mlwarden.entities.agents import APPROVE
from mlwarden.gateway.policy import Outcome
from mlwarden.gateway.service import AgentIdentity, Call
from mlwarden.server import ServerSettings, create_app

RULE = ({"rule": "writes-need-two-people", "action": APPROVE},)


def hold(wd: mw.Warden, agent: str, tool: str, approvals: int, **arguments: Any) -> str:
    """A call held by a policy, as the gateway writes it (pending, with its audit event)."""
    call = Call(AgentIdentity(agent), tool, arguments)
    wd.gateway.hold(call, Outcome(APPROVE, approvals, RULE))
    return call.id


@pytest.fixture(scope="module")
def approvals_store(tmp_path_factory) -> Iterator[tuple[mw.Warden, dict[str, str]]]:
    root = tmp_path_factory.mktemp("approvals")
    wd = mw.Warden(
        f"sqlite:///{root / 'warden.db'}", artifacts=str(root / "artifacts"), actor="alice"
    )
    tokens = {}
    for name, role in (
        ("alice", "admin"),
        ("carol", "validator"),
        ("vera", "validator"),
        ("vic", "viewer"),
    ):
        wd.create_user(name, role)
        tokens[name] = wd.create_token(name).token
    yield wd, tokens
    wd.close()


@pytest.fixture(scope="module")
def approvals_live(approvals_store) -> Iterator[str]:
    with serving(create_app(ServerSettings(access_log=False), approvals_store[0])) as url:
        yield url


def test_two_people_approve_in_the_browser_and_the_agent_cannot(
    browser, approvals_store, approvals_live, shots
):
    wd, tokens = approvals_store
    live = approvals_live
    write = hold(wd, "support-bot", "execute", 2, sql="UPDATE accounts SET balance = 0")
    own = hold(wd, "carol", "execute", 1, sql="DELETE FROM logs")  # carol's own agent call

    context, page = sign_in(browser, live, tokens["carol"])
    page.goto(f"{live}/agents/approvals")
    card = page.get_by_role("region", name=f"Tool call {write}")
    assert "UPDATE accounts SET balance = 0" in card.inner_text()
    assert "needs 2 approvals, has 0" in card.inner_text()
    shot(page, shots, "20-tool-approvals")
    axe_check(page, "tool approvals")
    card.get_by_label("Comment").fill("ticket 42")
    card.get_by_role("button", name="Approve").click()
    page.wait_for_selector(f".flash.ok >> text=Approved tool call {write}")
    assert wd.gateway.get(write).status == "pending"  # one of two
    card = page.get_by_role("region", name=f"Tool call {write}")
    assert "has 1 (carol)" in card.inner_text()
    # the same person twice does not make two
    card.get_by_role("button", name="Approve").click()
    page.wait_for_selector(".flash.error >> text=already decided")
    assert wd.gateway.get(write).status == "pending"
    # separation of duties: the agent's identity cannot decide on its own call
    page.get_by_role("region", name=f"Tool call {own}").get_by_role(
        "button", name="Approve"
    ).click()
    page.wait_for_selector(".flash.error >> text=cannot decide on it")
    assert wd.gateway.get(own).status == "pending"
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    context.close()

    # a second validator completes the two-person rule
    context, page = sign_in(browser, live, tokens["vera"])
    page.goto(f"{live}/agents/approvals")
    page.get_by_role("region", name=f"Tool call {write}").get_by_role(
        "button", name="Approve"
    ).click()
    page.wait_for_selector(f".flash.ok >> text=Approved tool call {write}")
    assert wd.gateway.get(write).status == "approved"
    assert page.get_by_role("region", name=f"Tool call {write}").count() == 0
    # and a denial ends the other call at once
    page.get_by_role("region", name=f"Tool call {own}").get_by_role("button", name="Deny").click()
    page.wait_for_selector(f".flash.ok >> text=Denied tool call {own}")
    assert wd.gateway.get(own).status == "denied"
    assert page.locator("#no-approvals").is_visible()
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    context.close()

    verdicts = [(e.actor, e.action) for e in wd.audit.events(action="tool.approve")]
    assert verdicts == [("carol", "tool.approve"), ("vera", "tool.approve")]
    assert [e.actor for e in wd.audit.events(action="tool.deny")] == ["vera"]


def test_viewers_see_the_queue_without_buttons_and_cannot_post(
    browser, approvals_store, approvals_live
):
    from fastapi.testclient import TestClient

    wd, tokens = approvals_store
    pending = hold(wd, "support-bot", "execute", 1, sql="DROP TABLE x")
    context, page = sign_in(browser, approvals_live, tokens["vic"])
    page.goto(f"{approvals_live}/agents/approvals")
    card = page.get_by_role("region", name=f"Tool call {pending}")
    assert "DROP TABLE x" in card.inner_text()
    assert card.get_by_role("button").count() == 0
    context.close()

    app = create_app(ServerSettings(access_log=False), wd)
    with TestClient(app, base_url="http://testserver") as client:
        r = client.post("/login", json={"token": tokens["vic"], "next": "/"})
        assert r.status_code == 200
        page_html = client.get("/agents/approvals").text
        csrf = page_html.split('name="csrf" value="')[1].split('"')[0]
        r = client.post(
            f"/agents/approvals/{pending}",
            json={"csrf": csrf, "verdict": "approve"},
            headers={"Origin": "http://testserver"},
        )
        assert r.status_code == 403
        assert wd.gateway.get(pending).status == "pending"
        # no session: the sign-in page, nothing decided
        anonymous = TestClient(app, base_url="http://testserver")
        r = anonymous.post(f"/agents/approvals/{pending}", json={"verdict": "approve"})
        assert r.status_code in (303, 200) and wd.gateway.get(pending).status == "pending"
