"""Monitoring policies over stored windows: hysteresis, cooldown, de-duplication, actions.

One evaluation reads, per policy and model, the newest stored windows of the version behind
the policy's alias and runs every rule on them:

- a rule *fires* when its condition holds on each of its last ``for`` windows (hysteresis);
- while an alert is firing it is not fired (nor sent) again: it stays one alert, updated;
- it *resolves* when the condition no longer holds on the newest window, or when its version
  no longer serves behind the alias (after a rollback, say); the resolution is sent too;
- after resolving, the same rule on the same version does not fire again within ``cooldown``
  (a flapping metric pages once, not every window);
- a window the rule cannot evaluate (no labels yet for ``performance``) changes nothing.

Firing runs the rule's actions in order: ``rollback`` (``PolicyService.rollback``, audited as
the acting user), ``block`` (the version's status becomes ``blocked``: promotions to it are
refused) and the notifications. State lives in the ``alerts`` table, so several evaluators
(replicas, a cron job and a server) agree: a partial unique index lets one of two concurrent
firings of the same alert win.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import cel

from mlwarden._json import jsonable
from mlwarden._time import utcnow
from mlwarden.access import Recorder
from mlwarden.access.recorder import version_subject
from mlwarden.access.users import AccessService
from mlwarden.alerts.channels import ChannelService
from mlwarden.alerts.context import window_context
from mlwarden.alerts.notify import Notifier
from mlwarden.alerts.policy import MonitoringPolicy, MonitorRule, load, loads
from mlwarden.entities import Model, ModelVersion
from mlwarden.entities.alerts import FIRING, RESOLVED, Alert, Evaluation, RuleOutcome
from mlwarden.entities.policy import ERROR, PASS, SKIPPED
from mlwarden.errors import NotFound, ValidationError, WardenError
from mlwarden.policy.evaluate import evaluate_rule
from mlwarden.registry.service import RegistryService
from mlwarden.store.alert_store import AlertStore

log = logging.getLogger("mlwarden.alerts")

BLOCKED = "blocked"
UNBLOCKED = "registered"

Rollback = Callable[..., Any]  # PolicyService.rollback(name, alias=, reason=, actor=)


class AlertService:
    def __init__(
        self,
        store: AlertStore,
        registry: RegistryService,
        monitoring: Any,  # MonitorService
        access: AccessService,
        recorder: Recorder,
        notifier: Notifier,
        *,
        rollback: Rollback,
        transaction: Callable[[], Any],
        clock: Callable[[], datetime] = utcnow,
        workers: int = 1,
    ) -> None:
        self.store = store
        self.registry = registry
        self.monitoring = monitoring
        self.access = access
        self.recorder = recorder
        self.notifier = notifier
        self._rollback = rollback
        self._transaction = transaction
        self._clock = clock
        self.workers = workers  # threads that compute new windows across models
        #: ``name -> {pending, confirmed, overridden, override_rate}`` (human oversight)
        self.review_counts: Callable[[str], dict[str, Any]] | None = None
        self.channels = ChannelService(
            store,
            access,
            recorder,
            lambda: self.notifier.settings,
            transaction=transaction,
            policies=self.installed,
        )

    def _review(self, name: str) -> dict[str, Any]:
        if self.review_counts is None:
            return {}
        got = self.review_counts(name)
        decided = got["confirmed"] + got["overridden"]
        if not (decided or got["pending"]):
            return {}
        out = {"pending": got["pending"], "decided": decided}
        if got["override_rate"] is not None:
            out["override_rate"] = got["override_rate"]
        return out

    # -- installed policies ---------------------------------------------------------------

    def install(self, policy: str | MonitoringPolicy, *, actor: str) -> MonitoringPolicy:
        """Install (or replace, by name) a monitoring policy in the store."""
        # the role before the text is parsed (the name is only known after)
        self.access.require(actor, "config.set", "monitoring-policy:*")
        pol = load(policy)
        self.channels.require(pol.channels)
        with self._transaction():
            self.store.put_policy(pol.name, pol.source, pol.sha256, actor)
            self.recorder.record(
                actor,
                "monitoring.policy.install",
                f"monitoring-policy:{pol.name}",
                {"sha256": pol.sha256, "path": pol.path},
            )
        return pol

    def uninstall(self, name: str, *, actor: str) -> None:
        self.access.require(actor, "config.set", f"monitoring-policy:{name}")
        with self._transaction():
            if not self.store.delete_policy(name):
                raise NotFound(f"no installed monitoring policy {name!r}", policy=name)
            self.recorder.record(actor, "monitoring.policy.remove", f"monitoring-policy:{name}")

    def installed(self) -> list[MonitoringPolicy]:
        return [
            loads(row["source"], filename=f"<installed {row['name']}>")
            for row in self.store.policies()
        ]

    # -- block list -----------------------------------------------------------------------

    def block(self, ref: str, *, reason: str, actor: str) -> ModelVersion:
        """Mark a version ``blocked``: ``promote`` refuses it until it is unblocked."""
        mv = self.registry.get_version(ref)
        subject = version_subject(mv.name, mv.version)
        self.access.require(actor, "model.rollback", subject)
        with self._transaction():
            self.registry.store.set_status(mv.name, mv.version, BLOCKED)
            self.recorder.record(
                actor, "version.block", subject, {"reason": reason, "previous": mv.status}
            )
        return self.registry.get_version(mv.ref)

    def unblock(self, ref: str, *, reason: str, actor: str) -> ModelVersion:
        mv = self.registry.get_version(ref)
        subject = version_subject(mv.name, mv.version)
        self.access.require(actor, "version.approve", subject)
        if mv.status != BLOCKED:
            raise ValidationError(f"{mv.ref} is not blocked (status {mv.status!r})", field="ref")
        with self._transaction():
            self.registry.store.set_status(mv.name, mv.version, UNBLOCKED)
            self.recorder.record(actor, "version.unblock", subject, {"reason": reason})
        return self.registry.get_version(mv.ref)

    # -- evaluation -----------------------------------------------------------------------

    def evaluate(
        self,
        policies: Iterable[str | MonitoringPolicy] | None = None,
        *,
        actor: str,
        names: Iterable[str] | None = None,
        refresh: bool = False,
    ) -> Evaluation:
        """Evaluate ``policies`` (default: the installed ones) on every model they apply to
        (or only ``names``); with ``refresh``, compute new monitoring windows first."""
        started = time.perf_counter()
        pols = self.installed() if policies is None else [load(p) for p in policies]
        if policies is not None:  # installed ones were checked at install
            for pol in pols:
                self.channels.require(pol.channels)
        wanted = None if names is None else set(names)
        models = [m for m in self.registry.list_models() if wanted is None or m.name in wanted]
        pairs = [(pol, model) for pol in pols for model in models if pol.applies(model)]
        if refresh:
            self._refresh(pairs)
        outcomes: list[RuleOutcome] = []
        for pol, model in pairs:
            outcomes.extend(self._evaluate_model(pol, model, actor))
        return Evaluation(self._clock(), tuple(outcomes), time.perf_counter() - started)

    def _refresh(self, pairs: list[tuple[MonitoringPolicy, Model]]) -> None:
        """Compute the new windows every policy reads, as one fleet job (each model and
        window size once, final windows kept; see ``MonitorService.evaluate_fleet``)."""
        jobs: dict[tuple[str, str], tuple[ModelVersion, str]] = {}
        for pol, model in pairs:
            version = model.aliases.get(pol.alias)
            if version is None:
                continue
            mv = self.registry.get_version(f"{model.name}@{version}")
            window = pol.window
            if window is None:  # the size computed most recently, as recent_windows reads
                latest = self.store.recent_windows(
                    self.registry.store.model_id(model.name), mv.version, None, 1
                )
                window = latest[-1]["window"] if latest else "1d"
            jobs.setdefault((mv.ref, window), (mv, window))
        if not jobs:
            return
        if self.workers > 1:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="mlwarden-fleet") as pool:
                report = self.monitoring.evaluate_fleet(list(jobs.values()), map=pool.map)
        else:
            report = self.monitoring.evaluate_fleet(list(jobs.values()))
        for name, error in report.errors.items():  # no reference profile, say: no windows
            log.info("monitoring %s: %s", name, error)

    def _evaluate_model(self, pol: MonitoringPolicy, model: Model, actor: str) -> list[RuleOutcome]:
        version = model.aliases.get(pol.alias)
        model_id = self.registry.store.model_id(model.name)
        if version is None:
            self._resolve_stale(
                pol, model_id, None, f"{model.name} has no {pol.alias!r} alias", actor
            )
            return [
                RuleOutcome(
                    pol.name,
                    r.id,
                    model.name,
                    0,
                    "no-data",
                    message=f"{model.name} has no {pol.alias!r} alias",
                )
                for r in pol.rules
            ]
        mv = self.registry.get_version(f"{model.name}@{version}")
        firing = self._resolve_stale(
            pol, model_id, mv.version, f"{mv.ref} no longer serves behind {pol.alias!r}", actor
        )
        windows = self.store.recent_windows(model_id, mv.version, pol.window, pol.history_needed)
        now = self._clock()
        contexts = [window_context(model, mv, w, now) for w in windows]
        review = self._review(model.name)
        if review:  # the queue is the model's, the same in every window
            contexts = [{**c, "review": review} for c in contexts]
        cel_contexts = [cel.Context(c) for c in contexts]
        out = []
        for rule in pol.rules:
            out.append(
                self._rule(
                    pol, rule, model, mv, model_id, windows, contexts, cel_contexts, actor, firing
                )
            )
        return out

    def _resolve_stale(
        self, pol: MonitoringPolicy, model_id: int, version: int | None, reason: str, actor: str
    ) -> dict[str, Alert]:
        """Resolve this policy's alerts on versions no longer monitored (or rules no longer
        in it); the rest, by fingerprint: one query per model, not one per rule."""
        rules = {r.id for r in pol.rules}
        still: dict[str, Alert] = {}
        for alert in self.store.firing_for(model_id, pol.name):
            if alert.version != version or alert.rule not in rules:
                self._resolve(alert, reason, pol, actor)
            else:
                still[alert.fingerprint] = alert
        return still

    def _rule(
        self,
        pol: MonitoringPolicy,
        rule: MonitorRule,
        model: Model,
        mv: ModelVersion,
        model_id: int,
        windows: list[dict[str, Any]],
        contexts: list[dict[str, Any]],
        cel_contexts: list[Any],
        actor: str,
        firing_now: dict[str, Alert],
    ) -> RuleOutcome:
        def outcome(state: str, **kw: Any) -> RuleOutcome:
            return RuleOutcome(pol.name, rule.id, model.name, mv.version, state, **kw)

        if not windows:
            return outcome("no-data", message=f"no stored monitoring windows for {mv.ref}")
        recent = list(zip(contexts, cel_contexts, strict=True))[-rule.for_windows :]
        results = [evaluate_rule(rule.rule, cc, c) for c, cc in recent]
        latest = results[-1]
        values = dict(latest.values)
        fingerprint = f"{pol.name}/{rule.id}/{model.name}/{mv.version}"
        firing = firing_now.get(fingerprint)
        common = {"windows": len(results), "values": jsonable(values)}
        if latest.verdict in (ERROR, SKIPPED):
            # no data for the rule in this window: neither fire nor resolve
            state = FIRING if firing else "no-data"
            return outcome(state, alert_id=firing and firing.id, message=latest.message, **common)
        if latest.verdict != PASS:  # the condition is false now
            if firing is not None:
                self._resolve(firing, "condition cleared", pol, actor)
                return outcome("ok", change="resolved", alert_id=firing.id, **common)
            return outcome("ok", **common)
        held = len(results) >= rule.for_windows and all(r.verdict == PASS for r in results)
        if firing is not None:
            self.store.update(firing.id, updated_at=self._clock(), values=common["values"])
            self.notifier.refresh(firing, pol.channels)  # Alertmanager only: see there
            return outcome(FIRING, alert_id=firing.id, message=rule.message, **common)
        if not held:
            return outcome(
                "pending",
                message=f"true on {sum(r.verdict == PASS for r in results)} of the last "
                f"{rule.for_windows} windows",
                **common,
            )
        ended = self.store.last_ended(fingerprint)
        now = self._clock()
        if ended is not None and now - ended < rule.cooldown:
            return outcome(
                "pending",
                change="suppressed",
                message=f"in cooldown until {(ended + rule.cooldown).isoformat()}",
                **common,
            )
        alert = self._fire(
            pol, rule, mv, model_id, windows[-1], fingerprint, common["values"], actor
        )
        if alert is None:  # another evaluator fired it a moment ago
            return outcome(FIRING, message=rule.message, **common)
        return outcome(FIRING, change="fired", alert_id=alert.id, message=rule.message, **common)

    def _fire(
        self,
        pol: MonitoringPolicy,
        rule: MonitorRule,
        mv: ModelVersion,
        model_id: int,
        window: dict[str, Any],
        fingerprint: str,
        values: dict[str, Any],
        actor: str,
    ) -> Alert | None:
        subject = version_subject(mv.name, mv.version)
        with self._transaction():
            alert = self.store.open(
                model_id,
                fingerprint=fingerprint,
                policy=pol.name,
                policy_sha256=pol.sha256,
                rule=rule.id,
                version=mv.version,
                severity=rule.severity,
                message=rule.message,
                actions=[],
                values=values,
                window_start=window.get("start"),
                window_end=window.get("end"),
                now=self._clock(),
            )
            if alert is None:
                return None
            self.recorder.record(
                actor,
                "alert.fired",
                subject,
                jsonable(
                    {
                        "alert_id": alert.id,
                        "policy": pol.name,
                        "policy_sha256": pol.sha256,
                        "rule": rule.id,
                        "when": rule.when,
                        "severity": rule.severity,
                        "values": values,
                        "window": {"start": window.get("start"), "end": window.get("end")},
                        "actions": list(rule.actions),
                    }
                ),
            )
        reason = (
            f"monitoring policy {pol.name!r} rule {rule.id!r} fired on {mv.ref}: {rule.message}"
        )
        done: list[dict[str, Any]] = [{"action": "alert", "ok": True}]
        for action in rule.actions:
            if action == "rollback":
                done.append(self._do_rollback(mv, pol.alias, reason, actor))
            elif action == "block":
                done.append(self._do_block(mv, reason, actor))
        self.store.update(alert.id, actions=done)
        alert = self.store.get(alert.id)
        self.notifier.send(alert, FIRING, pol.channels)
        return alert

    def _do_rollback(self, mv: ModelVersion, alias: str, reason: str, actor: str) -> dict:
        try:
            change = self._rollback(mv.name, alias=alias, reason=reason, actor=actor)
        except WardenError as exc:
            return {"action": "rollback", "ok": False, "detail": exc.message}
        return {
            "action": "rollback",
            "ok": True,
            "detail": f"{mv.name}@{alias}: v{change.from_version} → v{change.to_version}",
            "from_version": change.from_version,
            "to_version": change.to_version,
        }

    def _do_block(self, mv: ModelVersion, reason: str, actor: str) -> dict:
        try:
            self.block(mv.ref, reason=reason, actor=actor)
        except WardenError as exc:
            return {"action": "block", "ok": False, "detail": exc.message}
        return {"action": "block", "ok": True, "detail": f"{mv.ref} blocked from promotion"}

    def _resolve(self, alert: Alert, reason: str, pol: MonitoringPolicy, actor: str) -> None:
        now = self._clock()
        with self._transaction():
            if not self.store.resolve(alert.id, reason, now):
                return  # resolved by someone else meanwhile
            self.recorder.record(
                actor,
                "alert.resolved",
                version_subject(alert.model, alert.version),
                {
                    "alert_id": alert.id,
                    "policy": alert.policy,
                    "rule": alert.rule,
                    "reason": reason,
                },
            )
        self.notifier.send(self.store.get(alert.id), RESOLVED, pol.channels)

    # -- reading --------------------------------------------------------------------------

    def alerts(
        self,
        name: str | None = None,
        *,
        status: str | None = None,
        policy: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        model_id = None if name is None else self.registry.store.model_id(name)
        return self.store.find(model_id=model_id, status=status, policy=policy, limit=limit)
