"""The favourable outcome is declared, not assumed: a default model (1 = default, the bad
outcome) registered with ``favorable_label=0`` gets fairness evidence, monitoring, the policy
context and the gap report the right way round."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlwarden as mw
from mlwarden.reports.gaps import find_gaps

T0 = pd.Timestamp("2026-03-02", tz="UTC")


@pytest.fixture(scope="module")
def credit_default():
    """Group A is refused (predicted default) far more often than group B."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(11)
    n = 1500
    group = pd.Series(rng.choice(["A", "B"], n, p=[0.35, 0.65]), name="group")
    X = pd.DataFrame(
        {"income": rng.normal(50, 10, n) - (group == "A") * 8, "debt": rng.normal(10, 3, n)}
    )
    y = ((X["debt"] * 4 - X["income"] + rng.normal(0, 6, n)) > -5).astype(int)  # 1 = default
    model = LogisticRegression().fit(X, y)
    return X, y, group.to_frame(), model


def _register(wd, data, **kwargs):
    X, y, group, model = data
    half = len(X) // 2
    return wd.register_model(
        "credit-default",
        model,
        train=mw.Dataset(X[:half], y[:half], sensitive=group[:half]),
        eval=mw.Dataset(X[half:], y[half:], sensitive=group[half:].reset_index(drop=True)),
        sensitive_features=["group"],
        **kwargs,
    )


def test_declared_favourable_label_drives_the_fairness_evidence(warden, credit_default):
    X, y, group, model = credit_default
    mv = _register(warden, credit_default, favorable_label=0)
    assert mv.signature["output"]["favorable_label"] == 0
    fairness = warden.get_evidence(mv.ref, "fairness")
    summary = fairness["summary"]["group"]
    assert summary["worst_group"] == "A" and summary["four_fifths_rule"] is False
    # the same numbers Fairlearn gives when approval (label 0) is the selection
    from fairlearn.metrics import MetricFrame, selection_rate

    half = len(X) // 2
    approval = MetricFrame(
        metrics=lambda t, p: selection_rate(t, p, pos_label=0),
        y_true=y[half:],
        y_pred=model.predict(X[half:]),
        sensitive_features=group["group"][half:],
    ).by_group
    assert summary["disparate_impact"] == pytest.approx(approval["A"] / approval["B"], rel=1e-9)
    gaps = find_gaps(mw.reports.gather(warden, mv.ref))
    assert not any(g.item == "favourable outcome" for g in gaps)


def test_undeclared_favourable_label_is_a_gap_and_wrong_labels_are_refused(warden, credit_default):
    mv = _register(warden, credit_default)
    assert "favorable_label" not in mv.signature["output"]
    gaps = {g.item: g for g in find_gaps(mw.reports.gather(warden, mv.ref))}
    assert "favorable_label=" in gaps["favourable outcome"].fix
    with pytest.raises(mw.ValidationError, match=r"'approved' is not one of the model's classes"):
        _register(warden, credit_default, favorable_label="approved")
    mv2 = _register(warden, credit_default, favorable_label="0")  # from a CLI or JSON
    assert mv2.signature["output"]["favorable_label"] == 0


def test_monitoring_and_policies_count_the_declared_label(warden, credit_default):
    X, y, group, model = credit_default
    mv = _register(warden, credit_default, favorable_label=0)
    warden.set_alias("credit-default", "production", mv.version, override=True, reason="test")
    ids = warden.log_predictions(
        "credit-default", X, model.predict(X), sensitive=group, timestamps=[T0] * len(X)
    )
    warden.log_labels("credit-default", ids, y)
    (window,) = warden.monitor("credit-default", window="10000rows").windows
    fairness = window.fairness["group"]
    assert fairness["worst_group"] == "A" and fairness["disparate_impact"] < 0.8
    from mlwarden.policy.context import build_context

    ctx = build_context(warden.get_model("credit-default"), mv, {}, {}, T0.to_pydatetime())
    assert ctx["version"]["favorable_label"] == 0
