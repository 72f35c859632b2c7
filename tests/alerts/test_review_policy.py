"""A monitoring policy watches human oversight (issue 20 item 4): ``review.override_rate``
is in the rule context once reviewers have decided, and fires like any other signal."""

from __future__ import annotations

from mlwarden.alerts import loads

POLICY = """kind: monitoring
name: oversight-watch
rules:
  - id: overrides
    when: has(review.override_rate) && review.override_rate > 0.3
    severity: warning
    message: reviewers override the model too often
"""


def test_override_rate_fires_a_monitoring_rule(served, put_windows, numeric_data):
    wd = served
    put_windows(wd, [0.1])
    X, _ = numeric_data
    ids = wd.log_predictions("scorer", X.iloc[:4], [1, 1, 0, 0], version=2)
    wd.oversight.set_rule("scorer", "output == '1'", actor="alice")
    assert wd.oversight.flag("scorer", actor="alice") == 2
    pol = loads(POLICY)
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.state != "firing"  # flagged, nothing decided: no rate yet
    wd.oversight.decide("scorer", ids[0], actor="val", override="0")
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.state == "firing", out
