"""What a bundle verification found: each problem names the file at fault."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Problem(StrEnum):
    ALTERED = "altered"
    MISSING = "missing"
    EXTRA = "extra"
    DUPLICATE = "duplicate"
    UNREADABLE = "unreadable"
    BAD_SIGNATURE = "bad_signature"
    WRONG_KEY = "wrong_key"
    BAD_CHECKPOINT = "bad_checkpoint"
    BAD_PROOF = "bad_proof"
    EVIDENCE_MISMATCH = "evidence_mismatch"


@dataclass(frozen=True)
class Finding:
    file: str
    problem: Problem
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem.value}: {self.message}"


@dataclass
class BundleVerification:
    """Truthy when the bundle verifies. ``pinned`` says whether the key was given by the
    verifier (else the bundle's own ``pubkey.pem`` was used, which only shows the bundle is
    self-consistent, not who signed it)."""

    path: str
    ref: str | None = None
    key_id: str | None = None
    pinned: bool = False
    proven: int = 0
    checkpoint: dict[str, Any] | None = None
    problems: list[Finding] = field(default_factory=list)

    def add(self, file: str, problem: Problem, message: str) -> None:
        self.problems.append(Finding(file, problem, message))

    @property
    def ok(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def files(self, problem: Problem | None = None) -> set[str]:
        return {f.file for f in self.problems if problem is None or f.problem == problem}

    def to_dict(self) -> dict[str, Any]:
        # the verdict for readers (``ok``, renamed counters, the findings), not the fields
        return {
            "path": self.path,
            "ok": self.ok,
            "ref": self.ref,
            "key_id": self.key_id,
            "pinned_key": self.pinned,
            "events_proven": self.proven,
            "checkpoint": self.checkpoint,
            "problems": [
                {"file": f.file, "problem": f.problem.value, "message": f.message}
                for f in self.problems
            ],
        }

    def summary(self) -> str:
        if self.ok:
            key = f"key {self.key_id}" + (
                "" if self.pinned else " (the bundle's own key; pass --pubkey to pin the signer)"
            )
            size = (self.checkpoint or {}).get("tree_size")
            return (
                f"OK: {self.path} ({self.ref}) verifies with {key}; {self.proven} audit "
                f"event(s) proven in the signed tree of size {size}"
            )
        return f"FAILED: {self.path}: {len(self.problems)} problem(s)\n" + "\n".join(
            f"  {f}" for f in self.problems
        )
