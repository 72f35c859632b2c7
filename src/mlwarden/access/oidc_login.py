"""``mlwarden login``: the OAuth 2.0 device authorization grant (RFC 8628), and the token cache.

The command asks the provider for a device code, shows the user where to enter it, and polls
the token endpoint (``interval``, ``slow_down`` honoured) until the user has signed in in a
browser, refused, or the code expired. The access token is written to ``oidc.token_cache``
with mode 0600 (created so, never widened afterwards); the CLI and the SDK use it for
``http(s)://`` URIs when no ``MLWARDEN_TOKEN`` is set, until it expires.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mlwarden.errors import AuthenticationError, ValidationError
from mlwarden.settings import OIDCSettings

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_MAX_WAIT_S = 900


def _discover(settings: OIDCSettings, http: httpx.Client) -> dict[str, Any]:
    if not settings.issuer or not settings.cli_client_id:
        raise ValidationError(
            "set oidc.issuer and oidc.cli_client_id (MLWARDEN_OIDC_ISSUER, "
            "MLWARDEN_OIDC_CLI_CLIENT_ID) to sign in",
            field="oidc.issuer" if not settings.issuer else "oidc.cli_client_id",
        )
    url = settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
    doc = http.get(url).json()
    if not isinstance(doc, dict) or doc.get("issuer") != settings.issuer:
        raise AuthenticationError(f"{url} does not describe issuer {settings.issuer!r}")
    if "device_authorization_endpoint" not in doc:
        raise ValidationError(
            f"{settings.issuer} offers no device authorization grant", field="oidc.issuer"
        )
    return doc


def device_login(
    settings: OIDCSettings,
    prompt: Callable[[dict[str, Any]], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Sign in through the device grant; ``prompt`` shows the user the verification URL and
    code. Returns the cached record (``access_token``, ``expires_at``, ``issuer``)."""
    with httpx.Client(timeout=settings.http_timeout_s) as http:
        doc = _discover(settings, http)
        extra = {"resource": settings.resource} if settings.resource else {}
        res = http.post(
            doc["device_authorization_endpoint"],
            data={"client_id": settings.cli_client_id, "scope": settings.scopes, **extra},
        )
        grant = res.json()
        if res.status_code != 200 or "device_code" not in grant:
            raise AuthenticationError(f"device authorization refused: {grant.get('error')}")
        prompt(grant)
        interval = float(grant.get("interval", 5))
        deadline = time.monotonic() + min(float(grant.get("expires_in", 600)), _MAX_WAIT_S)
        while time.monotonic() < deadline:
            sleep(interval)
            res = http.post(
                doc["token_endpoint"],
                data={
                    "grant_type": DEVICE_GRANT,
                    "device_code": grant["device_code"],
                    "client_id": settings.cli_client_id,
                    **extra,
                },
            )
            body = res.json()
            if res.status_code == 200 and "access_token" in body:
                record = {
                    "issuer": settings.issuer,
                    "access_token": body["access_token"],
                    "expires_at": time.time() + float(body.get("expires_in", 300)),
                }
                save_token(settings.token_cache, record)
                return record
            error = body.get("error")
            if error == "slow_down":
                interval += 5
            elif error != "authorization_pending":
                raise AuthenticationError(f"sign-in ended: {error}")
    raise AuthenticationError("sign-in timed out: the code was not entered in time")


def save_token(path: Path, record: dict[str, Any]) -> None:
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    # created 0600 (no window in which another user could read it), then moved in place
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def cached_token(settings: OIDCSettings) -> str | None:
    """The cached access token for ``oidc.issuer`` while it is valid, else ``None``."""
    path = settings.token_cache.expanduser()
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("issuer") != settings.issuer:
        return None
    if float(record.get("expires_at", 0)) <= time.time() + 10:
        return None
    token = record.get("access_token")
    return token if isinstance(token, str) else None
