"""CEL text is capped before the runtime sees it, and a rule's cost is bounded statically:
at load time on nominal sizes, before each evaluation on the context's real sizes."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlwarden import limits
from mlwarden.errors import PolicyError, ValidationError
from mlwarden.policy.cost import estimate
from mlwarden.policy.evaluate import evaluate
from mlwarden.policy.guard import compile_cel
from mlwarden.policy.loader import loads

RANGE = "[" + ",".join(str(i) for i in range(20)) + "]"


def nested(depth: int) -> str:
    src = "true"
    for d in range(depth):
        src = f"{RANGE}.all(x{d}, x{d} >= 0 && {src})"
    return src


def gate(check: str) -> str:
    return f"name: g\nrules:\n  - id: r\n    check: {check!r}\n"


def test_ordinary_rules_compile():
    for src in [
        "version.metrics.roc_auc >= 0.80",
        "!has(version.lineage.code.dirty) || !version.lineage.code.dirty",
        "fairness.all(a, !has(fairness[a].disparate_impact) || "
        "fairness[a].disparate_impact >= 0.8)",
        nested(3),
        "(" * limits.CEL_MAX_DEPTH + "true" + ")" * limits.CEL_MAX_DEPTH,
        "+".join(["1"] * limits.CEL_MAX_OPERATORS) + " > 0",
        "'" + "(" * 100 + "' != ''",  # brackets inside a string do not nest
    ]:
        assert compile_cel(src).source == src


@pytest.mark.parametrize(
    ("src", "limit"),
    [
        ("+".join(["1"] * 40_000), "length"),  # the 80 KB rule that crashed the runtime
        ("+".join(["1"] * (limits.CEL_MAX_OPERATORS + 2)), "operators"),
        ("(" * 33 + "1" + ")" * 33, "depth"),
        ("!" * 40 + "true", "depth"),
        ("[" * 40 + "1" + "]" * 40, "depth"),
        (nested(6), "cost"),
        (nested(4), "cost"),
    ],
)
def test_rules_over_a_limit_are_policy_errors(src, limit):
    started = time.perf_counter()
    with pytest.raises(PolicyError) as err:
        compile_cel(src)
    assert err.value.details["limit"] == limit
    assert time.perf_counter() - started < 2  # unguarded: minutes, or a crash


def test_the_runtime_never_sees_a_chain_that_crashes_it(tmp_path):
    """Out of process: on the unguarded runtime this chain is a segmentation fault."""
    script = tmp_path / "chain.py"
    script.write_text(
        "import sys\n"
        "from mlwarden.policy.guard import compile_cel\n"
        "from mlwarden.errors import PolicyError\n"
        "try:\n"
        "    compile_cel('+'.join(['1'] * 13_000))\n"
        "except PolicyError as exc:\n"
        "    print(exc.details['limit'])\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": src},
    )
    assert done.returncode == 0 and done.stdout.strip() == "length"


def test_loader_reports_the_limit_at_the_rule_line_as_policy_error():
    with pytest.raises(PolicyError) as err:
        loads(gate(nested(6)), "gate.yaml")
    assert err.value.http_status == 422
    assert "gate.yaml:4" in err.value.message and "budget" in err.value.message
    assert err.value.details["rule"] == "r"
    with pytest.raises(PolicyError, match="characters long"):
        loads(gate("+".join(["1"] * 40_000)), "gate.yaml")
    # an ordinary mistake stays a plain ValidationError
    with pytest.raises(ValidationError) as plain:
        loads(gate("version.metrics.roc_auc >="), "gate.yaml")
    assert not isinstance(plain.value, PolicyError)


def test_monitoring_rules_are_guarded_too():
    from mlwarden.alerts.policy import loads as load_monitoring

    text = f"kind: monitoring\nname: m\nrules:\n  - id: r\n    when: {nested(6)!r}\n"
    with pytest.raises(PolicyError, match="budget"):
        load_monitoring(text, "mon.yaml")


def test_cost_grows_with_nesting_and_range_size():
    assert estimate(nested(1)) < estimate(nested(2)) < estimate(nested(3)) < 100_000
    assert estimate(nested(6)) > 20**6
    two = "features.all(f, features.all(g, f != g))"
    assert estimate(two, default=100) > 100 * 100
    assert estimate(two, lambda p: 5, default=100) < 200


def test_evaluation_checks_the_budget_on_the_real_sizes():
    pol = loads(
        "name: g\nrules:\n  - id: pairs\n"
        "    check: 'version.metrics.all(a, version.metrics.all(b, a == b || a != b))'\n"
    )
    now = datetime.now(UTC)
    small = {"version": {"metrics": {f"m{i}": 0.5 for i in range(10)}}}
    ok = evaluate(pol, small, ref="x@1", actor="t", time=now)
    assert ok.passed, ok.results
    big = {"version": {"metrics": {f"m{i}": 0.5 for i in range(2000)}}}
    started = time.perf_counter()
    refused = evaluate(pol, big, ref="x@1", actor="t", time=now)
    assert time.perf_counter() - started < 2  # unguarded: minutes, or a crash
    (result,) = refused.results
    assert not refused.passed and result.verdict == "error"
    assert "PolicyError" in result.message and "budget" in result.message


def test_long_field_chains_on_an_expression_do_not_recurse():
    src = "dyn(version)" + ".a" * 2000 + " == 1"
    pol = loads(gate(src), "gate.yaml")  # was a RecursionError (a 500 over HTTP)
    decision = evaluate(pol, {"version": {}}, ref="x@1", actor="t", time=datetime.now(UTC))
    assert decision.results[0].verdict == "error"
