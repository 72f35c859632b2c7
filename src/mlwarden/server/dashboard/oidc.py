"""Dashboard sign-in through the OpenID Provider: authorization code with PKCE.

``/oidc/login`` sends the browser to the provider with a fresh ``state``, ``nonce`` and PKCE
challenge; the three (and where to go next) wait in a short-lived HttpOnly cookie scoped to
the callback, so nothing is kept in this process and any worker can finish the sign-in.
``/oidc/callback`` checks ``state`` against that cookie, exchanges the code (with the PKCE
verifier) for tokens, checks the ID token (signature, issuer, audience = our client, nonce)
and the access token (the same checks as the API's), and that both name the same subject.

The session afterwards is the dashboard's usual one (``session.py``): it is bound to a Warden
API token minted for this sign-in, valid as long as the session, whose secret is never shown
to anyone, so signing out, disabling the user or revoking the token ends it as before.
"""

from __future__ import annotations

import base64
import hmac
import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from mlwarden.access.roles import NO_ROLE
from mlwarden.errors import AuthenticationError
from mlwarden.server.abuse import FAILED
from mlwarden.server.dashboard.routes import (
    DashboardRoute,
    Refused,
    _safe_next,
    _sessions,
    set_session_cookie,
)
from mlwarden.server.dashboard.session import MAX_AGE_S

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

FLOW_COOKIE = "mlw_oidc"
CALLBACK = "/oidc/callback"
_FLOW_MAX_AGE_S = 600
_MAX_FLOW_COOKIE = 4096


def _verifier(request: Request) -> Any:
    verifier = request.app.state.ctx.auth.verifier
    if verifier is None or not verifier.settings.client_id:
        raise Refused(404, "sign-in through an identity provider is not configured")
    return verifier


def _redirect_uri(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{CALLBACK}"


@router.get("/oidc/login")
async def oidc_login(request: Request, next: str = "/") -> Response:
    from authlib.common.security import generate_token
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier = _verifier(request)
    s = verifier.settings
    authorize = await run_in_threadpool(verifier.provider.endpoint, "authorization_endpoint")
    state, nonce, code_verifier = generate_token(32), generate_token(32), generate_token(64)
    params = {
        "response_type": "code",
        "client_id": s.client_id,
        "redirect_uri": _redirect_uri(request),
        "scope": s.scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(code_verifier),
        "code_challenge_method": "S256",
        **({"resource": s.resource} if s.resource else {}),
    }
    flow = {"state": state, "nonce": nonce, "verifier": code_verifier, "next": _safe_next(next)}
    response = RedirectResponse(f"{authorize}?{urlencode(params)}", status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        base64.urlsafe_b64encode(json.dumps(flow).encode()).decode(),
        max_age=_FLOW_MAX_AGE_S,
        httponly=True,
        # Lax, not Strict: the provider's redirect back is a cross-site top-level navigation
        samesite="lax",
        secure=request.url.scheme == "https",
        path=CALLBACK,
    )
    return response


def _flow(request: Request) -> dict[str, str]:
    raw = request.cookies.get(FLOW_COOKIE) or ""
    try:
        if len(raw) > _MAX_FLOW_COOKIE:
            raise ValueError
        flow = json.loads(base64.urlsafe_b64decode(raw.encode()))
        if not isinstance(flow, dict) or not all(
            isinstance(flow.get(k), str) for k in ("state", "nonce", "verifier", "next")
        ):
            raise ValueError
    except ValueError:
        raise Refused(400, "the sign-in expired or was started elsewhere: sign in again") from None
    return flow


def _refuse(request: Request, reason: str) -> Refused:
    request.scope[FAILED] = reason  # counted and audited per client (server.abuse)
    return Refused(401, reason)


@router.get(CALLBACK)
async def oidc_callback(request: Request) -> Response:
    verifier = _verifier(request)
    query = request.query_params
    if "error" in query:
        raise _refuse(request, f"the identity provider refused: {query['error'][:200]}")
    flow = _flow(request)
    if not hmac.compare_digest(query.get("state", ""), flow["state"]):
        raise _refuse(request, "sign-in state mismatch (a forged or replayed callback)")
    code = query.get("code")
    if not code:
        raise _refuse(request, "the identity provider sent no code")
    try:
        user = await run_in_threadpool(_finish, request, verifier, code, flow)
    except AuthenticationError as exc:
        raise _refuse(request, exc.message) from None
    if user.role == NO_ROLE:
        reason = (
            f"signed in as {user.name}, who has no role in Warden yet: an admin grants one "
            "(`mlwarden users set-role`) or maps one of your groups (oidc.role_map)"
        )
        request.app.state.ctx.warden.access.recorder.denied(
            user.name, "dashboard.sign_in", f"user:{user.name}", reason
        )
        raise Refused(403, reason)
    access = request.app.state.ctx.warden.access
    minted = await run_in_threadpool(
        lambda: access.create_token(
            user.name,
            actor=user.name,
            expires_in=f"{MAX_AGE_S}s",
            description="dashboard sign-in through the identity provider",
        )
    )
    cookie, _ = await run_in_threadpool(_sessions(request).sign_in, minted.token, audit=False)
    response = RedirectResponse(flow["next"], status_code=303)
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK, httponly=True, samesite="lax")
    set_session_cookie(response, request, cookie)
    return response


def _finish(request: Request, verifier: Any, code: str, flow: dict[str, str]) -> Any:
    import httpx

    s = verifier.settings
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _redirect_uri(request),
        "client_id": s.client_id,
        "code_verifier": flow["verifier"],
        **({"resource": s.resource} if s.resource else {}),
    }
    if s.client_secret is not None:
        data["client_secret"] = s.client_secret.get_secret_value()
    try:
        with httpx.Client(timeout=s.http_timeout_s) as http:
            res = http.post(verifier.provider.endpoint("token_endpoint"), data=data)
    except httpx.HTTPError as exc:
        raise AuthenticationError(f"the identity provider did not answer ({exc})") from None
    body = res.json() if res.headers.get("content-type", "").startswith("application/json") else {}
    if res.status_code != 200 or not isinstance(body, dict):
        raise AuthenticationError(
            f"code exchange refused: {body.get('error', res.status_code)}", subject="token:oidc"
        )
    id_token, access_token = body.get("id_token"), body.get("access_token")
    if not isinstance(id_token, str) or not isinstance(access_token, str):
        raise AuthenticationError("the provider sent no ID token or access token")
    signed_in = verifier.verify(id_token, audience=s.client_id, nonce=flow["nonce"])
    identity = verifier.verify(access_token)
    if identity.subject != signed_in.subject:
        raise AuthenticationError("the ID token and the access token name different users")
    access = request.app.state.ctx.warden.access
    return access.oidc_user(identity, sync_roles=s.sync_roles, audit=False)
