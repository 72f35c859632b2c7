"""RFC 6962 / 9162 Merkle tree: reference vectors, a naive cross-check, proofs that fail when
any byte changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    mth,
    node_hash,
    root_at,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference data (certificate-transparency / trillian test vectors).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


def build(n: int) -> tuple[list[bytes], MemoryNodeStore, CompactRange]:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    store = MemoryNodeStore()
    frontier = CompactRange()
    for start in range(0, n, 7):  # odd batch size: batches straddle subtree boundaries
        store.put_many(frontier.extend(leaves[start : start + 7]))
    return leaves, store, frontier


def flip(b: bytes, i: int = 0) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]


def test_rfc6962_reference_roots() -> None:
    hashes = [leaf_hash(x) for x in CT_LEAVES]
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    frontier = CompactRange()
    store = MemoryNodeStore()
    for n in range(1, 9):
        store.put_many(frontier.append(hashes[n - 1]))
        assert mth(hashes[:n]).hex() == CT_ROOTS[n]
        assert frontier.root().hex() == CT_ROOTS[n]
        assert root_at(n, store.get).hex() == CT_ROOTS[n]


def test_rfc6962_reference_inclusion_paths() -> None:
    hashes = [leaf_hash(x) for x in CT_LEAVES]
    store = MemoryNodeStore()
    store.put_many(CompactRange().extend(hashes))
    for (index, size), want in CT_INCLUSION.items():
        path = inclusion_proof(index, size, store.get)
        assert [p.hex() for p in path] == want
        assert verify_inclusion(hashes[index], index, size, path, bytes.fromhex(CT_ROOTS[size]))


def test_every_size_matches_naive_mth_and_all_proofs_verify() -> None:
    leaves, store, frontier = build(64)
    for n in range(1, 65):
        root = mth(leaves[:n])
        assert root_at(n, store.get) == root
        assert CompactRange.from_nodes(n, store.get).root() == root
        for m in range(n):
            path = inclusion_proof(m, n, store.get)
            assert len(path) <= (n - 1).bit_length()
            assert verify_inclusion(leaves[m], m, n, path, root)
            assert not verify_inclusion(leaves[m], (m + 1) % n, n, path, root) or n == 1
        for m in range(n + 1):
            proof = consistency_proof(m, n, store.get)
            assert verify_consistency(m, n, mth(leaves[:m]), root, proof), (m, n)
    assert frontier.root() == mth(leaves)


def test_nodes_are_perfect_subtrees() -> None:
    leaves, store, _ = build(50)
    for level in range(6):
        for index in range(50 >> level):
            width = 1 << level
            assert store.get(level, index) == mth(leaves[index * width : (index + 1) * width])
    assert store.count(0) == 50 and store.count(5) == 1
    assert store.get_range(0, 3, 9) == leaves[3:9] and store.get_range(1, 4, 4) == []
    with pytest.raises(KeyError):
        store.get_range(0, 45, 51)
    with pytest.raises(KeyError):
        store.get(1, 25)  # leaves 50..51 do not exist yet
    assert subtree_hash(32, 50, store.get) == mth(leaves[32:50])


def test_node_store_refuses_rewrites() -> None:
    store = MemoryNodeStore()
    store.put_many([(0, 0, b"a" * 32)])
    store.put_many([(0, 0, b"a" * 32)])  # idempotent
    with pytest.raises(ValueError):
        store.put_many([(0, 0, b"b" * 32)])
    with pytest.raises(ValueError):
        store.put_many([(0, 5, b"b" * 32)])


def test_node_hash_domain_separation() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) != node_hash(b, a)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_proofs_fail_when_any_byte_changes(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 300), label="n")
    leaves, store, _ = build(n)
    root = root_at(n, store.get)
    m = data.draw(st.integers(0, n - 1), label="m")
    path = inclusion_proof(m, n, store.get)
    assert verify_inclusion(leaves[m], m, n, path, root)
    byte = data.draw(st.integers(0, 31), label="byte")
    assert not verify_inclusion(flip(leaves[m], byte), m, n, path, root)
    assert not verify_inclusion(leaves[m], m, n, path, flip(root, byte))
    if path:
        k = data.draw(st.integers(0, len(path) - 1), label="k")
        bad = [*path[:k], flip(path[k], byte), *path[k + 1 :]]
        assert not verify_inclusion(leaves[m], m, n, bad, root)
        assert not verify_inclusion(leaves[m], m, n, path[:-1], root)
        assert not verify_inclusion(leaves[m], m, n, [*path, path[0]], root)

    old = data.draw(st.integers(1, n - 1), label="old")
    old_root = root_at(old, store.get)
    proof = consistency_proof(old, n, store.get)
    assert verify_consistency(old, n, old_root, root, proof)
    assert not verify_consistency(old, n, flip(old_root, byte), root, proof)
    assert not verify_consistency(old, n, old_root, flip(root, byte), proof)
    k = data.draw(st.integers(0, len(proof) - 1), label="pk")
    bad = [*proof[:k], flip(proof[k], byte), *proof[k + 1 :]]
    assert not verify_consistency(old, n, old_root, root, bad)
    assert not verify_consistency(old, n, old_root, root, proof[:-1])
    # A forked history (one old leaf replaced) is not consistent with the new tree.
    forked = list(leaves[:old])
    forked[data.draw(st.integers(0, old - 1), label="f")] = leaf_hash(b"forged")
    assert not verify_consistency(old, n, mth(forked), root, proof)


def test_proof_arguments_are_checked() -> None:
    _, store, _ = build(10)
    with pytest.raises(ValueError):
        inclusion_proof(10, 10, store.get)
    with pytest.raises(ValueError):
        consistency_proof(5, 4, store.get)
    assert consistency_proof(0, 10, store.get) == []
    assert consistency_proof(10, 10, store.get) == []
    root = root_at(10, store.get)
    assert verify_consistency(10, 10, root, root, [])
    assert not verify_consistency(10, 10, root, flip(root), [])
    assert not verify_inclusion(b"x" * 32, 3, 2, [], root)
    with pytest.raises(ValueError):
        CompactRange(3, [b"x" * 32])
