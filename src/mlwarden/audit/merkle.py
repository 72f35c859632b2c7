"""RFC 6962 / RFC 9162 Merkle tree: hashing, an incremental frontier, a node cache, proofs.

Leaves are indexed from 0. A *node* ``(level, index)`` is the root of the perfect subtree over
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 nodes are the leaf hashes. Only
perfect subtrees are ever stored: they never change once complete, so a store can write them
once, as leaves are appended, and never update a row. Every other hash the RFC needs (the root
of a tree whose size is not a power of two, the right-edge siblings in a proof) is folded from
at most ``log2(n)`` stored perfect subtrees, which keeps roots and proofs O(log n) reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from mlwarden.entities.audit import Node

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "MemoryNodeStore",
    "MerkleNodes",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "mth",
    "node_hash",
    "range_levels",
    "root_at",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256

#: The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT = _sha256(b"").digest()

GetNode = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of leaf hashes, by the RFC's recursive definition.

    O(n); meant for tests and small trees. Large trees use :class:`CompactRange` or
    :func:`root_at` over a node store.
    """
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


# --------------------------------------------------------------------------- node stores


class MerkleNodes(Protocol):
    """Where the hashes of complete perfect subtrees live.

    The SQL layer backs this with a table ``audit_nodes(level, idx, hash)`` (primary key
    ``(level, idx)``, ``hash`` 32 raw bytes). Rows are insert-only.
    """

    def get(self, level: int, index: int) -> bytes:
        """The hash of node ``(level, index)``; ``KeyError`` if it is not complete."""
        ...

    def put_many(self, nodes: Iterable[Node]) -> None:
        """Store complete nodes; re-putting an identical node is a no-op."""
        ...


class MemoryNodeStore:
    """Nodes in one ``bytearray`` per level (32 bytes a node).

    Nodes of one level complete in index order, so each level only ever grows at its end; a
    million leaves take about 64 MB here instead of the ~400 MB a dict of tuples would.
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[bytearray] = []

    def get(self, level: int, index: int) -> bytes:
        if level < len(self._levels):
            buf = self._levels[level]
            start = index * 32
            if start >= 0 and start + 32 <= len(buf):
                return bytes(buf[start : start + 32])
        raise KeyError((level, index))

    def get_range(self, level: int, start: int, stop: int) -> list[bytes]:
        """Nodes ``start..stop-1`` of ``level``; ``KeyError`` if any is missing."""
        if start >= stop:
            return []
        if start < 0 or stop > self.count(level):
            raise KeyError((level, start, stop))
        buf = bytes(self._levels[level][start * 32 : stop * 32])
        return [buf[i : i + 32] for i in range(0, len(buf), 32)]

    def put_many(self, nodes: Iterable[Node]) -> None:
        levels = self._levels
        for level, index, h in nodes:
            while len(levels) <= level:
                levels.append(bytearray())
            buf = levels[level]
            start = index * 32
            if start == len(buf):
                buf += h
            elif start + 32 <= len(buf):
                if buf[start : start + 32] != h:
                    raise ValueError(f"node {(level, index)} already stored with another hash")
            else:
                raise ValueError(f"node {(level, index)} written out of order")

    def count(self, level: int) -> int:
        """How many nodes of ``level`` are stored."""
        return len(self._levels[level]) // 32 if level < len(self._levels) else 0


# --------------------------------------------------------------------------- frontier


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` of each perfect subtree on the frontier of a tree of ``size``
    leaves, largest first: what :meth:`CompactRange.from_nodes` reads."""
    positions = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            positions.append((level, start >> level))
            start += 1 << level
    return positions


