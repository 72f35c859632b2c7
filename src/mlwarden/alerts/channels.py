"""Alert channels: the only places alerts go, installed by an admin, named by policies.

A policy file is written by whoever can submit one (and an ad-hoc evaluation is a policy in a
request body), so a policy never names a URL or an environment variable: it names channels
(``channels: [ops]``). An admin installs each channel once, with its URL, format and the
environment variable holding its HMAC key (``wd.install_alert_channel``,
``mlwarden alerts channels add``); installing and removing are audited. The URL is checked
against the egress rules (:mod:`mlwarden.alerts.egress`) at install, and again, resolved, at
every delivery. ``log`` is built in: a warning in the server's log, no URL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from mlwarden.access import Recorder
from mlwarden.access.users import AccessService
from mlwarden.alerts.egress import EgressPolicy
from mlwarden.alerts.policy import CHANNEL_NAME
from mlwarden.alerts.settings import AlertSettings
from mlwarden.entities.alerts import Channel
from mlwarden.errors import Conflict, NotFound, ValidationError
from mlwarden.store.alert_store import AlertStore

FORMATS = ("json", "slack", "alertmanager", "log")
BUILTIN = {"log": Channel("log", None, "log")}
SECRET_PREFIX = "MLWARDEN_WEBHOOK_SECRET"
_ENV = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name):
        raise ValidationError(
            f"invalid channel name {name!r}: lower-case letters, digits, '-', '_' or '.', "
            "at most 64",
            field="name",
        )
    return name


def check_secret_env(name: str | None, settings: AlertSettings) -> str | None:
    """The variable holding a channel's HMAC key: one named for the purpose
    (``MLWARDEN_WEBHOOK_SECRET…``) or listed in ``MLWARDEN_ALERTS_SECRET_ENVS``, never
    ``PATH`` or the master key (a signature would leak a MAC of it to the receiver)."""
    if name is None:
        return None
    if not isinstance(name, str) or not _ENV.fullmatch(name):
        raise ValidationError(
            f"invalid secret_env {name!r}: an upper-case environment variable name",
            field="secret_env",
        )
    if not name.startswith(SECRET_PREFIX) and name not in settings.secret_envs:
        raise ValidationError(
            f"secret_env {name!r} is not a webhook secret: name it {SECRET_PREFIX}_… or list "
            "it in MLWARDEN_ALERTS_SECRET_ENVS",
            field="secret_env",
        )
    return name


def lookup(store: AlertStore, name: str) -> Channel | None:
    if name in BUILTIN:
        return BUILTIN[name]
    found = store.channels(name)
    return found[0] if found else None


class ChannelService:
    def __init__(
        self,
        store: AlertStore,
        access: AccessService,
        recorder: Recorder,
        settings: Callable[[], AlertSettings],
        *,
        transaction: Callable[[], Any],
        policies: Callable[[], Iterable[Any]],
    ) -> None:
        self.store = store
        self.access = access
        self.recorder = recorder
        self._settings = settings
        self._transaction = transaction
        self._policies = policies  # the installed monitoring policies, for removal checks

    def install(
        self,
        name: str,
        url: str | None = None,
        *,
        format: str = "json",
        secret_env: str | None = None,
        actor: str,
    ) -> Channel:
        """Install (or replace, by name) a channel. Admins only."""
        self.access.require(actor, "config.set", f"alert-channel:{name}")
        check_name(name)
        if name in BUILTIN:
            raise ValidationError(f"{name!r} is a built-in channel", field="name")
        if format not in FORMATS:
            raise ValidationError(
                f"channel format must be one of {list(FORMATS)}, got {format!r}", field="format"
            )
        settings = self._settings()
        if format == "log":
            if url is not None or secret_env is not None:
                raise ValidationError("a log channel has no url or secret_env", field="url")
        else:
            if not isinstance(url, str) or not url:
                raise ValidationError(f"a {format} channel needs an http(s) url", field="url")
            EgressPolicy(settings.allowed_hosts).check_literal(url)
        check_secret_env(secret_env, settings)
        with self._transaction():
            channel = self.store.put_channel(name, format, url, secret_env, actor)
            self.recorder.record(
                actor,
                "alert.channel.install",
                f"alert-channel:{name}",
                # the URL itself can be a credential (Slack's are): its host and hash only
                {
                    "format": format,
                    "host": None if url is None else urlsplit(url).hostname,
                    "url_sha256": None if url is None else hashlib.sha256(url.encode()).hexdigest(),
                    "secret_env": secret_env,
                },
            )
        return channel

    def remove(self, name: str, *, actor: str) -> None:
        self.access.require(actor, "config.set", f"alert-channel:{name}")
        users = sorted(p.name for p in self._policies() if name in p.channels)
        if users:
            raise Conflict(
                f"channel {name!r} is named by installed monitoring policies {users}: "
                "change or uninstall them first",
                channel=name,
                policies=users,
            )
        with self._transaction():
            if not self.store.delete_channel(name):
                raise NotFound(f"no installed alert channel {name!r}", channel=name)
            self.recorder.record(actor, "alert.channel.remove", f"alert-channel:{name}")

    def list(self, *, actor: str) -> list[Channel]:
        """Installed channels (their URLs can be secrets: admins only)."""
        self.access.require(actor, "config.set", "alert-channel:*")
        return self.store.channels()

    def require(self, names: Iterable[str]) -> None:
        """Refuse a policy naming a channel nobody installed."""
        missing = [n for n in names if lookup(self.store, n) is None]
        if missing:
            raise ValidationError(
                f"no installed alert channel {', '.join(map(repr, missing))}: an admin installs "
                "channels (mlwarden alerts channels add NAME --url URL)",
                field="channels",
                channels=missing,
            )
