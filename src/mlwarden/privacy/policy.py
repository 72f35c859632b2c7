"""The masking policy's shape: rules per column and per entity type, parsed from YAML.

```yaml
version: 1
default: keep            # action for columns no rule mentions
key_version: 1           # optional; the key ring's current version otherwise
columns:
  email: pseudonymize
  age: {action: generalize, kind: age, width: 10, top: 90}
  postcode: {action: generalize, kind: postcode, keep: 3}
  notes: {action: redact, spans: true}
  ssn: drop
entities:                # applies to columns of that entity and to spans in free text
  PERSON: redact
column_entities:         # usually filled in from a PrivacyReport
  contact: EMAIL
```

Every validation error names the column (or entity) and the action at fault.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlwarden.errors import ValidationError

ACTIONS = ("redact", "pseudonymize", "generalize", "drop", "keep")
KINDS = ("age", "postcode", "date")
# Which generalization suits an entity when the policy does not say.
KIND_OF_ENTITY = {"DATE_OF_BIRTH": "date", "POSTCODE": "postcode"}
_OPTIONS = {
    "redact": {"spans"},
    "pseudonymize": {"spans"},
    "generalize": {"kind", "width", "top", "keep"},
    "drop": set(),
    "keep": set(),
}
_TOP_LEVEL = {"version", "default", "key_version", "columns", "entities", "column_entities"}


@dataclass(frozen=True)
class Rule:
    """What to do with one column (or every column / span of one entity type).

    action : one of ``ACTIONS``.
    spans : for free text, apply the action to the PII spans found inside each value rather
        than to the whole value (``redact`` → ``<EMAIL>`` etc., ``pseudonymize`` → ``pz1:…``).
    kind : for ``generalize``: ``age`` (bands), ``postcode`` (prefix) or ``date`` (month).
    width : age band width (``30-39`` for 10); top : ages from here are ``90+``.
    keep : postcode characters kept.
    """

    action: str
    spans: bool = False
    kind: str | None = None
    width: int = 10
    top: int | None = None
    keep: int = 3

    def to_dict(self) -> dict[str, Any] | str:
        # the shortest form: the action alone when every other setting is its default
        defaults = Rule(self.action)
        out = {k: v for k, v in asdict(self).items() if v != getattr(defaults, k)}
        return {"action": self.action, **out} if out else self.action


def parse_rule(where: str, spec: Any, entity: str | None = None) -> Rule:
    """One rule from ``"drop"`` or ``{action: generalize, ...}``; ``where`` names it in errors."""
    if isinstance(spec, str):
        spec = {"action": spec}
    if not isinstance(spec, dict):
        raise ValidationError(
            f"{where}: a rule is an action name or a mapping, not {type(spec).__name__}",
            field=where,
        )
    action = spec.get("action")
    if action not in ACTIONS:
        raise ValidationError(
            f"{where}: unknown action {action!r}; expected one of {', '.join(ACTIONS)}",
            field=where,
            action=action,
        )
    unknown = set(spec) - {"action"} - _OPTIONS[action]
    if unknown:
        raise ValidationError(
            f"{where}: option(s) {sorted(unknown)} do not apply to action {action!r}",
            field=where,
            action=action,
        )
    kind = spec.get("kind")
    if action == "generalize":
        kind = kind or KIND_OF_ENTITY.get(entity or "")
        if kind not in KINDS:
            raise ValidationError(
                f"{where}: action 'generalize' needs kind: one of {', '.join(KINDS)} "
                f"(got {kind!r})",
                field=where,
                action=action,
            )
    for option in ("width", "keep", "top"):
        value = spec.get(option)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ValidationError(
                f"{where}: action {action!r} option {option!r} must be a positive integer",
                field=where,
                action=action,
            )
    spans = spec.get("spans", False)
    if not isinstance(spans, bool):
        raise ValidationError(
            f"{where}: action {action!r} option 'spans' must be true or false",
            field=where,
            action=action,
        )
    return Rule(
        action=action,
        spans=spans,
        kind=kind,
        width=spec.get("width", 10),
        top=spec.get("top"),
        keep=spec.get("keep", 3),
    )


def parse_policy(data: Any) -> dict[str, Any]:
    """Validate a loaded YAML document; returns the keyword arguments of ``MaskingPolicy``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError("a masking policy is a YAML mapping", field="policy")
    unknown = set(data) - _TOP_LEVEL
    if unknown:
        raise ValidationError(f"unknown masking-policy key(s) {sorted(unknown)}", field="policy")
    if data.get("version", 1) != 1:
        raise ValidationError(
            f"unsupported masking-policy version {data['version']!r}", field="version"
        )
    default = data.get("default", "keep")
    if default not in ("keep", "drop", "redact"):
        raise ValidationError(
            f"default: action {default!r} is not allowed; use keep, drop or redact",
            field="default",
            action=default,
        )
    column_entities = data.get("column_entities") or {}
    if not isinstance(column_entities, dict):
        raise ValidationError(
            "column_entities must map columns to entity types", field="column_entities"
        )
    sections = {}
    for section in ("columns", "entities"):
        raw = data.get(section) or {}
        if not isinstance(raw, dict):
            raise ValidationError(f"{section} must be a mapping", field=section)
        sections[section] = {
            str(name): parse_rule(
                f"{section[:-1] if section == 'columns' else 'entity'} {name!r}",
                spec,
                entity=column_entities.get(name) if section == "columns" else str(name),
            )
            for name, spec in raw.items()
        }
    key_version = data.get("key_version")
    if key_version is not None and (not isinstance(key_version, int) or key_version < 1):
        raise ValidationError("key_version must be a positive integer", field="key_version")
    return {
        "columns": sections["columns"],
        "entities": sections["entities"],
        "default": default,
        "key_version": key_version,
        "column_entities": {str(k): str(v) for k, v in column_entities.items()},
    }
