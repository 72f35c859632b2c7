"""The dashboard's pages and actions (server-rendered Jinja2, htmx for partial updates).

Pages read through ``views.py``; actions call the same ``Warden`` service methods as the API
(as the signed-in user, via ``ServerContext.acting``), after the same role check, so every
rule and every audit event is the API's. Actions need a session cookie *and* the session's
CSRF token; the API keeps requiring bearer tokens and never reads the cookie.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.background import BackgroundTask

from mlwarden.errors import AuthenticationError, WardenError
from mlwarden.policy.loader import examples
from mlwarden.server.abuse import FAILED
from mlwarden.server.auth import check, may_unseal
from mlwarden.server.dashboard import monitoring as monitoring_data
from mlwarden.server.dashboard import predictions as prediction_data
from mlwarden.server.dashboard import views
from mlwarden.server.dashboard.render import render
from mlwarden.server.dashboard.session import COOKIE, MAX_AGE_S, Session, Sessions

#: Security headers of every dashboard response. Vega compiles its expressions with
#: ``new Function`` (hence 'unsafe-eval') and vega-embed injects a <style>; no inline script.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

DONE = {
    "approve": "Approved {ref}.",
    "promote": "Promoted {ref} to {alias}.",
    "rollback": "Rolled {alias} back to version {version}.",
    "check": "Evaluated the gate on {ref}: {verdict}.",
}


class LoginRequired(Exception):
    """No valid session: pages redirect to the sign-in page."""


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DashboardRoute(APIRoute):
    """Turns errors into HTML (full pages, or a fragment in the flash region for htmx)
    instead of the API's JSON, and adds the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                target = quote(
                    request.url.path + (f"?{request.url.query}" if request.url.query else "")
                )
                url = f"/login?next={target}"
                if _htmx(request):
                    response = Response(status_code=200, headers={"HX-Redirect": url})
                else:
                    response = RedirectResponse(url, status_code=303)
            except Refused as exc:
                response = _error(request, exc.status, exc.message)
            except WardenError as exc:
                response = _error(request, exc.http_status, exc.message, exc.details)
            except RequestValidationError as exc:
                first = (exc.errors() or [{}])[0]
                where = ".".join(str(p) for p in first.get("loc", ()))
                response = _error(request, 400, f"invalid {where}: {first.get('msg', '')}")
            response.headers.update(HEADERS)
            return response

        return wrapped


router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


# ------------------------------------------------------------------------------ helpers


def _htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _sessions(request: Request) -> Sessions:
    return request.app.state.dashboard_sessions  # type: ignore[no-any-return]


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


async def _session(request: Request) -> Session:
    cookie = request.cookies.get(COOKIE)
    found = await run_in_threadpool(_sessions(request).read, cookie)
    if found is None:
        if cookie:  # a forged, expired or signed-out cookie counts towards the client's limit
            request.scope[FAILED] = "no such dashboard session"
        raise LoginRequired()
    return found


def _page(
    request: Request,
    template: str,
    session: Session | None,
    *,
    subject: str = "dashboard",
    **data: Any,
) -> HTMLResponse:
    """``subject``: what the page's buttons act on (``model:NAME``), so that ``can`` follows
    the user's grants and denies there, as the action's own check will."""
    access = _ctx(request).warden.access
    user = session.user if session else None
    return HTMLResponse(
        render(
            template,
            request=request,
            session=session,
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            can=lambda action: user is not None and access.decide(user, action, subject).allowed,
            **data,
        )
    )


