"""Issue 18, OpenID Connect against a real provider (npm oidc-provider, tests/oidc/provider.mjs):
provider access tokens on the API, default deny and group mapping, the refusal matrix (each
refusal 401 and audited), the dashboard's authorization-code + PKCE sign-in in Chromium, the
CLI's device flow with its 0600 token cache, and key rotation (last: it restarts the provider)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from oidc_support import OTHER_API, Provider, oidc_settings, sign_in_at_provider

from mlwarden.access.oidc import Verifier
from mlwarden.errors import AuthenticationError

# the sign-in screenshots; MLWARDEN_DOCS_IMG=1 writes them over docs/img's instead
IMG = Path(__file__).resolve().parents[2] / (
    "docs/img" if os.environ.get("MLWARDEN_DOCS_IMG") == "1" else "test-artifacts/oidc"
)
SRC = Path(__file__).resolve().parents[2] / "src"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


#: a route that needs a global role (the model list is filtered by grants instead: a user with
#: no role gets an empty list there)
NEEDS_A_ROLE = "/v1/audit/events"


def _denied_reasons(stack, since: int) -> dict[str, int]:
    """The refusals audited since event ``since`` (aggregated per client by server.abuse)."""
    reasons: dict[str, int] = {}
    for event in stack.warden.audit.events(action="access.denied")[since:]:
        for reason, n in (event.payload.get("reasons") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + n
    return reasons


def test_service_token_signs_in_a_new_user_with_no_role(stack):
    token = stack.provider.client_credentials()
    r = httpx.get(f"{stack.url}/v1/models", headers=stack.headers(token))
    assert r.status_code == 200 and r.json() == [], r.text  # sees no model
    r = httpx.get(f"{stack.url}{NEEDS_A_ROLE}", headers=stack.headers(token))
    assert r.status_code == 403, r.text  # authenticated, but default deny
    assert "none" in r.json()["message"]
    user = stack.warden.access.get_user("warden-batch")
    assert user.role == "none" and user.created_by == f"oidc:{stack.oidc.issuer}"
    (created,) = stack.warden.audit.events(action="user.create", subject="user:warden-batch")
    assert created.payload["via"] == "oidc" and created.payload["role"] == "none"
    assert created.payload["groups"] == ["client:warden-batch"]


def test_a_service_account_gets_its_role_from_role_map(stack):
    """client_credentials: the client is a service account; role_map grants it a role."""
    token = httpx.post(
        f"{stack.provider.url}/token",
        auth=("warden-short", "short-secret"),
        data={"grant_type": "client_credentials", "scope": "api"},
    ).json()["access_token"]
    r = httpx.get(f"{stack.url}/v1/models", headers=stack.headers(token))
    assert r.status_code == 200, r.text  # client:warden-short=viewer
    assert stack.warden.access.get_user("warden-short").role == "viewer"
    # an admin may not hand a provider-made account another role behind the mapping's back:
    # the next sign-in puts the mapped one back (sync_roles), audited both times
    stack.warden.access.set_role("warden-batch", "admin", actor="root")
    r = httpx.get(
        f"{stack.url}{NEEDS_A_ROLE}", headers=stack.headers(stack.provider.client_credentials())
    )
    assert r.status_code == 403
    assert stack.warden.access.get_user("warden-batch").role == "none"
    changes = stack.warden.audit.events(action="user.role", subject="user:warden-batch")
    assert [(e.actor, e.payload["role"]) for e in changes] == [
        ("root", "admin"),
        (f"oidc:{stack.oidc.issuer}", "none"),
    ]


def test_refusal_matrix(stack):
    good = stack.provider.client_credentials()
    header, payload, _sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    short = httpx.post(
        f"{stack.provider.url}/token",
        auth=("warden-short", "short-secret"),
        data={"grant_type": "client_credentials", "scope": "api"},
    ).json()["access_token"]
    other_issuer = Provider(
        _free(), stack.provider.key_dir, redirect_uri=stack.provider.redirect_uri
    ).start("k1")  # the same keys, another issuer: a validly signed token with the wrong iss
    try:
        wrong_iss = other_issuer.client_credentials()
    finally:
        other_issuer.stop()
    cases = {
        "wrong audience": stack.provider.client_credentials(resource=OTHER_API),
        "wrong issuer": wrong_iss,
        "alg none": f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}.",
        "HS256 with the public key": f"{_b64({'alg': 'HS256', 'kid': 'k1'})}.{payload}.x",
        "tampered claims": f"{header}.{_b64({**claims, 'sub': 'root'})}.{_sig}",
        "unknown key": f"{_b64({'alg': 'ES256', 'kid': 'nope'})}.{payload}.{_sig}",
        "not a JWT": "garbage",
    }
    time.sleep(3.1)  # warden-short's token (2 s) is now expired; leeway is 0
    cases["expired"] = short
    before = len(stack.warden.audit.events(action="access.denied"))
    answers = {}
    for case, token in cases.items():
        r = httpx.get(f"{stack.url}/v1/models", headers=stack.headers(token))
        answers[case] = (r.status_code, r.json()["message"])
    print(json.dumps(answers, indent=1))  # the refusal matrix, for the closing note
    assert {case: status for case, (status, _) in answers.items()} == dict.fromkeys(cases, 401)
    assert "expired" in answers["expired"][1]
    assert "wrong audience" in answers["wrong audience"][1]
    assert "wrong issuer" in answers["wrong issuer"][1]
    assert "algorithm 'none'" in answers["alg none"][1]
    assert "algorithm 'HS256'" in answers["HS256 with the public key"][1]
    assert "bad signature" in answers["tampered claims"][1]
    assert "unknown key" in answers["unknown key"][1]
    # the good token still works, and every refusal is in the audit log (with its reason)
    assert httpx.get(f"{stack.url}/healthz").status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reasons = _denied_reasons(stack, before)
        if sum(reasons.values()) >= len(cases):
            break
        time.sleep(0.2)
    audited = " | ".join(reasons)
    for _case, (_, message) in answers.items():
        assert message in audited, (message, audited)


def _free() -> int:
    from serve_support import free_port

    return free_port()


def test_groups_map_to_roles_and_dashboard_sign_in_with_pkce(stack, browser):
    start = httpx.get(f"{stack.url}/oidc/login?next=/audit")
    assert start.status_code == 303
    query = dict(httpx.URL(start.headers["location"]).params)
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["client_id"] == "warden-dashboard" and query["resource"] == stack.oidc.resource
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert "httponly" in start.headers["set-cookie"].lower()
    IMG.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 900, "height": 560})
    try:
        page.goto(f"{stack.url}/login")
        page.screenshot(path=str(IMG / "oidc-sign-in-1-warden.png"))
        page.click("#oidc-sign-in")
        page.wait_for_url(f"{stack.provider.url}/**")
        sign_in_at_provider(page, stack.provider.url, "alice", IMG / "oidc-sign-in-2-provider.png")
        page.wait_for_url(f"{stack.url}/**")
        page.screenshot(path=str(IMG / "oidc-sign-in-3-signed-in.png"))
        assert "alice" in page.content()
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["mlw_session"]["httpOnly"] and "mlw_oidc" not in cookies
    finally:
        page.close()
    alice = stack.warden.access.get_user("alice")
    assert alice.role == "admin"  # ml-admins=admin
    events = stack.warden.audit.events(action="user.create", subject="user:alice")
    assert events[0].payload["groups"] == ["ml-admins"]


def test_dashboard_refuses_a_user_without_a_role_and_a_forged_callback(stack, browser):
    page = browser.new_page()
    try:
        page.goto(f"{stack.url}/oidc/login")
        sign_in_at_provider(page, stack.provider.url, "carol")
        page.wait_for_url(f"{stack.url}/**")
        assert "no role in Warden" in page.content()
        assert "mlw_session" not in {c["name"] for c in page.context.cookies()}
        # a callback that did not start here (no flow cookie, or another state) is refused
        r = httpx.get(f"{stack.url}/oidc/callback?code=x&state=y")
        assert r.status_code == 400
    finally:
        page.close()
    assert stack.warden.access.get_user("carol").role == "none"
    denied = stack.warden.audit.events(action="access.denied", subject="user:carol")
    assert denied and denied[-1].payload["action"] == "dashboard.sign_in"


def test_cli_login_with_the_device_flow_caches_a_0600_token(stack, browser, tmp_path):
    cache = tmp_path / "cache" / "token.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "MLWARDEN_OIDC_ISSUER": stack.oidc.issuer,
        "MLWARDEN_OIDC_CLI_CLIENT_ID": "warden-cli",
        "MLWARDEN_OIDC_RESOURCE": stack.oidc.resource,
        "MLWARDEN_OIDC_SCOPES": stack.oidc.scopes,
        "MLWARDEN_OIDC_TOKEN_CACHE": str(cache),
    }
    env.pop("MLWARDEN_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwarden", "login"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        assert line.startswith("Open "), line
        url = line.split()[1]
        page = browser.new_page()
        try:
            page.goto(url)
            sign_in_at_provider(page, stack.provider.url, "bob")
        finally:
            page.close()
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    # the CLI and SDK use the cached token: bob (ml-developers) is a developer
    listed = subprocess.run(
        [sys.executable, "-m", "mlwarden", "models", "list", "--uri", stack.url, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert stack.warden.access.get_user("bob").role == "developer"


def test_key_rotation(stack):
    """Last: it restarts the provider. A token signed by a new key is accepted (the server
    refetches the keys on an unknown key id); refetching is bounded."""
    before = stack.provider.client_credentials()
    stack.provider.restart("k2,k1")  # k2 signs now; k1 still published
    after = stack.provider.client_credentials()
    assert json.loads(base64.urlsafe_b64decode(after.split(".")[0] + "=="))["kid"] == "k2"
    for token in (after, before):
        r = httpx.get(f"{stack.url}{NEEDS_A_ROLE}", headers=stack.headers(token))
        assert r.status_code == 403, r.text  # authenticated (warden-batch has no role)
    # bounded: a verifier that fetched the keys lately does not refetch for an unknown kid
    bounded = Verifier(oidc_settings(stack.oidc.issuer, jwks_min_refetch_s=3600))
    bounded.provider.keys()  # k2 and k1
    stack.provider.restart("k3")
    fresh = stack.provider.client_credentials()
    with pytest.raises(AuthenticationError, match="unknown key"):
        bounded.verify(fresh)
    assert Verifier(oidc_settings(stack.oidc.issuer)).verify(fresh).name == "warden-batch"


@pytest.mark.parametrize("algs", ["none", "HS256", "RS256,HS512", ""])
def test_settings_refuse_none_and_hmac_algorithms(algs):
    from pydantic import ValidationError as SettingsError

    from mlwarden.settings import OIDCSettings

    with pytest.raises(SettingsError, match="algorithms"):
        OIDCSettings(algorithms=algs)


def test_settings_refuse_a_malformed_role_map_and_an_unknown_role():
    from pydantic import ValidationError as SettingsError

    from mlwarden.errors import ValidationError
    from mlwarden.settings import OIDCSettings

    with pytest.raises(SettingsError, match="GROUP=ROLE"):
        OIDCSettings(role_map="ml-admins")
    with pytest.raises(ValidationError, match="role"):
        Verifier(OIDCSettings(issuer="https://idp.test", audience="a", role_map="g=root"))
    with pytest.raises(ValidationError, match="audience"):
        Verifier(OIDCSettings(issuer="https://idp.test"))


def test_an_unreachable_provider_is_refused_fast_and_asked_again_later():
    from serve_support import free_port

    from mlwarden.settings import OIDCSettings

    now = [1000.0]
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = OIDCSettings(issuer=issuer, audience="a", jwks_min_refetch_s=30)
    verifier = Verifier(settings, clock=lambda: now[0])
    token = f"{_b64({'alg': 'ES256', 'kid': 'k1'})}.{_b64({'sub': 'x'})}.sig"
    with pytest.raises(AuthenticationError, match="did not answer"):
        verifier.verify(token)
    with pytest.raises(AuthenticationError, match="unreachable"):  # no second attempt yet
        verifier.verify(token)
    now[0] += 31
    with pytest.raises(AuthenticationError, match="did not answer"):
        verifier.verify(token)
