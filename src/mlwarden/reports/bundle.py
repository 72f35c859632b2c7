"""Signed evidence bundles: write one zip per version, verify it offline.

Layout::

    manifest.json        sha256 of every other file, the ref, the signing key's id
    manifest.sig         Ed25519 signature (base64) of manifest.json's exact bytes
    pubkey.pem           the audit public key (listed in the manifest too)
    documents/*.md|html  model card, Annex IV, gap report, instructions, monitoring plan, diff
    evidence/KIND.json   each evidence record in the registry's canonical JSON, so its sha256
                         is the digest the version (and its audit event) recorded
    registry/*.json      the model and version records
    policy/decisions.json, approvals/approvals.json
    audit/events.json    the version's governance events (registration, approvals, decisions,
                         alias moves), with payloads and salts
    audit/proofs.json    an inclusion proof of each event in the tree of the checkpoint
    audit/checkpoint.json  the signed checkpoint the proofs lead to

The manifest is signed with the audit log's key, so one public key checks both the bundle and
the log; the manifest is JSON (it starts with ``{``) and can never be mistaken for a
checkpoint's signed text (which starts with ``mlwarden-audit``). Verification needs nothing
but the zip (and, to pin the signer, the public key given separately): ``openssl pkeyutl
-verify -pubin -inkey pubkey.pem -rawin -in manifest.json -sigfile <(base64 -d manifest.sig)``
checks the signature without Warden.
"""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature

from mlwarden.audit.log import InclusionProof
from mlwarden.audit.signing import (
    Checkpoint,
    key_id,
    load_private_key,
    load_public_key,
    public_key_pem,
)
from mlwarden.entities.audit import AuditEvent
from mlwarden.errors import IntegrityError, ValidationError, WardenError
from mlwarden.reports.bundle_check import BundleVerification, Problem
from mlwarden.reports.context import canonical_bytes, gather, sha256_hex

if TYPE_CHECKING:
    from mlwarden.reports.source import ReportSource

FORMAT = "mlwarden-evidence-bundle"
FORMAT_VERSION = 1
MANIFEST, SIGNATURE, PUBKEY = "manifest.json", "manifest.sig", "pubkey.pem"
#: Fixed zip timestamps: the same state gives the same bytes for each file.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_BUNDLE_BYTES = 2 << 30
EVENT_FIELDS = (
    "seq",
    "time",
    "actor",
    "action",
    "subject",
    "payload_digest",
    "payload_json",
    "salt",
)
DOCUMENTS = ("card", "annex-iv", "gaps", "instructions", "monitoring-plan", "art12", "soa")


