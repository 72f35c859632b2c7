"""Proxy mode: a version whose model runs elsewhere, behind an HTTP endpoint.

The version is registered through the generic flavor with a ``ProxyModel`` (its artifact is
the endpoint's JSON description), so it has a signature, lineage and evidence like any other.
The server still validates, logs, masks and audits its predictions; only the arithmetic is
remote. Calls have a timeout, a retry budget (retries are at most ``proxy_retry_budget`` of
calls, so a failing upstream is not hammered) and a circuit breaker per endpoint.

The endpoint is a URL the registering user chose, so it goes through the server's egress
rules (:mod:`mlwarden.egress`): at registration and before every call its host is resolved
and must be public, or on ``MLWARDEN_PROXY_ALLOWED_HOSTS``; the call goes to the address
that was checked, redirects are not followed and proxies from the environment are not used.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from mlwarden.egress import EgressPolicy, Resolver, Target, pinned_request, system_resolver
from mlwarden.entities import ModelVersion
from mlwarden.errors import (
    NoScores,
    UpstreamError,
    UpstreamRefused,
    UpstreamUnavailable,
    ValidationError,
    WardenError,
)
from mlwarden.server.settings import ProxySettings, ServerSettings
from mlwarden.serving.core import Prediction, Record, Served

if TYPE_CHECKING:
    from mlwarden.api import WardenAPI

PROTOCOLS = ("oip-v2", "json")
_OIP_TYPES = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}
_SCORE_NAMES = ("score", "scores", "probability", "proba", "predict_proba")
#: the built-in generic loader of proxied versions (``BUILTIN_LOADERS`` of the generic flavor)
LOADER = "mlwarden.server.proxy:load_proxy"


class ProxyEgress(EgressPolicy):
    """Proxied endpoints; allow-listed through ``MLWARDEN_PROXY_ALLOWED_HOSTS``."""

    what = "proxy call"
    setting = "MLWARDEN_PROXY_ALLOWED_HOSTS"
    noun = "endpoint url"


def egress_policy(
    settings: ProxySettings | None = None, resolver: Resolver = system_resolver
) -> ProxyEgress:
    """The egress rules for proxied endpoints (``MLWARDEN_PROXY_*`` when not given)."""
    s = settings if settings is not None else ProxySettings()
    return ProxyEgress(s.allowed_hosts, resolver, public=s.allow_public)


def check_registration(
    flavor: str, flavor_info: dict[str, Any], data: bytes, policy: EgressPolicy | None = None
) -> None:
    """Refuse a proxied version whose endpoint the egress rules do not allow (``EgressRefused``,
    422 naming ``url``), before it is stored; any other version passes untouched."""
    if flavor != "generic" or flavor_info.get("loader") != LOADER:
        return
    try:
        url = json.loads(data)["url"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError(
            "a proxied version's artifact is its endpoint's JSON description, with a url",
            field="artifact_b64",
        ) from exc
    if not isinstance(url, str):
        raise ValidationError("the endpoint url must be a string", field="url")
    (policy if policy is not None else egress_policy()).target(url)


def _not_ok(url: str, status: int, text: str) -> UpstreamError:
    """The error for a 3xx or 4xx answer (the request is wrong, not the upstream)."""
    if 300 <= status < 400:
        return UpstreamError(
            f"the upstream answered a redirect ({status}); redirects are not followed",
            url=url,
            status=status,
        )
    return UpstreamError(
        f"the upstream refused the request ({status}): {text[:200]}", url=url, status=status
    )


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return v.item() if isinstance(v, np.generic) else v


def encode(protocol: str, records: Sequence[Record], types: dict[str, str]) -> dict[str, Any]:
    if protocol == "json":
        return {"records": list(records)}
    names = list(types) or (list(records[0]) if records else [])
    return {
        "inputs": [
            {
                "name": n,
                "shape": [len(records)],
                "datatype": _OIP_TYPES.get(types.get(n, ""), "BYTES"),
                "data": [r.get(n) for r in records],
            }
            for n in names
        ]
    }


def decode(protocol: str, body: Any, n: int) -> tuple[list[Any], list[float | None] | None]:
    try:
        if protocol == "json":
            if isinstance(body, list):
                outputs, scores = body, None
            else:
                outputs, scores = body["predictions"], body.get("scores")
        else:
            tensors = body["outputs"]
            outputs = tensors[0]["data"]
            scores = next((t["data"] for t in tensors[1:] if t.get("name") in _SCORE_NAMES), None)
    except (KeyError, IndexError, TypeError) as exc:
        raise UpstreamError(
            f"the upstream answer is not a {protocol} response: {type(exc).__name__}: {exc}"
        ) from exc
    if len(outputs) != n or (scores is not None and len(scores) != n):
        raise UpstreamError(f"the upstream answered {len(outputs)} predictions for {n} rows")
    return list(outputs), None if scores is None else [
        None if s is None else float(s) for s in scores
    ]


class ProxyModel:
    """A model served by an external endpoint.

    ``protocol="oip-v2"``: the Open Inference Protocol v2 ``…/infer`` URL (one input tensor per
    column; the first output is the prediction, an output named ``score``/``probability`` the
    score). ``protocol="json"``: POST ``{"records": [...]}``, answer ``{"predictions": [...],
    "scores": [...]}``. ``classes`` names a classifier's labels (for metrics at registration).
    """

    is_proxy = True

    def __init__(
        self,
        url: str,
        protocol: str = "oip-v2",
        *,
        classes: list[Any] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValidationError(f"protocol must be one of {PROTOCOLS}", field="protocol")
        if not url.startswith(("http://", "https://")):
            raise ValidationError("the endpoint URL must be http(s)://…", field="url")
        self.url = url
        self.protocol = protocol
        self.timeout_s = timeout_s
        self._egress: EgressPolicy | None = None  # MLWARDEN_PROXY_*, read at the first call
        if classes is not None:
            self.classes_ = np.asarray(classes)

    def config(self) -> dict[str, Any]:
        classes = getattr(self, "classes_", None)
        return {
            "url": self.url,
            "protocol": self.protocol,
            "classes": None if classes is None else classes.tolist(),
            "timeout_s": self.timeout_s,
        }

    def _call(self, X: Any) -> tuple[list[Any], list[float | None] | None]:
        records = [{k: _clean(v) for k, v in r.items()} for r in X.to_dict(orient="records")]
        types = {str(c): "float" if X[c].dtype.kind == "f" else "" for c in X.columns}
        body = encode(self.protocol, records, types)
        if self._egress is None:
            self._egress = egress_policy()
        url, host, extensions = pinned_request(self._egress.target(self.url))
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False, trust_env=False) as c:
            resp = c.post(url, json=body, headers=host, extensions=extensions)
        if resp.status_code >= 500:
            raise UpstreamError(f"the upstream failed (HTTP {resp.status_code})", url=self.url)
        if resp.status_code >= 300:
            raise _not_ok(self.url, resp.status_code, resp.text)
        return decode(self.protocol, resp.json(), len(records))

    def predict(self, X: Any) -> np.ndarray:
        """Synchronous call (registration computes metrics through it)."""
        return np.asarray(self._call(X)[0])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Binary classifiers whose upstream returns a score (probability of the second
        class); ``NoScores`` otherwise."""
        classes = getattr(self, "classes_", None)
        _, scores = self._call(X)
        if scores is None or classes is None or len(classes) != 2:
            raise NoScores("the upstream endpoint returns no scores for two classes")
        p = np.asarray([np.nan if s is None else s for s in scores], dtype=float)
        return np.column_stack([1 - p, p])

    def served(self, mv: ModelVersion) -> ProxyServed:
        return ProxyServed(mv, self)


