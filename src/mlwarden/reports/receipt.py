"""Decision receipts (GDPR Art. 15(1)(h) and 22, adverse-action notices): one signed document
per prediction that its data subject or an auditor can check offline.

A receipt holds the prediction's inputs as masked at logging, its output and score, the
version that decided and its approvals, the reason codes, a counterfactual (the smallest
change to one actionable feature that flips the output, found by
:mod:`mlwarden.engines.counterfactual` and checked against the model), and the inclusion
proof of the ``predictions.log`` audit event of the prediction's batch in a signed
checkpoint. The version's sensitive features (protected attributes) appear nowhere: not as
inputs, not as reasons, not as a change; their names are listed as withheld.

The signed JSON::

    {"format": "mlwarden-decision-receipt", "version": 1, "receipt": {...},
     "key_id": "...", "public_key": "<PEM>", "signature": "<base64 Ed25519 of
     canonical_bytes(receipt)>"}

Markdown and HTML renderings carry the signed JSON inside them (a fenced block, a
``<script type="application/json">``), so the document a person reads is the one that
verifies (:mod:`mlwarden.reports.receipt_check`). A PDF is for reading only.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from mlwarden.audit.signing import key_id, public_key_pem
from mlwarden.errors import ValidationError
from mlwarden.reports.context import canonical_bytes

FORMAT = "mlwarden-decision-receipt"
FORMAT_VERSION = 1
FORMATS = ("json", "md", "html", "pdf")
#: Model tags a registrant sets to constrain counterfactuals (comma lists).
IMMUTABLE_TAG = "counterfactual.immutable"
MONOTONE_TAG = "counterfactual.monotone"  # "age:+,debt:-"
MD_BEGIN, MD_END = "```json mlwarden-receipt", "```"
HTML_ID = "mlwarden-receipt"


def build_receipt(wd: Any, prediction_id: str, *, unseal: bool = True) -> dict[str, Any]:
    """The unsigned receipt of one prediction (see the module docstring)."""
    found = wd.prediction_log.get(prediction_id, wd.audit, unseal=unseal)
    mv = wd.registry.get_version(f"{found['model']}@{found['version']}")
    model = wd.get_model(mv.name)
    protected = list(mv.sensitive_features)
    status = wd.approval_status(mv.ref)
    receipt: dict[str, Any] = {
        "prediction": {
            "id": found["id"],
            "time": found["ts"],
            "output": found["output"],
            "score": _number(found["score"]),
            "erased": bool(found["erased"]),
            "sealed": bool(found["sealed"]),
        },
        "inputs": None
        if found["inputs"] is None
        else {k: v for k, v in found["inputs"].items() if k not in protected},
        "protected_attributes_withheld": protected,
        "version": {
            "ref": mv.ref,
            "artifact_sha256": mv.artifact_sha256,
            "flavor": mv.flavor,
            "status": mv.status,
            "risk_tier": model.risk_tier,
            "intended_use": model.intended_use,
            "registered_by": mv.created_by,
            "registered_at": mv.created_at.isoformat(),
            "approvals": [
                {
                    "approver": a.approver,
                    "role": a.role,
                    "at": a.created_at.isoformat(),
                    "comment": a.comment,
                }
                for a in wd.approvals(mv.ref)
            ],
            "approvals_required": status.required,
        },
        "reasons": None,
        "counterfactual": None,
        "notes": [],
        "proof": None,
    }
    notes: list[str] = receipt["notes"]
    if found["erased"]:
        notes.append(
            "the data subject's data was erased (crypto-shredded): inputs, output and reasons "
            "can no longer be read by anyone; the audit proof still shows the decision was logged"
        )
    elif found["sealed"]:
        notes.append("subject-linked data is sealed for this reader (needs subject.read)")
    else:
        served = _served(wd, mv)
        contrast = _multiclass(wd, served, found, protected, notes)
        if contrast is not None:
            receipt["reasons"] = contrast["codes"]
        else:
            receipt["reasons"] = _reasons(served, found, protected, notes)
        receipt["counterfactual"] = _counterfactual(
            wd, served, model, found, protected, notes,
            target=None if contrast is None else contrast["versus"],
        )  # fmt: skip
    receipt["proof"] = _proof(wd, found, notes)
    return receipt


def _number(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _reasons(
    served: Any, found: dict[str, Any], protected: list[str], notes: list[str]
) -> list[dict[str, Any]] | None:
    """The reason codes logged with the prediction, else computed now for its logged inputs;
    a protected attribute is never cited either way."""
    codes = found["reasons"]
    if codes is None:
        try:
            codes = served.explain([found["inputs"]], exclude=protected).codes[0]
            notes.append("reason codes computed for this receipt (none were logged)")
        except Exception as exc:  # any explainer failure: the receipt says so, never 500s
            notes.append(f"no reason codes: {type(exc).__name__}: {exc}")
            return None
    return [c for c in codes if str(c.get("feature")) not in set(protected)]


def _multiclass(
    wd: Any, served: Any, found: dict[str, Any], protected: list[str], notes: list[str]
) -> dict[str, Any] | None:
    """For a model of three or more classes: reason codes of the predicted class against the
    runner-up (:mod:`mlwarden.engines.contrast`); ``None`` for any other model."""
    from mlwarden.engines.contrast import contrast_reasons
    from mlwarden.serving.core import InputSpec

    classes = served.classes
    row = found["inputs"] or {}
    if classes is None or len(classes) < 3 or served.proba([row]) is None:
        return None
    spec = InputSpec.from_signature(served.mv.signature)
    columns = _profile_columns(wd, served.mv)
    reference: dict[str, Any] = {}
    for name in spec.names:
        col = columns.get(name) or {}
        if name in protected or name not in row:
            continue
        if spec.types.get(name) == "category" and col.get("top"):
            reference[name] = next(iter(col["top"]))
        elif spec.types.get(name) in ("integer", "float") and col.get("mean") is not None:
            mean = float(col["mean"])
            reference[name] = round(mean) if spec.types[name] == "integer" else mean
    try:
        contrast = contrast_reasons(served.proba, row, list(classes), reference)
    except Exception as exc:  # the receipt says so, never 500s
        notes.append(f"no reason codes: {type(exc).__name__}: {exc}")
        return None
    if str(contrast["predicted"]) != str(found["output"]):
        notes.append("no reason codes: the logged inputs (as masked) do not reproduce the "
                     "logged output")  # fmt: skip
        return {**contrast, "codes": None}
    notes.append(
        f"a multiclass decision: reasons and counterfactual compare the predicted class "
        f"{contrast['predicted']!r} with the runner-up {contrast['versus']!r} (probability "
        f"lead {contrast['lead']:.3f}); contributions are against the training mean or most "
        "frequent category"
    )
    return contrast


def _served(wd: Any, mv: Any) -> Any:
    from mlwarden.serving.core import served_for

    served = served_for(mv, wd.registry.load_model(mv.ref))
    # a linear model is explained against the background stored at its registration
    served.evidence = lambda v, kind: wd.registry.get_evidence(v.ref, kind)
    return served


def feature_constraints(
    model_tags: dict[str, str], immutable: list[str], monotone: list[str]
) -> tuple[set[str], dict[str, str]]:
    """Immutable features and monotone directions from the model's tags and the settings
    (the tags add to the settings; a tag's direction wins)."""
    fixed = set(immutable) | {
        n.strip() for n in model_tags.get(IMMUTABLE_TAG, "").split(",") if n.strip()
    }
    directions: dict[str, str] = {}
    for item in [*monotone, *model_tags.get(MONOTONE_TAG, "").split(",")]:
        if not item.strip():
            continue
        name, _, sign = item.strip().rpartition(":")
        if sign not in ("+", "-") or not name:
            raise ValidationError(
                f"a monotone feature is NAME:+ or NAME:-, got {item.strip()!r}",
                field="monotone_features",
            )
        directions[name] = sign
    return fixed, directions


def _counterfactual(
    wd: Any,
    served: Any,
    model: Any,
    found: dict[str, Any],
    protected: list[str],
    notes: list[str],
    *,
    target: Any = None,
) -> dict[str, Any] | None:
    from mlwarden.engines.counterfactual import FeatureSpace, find_counterfactual
    from mlwarden.serving.core import InputSpec

    mv = served.mv
    spec = InputSpec.from_signature(mv.signature)
    row = found["inputs"] or {}
    fixed, directions = feature_constraints(
        dict(model.tags or {}), wd.settings.immutable_features, wd.settings.monotone_features
    )

    def predict(records: list[dict[str, Any]]) -> list[Any]:
        return list(served.predict(records).outputs)

    # the logged (masked) inputs must reproduce the logged decision, else a change found on
    # them would explain some other decision
    if str(predict([row])[0]) != str(found["output"]):
        notes.append(
            "no counterfactual: the logged inputs (as masked) do not reproduce the logged output"
        )
        return None
    columns = _profile_columns(wd, mv)
    spaces = []
    for name in spec.names:
        if name in fixed or name in protected:
            continue
        kind = spec.types.get(name)
        if kind == "category":
            spaces.append(
                FeatureSpace(name, "category", categories=spec.category_lists.get(name, ()))
            )
        elif kind in ("integer", "float") and isinstance(row.get(name), int | float):
            col = columns.get(name) or {}
            std = col.get("std") or 0.0
            spaces.append(
                FeatureSpace(
                    name,
                    low=col.get("min"),
                    high=col.get("max"),
                    scale=float(std) if std and std > 0 else 1.0,
                    direction=directions.get(name),
                    integer=kind == "integer",
                )
            )
    found_cf = find_counterfactual(predict, row, spaces, model=served.model, target=target)
    if found_cf is None:
        into = "" if target is None else f" into {target!r}"
        notes.append(
            f"no single change to an actionable feature within its range flips the output{into}"
        )
        return None
    out = found_cf.to_dict()
    if target is not None:
        out["target"] = target
    out["immutable"] = sorted(fixed | set(protected))
    out["monotone"] = dict(sorted(directions.items()))
    return out


def _profile_columns(wd: Any, mv: Any) -> dict[str, Any]:
    if "reference_profile" not in mv.evidence:
        return {}
    profile = wd.get_evidence(mv.ref, "reference_profile")
    return dict(((profile or {}).get("summary") or {}).get("columns") or {})


def _proof(wd: Any, found: dict[str, Any], notes: list[str]) -> dict[str, Any] | None:
    """The batch's audit event, its ids, and its inclusion proof in a signed checkpoint that
    holds it (one is signed now when the latest does not)."""
    batch = found.get("proof")
    if batch is None:
        notes.append(f"no audit proof: {found.get('proof_note')}")
        return None
    checkpoint = wd.audit.checkpoint()
    seq = batch["event"]["seq"]
    return {
        "event": batch["event"],
        "ids": batch["ids"],
        "proof": wd.audit.prove(seq, checkpoint.tree_size).to_dict(),
        "checkpoint": checkpoint.to_dict(),
    }


# --------------------------------------------------------------------------- signing


def sign_receipt(wd: Any, receipt: dict[str, Any]) -> dict[str, Any]:
    """The receipt signed with the audit log's key (one public key checks both)."""
    from mlwarden._json import jsonable
    from mlwarden.reports.bundle import _signing_key

    key = _signing_key(wd)
    body = jsonable(receipt)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "receipt": body,
        "key_id": key_id(key.public_key()),
        "public_key": public_key_pem(key.public_key()),
        "signature": base64.b64encode(key.sign(canonical_bytes(body))).decode(),
    }


