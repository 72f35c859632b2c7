"""Evidence collected at registration: reference profile, fairness audit, explanations.

Each collector reads the ``Registration`` and returns ``{kind: json}``. Evidence that cannot
be computed for a model (no labels, a multiclass explainer, a missing extra) is recorded as
``{"status": "skipped", "reason": …}`` so a policy can see the gap instead of a silent hole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import MissingDependency, ValidationError
from mlwarden.registry.service import EvidenceCollector, Registration
from mlwarden.store.artifacts import ArtifactStore

MAX_SEGMENT_VALUES = 50
MIN_SEGMENT_ROWS = 30
PREDICTION_COLUMN = "__prediction__"
SCORE_COLUMN = "__score__"
EXPLAIN_ROWS = 200  # rows explained for the global-importance summary
BACKGROUND_ROWS = 100
# Model-agnostic permutation SHAP costs rows × background × permutations model calls: a
# smaller sample keeps registration in seconds (the summary records how many rows it used).
PERMUTATION_ROWS = 40
PERMUTATION_BACKGROUND = 25


def skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason}


def reference_frame(reg: Registration) -> pd.DataFrame | None:
    """The data monitoring compares against: evaluation inputs (else training inputs) with
    the model's predictions and positive-class scores beside them."""
    X = reg.eval_X if reg.eval_X is not None else reg.train_X
    if X is None:
        return None
    frame = X.reset_index(drop=True)
    if reg.eval_pred is not None and len(reg.eval_pred) == len(frame):
        frame = frame.assign(**{PREDICTION_COLUMN: pd.Series(reg.eval_pred).astype(str)})
        if reg.eval_proba is not None and reg.eval_proba.ndim == 2:
            frame = frame.assign(**{SCORE_COLUMN: reg.eval_proba[:, -1]})
    return frame


def reference_profile(artifacts: ArtifactStore) -> EvidenceCollector:
    def collect(reg: Registration) -> dict[str, dict[str, Any]]:
        from mlwarden.engines.profile import profile

        frame = reference_frame(reg)
        if frame is None:
            return {"reference_profile": skipped("no training or evaluation data given")}
        frame = frame.drop(columns=[c for c in reg.identifying if c in frame.columns])
        categorical = [c for c in (PREDICTION_COLUMN,) if c in frame.columns]
        prof = profile(frame, reference=True, categorical=categorical)
        # staged on the registration, written by RegistryService.commit
        digest = reg.put_blob(prof.to_bytes())
        # one reference per group of each sensitive feature, so a monitored segment is
        # compared with the same group at registration, not with everyone
        segments: dict[str, dict[str, str]] = {}
        for col in reg.sensitive_names:
            if col not in frame.columns or frame[col].nunique() > MAX_SEGMENT_VALUES:
                continue
            values = frame[col].astype(str)
            segments[col] = {
                value: reg.put_blob(
                    profile(part, reference=True, categorical=categorical).to_bytes()
                )
                for value, part in frame.groupby(values, sort=True, observed=True)
                if len(part) >= MIN_SEGMENT_ROWS
            }
        return {
            "reference_profile": {
                "status": "ok",
                "artifact_sha256": digest,
                "rows": len(frame),
                "source": "eval" if reg.eval_X is not None else "train",
                "excluded_identifying_columns": list(reg.identifying),
                "segments": segments,
                "summary": prof.to_dict(),
            }
        }

    return collect


def fairness_audit(reg: Registration) -> dict[str, dict[str, Any]]:
    from mlwarden.engines.fairness import audit

    role = "eval" if "eval" in reg.sensitive else "train"
    if not reg.sensitive_names:
        return {"fairness": skipped("no sensitive features named")}
    if reg.eval_y is None or reg.eval_pred is None or role not in reg.sensitive:
        return {"fairness": skipped("no labelled evaluation data with the sensitive features")}
    task = "classification" if reg.classes is not None else "regression"
    try:
        report = audit(
            reg.eval_y,
            reg.eval_pred,
            sensitive_features=reg.sensitive[role],
            # scores as the probability of the favourable outcome, whichever class that is
            y_score=(
                reg.eval_proba[:, list(reg.classes).index(reg.favorable)]
                if reg.eval_proba is not None
                and reg.eval_proba.ndim == 2
                and reg.classes is not None
                and len(reg.classes) == 2
                else None
            ),
            favorable_label=reg.favorable,
            task=task,
        )
    except ValidationError as exc:
        return {"fairness": skipped(exc.message)}
    return {"fairness": {"status": "ok", **report.to_dict()}}


