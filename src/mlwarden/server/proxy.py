"""Proxy mode: a version whose model runs elsewhere, behind an HTTP endpoint.

The version is registered through the generic flavor with a ``ProxyModel`` (its artifact is
the endpoint's JSON description), so it has a signature, lineage and evidence like any other.
The server still validates, logs, masks and audits its predictions; only the arithmetic is
remote. Calls have a timeout, a retry budget (retries are at most ``proxy_retry_budget`` of
calls, so a failing upstream is not hammered) and a circuit breaker per endpoint.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from mlwarden.entities import ModelVersion
from mlwarden.errors import ValidationError, WardenError
from mlwarden.server.serving import Prediction, Record, Served
from mlwarden.server.settings import ServerSettings

PROTOCOLS = ("oip-v2", "json")
_OIP_TYPES = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}
_SCORE_NAMES = ("score", "scores", "probability", "proba", "predict_proba")


class UpstreamError(WardenError):
    """The upstream model endpoint failed or answered something unusable."""

    http_status = 502
    code = "upstream_error"


class UpstreamUnavailable(WardenError):
    """The circuit to the upstream endpoint is open: calls are refused for a while."""

    http_status = 503
    code = "upstream_unavailable"


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


class NoScores(ValidationError, AttributeError):
    """The upstream returns no scores. An ``AttributeError`` too, so code that probes for
    ``predict_proba`` (registration, explainers) treats the model as having none."""


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
        resp = httpx.post(self.url, json=body, timeout=self.timeout_s)
        resp.raise_for_status()
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
    Path(path).write_text(json.dumps(model.config()))


def load_proxy(path: Path) -> ProxyModel:
    cfg = json.loads(Path(path).read_text())
    return ProxyModel(
        cfg["url"], cfg["protocol"], classes=cfg.get("classes"), timeout_s=cfg["timeout_s"]
    )


def register_endpoint(warden: Any, name: str, url: str, protocol: str = "oip-v2", **kwargs: Any):  # type: ignore[no-untyped-def]
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
    """Shared HTTP client, retry budget and one circuit breaker per endpoint URL."""

    def __init__(self, settings: ServerSettings) -> None:
        self.s = settings
        self._client: httpx.AsyncClient | None = None
        self._breakers: dict[str, _Breaker] = {}
        self._tokens = 10.0  # retries available now; each call deposits `proxy_retry_budget`

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.s.proxy_timeout_s)
        return self._client

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
            try:
                resp = await self._http().post(url, json=body)
                if resp.status_code < 500:
                    if resp.status_code >= 400:
                        # the request is wrong, not the upstream: no retry, no breaker
                        raise UpstreamError(
                            f"the upstream refused the request ({resp.status_code}): "
                            f"{resp.text[:200]}",
                            url=url,
                            status=resp.status_code,
                        )
                    br.failures = 0
                    return resp.json()
                last = f"HTTP {resp.status_code}"
            except httpx.TimeoutException:
                last = f"timed out after {self.s.proxy_timeout_s:g}s"
            except httpx.TransportError as exc:
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
