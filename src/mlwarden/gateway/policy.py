"""Agent policies: ``kind: agent`` YAML files of CEL conditions over one tool call.

Same parser helpers, CEL runtime, limits and static checks as gate and monitoring policies
(``mlwarden.policy.loader``). A rule says when it fires and what happens then; of the rules
that fire, the strictest action wins (deny > approve > redact). A rule that cannot be
evaluated denies: a gateway that cannot tell must not let the call through.

.. code-block:: yaml

    kind: agent
    name: support-bot
    rules:
      - id: no-exfiltration
        when: tool.name == "http_post"
        action: deny
        message: agents may not send data out
      - id: risky-write
        when: tool.name == "sql" && args.query.matches("(?i)^\\s*(update|delete|insert)")
        action: approve
        approvals: 2            # two different people
      - id: rate
        when: recent.calls > 30
        action: deny
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cel
import yaml

from mlwarden import limits
from mlwarden.entities.agents import ALLOW, APPROVE, DENY, REDACT
from mlwarden.entities.policy import PASS, SKIPPED
from mlwarden.errors import NotFound
from mlwarden.policy.cost import largest_collection
from mlwarden.policy.evaluate import evaluate_rule
from mlwarden.policy.loader import (
    Rule,
    _check_keys,
    _line,
    _Problems,
    _scalar,
    compose_policy,
    parse_rules,
    rule_header,
    when_rule,
)
from mlwarden.policy.schema import Leaf, MapOf, Struct

KIND = "agent"
ACTIONS = (DENY, APPROVE, REDACT)
#: Strictest first: the first action here that any firing rule asks for is the decision.
_STRICTNESS = (DENY, APPROVE, REDACT)
MAX_APPROVALS = 5
_POLICY_KEYS = {"kind", "name", "description", "rules"}
_RULE_KEYS = {"id", "when", "action", "approvals", "message", "description"}

_S, _I = "string", "int"
AGENT_CONTEXT = Struct(
    {
        "tool": Struct(
            {"name": Leaf(_S, "the tool called"), "server": Leaf(_S, "the upstream it lives on")},
            "the tool",
        ),
        "args": MapOf(Leaf("dyn"), "argument", "the call's arguments, as the agent sent them"),
        "agent": Struct(
            {
                "name": Leaf(_S, "the agent's identity (its token's user, or --agent on stdio)"),
                "version": Leaf(_I, "registered agent version (absent if unregistered)"),
                "model": Leaf(_S, "the LLM the agent runs on (absent if not registered)"),
                "tools": Leaf("list", "the agent's tool allow-list (empty: any)"),
            },
            "who calls",
        ),
        "recent": Struct(
            {
                "calls": Leaf(_I, "the agent's calls in the last minute"),
                "denied": Leaf(_I, "of those, denied"),
                "tools": Leaf("list", "tools the agent called in the last minute, oldest first"),
            },
            "the agent's recent calls",
        ),
    }
)


@dataclass(frozen=True)
class AgentRule:
    rule: Rule  # the compiled condition (``rule.check`` is the ``when`` text)
    action: str
    approvals: int = 1

    @property
    def id(self) -> str:
        return self.rule.id


@dataclass(frozen=True)
class Outcome:
    """A policy's decision on one call: the action, the people it needs, and why."""

    decision: str
    approvals: int
    rules: tuple[dict[str, Any], ...]
    message: str = ""


@dataclass(frozen=True)
class AgentPolicy:
    name: str
    rules: tuple[AgentRule, ...]
    source: str = field(repr=False)
    path: str | None = None
    description: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def decide(self, context: dict[str, Any]) -> Outcome:
        """Evaluate every rule on one call's context (see ``AGENT_CONTEXT``)."""
        activation = cel.Context(context)
        # an agent chooses the arguments' sizes: re-bound each rule's cost when a list or
        # map is beyond the size its cost was checked at on load (the common case is not)
        largest = largest_collection(context)
        budget = largest > limits.CEL_NOMINAL_SIZE
        fired: list[tuple[AgentRule, str]] = []
        seen: list[dict[str, Any]] = []
        for r in self.rules:
            result = evaluate_rule(r.rule, activation, context, budget=budget, largest=largest)
            if result.verdict == PASS:  # the condition holds: the rule fires
                fired.append((r, r.action))
            elif result.verdict not in ("fail", SKIPPED):  # could not tell: deny
                fired.append((r, DENY))
            else:
                continue
            why = r.rule.message if result.verdict == PASS else result.message
            seen.append({"policy": self.name, "rule": r.id, "action": fired[-1][1], "why": why})
        for action in _STRICTNESS:
            chosen = [r for r, a in fired if a == action]
            if chosen:
                need = max(r.approvals for r in chosen) if action == APPROVE else 0
                return Outcome(action, need, tuple(seen), chosen[0].rule.message)
        return Outcome(ALLOW, 0, tuple(seen))


def _rule(node: yaml.Node, index: int, seen: set[str], problems: _Problems) -> AgentRule | None:
    header = rule_header(node, index, seen, problems, _RULE_KEYS)
    if header is None:
        return None
    items, rule_id = header
    action = _scalar(items["action"]) if "action" in items else None
    if action not in ACTIONS:
        problems.add(
            _line(items.get("action", node)),
            f"action must be one of {list(ACTIONS)}, got {action!r}",
            rule=rule_id,
        )
        action = DENY
    approvals = _scalar(items["approvals"]) if "approvals" in items else 1
    if (
        isinstance(approvals, bool)
        or not isinstance(approvals, int)
        or not 1 <= approvals <= MAX_APPROVALS
    ):
        problems.add(
            _line(items["approvals"]),
            f"approvals must be a whole number of people from 1 to {MAX_APPROVALS}",
            rule=rule_id,
        )
        approvals = 1
    rule = when_rule(node, items, rule_id, problems, AGENT_CONTEXT, str(action))
    if rule is None:
        return None
    return AgentRule(rule, str(action), approvals)


def loads(text: str, filename: str = "<string>") -> AgentPolicy:
    """Parse and check an agent policy; ``ValidationError`` lists every problem."""
    problems = _Problems(filename)
    root, items = compose_policy(text, problems)
    kind = _scalar(items["kind"]) if "kind" in items else None
    if kind != KIND:
        problems.add(
            _line(items.get("kind", root)),
            f"an agent policy starts with 'kind: {KIND}' (got {kind!r})",
        )
        problems.raise_if_any()
    _check_keys(items, _POLICY_KEYS, "the policy", problems)
    name = _scalar(items["name"]) if "name" in items else None
    if not isinstance(name, str) or not name.strip():
        problems.add(_line(items.get("name", root)), "the policy needs a 'name' (a string)")
    rules: list[AgentRule] = parse_rules(root, items, problems, _rule)
    problems.raise_if_any()
    description = _scalar(items["description"]) if "description" in items else None
    return AgentPolicy(str(name), tuple(rules), text, None, description)


def load(path: str | Path) -> AgentPolicy:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"policy file {str(p)!r} does not exist", file=str(p)) from None
    loaded = loads(text, filename=str(p))
    return AgentPolicy(loaded.name, loaded.rules, text, str(p), loaded.description)
