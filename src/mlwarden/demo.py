"""The end-to-end demo behind ``mlwarden demo`` and ``make demo``.

The story, on the vendored Adult census data, with three people and every step audited:

1. ``alice`` (developer) registers a weak candidate; ``bob`` sets the model's risk tier, the
   admin installs ``demo-gate`` and binds it to ``production`` (a gate on the server); the gate
   blocks the weak candidate's promotion and says why;
2. she registers a logistic pipeline; ``bob`` (validator) approves it; it is promoted;
3. she registers a LightGBM model; ``bob`` approves; it replaces the first in production;
4. scoring traffic drifts (older applicants, longer hours); monitoring sees it, the
   monitoring policy fires an alert (a log line, and a webhook to nowhere whose failed
   delivery is logged) and rolls production back to the logistic pipeline;
5. the audit log shows each step and verifies.

Re-running on an existing store uses a fresh model name (``credit-risk-2``, …) and the users
already there. The data is sampled so the whole story takes well under a minute.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from mlwarden.alerts import loads as load_monitoring
from mlwarden.alerts.settings import AlertSettings
from mlwarden.client import Warden
from mlwarden.datasets import load_adult
from mlwarden.entities import Dataset
from mlwarden.errors import PolicyViolation
from mlwarden.policy import loads as load_gate

MODEL = "credit-risk"
INTENDED_USE = "Pre-screening of credit applications; not for final decisions."
TRAIN_ROWS, EVAL_ROWS, TRAFFIC_ROWS = 12_000, 6_000, 1_500

GATE = """
name: demo-gate
description: What a credit model shows before it serves.
rules:
  - id: min-auc
    check: version.metrics.roc_auc >= 0.85
    message: ROC AUC must be at least 0.85 on the evaluation data
  - id: fairness-audited
    check: "'fairness' in version.evidence"
    message: A fairness audit must be recorded
  - id: equal-opportunity
    check: fairness.sex.equal_opportunity_difference <= 0.15
    message: True-positive rates of the sexes must be within 15 points
  - id: four-fifths
    check: fairness.sex.disparate_impact >= 0.8
    severity: warn
    message: Selection rates by sex fail the four-fifths rule (Adult's labels do too)
"""

MONITORING = """
kind: monitoring
name: demo-drift-guard
alias: production
window: 1d
channels: [log, ops-webhook]   # installed by the admin: a policy names channels only
rules:
  - id: input-drift
    when: drift.share_drifted > 0.3
    severity: critical
    actions: [rollback]
    message: More than 30% of the input features drifted from the training data
"""


# Applicants' contact details travel with the traffic but must never be stored raw: the
# e-mail is pseudonymized (keyed HMAC), the customer id becomes the GDPR subject key.
MASKING = """
version: 1
default: keep
columns:
  applicant_email: {action: pseudonymize}
"""


def with_contacts(batch: pd.DataFrame, offset: int) -> pd.DataFrame:
    ids = [f"C{offset + i:06d}" for i in range(len(batch))]
    return batch.assign(applicant_email=[f"{c.lower()}@example.org" for c in ids], customer_id=ids)


def build_pipeline(kind: str) -> Any:
    from lightgbm import LGBMClassifier
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if kind == "weak":  # two numeric columns only: a candidate the gate should stop
        return make_pipeline(
            make_column_transformer((StandardScaler(), ["age", "hours-per-week"])),
            LogisticRegression(max_iter=1000),
        )
    encode = make_column_transformer(
        (
            OneHotEncoder(handle_unknown="ignore", min_frequency=20),
            make_column_selector(dtype_include="category"),
        ),
        (StandardScaler(), make_column_selector(dtype_include="number")),
        sparse_threshold=0,
    )
    if kind == "logistic":
        return make_pipeline(encode, LogisticRegression(max_iter=1000))
    # LightGBM reads pandas categoricals natively and is explained by exact TreeSHAP.
    return LGBMClassifier(
        n_estimators=200, learning_rate=0.05, num_leaves=31, verbose=-1, random_state=0
    )


def _fresh_name(wd: Warden) -> str:
    taken = {m.name for m in wd.list_models()}
    if MODEL not in taken:
        return MODEL
    n = 2
    while f"{MODEL}-{n}" in taken:
        n += 1
    return f"{MODEL}-{n}"


def _people(wd: Warden) -> dict[str, Warden]:
    """``admin``, ``alice`` (developer) and ``bob`` (validator), each a Warden acting as them."""
    users = {u.name: u.role for u in wd.list_users()}
    if not users:  # single-user store: the first user must be an admin
        wd.create_user("admin", "admin")
        users["admin"] = "admin"

    def acting(name: str) -> Warden:
        return Warden(wd.uri, artifacts=wd.artifacts.root, actor=name, settings=wd.settings)

    admin = acting("admin")
    for name, role in (("alice", "developer"), ("bob", "validator")):
        if name not in users:
            admin.create_user(name, role)
    return {"admin": admin, "alice": acting("alice"), "bob": acting("bob")}


def _shifted(X: pd.DataFrame) -> pd.DataFrame:
    """Traffic from another population: older applicants working longer hours."""
    out = X.copy()
    out["age"] = out["age"] + 20
    out["hours-per-week"] = out["hours-per-week"] + 15
    out["capital-gain"] = out["capital-gain"] * 3
    out["education-num"] = np.minimum(out["education-num"] + 3, 16)
    return out


def audit_table(wd: Warden, name: str) -> Table:
    table = Table(title=f"Audit trail of {name}")
    for col in ("seq", "actor", "action", "subject", "detail"):
        table.add_column(col, overflow="fold")
    for e in wd.audit.events(model=name):
        p = e.payload or {}
        detail = (
            p.get("reason")
            or (f"policy {p['policy']}: passed={p['passed']}" if "passed" in p else None)
            or (f"{p.get('policy')}/{p.get('rule')} {p.get('values')}" if "rule" in p else None)
            or (f"{p['count']} predictions" if "count" in p else None)
            or ""
        )
        subject = e.subject.removeprefix(f"model:{name}")
        table.add_row(str(e.seq), e.actor, e.action, subject or "(model)", str(detail)[:80])
    return table


def run_demo(wd: Warden, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    say = console.print
    name = _fresh_name(wd)
    people = _people(wd)
    alice, bob, admin = people["alice"], people["bob"], people["admin"]
    results: dict[str, Any] = {"model": name}
    gate = load_gate(GATE, "demo-gate.yaml")
    try:
        train, test = load_adult()
        train = train.sample(TRAIN_ROWS, random_state=0)
        test = test.sample(EVAL_ROWS, random_state=0)
        X, y = train.drop(columns="income"), train["income"]
        Xt, yt = test.drop(columns="income"), test["income"]
        say(f"[bold]1. alice registers candidates for {name}[/] (Adult, {len(X):,} rows)")
        models: dict[int, Any] = {}
        for kind in ("weak", "logistic", "boosting"):
            model = build_pipeline(kind).fit(X, y)
            mv = alice.register_model(
                name,
                model,
                train=Dataset(X, y, name="adult-train"),
                eval=Dataset(Xt, yt, name="adult-test"),
                sensitive_features=["sex", "race"],
                owner="risk-team",
                risk_tier="medium",
                intended_use=INTENDED_USE,
                tags={"limitations": "Trained on 1994 US census data."},
                description=f"{kind} model on Adult",
            )
            models[mv.version] = model
            say(f"   {mv.ref}: {kind}, ROC AUC {mv.metrics['roc_auc']:.3f}")
        weak, first, second = (f"{name}@{v}" for v in sorted(models))
        # a developer cannot choose the risk tier (it starts at the server's default):
        # the validator sets it, audited
        bob.set_risk_tier(name, "medium", reason="credit pre-screening with human review")
        # the gate lives in the store: the admin installs it and binds it to production
        # (a store whose production already has a gate keeps it)
        stored = admin.install_policy(gate)
        if not any(b.target == "alias:production" for b in admin.policy_bindings()):
            admin.bind_policy(stored.name, alias="production")
        say(f"   admin installed {stored.name} v{stored.version} (sha256 {stored.sha256[:12]})")

        say("[bold]2. The gate blocks the weak candidate[/]")
        try:
            alice.promote(weak, alias="production")
            results["blocked"] = False
        except PolicyViolation as exc:
            failed_rules = exc.details.get("failed_rules", [])
            results.update(
                blocked=True,
                block_rules=[r["id"] for r in failed_rules],
                block_message=exc.message,
            )
            say(f"   [red]refused[/]: {exc.message}")

        say("[bold]3. bob approves the logistic pipeline; alice promotes it[/]")
        bob.approve(first, comment="reviewed the model card and the fairness audit")
        promo = alice.promote(first, alias="production")
        say(f"   {first} → production (approved by {', '.join(promo.approvals['approvers'])})")
        for warning in promo.decision.warnings:
            say(f"   [yellow]warning[/] {warning.id}: {warning.message}")
        bob.approve(second, comment="better AUC, fairness within bounds")
        alice.promote(second, alias="production")
        results.update(approved_by="bob", promoted=second)
        say(f"   {second} → production (approved by bob)")

        say("[bold]4. Traffic drifts; monitoring fires and rolls back[/]")
        serving = models[int(second.split("@")[1])]
        today = pd.Timestamp.now(tz="UTC").floor("D")
        normal = Xt.iloc[:TRAFFIC_ROWS]
        drifted = _shifted(Xt.iloc[TRAFFIC_ROWS : 2 * TRAFFIC_ROWS])
        admin.set_masking_policy(name, MASKING)
        for days_ago, batch in ((2, normal), (1, drifted)):
            alice.log_predictions(
                name,
                with_contacts(batch, offset=days_ago * len(batch)),
                serving.predict(batch),
                scores=serving.predict_proba(batch)[:, 1],
                timestamps=[today - pd.Timedelta(days=days_ago)] * len(batch),
                subject_column="customer_id",
            )
        report = admin.monitor(name, window="1d", since=today - pd.Timedelta(days=2))
        for w in report.windows:
            share = w.drift.get("share_drifted", 0.0)
            say(f"   window {w.start:%Y-%m-%d}: {w.rows} rows, {share:.0%} of features drifted")
        # the webhook goes nowhere (a loopback port the demo allow-lists): two quick
        # attempts, both logged as failed deliveries
        admin.alerting.notifier.settings = AlertSettings(
            attempts=2, backoff_s=0.1, timeout_s=1, allowed_hosts=("127.0.0.1",)
        )
        admin.install_alert_channel("ops-webhook", "http://127.0.0.1:9/warden-demo", format="slack")
        monitoring = load_monitoring(MONITORING, "demo-drift-guard.yaml")
        evaluation = admin.evaluate_monitoring([monitoring], names=[name])
        fired = evaluation.fired
        alerts = admin.alerts(name)
        rollback = next(
            (a for al in alerts for a in al.actions if a.get("action") == "rollback"), None
        )
        failed = admin.alert_deliveries(failed=True, limit=10)
        results.update(
            alert_fired=bool(fired),
            alerts=[a.to_dict() for a in alerts],
            rolled_back=bool(rollback and rollback.get("ok")),
            production=admin.get_model(name).aliases.get("production"),
            failed_deliveries=len(failed),
        )
        for a in alerts:
            say(f"   [red]ALERT[/] {a.severity} {a.policy}/{a.rule} on {a.ref}: {a.message}")
        if rollback is not None:
            say(f"   rollback: {rollback.get('detail')}")
        if failed:
            say(f"   webhook delivery failed as expected ({failed[0].error})")
        # production is back on the previous version, which has no traffic yet: `monitor`
        # then shows the version that served these windows, and says so
        say(f"   these windows stay visible: mlwarden monitor {name}")

        say("[bold]5. The audit log[/]")
        say(audit_table(admin, name))
        verdict = admin.audit.verify()
        results["audit_verified"] = bool(verdict.ok)
        say(
            f"   audit log verifies: [{'green' if verdict.ok else 'red'}]{verdict.ok}[/] "
            f"({verdict.events_checked} events)"
        )
    finally:
        for person in people.values():
            person.close()
    return results
