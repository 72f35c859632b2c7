"""Monitoring policies: ``kind: monitoring`` YAML files of CEL conditions over a window.

The file format mirrors gate policies (``mlwarden.policy``: same parser helpers, same CEL,
same static checks against a schema, problems reported together with file, line and column);
a rule says when it *fires* (``when``) instead of what must hold, and what to do then:

.. code-block:: yaml

    kind: monitoring
    name: credit-drift
    applies_to: {risk_tier: [high]}
    alias: production          # the version monitored (and rolled back)
    window: 1d                 # which stored windows to read (default: the latest computed)
    rules:
      - id: feature-drift
        when: drift.share_drifted > 0.3
        severity: critical     # warning (default) or critical
        actions: [alert, rollback]
        for: 2                 # fire after 2 consecutive windows (hysteresis)
        cooldown: 1h           # no new firing within 1h of the last one resolving
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from mlwarden.alerts.schema import MONITOR_CONTEXT
from mlwarden.errors import NotFound, ValidationError
from mlwarden.policy.loader import (
    Rule,
    _applies_to,
    _check_keys,
    _line,
    _mapping,
    _Problems,
    _scalar,
    compile_when,
    compose_policy,
    parse_rules,
    rule_header,
)
from mlwarden.registry.refs import check_alias

KIND = "monitoring"
SEVERITIES = ("warning", "critical")
ACTIONS = ("alert", "rollback", "block")
_POLICY_KEYS = {
    "kind", "name", "description", "applies_to", "alias", "window", "channels", "rules"
}  # fmt: skip
_RULE_KEYS = {"id", "when", "message", "severity", "actions", "for", "cooldown", "description"}
CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_DURATION = re.compile(r"^(\d+)(s|min|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: Any, what: str = "cooldown") -> timedelta:
    """``30s``, ``10min`` (or ``10m``), ``1h``, ``2d``; a bare number is seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool) and text >= 0:
        return timedelta(seconds=float(text))
    m = _DURATION.match(str(text).strip())
    if not m:
        raise ValidationError(
            f"invalid {what} {text!r}: use N followed by s, min, h or d (e.g. 30min)", field=what
        )
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


@dataclass(frozen=True)
class MonitorRule:
    rule: Rule  # the compiled condition (``rule.check`` is the ``when`` text)
    severity: str = "warning"
    actions: tuple[str, ...] = ("alert",)
    for_windows: int = 1
    cooldown: timedelta = timedelta(0)

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def when(self) -> str:
        return self.rule.check

    @property
    def message(self) -> str:
        return self.rule.message


@dataclass(frozen=True)
class MonitoringPolicy:
    name: str
    rules: tuple[MonitorRule, ...]
    applies_to: dict[str, Any]
    source: str = field(repr=False)
    alias: str = "production"
    window: str | None = None
    channels: tuple[str, ...] = ()  # names of installed channels (mlwarden.alerts.channels)
    path: str | None = None
    description: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    @cached_property
    def reads(self) -> tuple[str, ...]:
        return tuple(sorted({p for r in self.rules for p in r.rule.paths}))

    @property
    def history_needed(self) -> int:
        """Windows to read: the longest hysteresis of any rule."""
        return max((r.for_windows for r in self.rules), default=1)

    def applies(self, model: Any) -> bool:
        from mlwarden.policy.loader import Policy

        return Policy(self.name, (), self.applies_to, self.source).applies(model)

    def to_dict(self) -> dict[str, Any]:
        # a summary for readers (hash, channels, each rule), not the fields
        return {
            "kind": KIND,
            "name": self.name,
            "sha256": self.sha256,
            "path": self.path,
            "description": self.description,
            "applies_to": self.applies_to,
            "alias": self.alias,
            "window": self.window,
            "channels": list(self.channels),
            "rules": [
                {
                    "id": r.id,
                    "when": r.when,
                    "severity": r.severity,
                    "actions": list(r.actions),
                    "for": r.for_windows,
                    "cooldown_s": r.cooldown.total_seconds(),
                    "message": r.message,
                    "line": r.rule.line,
                    "reads": list(r.rule.paths),
                }
                for r in self.rules
            ],
        }


def _compile_when(node: yaml.ScalarNode, text: str, rule_id: str, problems: _Problems) -> Any:
    return compile_when(node, text, rule_id, problems, MONITOR_CONTEXT)


def _actions(node: yaml.Node | None, rule_id: str, problems: _Problems) -> tuple[str, ...]:
    if node is None:
        return ("alert",)
    value = _scalar(node)
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.add(_line(node), "actions must be a name or a list of names", rule=rule_id)
        return ("alert",)
    for v in value:
        if v not in ACTIONS:
            problems.add(
                _line(node), f"unknown action {v!r} (use {', '.join(ACTIONS)})", rule=rule_id
            )
    # Every rule alerts: a rollback or block nobody hears about is worse than none.
    return tuple(dict.fromkeys(["alert", *[v for v in value if v in ACTIONS]]))


