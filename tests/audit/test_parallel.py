"""The parallel verifier's building blocks: a scan of any seq range builds that range's
minimal aligned subtrees, and they compose onto the frontier before it into the exact tree."""

from __future__ import annotations

import pytest

from mlwarden.audit import AuditLog, MemoryAuditBackend, Signer
from mlwarden.audit.merkle import CompactRange, mth, range_levels
from mlwarden.audit.verify import ScanState, scan

N = 45


@pytest.fixture(scope="module")
def records() -> list[tuple]:  # type: ignore[type-arg]
    log = AuditLog(MemoryAuditBackend(), Signer.generate())
    log.append_many([("a", "x", f"s{i}", {"i": i}) for i in range(N)])
    return list(log._records(N, N))


def test_any_range_scan_composes_into_the_tree(records):
    leaves = [bytes.fromhex(r[8]) for r in records]
    for begin in range(N):
        prefix = CompactRange()
        for h in leaves[:begin]:
            prefix.add(h)
        for end in range(begin, N + 1):
            st = ScanState(begin + 1)
            assert scan(iter(records[begin:end]), st, -1) is None
            assert st.size == end and len(st.hashes) == len(range_levels(begin, end))
            tree = prefix.copy()
            tree.extend_range(end, st.hashes)
            assert tree.size == end and tree.root() == mth(leaves[:end]), (begin, end)


def test_a_scan_stops_at_the_size_asked_and_goes_on(records):
    st = ScanState(6)  # a range that starts mid-tree, stopped at two checkpoint sizes
    it = iter(records[5:30])
    assert scan(it, st, 13) is None and st.size == 13
    at_13 = list(st.hashes)
    assert scan(it, st, -1) is None and st.size == 30
    assert len(at_13) == len(range_levels(5, 13))


def test_range_levels():
    assert range_levels(0, 13) == [3, 2, 0]
    assert range_levels(3, 16) == [0, 2, 3]
    assert range_levels(5, 5) == []
    with pytest.raises(ValueError, match="subtrees"):
        CompactRange().extend_range(3, [b"\0" * 32])
