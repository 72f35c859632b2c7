"""``mlwarden demo agent``: the scripted agent's story holds, end to end, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_demo_agent_masks_blocks_approves_and_proves(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlwarden", "demo", "agent", "--json"],
        env={**os.environ, "PYTHONPATH": str(SRC), "MLWARDEN_URI": f"sqlite:///{tmp_path}/w.db"},
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert "@example" not in out["read"] and "<EMAIL>" in out["read"]
    assert out["sent"] is False and out["outbox_exists"] is False
    assert out["write"] == "1"
    trail = [(t["tool"], t["decision"], t["status"]) for t in out["trail"]]
    assert trail == [
        ("query", "redact", "done"),
        ("http_post", "deny", "denied"),
        ("execute", "approve", "done"),
    ]
    assert all(t["proof_verified"] for t in out["trail"])
