"""Policies as YAML files: parsed with line numbers, every rule compiled and checked on load.

A policy that loads is one whose rules all parse, read only keys the context has, and yield a
boolean (as far as the schema can tell). Problems are reported together, each with its file,
line and column, so a policy author fixes them in one pass.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from mlwarden import _yaml
from mlwarden.entities.policy import SEVERITIES
from mlwarden.errors import NotFound, PolicyError, ValidationError
from mlwarden.policy.analysis import analyse, line_col, unknown_functions
from mlwarden.policy.guard import compile_cel
from mlwarden.policy.schema import Struct

EXAMPLES = Path(__file__).parent / "examples"
_POLICY_KEYS = {"name", "description", "applies_to", "rules", "verified"}
_RULE_KEYS = {"id", "check", "message", "severity", "description"}
_APPLIES_KEYS = {"risk_tier", "name", "tags"}
_CEL_POS = re.compile(r"<input>:(\d+):(\d+): (.*)")
_VERIFIED_NAME = re.compile(r"(metrics\.)?[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class Rule:
    id: str
    check: str
    severity: str
    message: str
    line: int
    paths: tuple[str, ...]
    program: Any = field(repr=False, compare=False)
    description: str | None = None


@dataclass(frozen=True)
class Policy:
    """A loaded policy. ``sha256`` is over the source text, so ``sha256sum FILE`` matches it."""

    name: str
    rules: tuple[Rule, ...]
    applies_to: dict[str, Any]
    source: str = field(repr=False)
    path: str | None = None
    description: str | None = None

    @cached_property
    def reads(self) -> tuple[str, ...]:
        """Every path the rules read, without paths inside another (``a.b`` covers ``a.b.c``):
        the context builder builds only these."""
        paths = sorted({p for r in self.rules for p in r.paths})
        kept: list[str] = []
        for p in paths:  # sorted: a prefix comes before the paths it covers
            if not any(p == k or p.startswith(k + ".") for k in kept):
                kept.append(p)
        return tuple(kept)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def applies(self, model: Any) -> bool:
        """Whether this policy governs ``model`` (a ``Model``); no ``applies_to`` means all."""
        tiers = self.applies_to.get("risk_tier")
        if tiers is not None and model.risk_tier not in tiers:
            return False
        names = self.applies_to.get("name")
        if names is not None and not any(fnmatch.fnmatchcase(model.name, p) for p in names):
            return False
        tags = self.applies_to.get("tags") or {}
        return all(model.tags.get(k) == v for k, v in tags.items())

    def to_dict(self) -> dict[str, Any]:
        # a summary for readers (hash, each rule with the paths it reads), not the fields
        return {
            "name": self.name,
            "sha256": self.sha256,
            "path": self.path,
            "description": self.description,
            "applies_to": self.applies_to,
            "rules": [
                {
                    "id": r.id,
                    "check": r.check,
                    "severity": r.severity,
                    "message": r.message,
                    "line": r.line,
                    "reads": list(r.paths),
                }
                for r in self.rules
            ],
        }


class _Problems:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.items: list[dict[str, Any]] = []
        self.over_limit = False  # a rule or the document is beyond mlwarden.limits

    def add(self, line: int, message: str, *, column: int | None = None, rule: str | None = None):
        where = f"{self.filename}:{line}" + (f":{column}" if column else "")
        text = f"{where}: " + (f"rule {rule!r}: " if rule else "") + message
        self.items.append(
            {"file": self.filename, "line": line, "column": column, "rule": rule, "message": text}
        )

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]["message"]
        more = f" (and {len(self.items) - 1} more problems)" if len(self.items) > 1 else ""
        raise (PolicyError if self.over_limit else ValidationError)(
            f"invalid policy {first}{more}",
            file=self.filename,
            line=self.items[0]["line"],
            rule=self.items[0]["rule"],
            field="policy",
            problems=self.items,
        )


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: yaml.Node) -> Any:
    return _yaml.load(yaml.serialize(node)) if node is not None else None


def _mapping(node: yaml.Node, what: str, problems: _Problems) -> dict[str, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        problems.add(_line(node), f"{what} must be a mapping")
        return None
    out: dict[str, yaml.Node] = {}
    for key, value in node.value:
        out[str(key.value)] = value
    return out


def _check_keys(
    items: dict[str, yaml.Node], allowed: set[str], what: str, problems: _Problems, **kw: Any
) -> None:
    for key, value in items.items():
        if key not in allowed:
            problems.add(
                _line(value),
                f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})",
                **kw,
            )


def _expr_position(node: yaml.ScalarNode, line: int, column: int) -> tuple[int, int]:
    """Map a 1-based line/column inside the check text to the file."""
    mark = node.start_mark
    if node.style in ("|", ">"):  # block scalar: the text starts on the next line, indented
        file_line = mark.line + line  # 0-based index of the line in the file
        lines = (mark.buffer or "").split("\n")
        text = lines[file_line] if file_line < len(lines) else ""
        return file_line + 1, column + len(text) - len(text.lstrip(" "))
    if line == 1:
        return mark.line + 1, mark.column + column + (1 if node.style in ("'", '"') else 0)
    return mark.line + line, column


def rule_header(
    node: yaml.Node, index: int, seen: set[str], problems: _Problems, keys: Any
) -> tuple[dict[str, yaml.Node], str] | None:
    """A rule's keys and its id: present, unique in the file, and no unknown keys beside it."""
    items = _mapping(node, f"rule #{index + 1}", problems)
    if items is None:
        return None
    rule_id = _scalar(items["id"]) if "id" in items else None
    if not isinstance(rule_id, str) or not rule_id.strip():
        problems.add(_line(node), f"rule #{index + 1} needs an 'id' (a non-empty string)")
        return None
    if rule_id in seen:
        problems.add(_line(items["id"]), f"duplicate rule id {rule_id!r}", rule=rule_id)
    seen.add(rule_id)
    _check_keys(items, keys, f"rule {rule_id!r}", problems, rule=rule_id)
    return items, rule_id


