"""Policy benchmark: a 20-rule gate evaluated against 1,000 versions.

Times what a check costs once the evidence is read: building each version's context and
evaluating every rule (``common-expression-language``, compiled once). Reports microseconds
per rule, context building included, with a breakdown; then the same rules on the pure-Python
``cel-python`` if its environment (``.bench-venv/celpython``, from
``bench/requirements-celpython.txt``) exists; then one JSON line.

    python bench/policy.py [--quick] [-n 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cel
from _common import emit, peer_python, run_peer

from mlwarden import policy as mwp
from mlwarden._json import jsonable
from mlwarden.entities import Model, ModelVersion
from mlwarden.policy.context import build_context
from mlwarden.policy.evaluate import evaluate_rule

RULES = [
    ("min-auc", "version.metrics.roc_auc >= 0.80"),
    ("min-accuracy", "version.metrics.accuracy >= 0.75"),
    ("min-f1", "version.metrics.f1 >= 0.6"),
    ("brier", "version.metrics.brier <= 0.25"),
    ("log-loss", "version.metrics.log_loss < 0.7"),
    ("di-sex", "fairness.sex.disparate_impact >= 0.8"),
    ("di-race", "fairness.race.disparate_impact >= 0.8"),
    (
        "eod-sex",
        "fairness.sex.equal_opportunity_difference < 0.1 && "
        "fairness.sex.equal_opportunity_difference > -0.1",
    ),
    ("groups", "!has(fairness.sex.excluded_groups) || size(fairness.sex.excluded_groups) == 0"),
    ("importance", "explain.importance.all(f, explain.importance[f] < 0.5)"),
    ("additive", "explain.max_abs_residual < 0.001"),
    ("card", "has(card.intended_use) && has(card.limitations)"),
    ("owner", "has(card.owner)"),
    ("approvals", "approvals.count >= approvals.required"),
    ("approvers", "size(approvals.approvers) > 0 || model.risk_tier == 'low'"),
    ("clean", "!version.lineage.code.dirty"),
    ("eval-rows", "version.lineage.datasets.eval.rows >= 1000"),
    ("sensitive", "'sex' in version.lineage.sensitive_features"),
    ("flavor", "version.flavor in ['sklearn', 'lightgbm', 'xgboost']"),
    ("inputs", "size(version.signature.inputs) <= 100"),
]
FEATURES = [f"f{i}" for i in range(14)]
FAIRNESS_METRICS = [
    "statistical_parity_difference",
    "disparate_impact",
    "equal_opportunity_difference",
    "false_positive_rate_difference",
    "average_odds_difference",
    "predictive_parity_difference",
    "accuracy_difference",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
]
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def policy_yaml() -> str:
    lines = ["name: bench-gate", "rules:"]
    for rule_id, check in RULES:
        lines += [f"  - id: {rule_id}", f"    check: {json.dumps(check)}"]
    return "\n".join(lines) + "\n"


def synthetic(i: int, rng: random.Random) -> tuple[Model, ModelVersion, dict, dict]:
    """A version with realistic evidence sizes; about 10% lack a fairness audit."""
    model = Model(
        name=f"m{i % 50}",
        owner="risk-team" if i % 3 else None,
        risk_tier=rng.choice(["low", "medium", "high"]),
        intended_use="credit pre-screening",
        description=None,
        tags={"limitations": "not for minors"} if i % 2 else {},
        created_at=NOW,
        created_by="alice",
        latest_version=i,
        aliases={"production": 1},
    )
    version = ModelVersion(
        name=model.name,
        version=i + 1,
        artifact_sha256="0" * 64,
        artifact_size=12345,
        flavor=rng.choice(["sklearn", "lightgbm", "onnx"]),
        flavor_info={},
        signature={
            "inputs": [{"name": f, "type": "float64", "nullable": False} for f in FEATURES],
            "output": {"type": "int64"},
        },
        lineage={
            "datasets": {
                "eval": {
                    "name": "eval",
                    "rows": rng.randint(500, 5000),
                    "columns": 14,
                    "sha256": "1" * 64,
                },
            },
            "sensitive_features": ["sex", "race"],
            "code": {"commit": "abc", "dirty": rng.random() < 0.2},
            "environment": {"python": "3.11"},
            "estimator": "sklearn.linear_model.LogisticRegression",
        },
        metrics={
            "roc_auc": rng.uniform(0.7, 0.95),
            "accuracy": rng.uniform(0.7, 0.9),
            "precision": rng.uniform(0.5, 0.9),
            "recall": rng.uniform(0.5, 0.9),
            "f1": rng.uniform(0.5, 0.9),
            "log_loss": rng.uniform(0.3, 0.8),
            "brier": rng.uniform(0.1, 0.3),
        },
        params={"C": 1.0, "max_iter": 300},
        status="registered",
        created_at=NOW,
        created_by="alice",
        evidence={"fairness": "x", "explain": "y", "reference_profile": "z"},
    )
    summary = {
        attr: {
            **{m: rng.uniform(-0.2, 1.2) for m in FAIRNESS_METRICS},
            "reference_group": "a",
            "worst_group": "b",
            "n_groups": 2,
            "excluded_groups": [],
            "ci": {m: [0.0, 1.0] for m in FAIRNESS_METRICS},
        }
        for attr in ("sex", "race")
    }
    evidence = {
        "fairness": {"status": "ok", "summary": summary} if i % 10 else {"status": "skipped"},
        "explain": {
            "status": "ok",
            "method": "tree_shap",
            "n_rows": 200,
            "max_abs_residual": 1e-6,
            "importance": {f: rng.uniform(0, 0.6) for f in FEATURES},
        },
    }
    approvals = {
        "have": rng.randint(0, 2),
        "required": 1,
        "missing": 0,
        "approved": True,
        "approvers": ["bob"],
    }
    return model, version, evidence, approvals


def run_ours(policy: mwp.Policy, data: list) -> dict[str, float]:
    n_rules = len(policy.rules)
    verdicts = {"pass": 0, "fail": 0, "error": 0}
    t_context = t_convert = t_rules = 0.0
    start = time.perf_counter()
    for model, version, evidence, approvals in data:
        t0 = time.perf_counter()
        context = build_context(model, version, evidence, approvals, NOW, reads=policy.reads)
        t1 = time.perf_counter()
        cel_context = cel.Context(context)
        t2 = time.perf_counter()
        for rule in policy.rules:
            verdicts[evaluate_rule(rule, cel_context, context).verdict] += 1
        t3 = time.perf_counter()
        t_context += t1 - t0
        t_convert += t2 - t1
        t_rules += t3 - t2
    total = time.perf_counter() - start
    scale = 1e6 / (len(data) * n_rules)
    return {
        "per_rule_us": total * scale,
        "context_us_per_version": t_context * 1e6 / len(data),
        "convert_us_per_version": t_convert * 1e6 / len(data),
        "rule_us": t_rules * scale,
        "verdicts": verdicts,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 versions")
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()
    n = 100 if args.quick else args.n
    rng = random.Random(0)
    policy = mwp.loads(policy_yaml(), "bench-gate.yaml")
    data = [synthetic(i, rng) for i in range(n)]
    run_ours(policy, data[: min(n, 50)])  # warm-up
    ours = min((run_ours(policy, data) for _ in range(3)), key=lambda r: r["per_rule_us"])

    peer = None
    if peer_python("celpython") is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            contexts = [jsonable(build_context(m, v, e, a, NOW)) for m, v, e, a in data]
            json.dump({"rules": [c for _, c in RULES], "contexts": contexts}, f)
        peer = run_peer("celpython", "celpython_policy.py", f.name)
    else:
        print("peer cel-python unavailable: `make bench` builds .bench-venv/celpython")

    print(f"\nPolicy gate: {len(RULES)} rules x {n} versions — microseconds")
    print(f"{'':<34}{'Warden':>12}" + (f"{'cel-python':>14}" if peer else ""))
    print(
        f"{'per rule (context building incl.)':<34}{ours['per_rule_us']:>12.2f}"
        + (f"{peer['per_rule_us']:>14.1f}" if peer else "")
    )
    print(f"{'  of which rule evaluation':<34}{ours['rule_us']:>12.2f}")
    print(f"{'context build, per version':<34}{ours['context_us_per_version']:>12.1f}")
    print(f"{'CEL conversion, per version':<34}{ours['convert_us_per_version']:>12.1f}")
    print(f"{'per version (whole gate)':<34}{ours['per_rule_us'] * len(RULES):>12.1f}")
    print(f"verdicts: {ours['verdicts']}" + (f"  (cel-python: {peer['verdicts']})" if peer else ""))
    print(f"goal < 100 µs per rule: {'met' if ours['per_rule_us'] < 100 else 'MISSED'}")
    record = {
        "bench": "policy",
        "size": f"{len(RULES)} rules x {n} versions",
        "warden_per_rule_us": round(ours["per_rule_us"], 2),
        "warden_rule_eval_us": round(ours["rule_us"], 2),
        "warden_context_us": round(ours["context_us_per_version"], 1),
        "warden_per_version_us": round(ours["per_rule_us"] * len(RULES), 1),
    }
    if peer:
        record.update(
            {
                "peer": f"cel-python {peer.get('version') or ''}".strip(),
                "peer_per_rule_us": round(peer["per_rule_us"], 1),
                "ratio": round(peer["per_rule_us"] / ours["per_rule_us"], 1),
            }
        )
    else:
        record["peer"] = None
    emit(record)


if __name__ == "__main__":
    main()
