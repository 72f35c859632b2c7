"""Agents in the registry: an agent (instructions, tool allow-list, model name, policies) is a
registered model whose versions have the ``agent`` flavor and whose artifact is the agent's
spec as canonical JSON. So an agent is versioned, aliased, gated, promoted, rolled back and
audited by the registry's own code paths; this module only builds, checks and reads specs.

The spec's policies are parsed here, by the side that owns the store, before anything is
written: a version that is registered has policies a gateway can load. A gateway started
against ``NAME@alias`` takes the allow-list and policies from the version, never from flags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlwarden._hash import sha256_bytes
from mlwarden.entities.agents import AGENT_FLAVOR, KIND_TAG, AgentVersion
from mlwarden.entities.registry import Model, ModelVersion
from mlwarden.errors import NotFound, ValidationError
from mlwarden.gateway.policy import AgentPolicy, loads
from mlwarden.registry.refs import check_name
from mlwarden.registry.service import PreparedVersion, RegistryService
from mlwarden.store.registry_store import NewModel, NewVersion

FLAVOR = AGENT_FLAVOR
FORMAT = "mlwarden.agent/1"
#: bounds on what a spec may hold (the request body is bounded too, by the server)
MAX_INSTRUCTIONS = 64 * 1024
MAX_TOOLS = 256
MAX_POLICIES = 16
MAX_MODEL_NAME = 200
TOOL_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$")


@dataclass(frozen=True)
class AgentSpec:
    """What a client gives to register an agent version (policies as YAML texts)."""

    instructions: str
    tools: tuple[str, ...]
    model: str | None
    policies: tuple[str, ...]

    def check(self) -> tuple[AgentPolicy, ...]:
        """Refuse a spec out of bounds; the parsed policies (``ValidationError`` naming the
        field and, for a policy, its index, line and column)."""
        if not isinstance(self.instructions, str) or len(self.instructions) > MAX_INSTRUCTIONS:
            raise ValidationError(
                f"instructions must be text of at most {MAX_INSTRUCTIONS} characters",
                field="instructions",
            )
        if len(self.tools) > MAX_TOOLS:
            raise ValidationError(f"at most {MAX_TOOLS} tools", field="tools")
        for tool in self.tools:
            if not isinstance(tool, str) or not TOOL_RE.fullmatch(tool):
                raise ValidationError(
                    f"invalid tool name {tool!r}: 1-128 letters, digits, '_', '.', ':', '/', '-'",
                    field="tools",
                )
        if len(set(self.tools)) != len(self.tools):
            raise ValidationError("a tool is listed twice", field="tools")
        if self.model is not None and (
            not isinstance(self.model, str) or not 0 < len(self.model) <= MAX_MODEL_NAME
        ):
            raise ValidationError(
                f"model must be a name of 1-{MAX_MODEL_NAME} characters", field="model"
            )
        if len(self.policies) > MAX_POLICIES:
            raise ValidationError(f"at most {MAX_POLICIES} policies", field="policies")
        parsed = []
        for i, text in enumerate(self.policies):
            if not isinstance(text, str):
                raise ValidationError("each policy is YAML text", field=f"policies.{i}")
            parsed.append(loads(text, f"<policy {i}>"))
        names = [p.name for p in parsed]
        if len(set(names)) != len(names):
            raise ValidationError("two policies have the same name", field="policies")
        return tuple(parsed)

    def artifact(self) -> bytes:
        body = {
            "format": FORMAT,
            "instructions": self.instructions,
            "tools": list(self.tools),
            "model": self.model,
            "policies": list(self.policies),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class AgentRegistry:
    """Register and read agents through the ``RegistryService`` (one registry, two kinds)."""

    def __init__(
        self, registry: RegistryService, *, transaction: Callable[[], Any], events: Any
    ) -> None:
        self.registry = registry
        self._transaction = transaction
        self._events = events

    def prepare(
        self,
        name: str,
        spec: AgentSpec,
        *,
        actor: str,
        owner: str | None = None,
        risk_tier: str = "medium",
        description: str | None = None,
    ) -> PreparedVersion:
        check_name(name)
        policies = spec.check()
        data = spec.artifact()
        params = {
            "model": spec.model,
            "tools": list(spec.tools),
            "policies": [p.name for p in policies],
            "policy_sha256": [p.sha256 for p in policies],
        }
        lineage = {
            "flavor": FLAVOR,
            "estimator": FLAVOR,
            "registered_by": actor,
            "registered_at": datetime.now(UTC).isoformat(),
        }
        version = NewVersion(
            artifact_sha256=sha256_bytes(data),
            artifact_size=len(data),
            flavor=FLAVOR,
            flavor_info={"format": FORMAT},
            signature={"inputs": [], "output": {}},
            lineage=lineage,
            metrics={},
            params={k: v for k, v in params.items() if v is not None},
            description=description,
        )
        model = NewModel(name, owner, risk_tier, None, description, {KIND_TAG: FLAVOR})
        return PreparedVersion(name, data, model, version, evidence={})

    def register(
        self, name: str, spec: AgentSpec, *, actor: str, via: str | None = None, **kwargs: Any
    ) -> AgentVersion:
        """``prepare`` then the registry's ``commit`` (``model.create``, ``version.register``)
        plus an ``agent.register`` event naming the allow-list, model and policy hashes, all
        in one transaction."""
        prepared = self.prepare(name, spec, actor=actor, **kwargs)
        with self._transaction():
            mv = self.registry.commit(prepared, actor=actor, via=via)
            self._events(
                actor,
                "agent.register",
                mv.ref,
                {
                    "artifact_sha256": mv.artifact_sha256,
                    "tools": list(spec.tools),
                    "model": spec.model,
                    "policies": dict(
                        zip(mv.params["policies"], mv.params["policy_sha256"], strict=True)
                    ),
                },
            )
        return self._agent(mv)

    def get(self, ref: str) -> AgentVersion:
        mv = self.registry.get_version(ref)
        if mv.flavor != FLAVOR:
            raise ValidationError(f"{mv.ref} is a model, not an agent", field="ref")
        return self._agent(mv)

    def all(self) -> list[Model]:
        return [m for m in self.registry.list_models() if m.tags.get(KIND_TAG) == FLAVOR]

    def versions(self, name: str) -> list[AgentVersion]:
        return [self._agent(mv) for mv in self.registry.list_versions(name)]

    def policies(self, agent: AgentVersion) -> tuple[AgentPolicy, ...]:
        return tuple(
            loads(text, f"{agent.ref} policy {i}") for i, text in enumerate(agent.policies)
        )

    def _agent(self, mv: ModelVersion) -> AgentVersion:
        if mv.flavor != FLAVOR:
            raise ValidationError(f"{mv.ref} is a model, not an agent", field="ref")
        body = json.loads(self.registry.artifacts.get(mv.artifact_sha256, what=mv.ref))
        return AgentVersion(
            name=mv.name,
            version=mv.version,
            instructions=body["instructions"],
            tools=tuple(body["tools"]),
            model=body.get("model"),
            policies=tuple(body["policies"]),
            policy_names=tuple(mv.params.get("policies", ())),
            artifact_sha256=mv.artifact_sha256,
            status=mv.status,
            created_at=mv.created_at,
            created_by=mv.created_by,
            description=mv.description,
            aliases=tuple(mv.aliases),
        )


def is_agent(model: Model) -> bool:
    return model.tags.get(KIND_TAG) == FLAVOR


def policy_texts(policies: list[Any] | tuple[Any, ...] | None) -> tuple[str, ...]:
    """The YAML texts of ``policies``: a ``Path`` (or a one-line string ending in ``.yaml`` or
    ``.yml``) is read here, on the client's side; any other string is the policy's text."""
    from pathlib import Path

    out = []
    for p in policies or ():
        if isinstance(p, Path) or (
            isinstance(p, str) and "\n" not in p and p.endswith((".yaml", ".yml"))
        ):
            try:
                out.append(Path(p).read_text(encoding="utf-8"))
            except OSError as exc:
                raise NotFound(f"policy file {str(p)!r}: {exc.strerror}", file=str(p)) from None
        elif isinstance(p, str):
            out.append(p)
        else:
            raise ValidationError(
                f"a policy is a path or YAML text, got {type(p).__name__}", field="policies"
            )
    return tuple(out)
