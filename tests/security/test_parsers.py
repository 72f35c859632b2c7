"""Findings 2, 3 and 4 of issue 14 against a real server, on SQLite and PostgreSQL: the role
is checked before any policy text is parsed, YAML anchors and aliases are refused, and CEL
text is capped in length, nesting and cost, so no policy body crashes, bloats or freezes
the server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from security_support import BILLION_LAUGHS, open_store

#: the 80 KB rule that made the CEL runtime crash the process
LONG_CEL = "+".join(["1"] * 40_000) + " > 0"
#: six nested comprehensions over 20 items: 64 million iterations, 19 s with the GIL held
RANGE = "[" + ",".join(str(i) for i in range(20)) + "]"
NESTED = "true"
for _d in range(6):
    NESTED = f"{RANGE}.all(x{_d}, x{_d} >= 0 && {NESTED})"


def gate(check: str) -> str:
    return f"name: attack\nrules:\n  - id: r\n    check: '{check}'\n"


def monitoring(when: str) -> str:
    return f"kind: monitoring\nname: attack\nrules:\n  - id: r\n    when: '{when}'\n"


def bodies(gate_yaml: str, monitoring_yaml: str, masking_yaml: str | None = None):
    """Every endpoint that takes policy text: (method, path, body)."""
    out = [
        ("POST", "/v1/monitoring/policies", {"source": monitoring_yaml}),
        ("POST", "/v1/monitoring/evaluate", {"policies": [{"source": monitoring_yaml}]}),
        ("POST", "/v1/models/credit/versions/1/checks", {"policy_yaml": gate_yaml}),
        (
            "POST",
            "/v1/models/credit/versions/1/promote",
            {"alias": "production", "dry_run": True, "policy_yaml": gate_yaml},
        ),
    ]
    if masking_yaml is not None:
        out.append(("PUT", "/v1/models/credit/masking-policy", {"policy_yaml": masking_yaml}))
    return out


def rss_mb(server) -> float:
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    line = next(ln for ln in status.splitlines() if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def assert_untouched(server) -> None:
    server.assert_alive()
    with open_store(server) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
        assert [p.name for p in wd.monitoring_policies()] == []
        assert wd.masking.get("credit") is None


def test_a_viewer_is_refused_before_the_text_is_parsed(server):
    """A parse before the role check would answer 422 (the rule is over the limits); the
    answer is 403 for every policy body, and the refusal is audited."""
    for method, path, body in bodies(gate(LONG_CEL), monitoring(LONG_CEL), BILLION_LAUGHS):
        r = server.request("viewer", method, path, json=body)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"] == "permission_denied"
    # a developer may promote but not evaluate monitoring or install policies
    for method, path, body in bodies(gate("true"), monitoring(LONG_CEL))[:2]:
        r = server.request("developer", method, path, json=body)
        assert r.status_code == 403, (path, r.text)
    assert_untouched(server)


def test_an_80_kb_rule_is_a_policy_error_not_a_crash(server):
    for role in ("admin", "developer"):
        for method, path, body in bodies(gate(LONG_CEL), monitoring(LONG_CEL)):
            if role == "developer" and not path.endswith("/promote"):
                continue
            r = server.request(role, method, path, json=body)
            assert r.status_code == 422, (role, path, r.text)
            err = r.json()
            assert err["error"] == "policy_error", err
            assert "characters long" in err["message"] and "limit is 4096" in err["message"]
            server.assert_alive()
    assert_untouched(server)


def test_billion_laughs_is_refused_in_every_policy_body(server):
    before = rss_mb(server)
    for method, path, body in bodies(
        BILLION_LAUGHS, "kind: monitoring\n" + BILLION_LAUGHS, BILLION_LAUGHS
    ):
        started = time.monotonic()
        r = server.request("admin", method, path, json=body)
        assert 400 <= r.status_code < 500, (path, r.text)
        assert "anchors (&a)" in r.json()["message"], r.text
        assert time.monotonic() - started < 2
        server.assert_alive()
    assert rss_mb(server) - before < 50
    assert_untouched(server)


@pytest.mark.parametrize("role", ["developer", "admin"])
def test_nested_comprehensions_are_over_budget_and_never_freeze_the_server(server, role):
    result: dict = {}

    def attack() -> None:
        started = time.monotonic()
        result["response"] = server.request(
            role,
            "POST",
            "/v1/models/credit/versions/1/promote",
            json={"alias": "production", "dry_run": True, "policy_yaml": gate(NESTED)},
        )
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=attack)
    thread.start()
    while thread.is_alive():  # health checks answer within 1 s throughout
        server.assert_alive()
        time.sleep(0.05)
    thread.join()
    r = result["response"]
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "policy_error"
    assert "budget" in r.json()["message"]
    assert result["seconds"] < 1.0
    assert_untouched(server)