def _json(value: Any) -> bytes:
    from mlwarden._json import jsonable

    return (
        json.dumps(jsonable(value), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode()


def _signing_key(wd: ReportSource) -> Any:
    from mlwarden.store.sql.audit import key_path

    path = key_path(wd.settings)
    if not path.exists():
        raise WardenError(
            f"no audit signing key at {path}: a bundle is signed with it", field="key_file"
        )
    key = load_private_key(path)
    if wd.audit.public_key is not None and key_id(key.public_key()) != key_id(wd.audit.public_key):
        raise IntegrityError(f"the key at {path} is not this store's audit key", path=str(path))
    return key


def bundle_files(wd: ReportSource, ref: str) -> dict[str, bytes]:
    """Every file of the bundle but the manifest and its signature."""
    from mlwarden.reports import KINDS, document, previous_context
    from mlwarden.reports.render import to_html

    ctx = gather(wd, ref)
    files: dict[str, bytes] = {}
    for kind in DOCUMENTS:
        text = document(wd, kind, ctx)
        files[f"documents/{KINDS[kind]}.md"] = text.encode()
        files[f"documents/{KINDS[kind]}.html"] = to_html(text).encode()
    if ctx.ev("ll144") is not None:  # recorded audits only: most models are not AEDTs
        from mlwarden.reports.ll144 import ll144_csv

        text = document(wd, "ll144", ctx)
        stem = f"documents/{KINDS['ll144']}"
        files[f"{stem}.md"], files[f"{stem}.html"] = text.encode(), to_html(text).encode()
        files[f"{stem}.csv"] = ll144_csv(ctx.evidence["ll144"].content).encode()
    for kind in ("validation", "oversight"):  # recorded after registration, when they were
        if ctx.ev(kind) is not None:
            text = document(wd, kind, ctx)
            stem = f"documents/{KINDS[kind]}"
            files[f"{stem}.md"], files[f"{stem}.html"] = text.encode(), to_html(text).encode()
    prev = previous_context(wd, ctx)
    if prev is not None:
        text = document(wd, "diff", prev, ctx)
        stem = f"documents/diff-from-v{prev.version.version}"
        files[f"{stem}.md"], files[f"{stem}.html"] = text.encode(), to_html(text).encode()
    for kind, item in ctx.evidence.items():
        files[f"evidence/{kind}.json"] = canonical_bytes(item.content)
    files["registry/model.json"] = _json(ctx.model.to_dict())
    files["registry/version.json"] = _json(ctx.version.to_dict())
    files["policy/decisions.json"] = _json(ctx.decisions)
    files["approvals/approvals.json"] = _json(
        {"approvals": ctx.approvals, "status": ctx.approval_status}
    )
    checkpoint = wd.audit.checkpoint()
    # Proofs against one explicit tree size: events appended meanwhile cannot skew them.
    events = [e for e in ctx.audit_events if e.seq <= checkpoint.tree_size]
    files["audit/events.json"] = _json([{f: getattr(e, f) for f in EVENT_FIELDS} for e in events])
    files["audit/proofs.json"] = _json(
        [wd.audit.prove(e.seq, checkpoint.tree_size).to_dict() for e in events]
    )
    files["audit/checkpoint.json"] = _json(checkpoint.to_dict())
    return files


def write_bundle(wd: ReportSource, ref: str, path: str | Path) -> Path:
    """Write the signed evidence bundle of ``ref`` to ``path`` (a ``.zip``)."""
    key = _signing_key(wd)
    public = key.public_key()
    mv = wd.get_model_version(ref)
    files = bundle_files(wd, mv.ref)
    files[PUBKEY] = public_key_pem(public).encode()
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "ref": mv.ref,
        "created_by": wd.actor,
        "key_id": key_id(public),
        "evidence": dict(mv.evidence),
        "files": {name: sha256_hex(data) for name, data in sorted(files.items())},
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    signature = base64.b64encode(key.sign(manifest_bytes)) + b"\n"
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [
            (MANIFEST, manifest_bytes),
            (SIGNATURE, signature),
            *sorted(files.items()),
        ]:
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
    return out


def verify_bundle(path: str | Path, pubkey: Any = None) -> BundleVerification:
    """Check a bundle offline: the manifest's signature (against ``pubkey`` when given, else
    the bundled key), every file's hash, no file missing or extra, each audit event against
    its inclusion proof and the signed checkpoint, and each evidence file against the digest
    its registration event recorded. Never raises for a bad bundle: read ``.problems``."""
    result = BundleVerification(path=str(path))
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ValidationError(f"{path} is not a readable zip file: {exc}", path=str(path)) from exc
    with zf:
        total = sum(i.file_size for i in zf.infolist())
        if total > MAX_BUNDLE_BYTES:
            # read into memory below: refuse a zip bomb before inflating it
            raise ValidationError(
                f"{path} would inflate to {total:,} bytes (limit {MAX_BUNDLE_BYTES:,})",
                path=str(path),
            )
        names = zf.namelist()
        for dup in sorted({n for n in names if names.count(n) > 1}):
            result.add(dup, Problem.DUPLICATE, "appears more than once in the zip")
        data = {n: zf.read(n) for n in set(names)}
    key = _verify_signature(data, pubkey, result)
    manifest = _load(data, MANIFEST, result)
    if not isinstance(manifest, dict) or "files" not in manifest:
        result.add(MANIFEST, Problem.UNREADABLE, "no file list in the manifest")
        return result
    result.ref = manifest.get("ref")
    listed: dict[str, str] = manifest["files"]
    for name, digest in sorted(listed.items()):
        if name not in data:
            result.add(name, Problem.MISSING, "listed in the manifest but not in the bundle")
        elif sha256_hex(data[name]) != digest:
            result.add(
                name,
                Problem.ALTERED,
                f"sha256 {sha256_hex(data[name])[:16]}… differs from the manifest's {digest[:16]}…",
            )
    for name in sorted(set(data) - set(listed) - {MANIFEST, SIGNATURE}):
        result.add(name, Problem.EXTRA, "in the bundle but not in the manifest")
    if key is not None:
        _verify_audit(data, key, result)
    return result


def _load(data: dict[str, bytes], name: str, result: BundleVerification) -> Any:
    if name not in data:
        result.add(name, Problem.MISSING, "required file is absent")
        return None
    try:
        return json.loads(data[name])
    except ValueError as exc:
        result.add(name, Problem.UNREADABLE, f"not JSON: {exc}")
        return None


def _verify_signature(data: dict[str, bytes], pubkey: Any, result: BundleVerification) -> Any:
    bundled = None
    if PUBKEY in data:
        try:
            bundled = load_public_key(data[PUBKEY])
        except ValidationError as exc:
            result.add(PUBKEY, Problem.UNREADABLE, exc.message)
    key = load_public_key(pubkey) if pubkey is not None else bundled
    if key is None:
        result.add(PUBKEY, Problem.MISSING, "no public key to check the signature with")
        return None
    result.key_id = key_id(key)
    result.pinned = pubkey is not None
    if MANIFEST not in data or SIGNATURE not in data:
        for name in (MANIFEST, SIGNATURE):
            if name not in data:
                result.add(name, Problem.MISSING, "required file is absent")
        return key
    try:
        claimed = json.loads(data[MANIFEST]).get("key_id")
    except (ValueError, AttributeError):
        claimed = None
    try:
        key.verify(base64.b64decode(data[SIGNATURE], validate=False), data[MANIFEST])
    except (InvalidSignature, ValueError):
        if pubkey is not None and claimed and claimed != result.key_id:
            result.add(
                SIGNATURE,
                Problem.WRONG_KEY,
                f"the bundle was signed by key {claimed}, not the given key {result.key_id}",
            )
        else:
            result.add(
                SIGNATURE,
                Problem.BAD_SIGNATURE,
                f"the manifest signature does not verify with key {result.key_id}",
            )
    return key


def _verify_audit(data: dict[str, bytes], key: Any, result: BundleVerification) -> None:
    raw_cp = _load(data, "audit/checkpoint.json", result)
    raw_events = _load(data, "audit/events.json", result) or []
    raw_proofs = _load(data, "audit/proofs.json", result) or []
    if raw_cp is None:
        return
    try:
        cp = Checkpoint.from_dict(raw_cp)
        events = [AuditEvent(**{f: e.get(f) for f in EVENT_FIELDS}) for e in raw_events]
        proofs = {
            p["seq"]: InclusionProof(
                p["seq"], p["tree_size"], p["leaf_hash"], tuple(p["path"]), p["root_hash"]
            )
            for p in raw_proofs
        }
    except (KeyError, TypeError, ValueError) as exc:
        result.add("audit/", Problem.UNREADABLE, f"malformed audit record: {exc}")
        return
    if not cp.verify(key):
        result.add(
            "audit/checkpoint.json",
            Problem.BAD_CHECKPOINT,
            f"checkpoint of tree size {cp.tree_size} is not signed by key {result.key_id}",
        )
        return
    result.checkpoint = cp.to_dict()
    recorded: dict[Any, AuditEvent] = {}
    for e in events:
        where = f"audit/events.json#seq={e.seq}"
        if not e.payload_ok():
            result.add(where, Problem.BAD_PROOF, f"{e.action} payload does not match its digest")
        proof = proofs.get(e.seq)
        if proof is None:
            result.add(
                f"audit/proofs.json#seq={e.seq}",
                Problem.MISSING,
                "no inclusion proof for this event",
            )
        elif not proof.verify_event(e, cp, key):
            result.add(
                where,
                Problem.BAD_PROOF,
                f"{e.action} is not proven in the signed tree of size {cp.tree_size}",
            )
        else:
            result.proven += 1
        if e.action == "version.register" and e.payload:
            _check_evidence(data, e, result)
        if e.action == "evidence.record" and e.payload:
            recorded[e.payload.get("kind")] = e  # the latest recording is the one in force
    for event in recorded.values():
        payload = event.payload or {}
        _check_evidence(data, event, result, {payload.get("kind"): payload.get("sha256")})


def _check_evidence(
    data: dict[str, bytes],
    event: AuditEvent,
    result: BundleVerification,
    digests: dict[Any, Any] | None = None,
) -> None:
    """Evidence files against the digests the (proven) registration event recorded, or
    ``digests`` (an ``evidence.record`` event's): ties the documents' sources to the audit
    log, not only to the bundle's own manifest."""
    if digests is None:
        digests = (event.payload or {}).get("evidence", {})
    for kind, digest in digests.items():
        name = f"evidence/{kind}.json"
        if name in data and sha256_hex(data[name]) != digest:
            result.add(
                name,
                Problem.EVIDENCE_MISMATCH,
                f"sha256 differs from the digest recorded in audit event {event.seq}",
            )
