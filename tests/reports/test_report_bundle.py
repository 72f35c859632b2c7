"""Evidence bundles: the round trip verifies; each kind of tampering is detected and named."""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import mlwarden as mw
from mlwarden.audit.signing import generate_key, public_key_pem
from mlwarden.reports.bundle_check import Problem
from mlwarden.reports.context import canonical_bytes, sha256_hex
from mlwarden.store.sql.audit import key_path, public_key_path


def rewrite(
    src: Path,
    dst: Path,
    edit: Callable[[str, bytes], bytes | None] = lambda n, d: d,
    add: dict[str, bytes] | None = None,
) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = edit(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def test_round_trip_verifies_with_pinned_key(bundle_store):
    wd, mv, path = bundle_store
    pub = public_key_path(key_path(wd.settings))
    result = mw.reports.verify_bundle(path, pub)
    assert result.ok, result.summary()
    assert result.pinned and result.ref == mv.ref
    # model.create, version.register, version.approve, policy.decision, alias.set
    assert result.proven >= 5
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        events = json.loads(zf.read("audit/events.json"))
        for kind, digest in mv.evidence.items():
            # evidence files hash to the digests the registry (and the audit log) recorded
            assert sha256_hex(zf.read(f"evidence/{kind}.json")) == digest
    assert {e["action"] for e in events} >= {
        "model.create",
        "version.register",
        "version.approve",
        "policy.decision",
        "alias.set",
    }
    assert {"documents/model-card.md", "documents/annex-iv.html", "pubkey.pem"} <= names
    assert set(manifest["files"]) == names - {"manifest.json", "manifest.sig"}


def test_unpinned_verification_says_so(bundle_store):
    _, _, path = bundle_store
    result = mw.reports.verify_bundle(path)
    assert result.ok and not result.pinned
    assert "pass --pubkey" in result.summary()


def _edit_json(name: str, data: bytes) -> bytes:
    content = json.loads(data)
    content["status"] = "tampered"
    return canonical_bytes(content)


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("edit-document", {("documents/model-card.md", Problem.ALTERED)}),
        (
            "edit-evidence",
            {
                ("evidence/fairness.json", Problem.ALTERED),
                ("evidence/fairness.json", Problem.EVIDENCE_MISMATCH),
            },
        ),
        ("delete-file", {("approvals/approvals.json", Problem.MISSING)}),
        ("add-file", {("documents/extra.md", Problem.EXTRA)}),
        ("swap-signature", {("manifest.sig", Problem.BAD_SIGNATURE)}),
        ("edit-manifest", {("manifest.sig", Problem.BAD_SIGNATURE)}),
        ("edit-event", {("audit/events.json", Problem.ALTERED)}),
    ],
)
def test_tampering_is_detected_and_named(bundle_store, tmp_path, case, expect):
    _, _, path = bundle_store
    out = tmp_path / f"{case}.zip"
    if case == "edit-document":
        rewrite(
            path, out, lambda n, d: d + b"\nAll clear." if n == "documents/model-card.md" else d
        )
    elif case == "edit-evidence":
        rewrite(path, out, lambda n, d: _edit_json(n, d) if n == "evidence/fairness.json" else d)
    elif case == "delete-file":
        rewrite(path, out, lambda n, d: None if n == "approvals/approvals.json" else d)
    elif case == "add-file":
        rewrite(path, out, add={"documents/extra.md": b"# Not signed\n"})
    elif case == "swap-signature":
        forged = base64.b64encode(generate_key().sign(b"{}")) + b"\n"
        rewrite(path, out, lambda n, d: forged if n == "manifest.sig" else d)
    elif case == "edit-manifest":
        rewrite(
            path,
            out,
            lambda n, d: d.replace(b'"ref": "', b'"ref": "x') if n == "manifest.json" else d,
        )
    elif case == "edit-event":
        rewrite(
            path,
            out,
            lambda n, d: d.replace(b'"bob"', b'"mallory"') if n == "audit/events.json" else d,
        )
    result = mw.reports.verify_bundle(out)
    assert not result.ok
    found = {(f.file, f.problem) for f in result.problems}
    assert expect <= found, result.summary()
    for file, _ in expect:
        assert file in result.summary()


def test_wrong_public_key_is_named(bundle_store, tmp_path):
    _, _, path = bundle_store
    other = tmp_path / "other.pub.pem"
    other.write_text(public_key_pem(generate_key().public_key()))
    result = mw.reports.verify_bundle(path, other)
    assert [(f.file, f.problem) for f in result.problems][:1] == [
        ("manifest.sig", Problem.WRONG_KEY)
    ]
    assert "not the given key" in result.summary()


def test_resigned_bundle_with_forged_key_fails_against_pinned_key(bundle_store, tmp_path):
    """An attacker who edits evidence, re-hashes and re-signs with their own key (and ships
    their pubkey.pem) passes an unpinned check only if the audit proofs still hold: they do
    not, because the checkpoint is signed by the real key."""
    wd, _, path = bundle_store
    forger = generate_key()
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    files["documents/model-card.md"] += b"\nForged."
    files["pubkey.pem"] = public_key_pem(forger.public_key()).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["files"] = {
        n: sha256_hex(d) for n, d in files.items() if n not in ("manifest.json", "manifest.sig")
    }
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    files["manifest.sig"] = base64.b64encode(forger.sign(files["manifest.json"]))
    out = tmp_path / "forged.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    unpinned = mw.reports.verify_bundle(out)
    assert ("audit/checkpoint.json", Problem.BAD_CHECKPOINT) in {
        (f.file, f.problem) for f in unpinned.problems
    }
    pinned = mw.reports.verify_bundle(out, public_key_path(key_path(wd.settings)))
    assert "manifest.sig" in pinned.files()


def test_bundle_round_trip_on_each_backend(governed, warden, tmp_path):
    path = warden.bundle(governed.ref, tmp_path / "b.zip")
    result = mw.reports.verify_bundle(path, warden.audit.public_key)
    assert result.ok, result.summary()
    assert result.proven >= 5


def test_not_a_zip_is_a_validation_error(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_text("hello")
    with pytest.raises(mw.ValidationError, match=r"bad\.zip"):
        mw.reports.verify_bundle(bad)


def test_evidence_edited_in_the_store_is_refused(warden):
    from sklearn.dummy import DummyClassifier
    from sqlalchemy import update

    from mlwarden.store.sql.schema import evidence

    mv = warden.register_model("edited", DummyClassifier().fit([[0], [1]], [0, 1]))
    with warden.db.transaction() as conn:
        conn.execute(
            update(evidence)
            .where(evidence.c.kind == "fairness")
            .values(content={"status": "ok", "summary": {}})
        )
    with pytest.raises(mw.IntegrityError, match="edited@1 fairness evidence"):
        warden.report("card", mv.ref)