def _error(request: Request, status: int, message: str, details: Any = None) -> Response:
    details = details if isinstance(details, dict) else {}
    if _htmx(request):
        body = render("_flash.html", kind="error", message=message, details=details)
        # htmx swaps only 2xx answers: the refusal is shown in the flash region instead
        return HTMLResponse(body, headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    body = render(
        "error.html",
        request=request,
        session=None,
        user=None,
        csrf="",
        can=lambda a: False,
        status=status,
        message=message,
        details=details,
        kind="error",
    )
    return HTMLResponse(body, status_code=status)


async def _action_body(request: Request, session: Session) -> dict[str, Any]:
    """The JSON body of an action, after the CSRF and same-origin checks."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Refused(403, "cross-origin request refused")
    try:
        body = (
            await request.json() if request.headers.get("content-length") not in (None, "0") else {}
        )
    except ValueError:
        raise Refused(400, "the form was not sent as JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "the form was not sent as a JSON object")
    sent = request.headers.get("X-CSRF-Token") or body.get("csrf")
    if not _sessions(request).check_csrf(session, sent):
        raise Refused(403, "missing or wrong CSRF token: reload the page and try again")
    return body


def _done(request: Request, url: str, what: str, **params: Any) -> Response:
    target = f"{url}{'&' if '?' in url else '?'}{urlencode({'done': what, **params})}"
    if _htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _text(body: dict[str, Any], key: str, limit: int = 2000) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    value = str(value).strip()
    if len(value) > limit:
        raise Refused(400, f"{key} is longer than {limit} characters")
    return value or None


# ------------------------------------------------------------------------------ sign-in


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    current = await run_in_threadpool(_sessions(request).read, request.cookies.get(COOKIE))
    if current is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    verifier = _ctx(request).auth.verifier
    oidc = verifier is not None and bool(verifier.settings.client_id)
    return _page(request, "login.html", None, next=_safe_next(next), oidc=oidc)


@router.post("/login")
async def login(request: Request) -> Response:
    try:
        body = await request.json()
    except ValueError:
        raise Refused(400, "the form was not sent as JSON") from None
    token = str((body or {}).get("token") or "")
    if not token:
        raise Refused(400, "enter an API token")
    try:
        cookie, _ = await run_in_threadpool(_sessions(request).sign_in, token, audit=False)
    except AuthenticationError as exc:
        request.scope[FAILED] = exc.message  # counted and audited per client (server.abuse)
        raise
    target = _safe_next(str(body.get("next") or "/"))
    response = Response(status_code=200, headers={"HX-Redirect": target})
    set_session_cookie(response, request, cookie)
    return response


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    """The signed-in session: strict same-site, script-proof, secure over HTTPS."""
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = await _session(request)
    await _action_body(request, session)
    _sessions(request).sign_out(session)
    response = Response(status_code=200, headers={"HX-Redirect": "/login"})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _safe_next(target: str) -> str:
    """Only a path on this site; anything else is ``/`` (issue 14, finding 9).

    Browsers drop tabs and newlines from URLs and read ``\\`` as ``/``, so ``/%09/evil.com``
    is ``//evil.com``: another host. The checks run on the text percent-decoded until it
    stops changing, so no encoding of those characters slips through either."""
    decoded, previous = target, None
    for _ in range(4):
        if decoded == previous:
            break
        previous, decoded = decoded, unquote(decoded)
    if (
        len(target) > 2048
        or not target.startswith("/")
        or any(c < " " or "\x7f" <= c <= "\x9f" for c in decoded)
        or "//" in decoded
        or "\\" in decoded
    ):
        return "/"
    return target


# ------------------------------------------------------------------------------ inventory


@router.get("/", response_class=HTMLResponse)
async def inventory(
    request: Request,
    q: str = "",
    tier: str = "",
    gate: str = "",
    drift: str = "",
) -> Response:
    session = await _session(request)
    ctx = _ctx(request)
    rows = await run_in_threadpool(
        views.inventory, ctx.warden, q=q.strip(), tier=tier, gate=gate, drift=drift
    )
    # the models this user may read (role, grants per team and model; a denied one hidden)
    readable = ctx.warden.access.readable(session.user, [r.name for r in rows])
    rows = [r for r in rows if r.name in readable]
    data: dict[str, Any] = {"rows": rows, "q": q, "tier": tier, "gate": gate, "drift": drift}
    if _htmx(request) and request.headers.get("HX-Target") == "inventory-body":
        return _page(request, "_inventory_rows.html", session, **data)
    return _page(request, "inventory.html", session, nav="inventory", **data)


# ------------------------------------------------------------------------------ model page


@router.get("/models/{name}", response_class=HTMLResponse)
async def model(
    request: Request, name: str, version: int | None = None, done: str = ""
) -> Response:
    session = await _session(request)
    ctx = _ctx(request)
    check(ctx, session.user, "read", f"model:{name}")
    page = await run_in_threadpool(views.model_page, ctx.warden, name, version)
    flash = _flash(done, request.query_params)
    return _page(
        request,
        "model.html",
        session,
        subject=f"model:{name}",
        nav="inventory",
        page=page,
        policies=list(policy_choices(request)),
        flash=flash,
    )


def _flash(done: str, params: Any) -> str | None:
    template = DONE.get(done)
    if template is None:
        return None
    try:
        return template.format(
            **{k: params.get(k, "") for k in ("ref", "alias", "version", "verdict")}
        )
    except (KeyError, IndexError):
        return None


def policy_choices(request: Request) -> dict[str, str]:
    """Policy name -> what ``Warden.promote``/``check`` load: shipped names, then the files
    of the policy folder (``app.state.dashboard_policy_dir``, else the ``dashboard.policy_dir``
    setting, ``MLWARDEN_DASHBOARD_POLICY_DIR``)."""
    choices = {name: name for name in examples()}
    folder = getattr(request.app.state, "dashboard_policy_dir", None)
    if folder is None:
        tree = getattr(request.app.state, "settings", None)
        folder = tree.dashboard.policy_dir if tree is not None else None
    if folder and Path(folder).is_dir():
        for path in sorted(Path(folder).glob("*.y*ml")):
            choices[path.stem] = str(path)
    return choices


def _policy(request: Request, body: dict[str, Any]) -> str:
    # Only listed names: a path sent by the browser would read any file on the server.
    choices = policy_choices(request)
    name = _text(body, "policy") or "production-gate"
    if name not in choices:
        raise Refused(400, f"unknown policy {name!r}: choose one of {sorted(choices)}")
    return choices[name]


@router.post("/models/{name}/versions/{version}/approve")
async def approve(request: Request, name: str, version: int) -> Response:
    session = await _session(request)
    body = await _action_body(request, session)
    ctx = _ctx(request)
    ref = f"{name}@{version}"
    check(ctx, session.user, "version.approve", f"model:{name}/{version}")
    wd = ctx.acting(session.user)
    await run_in_threadpool(wd.approve, ref, comment=_text(body, "comment"))
    return _done(request, f"/models/{name}?version={version}", "approve", ref=ref)


@router.post("/models/{name}/versions/{version}/promote")
async def promote(request: Request, name: str, version: int) -> Response:
    session = await _session(request)
    body = await _action_body(request, session)
    ctx = _ctx(request)
    alias = _text(body, "alias", 64) or "production"
    check(ctx, session.user, "model.promote", f"model:{name}/{alias}")
    wd = ctx.acting(session.user)
    ref = f"{name}@{version}"
    # a protected alias moves only through the gate bound to it on the server
    policy = None if wd.gates.is_protected(alias) else _policy(request, body)
    await run_in_threadpool(
        lambda: wd.promote(ref, alias=alias, policy=policy, reason=_text(body, "reason"))
    )
    ctx.resolver.forget(name)
    return _done(request, f"/models/{name}?version={version}", "promote", ref=ref, alias=alias)


@router.post("/models/{name}/versions/{version}/check")
async def run_check(request: Request, name: str, version: int) -> Response:
    session = await _session(request)
    body = await _action_body(request, session)
    ctx = _ctx(request)
    check(ctx, session.user, "checks.run", f"model:{name}/{version}")
    wd = ctx.acting(session.user)
    ref = f"{name}@{version}"
    decision = await run_in_threadpool(wd.check, ref, _policy(request, body))
    verdict = "passed" if decision.passed else "failed"
    return _done(request, f"/models/{name}?version={version}", "check", ref=ref, verdict=verdict)


@router.post("/models/{name}/aliases/{alias}/rollback")
async def rollback(request: Request, name: str, alias: str) -> Response:
    session = await _session(request)
    body = await _action_body(request, session)
    ctx = _ctx(request)
    check(ctx, session.user, "model.rollback", f"model:{name}/{alias}")
    reason = _text(body, "reason")
    if not reason:
        raise Refused(400, "a rollback needs a reason")
    wd = ctx.acting(session.user)
    change = await run_in_threadpool(lambda: wd.rollback(name, alias=alias, reason=reason))
    ctx.resolver.forget(name)
    return _done(
        request,
        f"/models/{name}?version={change.to_version}",
        "rollback",
        alias=alias,
        version=change.to_version,
    )


# ------------------------------------------------------------------------------ monitoring


@router.get("/models/{name}/monitoring", response_class=HTMLResponse)
async def monitoring(
    request: Request, name: str, window: str | None = None, feature: str | None = None
) -> Response:
    session = await _session(request)
    ctx = _ctx(request)
    check(ctx, session.user, "read", f"model:{name}")
    page = await run_in_threadpool(
        monitoring_data.monitoring_page, ctx.warden, name, window=window, feature=feature
    )
    charts = _charts(page)
    return _page(request, "monitoring.html", session, nav="inventory", page=page, charts=charts)


def _charts(page: monitoring_data.MonitoringPage) -> dict[str, str]:
    from mlwarden.server.dashboard import charts

    return {k: script_json(v) for k, v in charts.monitoring(page).items()}


def script_json(value: Any) -> str:
    """JSON safe inside <script type="application/json">: a category named "</script>"
    must not end the element (the page then parses it with JSON.parse, not as script)."""
    text = json.dumps(value, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ------------------------------------------------------------------------------ predictions


@router.get("/predictions", response_class=HTMLResponse)
async def prediction(request: Request, id: str = "") -> Response:
    session = await _session(request)
    ctx = _ctx(request)
    page = None
    missing = False
    pid = id.strip()
    if pid:
        if len(pid) > 64:
            raise Refused(400, "a prediction id is at most 64 characters")
        page = await run_in_threadpool(
            prediction_data.prediction,
            ctx.warden,
            pid,
            unseal=may_unseal(ctx, session.user),
        )
        missing = page is None
        if page is not None:
            check(ctx, session.user, "read", f"model:{page.model}")
    from mlwarden.server.dashboard import charts

    return _page(
        request,
        "prediction.html",
        session,
        nav="predictions",
        id=pid,
        page=page,
        missing=missing,
        waterfall=script_json(charts.waterfall(page)) if page and page.reasons else None,
        proof=script_json(page.proof) if page and page.proof else None,
    )


@router.get("/predictions/{prediction_id}/receipt")
async def prediction_receipt(
    request: Request, prediction_id: str, format: str = "html"
) -> Response:
    """The signed decision receipt as a download (the page's button)."""
    from mlwarden.reports.receipt import receipt, render_receipt

    session = await _session(request)
    ctx = _ctx(request)
    if len(prediction_id) > 64:
        raise Refused(400, "a prediction id is at most 64 characters")
    if format not in ("html", "md", "json"):
        raise Refused(400, "format must be html, md or json")
    unseal = may_unseal(ctx, session.user)
    page = await run_in_threadpool(
        prediction_data.prediction, ctx.warden, prediction_id, unseal=unseal
    )
    if page is None:
        raise Refused(404, f"no prediction with id {prediction_id}")
    check(ctx, session.user, "read", f"model:{page.model}")
    signed = await run_in_threadpool(receipt, ctx.warden, prediction_id, unseal=unseal)
    media = {"html": "text/html", "md": "text/markdown", "json": "application/json"}[format]
    return Response(
        str(render_receipt(signed, format)),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="receipt-{prediction_id}.{format}"'},
    )


@router.get("/models/{name}/reviews", response_class=HTMLResponse)
async def reviews(request: Request, name: str) -> Response:
    """The human-oversight queue of one model (docs/compliance.md)."""
    session = await _session(request)
    ctx = _ctx(request)
    check(ctx, session.user, "read", f"model:{name}")
    wd = ctx.acting(session.user)

    def load() -> tuple[Any, Any, Any]:
        model_id = wd.registry.store.model_id(name)
        rule = wd.oversight.store.rule(model_id)
        items = wd.oversight.queue(name, actor=wd.actor)
        return items, wd.oversight.override_rate(name), rule and rule["rule"]

    items, rate, rule = await run_in_threadpool(load)
    return _page(
        request, "reviews.html", session, nav="models", name=name, items=items, rate=rate, rule=rule
    )


@router.post("/models/{name}/reviews/{prediction_id}")
async def review_decide(request: Request, name: str, prediction_id: str) -> Response:
    session = await _session(request)
    body = await _action_body(request, session)
    ctx = _ctx(request)
    check(ctx, session.user, "version.approve", f"model:{name}")
    decision = _text(body, "decision", 16)
    output = _text(body, "output", 1024)
    if decision not in ("confirm", "override"):
        raise Refused(400, "decision must be confirm or override")
    if decision == "override" and not output:
        raise Refused(400, "an override needs the reviewer's output")
    wd = ctx.acting(session.user)
    await run_in_threadpool(
        lambda: wd.oversight.decide(
            name,
            prediction_id,
            actor=wd.actor,
            override=output if decision == "override" else None,
            comment=_text(body, "comment"),
        )
    )
    return _done(request, f"/models/{name}/reviews", decision, id=prediction_id)


# ------------------------------------------------------------------------------ agents

VERDICT_DONE = {"approve": "Approved tool call {id}.", "deny": "Denied tool call {id}."}


@router.get("/agents/approvals", response_class=HTMLResponse)
async def tool_approvals(request: Request, done: str = "", id: str = "") -> Response:
    """Agents' tool calls held for approval (docs/agents.md), with approve/deny buttons."""
    session = await _session(request)
    ctx = _ctx(request)
    check(ctx, session.user, "audit.read", "audit")  # masked arguments, as in the audit view
    service = ctx.warden.gateway

    def load() -> tuple[Any, dict[str, list[str]]]:
        items = service.calls(status="pending", limit=200)
        return items, {
            c.id: [v.actor for v in service.verdicts(c.id) if v.verdict == "approve"] for c in items
        }

    items, approvals = await run_in_threadpool(load)
    message = VERDICT_DONE.get(done, "").format(id=id)
    return _page(
        request,
        "approvals.html",
        session,
        subject="agent:*",
        nav="approvals",
        items=items,
        approvals=approvals,
        flash=message,
    )


@router.post("/agents/approvals/{call_id}")
async def tool_decide(request: Request, call_id: str) -> Response:
    """One person's verdict; the service enforces the two-person rule and that the agent
    cannot decide on its own call, and audits it (``tool.approve`` / ``tool.deny``)."""
    session = await _session(request)
    ctx = _ctx(request)
    call = await run_in_threadpool(ctx.warden.gateway.store.get, call_id)
    # the role before the form is read (the service checks it again, with the audit)
    check(ctx, session.user, "tool.approve", f"agent:{call.agent}/{call.tool}")
    body = await _action_body(request, session)
    verdict = _text(body, "verdict", 16)
    if verdict not in ("approve", "deny"):
        raise Refused(400, "verdict must be approve or deny")
    wd = ctx.acting(session.user)
    await run_in_threadpool(
        lambda: wd.gateway.decide_pending(
            call_id, actor=wd.actor, approve=verdict == "approve", comment=_text(body, "comment")
        )
    )
    return _done(request, "/agents/approvals", verdict, id=call_id)


# ------------------------------------------------------------------------------ audit


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request,
    model: str = "",
    action: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    session = await _session(request)
    ctx = _ctx(request)
    check(ctx, session.user, "audit.read", "audit")
    filters = {"model": model, "action": action, "actor": actor, "since": since, "until": until}
    events = await run_in_threadpool(
        lambda: views.audit_events(
            ctx.warden, model=model, action=action, actor=actor, since=since, until=until
        )
    )
    if _htmx(request) and request.headers.get("HX-Target") == "audit-body":
        return _page(request, "_audit_rows.html", session, events=events)
    wd = ctx.warden
    cp = wd.audit.latest_checkpoint()
    signed = cp.verify(wd.audit.public_key) if cp is not None and wd.audit.public_key else None
    return _page(
        request,
        "audit.html",
        session,
        nav="audit",
        events=events,
        filters=filters,
        checkpoint=cp,
        signed=signed,
        size=wd.audit.size,
    )


@router.get("/audit/verify", response_class=HTMLResponse)
async def audit_verify(request: Request) -> Response:
    session = await _session(request)
    ctx = _ctx(request)
    check(ctx, session.user, "audit.read", "audit")
    result = await run_in_threadpool(ctx.warden.audit.verify)
    return _page(request, "_verify.html", session, result=result)


@router.get("/audit/export")
async def audit_export(request: Request) -> Response:
    """The whole log in the verifiable JSON Lines export format (docs/audit.md)."""
    session = await _session(request)
    ctx = _ctx(request)
    check(ctx, session.user, "audit.read", "audit")
    folder = tempfile.mkdtemp(prefix="mlwarden-export-")
    path = Path(folder) / "audit.jsonl"
    await run_in_threadpool(ctx.warden.audit.export, path)

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        Path(folder).rmdir()

    return FileResponse(
        path,
        media_type="application/x-ndjson",
        filename="mlwarden-audit.jsonl",
        background=BackgroundTask(cleanup),
    )