def explanation_summary(reg: Registration) -> dict[str, dict[str, Any]]:
    from mlwarden.engines.explain import explainer_for

    X = reg.train_X if reg.train_X is not None else reg.eval_X
    target = reg.eval_X if reg.eval_X is not None else X
    if X is None or target is None:
        return {"explain": skipped("no data to explain")}
    rng = np.random.default_rng(0)

    def sample(frame: pd.DataFrame, n: int) -> pd.DataFrame:
        return frame.iloc[rng.choice(len(frame), min(n, len(frame)), replace=False)]

    try:
        explainer = explainer_for(reg.model, sample(X, BACKGROUND_ROWS))
        n_rows = EXPLAIN_ROWS
        if explainer.method.startswith("permutation"):
            explainer = explainer_for(reg.model, sample(X, PERMUTATION_BACKGROUND))
            n_rows = PERMUTATION_ROWS
        summary = explainer.importance_summary(sample(target, n_rows))
    except (ValidationError, MissingDependency) as exc:
        return {"explain": skipped(exc.message)}
    out = {"explain": {"status": "ok", **summary}}
    if explainer.method == "linear_exact":
        out["explain_background"] = linear_background(
            explainer, "train" if reg.train_X is not None else "eval"
        )
    return out


def linear_background(explainer: Any, source: str) -> dict[str, Any]:
    """What a server needs to give a linear model's reason codes: the background's mean per
    feature as the final estimator sees it (after a Pipeline's preprocessing). The formula
    ``coef · (x − mean)`` needs nothing else, so no row and no input value is stored: the
    background is masked down to one aggregate per feature over at most BACKGROUND_ROWS rows,
    the same sample (and ``background_hash``) as the ``explain`` evidence."""
    return {
        "status": "ok",
        "method": explainer.method,
        "form": "means",
        "means": [float(v) for v in explainer.mean_],
        "rows": len(explainer.background_),
        "source": source,
        "background_hash": explainer.background_hash_,
        "output_space": explainer.output_space_,
    }


def privacy_scan(reg: Registration) -> dict[str, dict[str, Any]]:
    """Which training columns hold personal data (``privacy.pii_features`` for policies)."""
    from mlwarden.privacy import scan

    X = reg.train_X if reg.train_X is not None else reg.eval_X
    if X is None:
        return {"privacy": skipped("no data to scan")}
    report = scan(X)
    reg.identifying = sorted(
        {f.column for f in report.findings if f.kind in ("identifier", "free_text")}
    )
    return {"privacy": {"status": "ok", **report.to_dict()}}


def score_calibration(reg: Registration) -> dict[str, dict[str, Any]]:
    """The isotonic map from positive-class score to probability that performance estimates
    (CBPE) use before labels arrive, fitted on the labelled evaluation data."""
    from mlwarden.engines.cbpe import calibration_evidence

    if reg.eval_y is None or reg.eval_X is reg.train_X:
        # training scores carry the model's over-fit: calibrating on them would hide it
        return {"calibration": skipped("no labelled evaluation data held out from training")}
    if reg.classes is None or len(reg.classes) != 2 or reg.eval_proba is None:
        return {"calibration": skipped("not a binary classifier with scores")}
    return {"calibration": calibration_evidence(reg.eval_y, reg.eval_proba[:, -1], reg.classes[-1])}


def default_collectors(artifacts: ArtifactStore) -> list[Callable[[Registration], Any]]:
    # privacy first: the profile leaves out the identifying columns it finds
    return [
        privacy_scan,
        reference_profile(artifacts),
        fairness_audit,
        explanation_summary,
        score_calibration,
    ]
