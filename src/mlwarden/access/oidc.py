"""OpenID Connect: the provider's access tokens checked here, its groups mapped to roles.

An access token is a JWT signed by one of the provider's keys (its JWKS, found through
discovery). The keys are cached for ``jwks_ttl_s``; a token naming an unknown key id refetches
them (the provider rotated its keys), at most once every ``jwks_min_refetch_s`` so a flood of
made-up key ids cannot turn this server into a load generator against the provider.

Checked on every token: size, the algorithm (only the configured asymmetric ones: never
``none``, never HS*), the signature, ``iss``, ``aud``, ``exp`` (required), ``nbf`` and ``iat``
with ``leeway_s`` of clock skew. JOSE itself is joserfc's (the Authlib project's), not ours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mlwarden.access.roles import RANK, check_role
from mlwarden.errors import AuthenticationError, ValidationError
from mlwarden.settings import OIDCSettings

_MAX_DOCUMENT_BYTES = 512 * 1024  # discovery and JWKS documents


def _missing() -> ValidationError:
    return ValidationError("OIDC support needs Authlib: pip install 'mlwarden[oidc]'", field="oidc")


@dataclass(frozen=True)
class Identity:
    """Who a verified token names, and the role the provider's groups map to."""

    name: str
    subject: str
    issuer: str
    groups: tuple[str, ...]
    mapped_role: str | None  # None: no group maps to a role
    expires_at: float
    client_id: str | None
    claims: Mapping[str, Any]


class Provider:
    """The provider's discovery document and keys, fetched over HTTP and cached."""

    def __init__(self, settings: OIDCSettings, *, clock: Callable[[], float] = time.time) -> None:
        if not settings.issuer:
            raise ValidationError("oidc.issuer is not set", field="oidc.issuer")
        self.settings = settings
        self.issuer = settings.issuer
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: Any = None  # joserfc KeySet
        self._keys_at = float("-inf")
        self._failed_at = float("-inf")

    def _get(self, url: str) -> dict[str, Any]:
        # a provider that is down is asked again only every jwks_min_refetch_s: requests
        # meanwhile are refused at once instead of each waiting for a timeout
        if self._clock() - self._failed_at < self.settings.jwks_min_refetch_s:
            raise AuthenticationError("the identity provider is unreachable", subject="oidc")
        try:
            with httpx.Client(timeout=self.settings.http_timeout_s) as http:
                res = http.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            self._failed_at = self._clock()
            raise AuthenticationError(
                f"the identity provider did not answer ({type(exc).__name__})", subject="oidc"
            ) from exc
        if res.status_code != 200 or len(res.content) > _MAX_DOCUMENT_BYTES:
            raise AuthenticationError(
                f"the identity provider answered {res.status_code} for {url}", subject="oidc"
            )
        doc = res.json()
        if not isinstance(doc, dict):
            raise AuthenticationError(f"{url} is not a JSON object", subject="oidc")
        return doc

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            doc = self._get(url)
            if doc.get("issuer") != self.issuer:  # OIDC Discovery 4.3
                raise AuthenticationError(
                    f"the provider's discovery names issuer {doc.get('issuer')!r}, "
                    f"not {self.issuer!r}",
                    subject="oidc",
                )
            self._metadata = doc
        return self._metadata

    def endpoint(self, name: str) -> str:
        url = self.metadata().get(name)
        if not isinstance(url, str):
            raise ValidationError(f"the identity provider has no {name}", field="oidc.issuer")
        return url

    def keys(self, *, unknown_kid: bool = False) -> Any:
        """The key set; refetched when stale, or when a token named an unknown key id and
        the last fetch is older than ``jwks_min_refetch_s``."""
        try:
            from joserfc.jwk import KeySet
        except ImportError:  # pragma: no cover - the oidc extra
            raise _missing() from None
        now = self._clock()
        with self._lock:
            age = now - self._keys_at
            stale = age >= self.settings.jwks_ttl_s
            rotate = unknown_kid and age >= self.settings.jwks_min_refetch_s
            if self._keys is None or stale or rotate:
                doc = self._get(self.endpoint("jwks_uri"))
                self._keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
                self._keys_at = now
            return self._keys


