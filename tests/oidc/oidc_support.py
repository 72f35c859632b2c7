"""The test OpenID Provider (provider.mjs, npm ``oidc-provider`` from the lock file) as a
process, and the browser steps of its development sign-in pages.

Node and npm come from the machine. Missing, the tests are skipped, except in CI (``CI=true``)
where they fail: the identity tests must run against the real provider there."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlwarden.settings import OIDCSettings

HERE = Path(__file__).resolve().parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
API = "https://warden.test"
OTHER_API = "https://other.test"


def node_or_fail() -> None:
    """Node and the provider's packages (``npm ci`` from package-lock.json, once)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true but {' and '.join(missing)} missing: the OIDC tests need Node")
        pytest.skip(f"{' and '.join(missing)} not found")
    if not (HERE / "node_modules" / "oidc-provider" / "package.json").exists():
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci failed in {HERE}: {done.stderr[-2000:]}")


def oidc_settings(issuer: str, **overrides: Any) -> OIDCSettings:
    """The settings the tests run Warden with against the test provider."""
    values: dict[str, Any] = {
        "issuer": issuer,
        "audience": API,
        "resource": API,
        "client_id": "warden-dashboard",
        "cli_client_id": "warden-cli",
        "scopes": "openid profile groups api",
        "role_map": ("ml-admins=admin", "ml-developers=developer", "client:warden-short=viewer"),
        "leeway_s": 0,
        "jwks_min_refetch_s": 0,
    }
    return OIDCSettings(**{**values, **overrides})


class Provider:
    """One provider process; ``restart`` with other keys rotates them."""

    def __init__(
        self, port: int, key_dir: Path, *, redirect_uri: str, issuer: str | None = None
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.issuer = issuer or self.url
        self.key_dir = key_dir
        self.redirect_uri = redirect_uri
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, key_ids: str = "k1") -> Provider:
        env = {
            **os.environ,
            "PORT": str(self.port),
            "ISSUER": self.issuer,
            "KEY_DIR": str(self.key_dir),
            "KEY_IDS": key_ids,
            "REDIRECT_URI": self.redirect_uri,
        }
        self.proc = subprocess.Popen(
            ["node", str(HERE / "provider.mjs")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        with httpx.Client() as probe:  # one client: each costs ~50 ms of CPU (its TLS context)
            while True:
                try:
                    if probe.get(f"{self.url}/.well-known/openid-configuration").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the test OpenID Provider did not start")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def restart(self, key_ids: str) -> None:
        self.stop()
        self.start(key_ids)

    def client_credentials(self, resource: str = API) -> str:
        res = httpx.post(
            f"{self.url}/token",
            auth=("warden-batch", "batch-secret"),
            data={"grant_type": "client_credentials", "scope": "api", "resource": resource},
        )
        assert res.status_code == 200, res.text
        return str(res.json()["access_token"])


def sign_in_at_provider(
    page: Any, provider_url: str, login: str, screenshot: Path | None = None
) -> None:
    """Through the provider's development pages until the browser leaves them: the login
    form (any password), consent, and in the device flow the user-code confirmation."""
    for _ in range(8):
        page.wait_for_load_state("load")
        if not page.url.startswith(provider_url):
            return
        if page.locator("input[name=login]").count():
            page.fill("input[name=login]", login)
            page.fill("input[name=password]", "any password")
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
        buttons = page.locator("button[type=submit]")
        if not buttons.count():
            return  # a page with nothing to submit: the device flow's "done"
        buttons.first.click()
