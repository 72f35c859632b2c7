"""Monitoring policies, alerts, webhooks and Prometheus metrics (docs/alerts.md).

``kind: monitoring`` policies are CEL conditions over stored monitoring windows
(:mod:`mlwarden.alerts.policy`); :class:`~mlwarden.alerts.service.AlertService` evaluates them
with hysteresis, cooldown and de-duplication and runs their actions (alert, rollback, block).
"""

from mlwarden.alerts.policy import MonitoringPolicy, MonitorRule, load, loads
from mlwarden.alerts.signing import WebhookRejected, WebhookVerifier, sign, verify
from mlwarden.entities.alerts import Alert, Channel, Delivery, Evaluation, RuleOutcome

__all__ = [
    "Alert",
    "Channel",
    "Delivery",
    "Evaluation",
    "MonitorRule",
    "MonitoringPolicy",
    "RuleOutcome",
    "WebhookRejected",
    "WebhookVerifier",
    "load",
    "loads",
    "sign",
    "verify",
]
