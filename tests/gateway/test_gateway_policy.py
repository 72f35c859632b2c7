"""Agent policies (CEL over one tool call) and the gateway service's decisions, approvals and
log, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from mlwarden.errors import Conflict, PolicyError, ValidationError
from mlwarden.gateway.policy import loads
from mlwarden.gateway.service import AgentIdentity, Call

POLICY = """kind: agent
name: t
rules:
  - id: exfil
    when: tool.name == "http_post"
    action: deny
    message: no sending out
  - id: write
    when: tool.name == "sql" && args.query.matches("(?i)^\\\\s*(update|delete)")
    action: approve
    approvals: 2
  - id: pii
    when: tool.name == "sql"
    action: redact
  - id: burst
    when: recent.calls >= 3 && tool.name == "read"
    action: deny
"""


def ctx(tool: str, args: dict, calls: int = 0) -> dict:
    return {
        "tool": {"name": tool, "server": "x"},
        "args": args,
        "agent": {"name": "bot", "tools": []},
        "recent": {"calls": calls, "denied": 0, "tools": []},
    }


def test_the_strictest_firing_rule_decides() -> None:
    policy = loads(POLICY)
    assert policy.decide(ctx("http_post", {"url": "u"})).decision == "deny"
    write = policy.decide(ctx("sql", {"query": " DELETE FROM t"}))
    assert (write.decision, write.approvals) == ("approve", 2)
    assert [r["rule"] for r in write.rules] == ["write", "pii"]
    assert policy.decide(ctx("sql", {"query": "select 1"})).decision == "redact"
    assert policy.decide(ctx("read", {})).decision == "allow"
    assert policy.decide(ctx("read", {}, calls=3)).decision == "deny"


def test_a_rule_that_cannot_be_evaluated_denies() -> None:
    policy = loads(POLICY)
    # the sql rule reads args.query, which this call lacks: fail closed
    out = policy.decide(ctx("sql", {"statement": "update t"}))
    assert out.decision == "deny"
    assert "no such key" in out.rules[0]["why"]


def test_large_arguments_are_held_to_the_cost_bound() -> None:
    policy = loads(
        "kind: agent\nname: c\nrules:\n  - id: any\n    when: args.items.exists(x, "
        "args.items.exists(y, x == y + 1))\n    action: deny\n"
    )
    small = policy.decide(ctx("t", {"items": list(range(5))}))
    assert small.decision == "deny"  # evaluated: some x == y + 1
    big = policy.decide(ctx("t", {"items": list(range(5000))}))
    assert big.decision == "deny" and "PolicyError" in big.rules[0]["why"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: monitoring\nname: x\nrules: []\n", "kind: agent"),
        ("kind: agent\nname: x\nrules:\n  - id: a\n    when: tool.nam == 'x'\n"
         "    action: deny\n", "tool.nam"),
        ("kind: agent\nname: x\nrules:\n  - id: a\n    when: 'true'\n    action: allow\n",
         "action must be one of"),
        ("kind: agent\nname: x\nrules:\n  - id: a\n    when: 'true'\n    action: approve\n"
         "    approvals: 9\n", "approvals must be"),
    ],
)  # fmt: skip
def test_bad_policies_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        loads(text)


def test_an_over_long_rule_is_refused_on_load() -> None:
    rule = " || ".join(["tool.name == 'x'"] * 400)
    with pytest.raises(PolicyError):
        loads(f"kind: agent\nname: x\nrules:\n  - id: a\n    when: {rule}\n    action: deny\n")


def test_allow_list_and_two_person_approval(warden) -> None:
    service = warden.gateway
    service.policies = (loads(POLICY),)
    bot = AgentIdentity("bot", tools=("sql", "read"))
    assert service.decide(Call(bot, "http_post", {})).decision == "deny"  # not on the list
    call = Call(bot, "sql", {"query": "update t set a = 1"})
    outcome = service.decide(call)
    service.hold(call, outcome)
    with pytest.raises(ValidationError, match="cannot decide"):
        service.decide_pending(call.id, actor="bot", approve=True)
    assert service.decide_pending(call.id, actor="vera", approve=True).status == "pending"
    with pytest.raises(Exception, match="already decided"):
        service.decide_pending(call.id, actor="vera", approve=True)
    assert service.decide_pending(call.id, actor="val2", approve=True).status == "approved"
    with pytest.raises(Conflict):
        service.decide_pending(call.id, actor="dana", approve=False)
    assert service.wait(call.id, 0.0) == "approved"
    service.record(call, outcome, status="done", result={"rows": 1}, latency_ms=2.0)
    service.flush()
    logged = service.get(call.id)
    assert (logged.status, logged.result, logged.approvals_needed) == ("done", {"rows": 1}, 2)


def test_approvers_need_the_role_once_users_exist(warden) -> None:
    warden.create_user("alice", "admin")
    warden.create_user("dana", "developer")
    service = warden.gateway
    service.policies = (loads(POLICY),)
    call = Call(AgentIdentity("bot"), "sql", {"query": "delete from t"})
    service.hold(call, service.decide(call))
    with pytest.raises(Exception, match=r"may not tool\.approve"):
        service.decide_pending(call.id, actor="dana", approve=True)
    assert service.decide_pending(call.id, actor="alice", approve=False).status == "denied"


def test_a_masking_policy_applies_to_logged_arguments_and_results(warden) -> None:
    from mlwarden.privacy.masking import MaskingPolicy

    service = warden.gateway
    service.default_masking = MaskingPolicy.from_dict(
        {"columns": {"customer.email": "drop", "customer.name": "redact"}}
    )
    call = Call(
        AgentIdentity("bot"),
        "crm_update",
        {"customer": {"email": "ann@example.com", "name": "Ann", "note": "call +1 415 555 0100"}},
    )
    outcome = service.decide(call)
    service.record(call, outcome, status="done", result=["mail ann@example.com"], latency_ms=1)
    service.flush()
    logged = service.get(call.id)
    assert logged.arguments == {"customer": {"name": "<REDACTED>", "note": "call <PHONE>"}}
    assert logged.result == ["mail <EMAIL>"]


def test_recent_calls_survive_a_restart_of_the_gateway(warden) -> None:
    from mlwarden.gateway.service import GatewayService

    service = warden.gateway
    service.policies = (loads(POLICY),)
    for _ in range(3):
        call = Call(AgentIdentity("bot"), "read", {})
        service.record(call, service.decide(call), status="done", latency_ms=1)
    service.flush()
    # a fresh service (a restarted gateway) reads the last minute back from the log
    fresh = GatewayService(
        service.store,
        service.audit,
        service.vault,
        masking=lambda agent: None,
        transaction=warden.db.transaction,
        policies=service.policies,
    )
    out = fresh.decide(Call(AgentIdentity("bot"), "read", {}))
    assert (out.decision, out.rules[0]["rule"]) == ("deny", "burst")


def test_a_rule_over_recent_tools_sees_the_agents_last_minute(warden) -> None:
    service = warden.gateway
    service.policies = (
        loads(
            "kind: agent\nname: r\nrules:\n  - id: read-then-send\n"
            "    when: tool.name == 'send' && 'read' in recent.tools\n    action: deny\n"
        ),
    )
    bot = AgentIdentity("bot")
    assert service.decide(Call(bot, "send", {})).decision == "allow"
    assert service.decide(Call(bot, "read", {})).decision == "allow"
    assert service.decide(Call(bot, "send", {})).decision == "deny"


def test_one_batch_logs_every_call_masked_with_its_own_audit_event(warden) -> None:
    service = warden.gateway
    calls = [
        Call(AgentIdentity(agent), "query", {"q": f"mail {agent}{i}@example.com"})
        for i in range(3)
        for agent in ("bot", "helper")
    ]
    for i, call in enumerate(calls):
        service.record(call, service.decide(call), status="done", result=[i], latency_ms=1)
    service.flush()
    logged = [service.get(c.id) for c in calls]
    assert [c.arguments for c in logged] == [{"q": "mail <EMAIL>"}] * len(calls)
    assert [c.result for c in logged] == [[i] for i in range(len(calls))]
    seqs = [c.audit_seq for c in logged]
    assert None not in seqs and len(set(seqs)) == len(calls)
    for c in logged:
        assert warden.audit.get(c.audit_seq).payload["call"] == c.id
