"""Finding 7 through a second door: a proxied version's endpoint (server-side request
forgery), against a real ``mlwarden serve`` on SQLite and PostgreSQL.

The generic flavor's built-in loader ``mlwarden.server.proxy:load_proxy`` lets anyone who may
register a version describe an endpoint the server then posts prediction inputs to. A listener
on 127.0.0.1 stands for an internal service: unless the operator lists it in
``MLWARDEN_PROXY_ALLOWED_HOSTS`` it must receive nothing, at registration or at any call."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from security_support import Answer, Listener, SecureServer, open_store

from mlwarden.egress import EgressRefused
from mlwarden.server.proxy import LOADER, ProxyModel, check_registration, save_proxy


def model_server(path: str, body: bytes, port: int) -> Answer:
    """Answers like a plain-JSON model server; ``/redirect`` sends the caller on to
    ``/internal``."""
    if path == "/redirect":
        return 307, {"Location": f"http://127.0.0.1:{port}/internal"}, b""
    n = len(json.loads(body or b"{}").get("records", []))
    answer = json.dumps({"predictions": [">50K"] * n}).encode()
    return 200, {"Content-Type": "application/json"}, answer


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener(model_server, path="/model")
    try:
        yield lst
    finally:
        lst.close()


def _signature(srv: SecureServer) -> dict:
    return srv.request("admin", "GET", "/v1/models/credit/versions/1").json()["signature"]


def _versions(srv: SecureServer) -> list[int]:
    r = srv.request("admin", "GET", "/v1/models/credit/versions")
    assert r.status_code == 200, r.text
    return [v["version"] for v in r.json()]


def proxy_body(srv: SecureServer, url: str) -> dict:
    """What a developer sends to register a proxied version over HTTP."""
    config = {"url": url, "protocol": "json", "classes": None, "timeout_s": 2.0}
    return {
        "artifact_b64": base64.b64encode(json.dumps(config).encode()).decode(),
        "flavor": "generic",
        "flavor_info": {"loader": LOADER, "class": "mlwarden.server.proxy.ProxyModel"},
        "signature": _signature(srv),
    }


def _rows(credit_data, n: int = 2) -> list[dict]:
    _, _, test = credit_data
    head = test.head(n).astype(object)
    return head.where(head.notna(), None).to_dict("records")


def _unchanged(srv: SecureServer, before: list[int]) -> None:
    srv.assert_alive()
    assert _versions(srv) == before
    with open_store(srv) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",  # the listener itself
        "localhost",  # a name that resolves to loopback
        "2130706433",  # 127.0.0.1 in decimal
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "169.254.169.254",  # cloud metadata
        "10.0.0.7",  # a private network
    ],
)
def test_a_developer_cannot_proxy_to_internal_addresses(server, listener, host):
    before = _versions(server)
    body = proxy_body(server, listener.url(host=host))
    r = server.request("developer", "POST", "/v1/models/credit/versions", json=body)
    assert r.status_code == 422, r.text
    error = r.json()
    assert error["error"] == "egress_refused" and error["details"]["field"] == "url"
    assert "MLWARDEN_PROXY_ALLOWED_HOSTS" in error["message"]
    assert listener.requests == []  # nothing was sent, not even a probe
    _unchanged(server, before)


def test_a_malformed_proxy_description_is_a_clear_422(server, listener):
    before = _versions(server)
    body = proxy_body(server, listener.url())
    body["artifact_b64"] = base64.b64encode(b"not json").decode()
    r = server.request("developer", "POST", "/v1/models/credit/versions", json=body)
    assert r.status_code == 422 and r.json()["details"]["field"] == "artifact_b64", r.text
    body = proxy_body(server, "file:///etc/passwd")
    r = server.request("developer", "POST", "/v1/models/credit/versions", json=body)
    assert r.status_code == 422 and r.json()["details"]["field"] == "url", r.text
    assert listener.requests == []
    _unchanged(server, before)


def test_allow_listed_endpoints_serve_and_every_call_is_checked(
    fresh_server, listener, credit_data
):
    # the operator allows the internal host; a proxy in the environment must not be used
    decoy = Listener(model_server, path="/model")
    try:
        env = {
            "MLWARDEN_PROXY_ALLOWED_HOSTS": "127.0.0.1",
            "HTTP_PROXY": decoy.url(path=""),
            "http_proxy": decoy.url(path=""),
            "ALL_PROXY": decoy.url(path=""),
        }
        srv = fresh_server.start(**env)
        before = _versions(srv)
        # what is listed is 127.0.0.1: other loopback addresses stay refused
        other = proxy_body(srv, listener.url(host="127.0.0.2"))
        r = srv.request("developer", "POST", "/v1/models/credit/versions", json=other)
        assert r.status_code == 422 and r.json()["error"] == "egress_refused", r.text
        r = srv.request(
            "developer", "POST", "/v1/models/credit/versions", json=proxy_body(srv, listener.url())
        )
        assert r.status_code == 201, r.text
        version = r.json()["version"]
        assert _versions(srv) == [*before, version]
        assert listener.requests == []  # registration checks the address, it calls nothing

        rows = _rows(credit_data)
        path = f"/v1/models/credit/predict?version={version}"
        r = srv.request("developer", "POST", path, json={"records": rows})
        assert r.status_code == 200, r.text
        assert r.json()["outputs"] == [">50K", ">50K"] and r.json()["version"] == version
        assert listener.paths() == ["/model"]
        assert json.loads(listener.requests[0]["body"])["records"][0]["age"] == rows[0]["age"]
        assert decoy.requests == []  # HTTP_PROXY / ALL_PROXY were ignored

        # the same store served by a server whose operator allows nothing internal: refused
        # at the call, before anything is sent (a shared store or an old registration)
        srv.restart(MLWARDEN_PROXY_ALLOWED_HOSTS="")
        r = srv.request("developer", "POST", path, json={"records": rows})
        assert r.status_code == 502, r.text
        assert r.json()["error"] == "upstream_refused" and "loopback" in r.json()["message"]
        assert listener.paths() == ["/model"] and decoy.requests == []
        srv.assert_alive()
        with open_store(srv) as wd:
            assert wd.get_model("credit").aliases == {"production": 1}
    finally:
        decoy.close()


def test_redirects_are_not_followed(fresh_server, listener, credit_data):
    srv = fresh_server.start(MLWARDEN_PROXY_ALLOWED_HOSTS="127.0.0.1")
    body = proxy_body(srv, listener.url("/redirect"))
    r = srv.request("developer", "POST", "/v1/models/credit/versions", json=body)
    assert r.status_code == 201, r.text
    path = f"/v1/models/credit/predict?version={r.json()['version']}"
    r = srv.request("developer", "POST", path, json={"records": _rows(credit_data)})
    assert r.status_code == 502, r.text
    assert "redirect" in r.json()["message"] and r.json()["details"]["status"] == 307
    assert listener.paths() == ["/redirect"]  # /internal never reached
    srv.assert_alive()


# -- the same rules where a process registers or calls a proxied version itself -------------


def test_local_registration_and_calls_follow_the_same_rules(
    listener, monkeypatch, tmp_path: Path, credit_data
):
    monkeypatch.delenv("MLWARDEN_PROXY_ALLOWED_HOSTS", raising=False)
    model = ProxyModel(listener.url(), "json")
    with pytest.raises(EgressRefused, match="MLWARDEN_PROXY_ALLOWED_HOSTS"):
        save_proxy(model, tmp_path / "model")  # what register_model calls
    X = credit_data[2].head(2)
    with pytest.raises(EgressRefused):
        model.predict(X)
    assert listener.requests == [] and not (tmp_path / "model").exists()
    info = {"loader": LOADER}
    data = json.dumps({"url": listener.url()}).encode()
    with pytest.raises(EgressRefused):
        check_registration("generic", info, data)
    check_registration("lightgbm", info, data)  # only proxied versions are concerned

    monkeypatch.setenv("MLWARDEN_PROXY_ALLOWED_HOSTS", "127.0.0.0/8")
    allowed = ProxyModel(listener.url(), "json")
    assert allowed.predict(X).tolist() == [">50K", ">50K"]
    redirect = ProxyModel(listener.url("/redirect"), "json")
    with pytest.raises(Exception, match="redirect"):
        redirect.predict(X)
    assert listener.paths() == ["/model", "/redirect"]


def test_a_closed_list_refuses_public_endpoints_too():
    from mlwarden.server.proxy import egress_policy
    from mlwarden.server.settings import ProxySettings

    answers = {
        "scorer.example.com": ["93.184.216.34"],
        "other.example.com": ["93.184.216.35"],
        "10.8.1.2": ["10.8.1.2"],
    }
    closed = ProxySettings(allowed_hosts="scorer.example.com,10.8.0.0/16", allow_public=False)
    policy = egress_policy(closed, resolver=lambda host, port: answers[host])
    assert policy.target("https://scorer.example.com/infer").address == "93.184.216.34"
    assert policy.target("http://10.8.1.2:9000/infer").address == "10.8.1.2"
    with pytest.raises(EgressRefused, match="not allow-listed"):
        policy.target("https://other.example.com/infer")
    with pytest.raises(EgressRefused, match="not allow-listed"):
        policy.check_literal("http://8.8.8.8/infer")
    # the default: public endpoints pass, the list only opens non-public ones
    open_ = egress_policy(ProxySettings(), resolver=lambda host, port: answers[host])
    assert open_.target("https://other.example.com/infer").address == "93.184.216.35"
