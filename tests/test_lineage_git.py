"""Code lineage: the commit, dirty flag and remote of the repository a model is registered
from, in a plain checkout, in a git worktree (where ``.git`` is a file naming the real
folder) and outside any repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlwarden.registry.lineage import git_info


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('v1')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "v1")
    git(repo, "remote", "add", "origin", "https://example.org/risk/credit.git")
    return repo


def test_a_checkout_gives_its_commit_and_remote(tmp_path):
    repo = make_repo(tmp_path)
    info = git_info(repo / ".")
    assert info == {
        "commit": git(repo, "rev-parse", "HEAD"),
        "dirty": False,
        "remote": "https://example.org/risk/credit.git",
    }


def test_a_worktree_gives_its_own_commit_and_dirty_flag(tmp_path):
    repo = make_repo(tmp_path)
    tree = tmp_path / "tree"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tree))
    (tree / "train.py").write_text("print('v2')\n")
    git(tree, "commit", "-q", "-am", "v2")
    assert (tree / ".git").is_file()
    info = git_info(tree)
    assert info is not None and info["commit"] == git(tree, "rev-parse", "HEAD")
    assert info["commit"] != git(repo, "rev-parse", "HEAD") and info["dirty"] is False
    (tree / "train.py").write_text("print('edited')\n")
    assert git_info(tree)["dirty"] is True  # type: ignore[index]


def test_outside_a_repository_there_is_no_code_lineage(tmp_path):
    assert git_info(tmp_path) is None