def receipt(wd: Any, prediction_id: str, *, unseal: bool = True) -> dict[str, Any]:
    """The signed receipt of one prediction."""
    return sign_receipt(wd, build_receipt(wd, prediction_id, unseal=unseal))


# --------------------------------------------------------------------------- rendering


def to_markdown(signed: dict[str, Any]) -> str:
    """A readable receipt with the signed JSON at its end (what the verifier reads)."""
    r = signed["receipt"]
    p, v = r["prediction"], r["version"]
    lines = [
        f"# Decision receipt {p['id']}",
        "",
        f"Decision made by **{v['ref']}** at {p['time']}: output **{p['output']}**"
        + (f" (score {p['score']:.4f})" if isinstance(p["score"], int | float) else "")
        + ".",
        "",
        "## Your data as the model saw it (masked at logging)",
        "",
    ]
    if r["inputs"] is None:
        lines.append("_Not available: see the notes._")
    else:
        lines += ["| feature | value |", "|---|---|"]
        lines += [f"| {k} | {val} |" for k, val in r["inputs"].items()]
    if r["protected_attributes_withheld"]:
        lines += [
            "",
            "Protected attributes are not shown and are never cited as reasons: "
            + ", ".join(r["protected_attributes_withheld"])
            + ".",
        ]
    lines += ["", "## Main reasons", ""]
    if r["reasons"]:
        versus = r["reasons"][0].get("versus")
        if versus is not None:  # a multiclass decision: against the runner-up class
            lines += [f"Why **{r['prediction']['output']}** rather than the runner-up "
                      f"**{versus}** (contribution to its probability lead):", ""]  # fmt: skip
        lines += ["| feature | value | contribution |", "|---|---|---|"]
        lines += [
            f"| {c.get('feature')} | {c.get('value')} | {_short(c.get('contribution'))} |"
            for c in r["reasons"]
        ]
    else:
        lines.append("_None recorded._")
    lines += ["", "## What would have changed the decision", ""]
    cf = r["counterfactual"]
    if cf:
        for name, ch in cf["changes"].items():
            lines.append(
                f"Had **{name}** been **{ch['to']}** instead of {ch['from']}, the output would "
                f"have been **{cf['output_after']}** instead of {cf['output_before']} "
                f"(found by {cf['method']}; immutable: {', '.join(cf['immutable']) or 'none'})."
            )
    else:
        lines.append("_No counterfactual: see the notes._")
    lines += ["", "## The model version", ""]
    lines.append(
        f"{v['ref']} (artifact sha256 `{v['artifact_sha256'][:16]}…`, {v['flavor']}, "
        f"risk tier {v['risk_tier']}), registered by {v['registered_by']} at "
        f"{v['registered_at']}; approvals ({len(v['approvals'])} of "
        f"{v['approvals_required']} required):"
    )
    lines += [f"- {a['approver']} ({a['role']}) at {a['at']}" for a in v["approvals"]] or ["- none"]
    lines += ["", "## Audit proof", ""]
    proof = r["proof"]
    if proof:
        lines.append(
            f"Logged in audit event #{proof['event']['seq']}, proven in the signed tree of "
            f"size {proof['checkpoint']['tree_size']} (root `{proof['checkpoint']['root_hash']}`)."
        )
    else:
        lines.append("_No proof: see the notes._")
    if r["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    lines += [
        "",
        "## Signature",
        "",
        f"Signed with key `{signed['key_id']}`. Check it offline with "
        "`mlwarden receipt verify FILE --pubkey KEY`; the signed document:",
        "",
        MD_BEGIN,
        json.dumps(signed, indent=2, sort_keys=True, ensure_ascii=False),
        MD_END,
        "",
    ]
    return "\n".join(lines)


def _short(value: Any) -> Any:
    return f"{value:+.4f}" if isinstance(value, float) else value


def to_html(signed: dict[str, Any]) -> str:
    from mlwarden.reports.render import to_html as page

    text = to_markdown(signed)
    head = text[: text.index(MD_BEGIN)]
    payload = json.dumps(signed, sort_keys=True, ensure_ascii=True).replace("</", "<\\/")
    html = page(head, title=f"Decision receipt {signed['receipt']['prediction']['id']}")
    script = f'<script type="application/json" id="{HTML_ID}">{payload}</script>'
    return html.replace("</body>", script + "\n</body>", 1)


def render_receipt(signed: dict[str, Any], fmt: str, out: Any = None) -> Any:
    """``json``, ``md`` or ``html`` text (written to ``out`` when given, returning the path),
    or a ``pdf`` file (``out`` required)."""
    from mlwarden.reports.render import deliver

    def text() -> str:
        if fmt == "json":
            return json.dumps(signed, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        return to_markdown(signed) if fmt == "md" else to_html(signed)

    return deliver(fmt, out, FORMATS, html=lambda: to_html(signed), text=text)