def save_proxy(model: ProxyModel, path: Path) -> None:
    """Registration: the endpoint must be allowed by the egress rules (``EgressRefused``)."""
    egress_policy().target(model.url)
    Path(path).write_text(json.dumps(model.config()))


def load_proxy(path: Path) -> ProxyModel:
    cfg = json.loads(Path(path).read_text())
    return ProxyModel(
        cfg["url"], cfg["protocol"], classes=cfg.get("classes"), timeout_s=cfg["timeout_s"]
    )


def register_endpoint(
    warden: WardenAPI, name: str, url: str, protocol: str = "oip-v2", **kwargs: Any
) -> ModelVersion:
    """Register ``url`` as the next version of ``name`` (pass ``train=``/``eval=`` to record a
    signature and metrics: the endpoint is called on that data)."""
    classes = kwargs.pop("classes", None)
    model = ProxyModel(url, protocol, classes=classes)
    return warden.register_model(name, model, save_fn=save_proxy, load_fn=load_proxy, **kwargs)


class ProxyServed(Served):
    def predict(self, records: Sequence[Record]) -> Prediction:
        raise WardenError("a proxied model is called through ProxyRuntime (apredict)")

    async def apredict(self, runtime: ProxyRuntime, records: Sequence[Record]) -> Prediction:
        model: ProxyModel = self.model
        body = encode(model.protocol, records, self.spec.types)
        answer = await runtime.call(model.url, body)
        outputs, scores = decode(model.protocol, answer, len(records))
        return Prediction(outputs, scores)


