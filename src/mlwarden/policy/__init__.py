"""Policy gates: YAML files of CEL rules over a version's evidence, decisions, promotion.

``mw.policy.load("production-gate")`` loads a shipped policy (or a file); ``Warden.check``,
``promote`` and ``rollback`` use them. See docs/policies.md. The service
(``mlwarden.policy.service``) is not imported here: the SQL store imports this package's types.
"""

from mlwarden.entities.policy import Decision, Promotion, RuleResult
from mlwarden.policy.evaluate import evaluate
from mlwarden.policy.loader import Policy, Rule, examples, load, load_file, loads
from mlwarden.policy.schema import CONTEXT, reference_rows

__all__ = [
    "CONTEXT",
    "Decision",
    "Policy",
    "Promotion",
    "Rule",
    "RuleResult",
    "evaluate",
    "examples",
    "load",
    "load_file",
    "loads",
    "reference_rows",
]