def _rule(node: yaml.Node, index: int, seen: set[str], problems: _Problems) -> MonitorRule | None:
    header = rule_header(node, index, seen, problems, _RULE_KEYS)
    if header is None:
        return None
    items, rule_id = header
    if "check" in items:
        problems.add(
            _line(items["check"]),
            "monitoring rules say when they fire: use 'when', not 'check'",
            rule=rule_id,
        )
    severity = _scalar(items["severity"]) if "severity" in items else "warning"
    if severity not in SEVERITIES:
        problems.add(
            _line(items["severity"]),
            f"severity must be one of {list(SEVERITIES)}, got {severity!r}",
            rule=rule_id,
        )
        severity = "warning"
    for_windows = _scalar(items["for"]) if "for" in items else 1
    if isinstance(for_windows, bool) or not isinstance(for_windows, int) or for_windows < 1:
        problems.add(
            _line(items["for"]), "'for' must be a whole number of windows, ≥ 1", rule=rule_id
        )
        for_windows = 1
    cooldown = timedelta(0)
    if "cooldown" in items:
        try:
            cooldown = parse_duration(_scalar(items["cooldown"]))
        except ValidationError as exc:
            problems.add(_line(items["cooldown"]), exc.message, rule=rule_id)
    actions = _actions(items.get("actions"), rule_id, problems)
    when_node = items.get("when")
    text = _scalar(when_node) if when_node is not None else None
    if not isinstance(text, str) or not text.strip():
        problems.add(_line(when_node or node), "needs 'when' (a CEL condition)", rule=rule_id)
        return None
    assert isinstance(when_node, yaml.ScalarNode)
    text = text.strip("\n")
    program, paths = _compile_when(when_node, text, rule_id, problems)
    if program is None:
        return None
    message = _scalar(items["message"]) if "message" in items else None
    rule = Rule(
        id=rule_id,
        check=text,
        severity="error",
        message=str(message) if message is not None else f"fired: {text}",
        line=_line(node),
        paths=paths,
        program=program,
        description=_scalar(items["description"]) if "description" in items else None,
    )
    return MonitorRule(rule, severity, actions, for_windows, cooldown)


def _channels(node: yaml.Node, problems: _Problems) -> tuple[str, ...]:
    """Names of installed channels: ``[ops, log]`` (or ``- name: ops``). A policy naming a
    URL, a format or an environment variable is refused: whoever submits a policy would
    otherwise choose where the server sends requests and which secret signs them."""
    if not isinstance(node, yaml.SequenceNode):
        problems.add(_line(node), "channels must be a list of installed channel names")
        return ()
    out: list[str] = []
    for i, item in enumerate(node.value):
        name: Any = None
        if isinstance(item, yaml.MappingNode):
            items = _mapping(item, f"channel #{i + 1}", problems)
            if items is None:
                continue
            inline = sorted(set(items) - {"name"})
            if inline:
                problems.add(
                    _line(item),
                    f"channel #{i + 1} sets {', '.join(inline)}: a policy names installed "
                    "channels only (an admin installs URL, format and secret_env with "
                    "`mlwarden alerts channels add`)",
                )
                continue
            name = _scalar(items["name"]) if "name" in items else None
        elif isinstance(item, yaml.ScalarNode):
            name = _scalar(item)
        if not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name):
            problems.add(
                _line(item),
                f"channel #{i + 1} must be the name of an installed channel, got {name!r}",
            )
            continue
        out.append(name)
    return tuple(dict.fromkeys(out))


def loads(text: str, filename: str = "<string>") -> MonitoringPolicy:
    """Parse and check a monitoring policy; ``ValidationError`` lists every problem."""
    problems = _Problems(filename)
    root, items = compose_policy(text, problems)
    kind = _scalar(items["kind"]) if "kind" in items else None
    if kind != KIND:
        problems.add(
            _line(items.get("kind", root)),
            f"a monitoring policy starts with 'kind: {KIND}' (got {kind!r}); "
            "gate policies load with mlwarden.policy.load",
        )
        problems.raise_if_any()
    _check_keys(items, _POLICY_KEYS, "the policy", problems)
    name = _scalar(items["name"]) if "name" in items else None
    if not isinstance(name, str) or not name.strip():
        problems.add(_line(items.get("name", root)), "the policy needs a 'name' (a string)")
    applies = _applies_to(items["applies_to"], problems) if "applies_to" in items else {}
    alias = str(_scalar(items["alias"])) if "alias" in items else "production"
    try:
        check_alias(alias)
    except ValidationError as exc:
        problems.add(_line(items["alias"]), exc.message)
    window = _scalar(items["window"]) if "window" in items else None
    if window is not None:
        from mlwarden.monitor.windows import parse_window

        try:
            parse_window(str(window))
        except ValidationError as exc:
            problems.add(_line(items["window"]), exc.message)
    channels = _channels(items["channels"], problems) if "channels" in items else ()
    rules: list[MonitorRule] = parse_rules(root, items, problems, _rule)
    problems.raise_if_any()
    description = _scalar(items["description"]) if "description" in items else None
    return MonitoringPolicy(
        name=str(name),
        rules=tuple(rules),
        applies_to=applies,
        source=text,
        alias=alias,
        window=None if window is None else str(window),
        channels=channels,
        path=None,
        description=description,
    )


def load(policy: str | Path | MonitoringPolicy) -> MonitoringPolicy:
    """A monitoring policy from a file path (or a loaded one, returned as is)."""
    if isinstance(policy, MonitoringPolicy):
        return policy
    p = Path(policy)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"policy file {str(p)!r} does not exist", file=str(p)) from None
    loaded = loads(text, filename=str(p))
    return MonitoringPolicy(**{**loaded.__dict__, "path": str(p)})