class _Breaker:
    def __init__(self) -> None:
        self.failures = 0
        self.opened_at: float | None = None


class ProxyRuntime:
    """Shared HTTP client, retry budget, egress rules and one circuit breaker per endpoint
    URL. ``proxy``: the egress settings (``MLWARDEN_PROXY_*`` when not given)."""

    def __init__(
        self,
        settings: ServerSettings,
        proxy: ProxySettings | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.s = settings
        self.proxy = proxy if proxy is not None else ProxySettings()
        self.egress = egress_policy(self.proxy, resolver)
        self._client: httpx.AsyncClient | None = None
        self._breakers: dict[str, _Breaker] = {}
        self._targets: dict[str, tuple[Target, float]] = {}  # url -> checked target, when
        self._tokens = 10.0  # retries available now; each call deposits `proxy_retry_budget`

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.s.proxy_timeout_s, follow_redirects=False, trust_env=False
            )
        return self._client

    def check_registration(self, flavor: str, flavor_info: dict[str, Any], data: bytes) -> None:
        """:func:`check_registration` under this server's egress rules."""
        check_registration(flavor, flavor_info, data, self.egress)

    async def target(self, url: str) -> Target:
        """``url`` resolved and checked (off the event loop), reused for ``resolve_ttl_s``;
        ``UpstreamRefused`` when the egress rules refuse it."""
        now = time.monotonic()
        hit = self._targets.get(url)
        if hit is not None and now - hit[1] < self.proxy.resolve_ttl_s:
            return hit[0]
        try:
            target = await asyncio.to_thread(self.egress.target, url)
        except ValidationError as exc:
            self._targets.pop(url, None)
            raise UpstreamRefused(exc.message, url=url, **exc.details) from None
        self._targets[url] = (target, now)
        return target

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def breaker(self, url: str) -> _Breaker:
        return self._breakers.setdefault(url, _Breaker())

    async def call(self, url: str, body: dict[str, Any]) -> Any:
        br = self.breaker(url)
        if br.opened_at is not None:
            if time.monotonic() - br.opened_at < self.s.proxy_breaker_reset_s:
                raise UpstreamUnavailable(
                    f"the circuit to {url} is open after {br.failures} failures; retrying "
                    f"after {self.s.proxy_breaker_reset_s:g}s",
                    url=url,
                )
            br.opened_at = None  # half-open: this call decides
            br.failures = self.s.proxy_breaker_failures - 1
        self._tokens = min(10.0, self._tokens + self.s.proxy_retry_budget)
        attempt, last = 0, ""
        while True:
            # the address that was checked, never a second lookup
            pinned, host, extensions = pinned_request(await self.target(url))
            try:
                resp = await self._http().post(
                    pinned, json=body, headers=host, extensions=extensions
                )
                if resp.status_code < 500:
                    if resp.status_code >= 300:
                        # the request is wrong, not the upstream: no retry, no breaker
                        raise _not_ok(url, resp.status_code, resp.text)
                    br.failures = 0
                    return resp.json()
                last = f"HTTP {resp.status_code}"
            except httpx.TimeoutException:
                last = f"timed out after {self.s.proxy_timeout_s:g}s"
            except httpx.TransportError as exc:
                self._targets.pop(url, None)  # the next attempt resolves again
                last = f"{type(exc).__name__}: {exc}"
            except json.JSONDecodeError as exc:
                last = f"not JSON: {exc}"
            if attempt < self.s.proxy_retries and self._tokens >= 1.0:
                self._tokens -= 1.0
                attempt += 1
                continue
            br.failures += 1
            if br.failures >= self.s.proxy_breaker_failures:
                br.opened_at = time.monotonic()
            raise UpstreamError(
                f"the upstream {url} failed after {attempt + 1} attempt(s): {last}",
                url=url,
                attempts=attempt + 1,
            )
