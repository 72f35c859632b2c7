"""Verify a decision receipt offline (``mlwarden receipt verify FILE --pubkey KEY``).

Needs nothing but the file (JSON, or the Markdown/HTML rendering that carries it) and, to pin
the signer, the audit public key: the signature over the receipt's canonical JSON, then the
audit chain inside it: the batch's ids contain the prediction and hash to the event's
``ids_sha256``, the event's payload matches its digest, and its inclusion proof leads to a
checkpoint signed by the same key. Any edited field breaks the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from mlwarden.errors import ValidationError

#: A receipt is a few kilobytes (its batch's ids aside): refuse to read anything huge.
MAX_RECEIPT_BYTES = 64 << 20


def extract(text: str) -> dict[str, Any]:
    """The signed receipt inside JSON, Markdown (fenced ``json mlwarden-receipt``) or HTML
    (``<script id="mlwarden-receipt">``) text."""
    from mlwarden.reports.receipt import HTML_ID, MD_BEGIN

    raw = text
    if MD_BEGIN in text:
        raw = text.split(MD_BEGIN, 1)[1].split("\n```", 1)[0]
    elif f'id="{HTML_ID}"' in text:
        m = re.search(rf'<script type="application/json" id="{HTML_ID}">(.*?)</script>', text, re.S)
        raw = m.group(1) if m else ""
    try:
        signed = json.loads(raw)
    except ValueError as exc:
        raise ValidationError(f"no readable receipt in the file: {exc}", field="file") from exc
    if not isinstance(signed, dict) or not isinstance(signed.get("receipt"), dict):
        raise ValidationError("the file holds no signed receipt", field="file")
    return signed


def verify_receipt(source: str | Path | dict[str, Any], pubkey: Any = None) -> list[str]:
    """The problems found (empty when the receipt verifies). ``source``: a path or the signed
    dict; ``pubkey``: PEM/base64 text, bytes or a path (else the receipt's own key, which
    only shows it is self-consistent, not who signed it)."""
    from cryptography.exceptions import InvalidSignature

    from mlwarden.audit.signing import key_id, load_public_key
    from mlwarden.reports.context import canonical_bytes
    from mlwarden.reports.receipt import FORMAT

    if isinstance(source, dict):
        signed = source
    else:
        path = Path(source)
        if path.stat().st_size > MAX_RECEIPT_BYTES:
            raise ValidationError(f"{path} is over {MAX_RECEIPT_BYTES:,} bytes", field="file")
        signed = extract(path.read_text(encoding="utf-8", errors="replace"))
    problems: list[str] = []
    if signed.get("format") != FORMAT:
        problems.append(f"format is {signed.get('format')!r}, not {FORMAT!r}")
    try:
        key = load_public_key(pubkey if pubkey is not None else str(signed.get("public_key") or ""))
    except ValidationError as exc:
        return [f"no usable public key: {exc.message}"]
    if signed.get("key_id") != key_id(key):
        problems.append(f"signed by key {signed.get('key_id')}, not the given key {key_id(key)}")
    try:
        key.verify(
            base64.b64decode(str(signed.get("signature") or ""), validate=False),
            canonical_bytes(signed["receipt"]),
        )
    except (InvalidSignature, ValueError):
        problems.append(f"the signature does not verify with key {key_id(key)}")
    problems += _proof_problems(signed["receipt"], key)
    return problems


def _proof_problems(receipt: dict[str, Any], key: Any) -> list[str]:
    from mlwarden.audit.log import InclusionProof
    from mlwarden.entities.audit import AuditEvent, Checkpoint

    proof = receipt.get("proof")
    if not proof:
        return []  # the receipt says why in its notes; the signature covers that
    try:
        event = AuditEvent(**proof["event"])
        cp = Checkpoint.from_dict(proof["checkpoint"])
        p = proof["proof"]
        inclusion = InclusionProof(
            p["seq"], p["tree_size"], p["leaf_hash"], tuple(p["path"]), p["root_hash"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        return [f"malformed audit proof: {exc}"]
    try:
        return _chain_problems(receipt, proof, event, cp, inclusion, key)
    except (KeyError, TypeError, ValueError) as exc:  # an edited hash that is not hex
        return [f"malformed audit proof: {exc}"]


def _chain_problems(
    receipt: dict[str, Any], proof: dict[str, Any], event: Any, cp: Any, inclusion: Any, key: Any
) -> list[str]:
    problems = []
    if not cp.verify(key):
        problems.append(f"the checkpoint of tree size {cp.tree_size} is not signed by the key")
    if not event.payload_ok():
        problems.append(f"audit event {event.seq}'s payload does not match its digest")
    if not inclusion.verify_event(event, cp, key):
        problems.append(f"audit event {event.seq} is not proven in the signed tree")
    ids, payload = proof.get("ids"), event.payload or {}
    if ids is not None:
        if receipt["prediction"]["id"] not in ids:
            problems.append("the prediction is not among its batch's ids")
        if hashlib.sha256("\n".join(ids).encode()).hexdigest() != payload.get("ids_sha256"):
            problems.append("the batch's ids do not hash to the event's ids_sha256")
    return problems
