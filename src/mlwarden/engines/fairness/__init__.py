"""Group fairness from mergeable per-group confusion counts, with bootstrap intervals.

``audit(y_true, y_pred, sensitive_features)`` gives a :class:`FairnessReport` whose metrics say
which convention they follow (AIF360 ``reference`` or Fairlearn ``between_groups``).
"""

from mlwarden.engines.fairness.audit import audit, audit_counts
from mlwarden.engines.fairness.counts import GroupCounts
from mlwarden.engines.fairness.metrics import FairnessMetric
from mlwarden.engines.fairness.report import FairnessReport

__all__ = ["FairnessMetric", "FairnessReport", "GroupCounts", "audit", "audit_counts"]
