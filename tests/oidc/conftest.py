"""Identity fixtures: the real OpenID Provider (provider.mjs), a Warden store with one local
admin, and the server on a loopback port configured for the provider."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from oidc_support import Provider, node_or_fail, oidc_settings

import mlwarden as mw
from mlwarden.server import ServerSettings, create_app
from mlwarden.settings import OIDCSettings

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "server"))  # serve_support: the live server
sys.path.insert(0, str(TESTS / "dashboard"))  # chromium_support

from chromium_support import CHROMIUM, CHROMIUM_ARGS, chromium_or_fail  # noqa: E402
from serve_support import LiveServer, free_port  # noqa: E402


@dataclass
class Stack:
    warden: mw.Warden
    provider: Provider
    url: str  # the Warden server
    oidc: OIDCSettings
    root: Path

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    node_or_fail()
    root = tmp_path_factory.mktemp("oidc")
    (root / "keys").mkdir()
    wd = mw.Warden(f"sqlite:///{root / 'warden.db'}", artifacts=str(root / "art"), actor="root")
    wd.create_user("root", "admin")  # a local admin: roles are enforced from the start
    port = free_port()
    oidc = oidc_settings(f"http://127.0.0.1:{port}")
    tree = wd.settings.model_copy(
        update={
            "oidc": oidc,
            "server": ServerSettings(
                access_log=False, auth_failures_per_min=0, auth_audit_interval_s=0.2
            ),
        }
    )
    with LiveServer(create_app(tree, wd)) as live:
        provider = Provider(port, root / "keys", redirect_uri=f"{live.url}/oidc/callback")
        provider.start("k1")
        try:
            yield Stack(wd, provider, live.url, oidc, root)
        finally:
            provider.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium_or_fail()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