class CompactRange:
    """The right frontier of a growing tree: one hash per set bit of its size.

    ``hashes[i]`` is the perfect subtree of size ``2**levels[i]``, largest first, covering the
    leaves left to right. Appending a leaf merges equal-sized subtrees like a binary counter
    (amortised one node hash per leaf); every merge completes a perfect subtree, which
    :meth:`append` returns so a node store can keep it.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"a range of size {size} needs {size.bit_count()} hashes")
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def from_nodes(cls, size: int, get_node: GetNode) -> CompactRange:
        """Rebuild the frontier at ``size`` from stored nodes (``popcount(size)`` reads)."""
        return cls(size, [get_node(level, index) for level, index in frontier_positions(size)])

    def append(self, h: bytes) -> list[Node]:
        """Append one leaf hash; return the nodes it completed, the leaf itself first."""
        index = self.size
        nodes = [(0, index, h)]
        hashes = self.hashes
        level = 0
        while index >> level & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            level += 1
            nodes.append((level, index >> level, h))
        hashes.append(h)
        self.size = index + 1
        return nodes

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[Node]:
        """Append many leaf hashes; return every node completed, in creation order."""
        out: list[Node] = []
        for h in leaf_hashes:
            out.extend(self.append(h))
        return out

    def add(self, h: bytes) -> None:
        """Append a leaf without reporting nodes (the verifier's hot loop)."""
        index = self.size
        hashes = self.hashes
        while index & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            index >>= 1
        hashes.append(h)
        self.size += 1

    def extend_range(self, end: int, hashes: Sequence[bytes]) -> None:
        """Append the leaves ``[size, end)`` given as the hashes of their minimal aligned
        subtrees, left to right (:func:`range_levels`): what a verifier scanning only that
        range built. Ranges scanned in parallel compose into the whole tree this way."""
        levels = range_levels(self.size, end)
        if len(levels) != len(hashes):
            raise ValueError(f"range {self.size}..{end} has {len(levels)} subtrees")
        stack = self.hashes
        for level, h in zip(levels, hashes, strict=True):
            # size is a multiple of 2**level here: merge like a binary counter from that level
            index = self.size >> level
            while index & 1:
                h = _sha256(b"\x01" + stack.pop() + h).digest()
                index >>= 1
            stack.append(h)
            self.size += 1 << level

    def root(self) -> bytes:
        """The tree head at the current size."""
        if not self.hashes:
            return EMPTY_ROOT
        it = reversed(self.hashes)
        r = next(it)
        for h in it:
            r = _sha256(b"\x01" + h + r).digest()
        return r

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.hashes)


def range_levels(begin: int, end: int) -> list[int]:
    """The levels of the minimal aligned perfect subtrees covering leaves ``[begin, end)``,
    left to right: sizes rise while ``begin``'s low bits are cleared, then fall."""
    levels = []
    while begin < end:
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length()
        while begin + (1 << level) > end:
            level -= 1
        levels.append(level)
        begin += 1 << level
    return levels


# --------------------------------------------------------------------------- roots from nodes


def subtree_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """MTH of leaves ``[start, end)``, where ``start`` is aligned as in the RFC's recursion.

    Every subtree the RFC's proofs mention has this shape: a run of perfect subtrees of strictly
    decreasing size, so it costs one read per set bit of ``end - start``.
    """
    n = end - start
    if n <= 0:
        raise ValueError("empty range")
    if n & (n - 1) == 0 and start % n == 0:
        return get_node(n.bit_length() - 1, start // n)
    parts = []
    pos = start
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            if pos % (1 << level):
                # Not one of the RFC's subtrees: fall back to its recursive definition.
                k = _split(n)
                return node_hash(
                    subtree_hash(start, start + k, get_node),
                    subtree_hash(start + k, end, get_node),
                )
            parts.append(get_node(level, pos >> level))
            pos += 1 << level
    r = parts[-1]
    for h in reversed(parts[:-1]):
        r = node_hash(h, r)
    return r


def root_at(tree_size: int, get_node: GetNode) -> bytes:
    """The tree head at any past ``tree_size`` from stored nodes."""
    return EMPTY_ROOT if tree_size == 0 else subtree_hash(0, tree_size, get_node)


# --------------------------------------------------------------------------- proofs


def inclusion_proof(leaf_index: int, tree_size: int, get_node: GetNode) -> list[bytes]:
    """The audit path ``PATH(m, D[n])`` of RFC 9162 §2.1.3.1, leaf-side first."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    path: list[bytes] = []
    lo, hi, m = 0, tree_size, leaf_index
    # Walk from the root down, then reverse: the RFC lists siblings from the leaf upwards.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(subtree_hash(lo + k, hi, get_node))
            hi = lo + k
        else:
            path.append(subtree_hash(lo, lo + k, get_node))
            lo += k
            m -= k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """``PROOF(m, D[n])`` of RFC 9162 §2.1.4.1; empty when ``m == n`` or ``m == 0``."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"cannot prove {old_size} -> {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    path: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            path.append(subtree_hash(lo + k, hi, get_node))
            hi = lo + k
        else:
            path.append(subtree_hash(lo, lo + k, get_node))
            lo += k
            m -= k
            complete = False
    if not complete:
        path.append(subtree_hash(lo, hi, get_node))
    path.reverse()
    return path


def verify_inclusion(
    leaf: bytes, leaf_index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove ``leaf`` (a leaf hash) at ``leaf_index``?"""
    if not 0 <= leaf_index < tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree ``new_root`` an append-only extension of ``old_root``?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path
    if not path:
        return False
    path = list(path)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