def cel_limit(
    node: yaml.ScalarNode, text: str, exc: PolicyError, rule_id: str, problems: _Problems
) -> None:
    """Record a rule beyond the CEL limits at its place in the file."""
    line, col = _expr_position(node, *line_col(text, exc.details.get("pos", 0)))
    problems.add(line, exc.message, column=col, rule=rule_id)
    problems.over_limit = True


def compile_when(
    node: yaml.ScalarNode, text: str, rule_id: str, problems: _Problems, schema: Struct
) -> tuple[Any, tuple[str, ...]]:
    """Compile a ``when`` condition (monitoring and agent policies) and check it against
    ``schema``; ``(None, ())`` when it cannot be compiled, its problems recorded."""
    try:
        program = compile_cel(text)
    except PolicyError as exc:
        cel_limit(node, text, exc, rule_id, problems)
        return None, ()
    except (ValueError, RuntimeError) as exc:
        m = _CEL_POS.search(str(exc))
        if m:
            line, col = _expr_position(node, int(m.group(1)), int(m.group(2)))
            problems.add(line, f"syntax error: {m.group(3)}", column=col, rule=rule_id)
        else:
            problems.add(_line(node), f"syntax error: {exc}", rule=rule_id)
        return None, ()
    result = analyse(text, program.variables(), schema)
    for issue in result.issues + unknown_functions(text, program.functions()):
        line, col = _expr_position(node, *line_col(text, issue.pos))
        problems.add(line, issue.message, column=col, rule=rule_id)
    if result.type not in ("bool", "dyn"):
        problems.add(
            _line(node),
            f"'when' must be a boolean condition, but it yields a {result.type}: {text}",
            rule=rule_id,
        )
    return program, tuple(result.paths)


def _compile_rule(node: yaml.Node, index: int, seen: set[str], problems: _Problems) -> Rule | None:
    header = rule_header(node, index, seen, problems, _RULE_KEYS)
    if header is None:
        return None
    items, rule_id = header
    severity = _scalar(items["severity"]) if "severity" in items else "error"
    if severity not in SEVERITIES:
        problems.add(
            _line(items["severity"]),
            f"severity must be one of {list(SEVERITIES)}, got {severity!r}",
            rule=rule_id,
        )
    check_node = items.get("check")
    check = _scalar(check_node) if check_node is not None else None
    if not isinstance(check, str) or not check.strip():
        problems.add(_line(check_node or node), "needs a 'check' (a CEL expression)", rule=rule_id)
        return None
    assert isinstance(check_node, yaml.ScalarNode)
    check = check.strip("\n")
    try:
        program = compile_cel(check)
    except PolicyError as exc:
        cel_limit(check_node, check, exc, rule_id, problems)
        return None
    except (ValueError, RuntimeError) as exc:
        text = str(exc)
        m = _CEL_POS.search(text)
        if m:
            line, col = _expr_position(check_node, int(m.group(1)), int(m.group(2)))
            problems.add(line, f"syntax error: {m.group(3)}", column=col, rule=rule_id)
        else:
            problems.add(_line(check_node), f"syntax error: {text}", rule=rule_id)
        return None
    result = analyse(check, program.variables())
    for issue in result.issues + unknown_functions(check, program.functions()):
        line, col = _expr_position(check_node, *line_col(check, issue.pos))
        problems.add(line, issue.message, column=col, rule=rule_id)
    if result.type not in ("bool", "dyn"):
        problems.add(
            _line(check_node),
            f"the check must be a boolean condition, but it yields a {result.type}: {check}",
            rule=rule_id,
        )
    message = _scalar(items["message"]) if "message" in items else None
    return Rule(
        id=rule_id,
        check=check,
        severity=severity if severity in SEVERITIES else "error",
        message=str(message) if message is not None else f"check failed: {check}",
        line=_line(node),
        paths=tuple(result.paths),
        program=program,
        description=_scalar(items["description"]) if "description" in items else None,
    )