class Verifier:
    """Checks access tokens from one provider (see the module docstring)."""

    def __init__(
        self,
        settings: OIDCSettings,
        provider: Provider | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:  # fail at start-up, not at the first sign-in
            import authlib  # noqa: F401
            import joserfc  # noqa: F401
        except ImportError:
            raise _missing() from None
        if not settings.audience:
            raise ValidationError(
                "oidc.audience must be set with oidc.issuer: tokens for other APIs "
                "must not be accepted here",
                field="oidc.audience",
            )
        self.settings = settings
        self.provider = provider or Provider(settings, clock=clock)
        self._clock = clock
        self._roles = settings.roles_by_group()
        for role in self._roles.values():
            check_role(role)

    def verify(
        self, token: str, *, audience: str | None = None, nonce: str | None = None
    ) -> Identity:
        """Check an access token (for ``oidc.audience``), or an ID token when ``audience``
        is the client's id and ``nonce`` the one sent with the authorization request."""
        try:
            from joserfc import jws, jwt
            from joserfc.errors import JoseError
        except ImportError:  # pragma: no cover - the oidc extra
            raise _missing() from None
        s = self.settings
        if len(token) > s.max_token_bytes:
            raise _refused("token too long")
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise _refused(f"not a JWT ({type(exc).__name__})") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise _refused(f"algorithm {alg!r} not accepted (allowed: {list(s.algorithms)})")
        kid = header.get("kid")
        key = self._key(kid, refresh=False)
        if key is None:
            key = self._key(kid, refresh=True)
        if key is None:
            raise _refused(f"signed by an unknown key {kid!r}")
        try:
            decoded = jwt.decode(token, key, algorithms=list(s.algorithms))
        except (JoseError, ValueError) as exc:
            raise _refused(f"bad signature ({type(exc).__name__})") from None
        claims = decoded.claims
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self.provider.issuer},
            "aud": {"essential": True, "value": audience or s.audience},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:  # an ID token: the nonce we sent, against replay
            options["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()), leeway=s.leeway_s, **options
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise _refused(_claim_reason(exc, claims)) from None
        return self._identity(claims)

    def _key(self, kid: Any, *, refresh: bool) -> Any:
        from joserfc.errors import JoseError

        keys = self.provider.keys(unknown_kid=refresh)
        if kid is None:
            return keys if len(keys.keys) == 1 else None
        if not isinstance(kid, str):
            return None
        try:
            return keys.get_by_kid(kid)
        except (JoseError, ValueError, KeyError):
            return None

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        s = self.settings
        raw_groups = claims.get(s.groups_claim) or []
        groups = (
            [g for g in raw_groups if isinstance(g, str)] if isinstance(raw_groups, list) else []
        )
        client_id = claims.get("client_id") or claims.get("azp")
        if client_id and claims["sub"] == client_id:
            # a client-credentials token: a service account, named by its client id, which
            # role_map can grant a role to as the pseudo-group "client:<id>"
            groups.append(f"client:{client_id}")
        name = claims.get(s.username_claim) or claims["sub"]
        return Identity(
            name=str(name),
            subject=str(claims["sub"]),
            issuer=str(claims["iss"]),
            groups=tuple(groups),
            mapped_role=self.map_role(tuple(groups)),
            expires_at=float(claims["exp"]),
            client_id=client_id,
            claims=claims,
        )

    def map_role(self, groups: tuple[str, ...]) -> str | None:
        """The highest role any group maps to (ties: the first in ``role_map``)."""
        best: str | None = None
        for group, role in self._roles.items():
            if group in groups and (best is None or RANK[role] > RANK[best]):
                best = role
        return best


def _refused(reason: str) -> AuthenticationError:
    return AuthenticationError(f"access token refused: {reason}", subject="token:oidc")


def _claim_reason(exc: Exception, claims: Mapping[str, Any]) -> str:
    from joserfc.errors import ExpiredTokenError, InvalidClaimError, MissingClaimError

    if isinstance(exc, ExpiredTokenError):
        return "expired"
    if isinstance(exc, InvalidClaimError | MissingClaimError):
        claim = getattr(exc, "claim", None) or str(exc)
        if claim == "iss":
            return f"wrong issuer {claims.get('iss')!r}"
        if claim == "aud":
            return f"wrong audience {claims.get('aud')!r}"
        return f"claim {claim!r} invalid or missing"
    return str(exc) or type(exc).__name__