def _applies_to(node: yaml.Node, problems: _Problems) -> dict[str, Any]:
    items = _mapping(node, "applies_to", problems)
    if items is None:
        return {}
    _check_keys(items, _APPLIES_KEYS, "applies_to", problems)
    out: dict[str, Any] = {}
    for key in ("risk_tier", "name"):
        if key in items:
            value = _scalar(items[key])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.add(_line(items[key]), f"applies_to.{key} must be a string or a list")
                continue
            if key == "risk_tier":
                from mlwarden.entities import RISK_TIERS

                for tier in value:
                    if tier not in RISK_TIERS:
                        problems.add(
                            _line(items[key]),
                            f"unknown risk tier {tier!r} (use {', '.join(RISK_TIERS)})",
                        )
            out[key] = value
    if "tags" in items:
        tags = _scalar(items["tags"])
        if not isinstance(tags, dict):
            problems.add(_line(items["tags"]), "applies_to.tags must be a mapping")
        else:
            out["tags"] = {str(k): str(v) for k, v in tags.items()}
    return out


def _verified_rules(node: yaml.Node, problems: _Problems) -> list[Rule]:
    """``verified: [metrics.roc_auc, fairness]``: one error rule per name, passing only when
    the server measured it (a metric or evidence kind a client only asserted fails)."""
    names = _scalar(node)
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names:
        problems.add(_line(node), "verified must be a non-empty list of names")
        return []
    out: list[Rule] = []
    for name in names:
        if not isinstance(name, str) or not _VERIFIED_NAME.fullmatch(name):
            problems.add(
                _line(node),
                f"verified: {name!r} is not `metrics.NAME` or an evidence kind (e.g. fairness)",
            )
            continue
        check = f'"{name}" in version.verified'
        out.append(
            Rule(
                id=f"verified:{name}",
                check=check,
                severity="error",
                message=f"{name} must be measured by the server, not only asserted by a client",
                line=_line(node),
                paths=("version.verified",),
                program=compile_cel(check),
            )
        )
    return out


def parse_rules(
    root: yaml.Node, items: dict[str, yaml.Node], problems: _Problems, parse_one: Any
) -> list[Any]:
    """Each entry of the non-empty ``rules`` list through ``parse_one(node, index, seen,
    problems)``; entries it rejects (``None``) are left out, their problems recorded."""
    rules: list[Any] = []
    rules_node = items.get("rules")
    if not isinstance(rules_node, yaml.SequenceNode) or not rules_node.value:
        problems.add(_line(rules_node or root), "the policy needs 'rules' (a non-empty list)")
        return rules
    seen: set[str] = set()
    for i, node in enumerate(rules_node.value):
        rule = parse_one(node, i, seen, problems)
        if rule is not None:
            rules.append(rule)
    return rules


def compose_policy(text: str, problems: _Problems) -> tuple[yaml.Node, dict[str, yaml.Node]]:
    """The YAML document's root node and its top-level keys (with line marks); a syntax
    error or an empty or non-mapping document is raised at once with its line."""
    try:
        root = _yaml.compose(text)
    except yaml.YAMLError as exc:  # a ReaderError (a control character) has no line mark
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or exc
        problems.add(mark.line + 1 if mark else 1, f"YAML error: {problem}")
        problems.over_limit = isinstance(exc, _yaml.YamlLimitError)
        problems.raise_if_any()
        raise AssertionError("unreachable") from exc
    if root is None:
        problems.add(1, "the policy file is empty")
        problems.raise_if_any()
    items = _mapping(root, "a policy", problems)
    problems.raise_if_any()
    assert items is not None
    return root, items


def loads(text: str, filename: str = "<string>") -> Policy:
    """Parse and check a policy from YAML text; ``ValidationError`` lists every problem."""
    problems = _Problems(filename)
    root, items = compose_policy(text, problems)
    _check_keys(items, _POLICY_KEYS, "the policy", problems)
    name = _scalar(items["name"]) if "name" in items else None
    if not isinstance(name, str) or not name.strip():
        problems.add(_line(items.get("name", root)), "the policy needs a 'name' (a string)")
    applies = _applies_to(items["applies_to"], problems) if "applies_to" in items else {}
    rules: list[Rule] = parse_rules(root, items, problems, _compile_rule)
    if "verified" in items:
        rules = _verified_rules(items["verified"], problems) + rules
    problems.raise_if_any()
    description = _scalar(items["description"]) if "description" in items else None
    return Policy(str(name), tuple(rules), applies, text, None, description)


def load_file(path: str | Path) -> Policy:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"policy file {str(p)!r} does not exist", file=str(p)) from None
    policy = loads(text, filename=str(p))
    return Policy(policy.name, policy.rules, policy.applies_to, text, str(p), policy.description)


def examples() -> list[str]:
    """Names of the policies shipped with Warden."""
    return sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def load(policy: str | Path | Policy) -> Policy:
    """A policy file's path, a shipped example's name (``"production-gate"``), or a Policy."""
    if isinstance(policy, Policy):
        return policy
    p = Path(policy)
    if p.suffix in (".yaml", ".yml") or p.exists() or "/" in str(policy):
        return load_file(p)
    shipped = EXAMPLES / f"{policy}.yaml"
    if shipped.exists():
        return load_file(shipped)
    raise NotFound(
        f"no policy file {str(policy)!r} and no shipped policy of that name "
        f"(shipped: {', '.join(examples())})",
        policy=str(policy),
    )
