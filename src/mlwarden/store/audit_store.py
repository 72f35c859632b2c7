"""The audit log's persistence contract: events, Merkle nodes and signed checkpoints.

Only primitives: the rules (seq order, the tree, signatures, proofs, verification) live in
:class:`mlwarden.audit.AuditLog`, which is given a backend (SQL, or in memory for tests).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager

from mlwarden.entities.audit import AuditEvent, Checkpoint, Node

__all__ = ["AuditBackend"]


class AuditBackend(ABC):
    """Storage primitives for the audit log. Only these are abstract.

    The SQL backend keeps three tables:

    ``audit_events``
        ``seq`` BIGINT primary key (1, 2, 3, … no gaps), ``time`` TEXT (exactly as given: ISO
        UTC with microseconds), ``actor`` TEXT, ``action`` TEXT, ``subject`` TEXT,
        ``payload_digest`` CHAR(64) hex, ``payload`` TEXT NULL (the exact canonical JSON text,
        *not* a JSON/JSONB column: a re-encoded payload would no longer match its digest),
        ``salt`` CHAR(32) hex NULL, ``leaf`` BYTEA/BLOB(32) NULL (the Merkle leaf hash recorded
        at append: node ``(0, seq - 1)``; set once, when the event is integrated). ``payload``
        and ``salt`` become NULL on erasure; no other column is ever updated. Indexes on
        ``(subject)`` and ``(time)`` serve :meth:`query`.
    ``audit_nodes``
        ``level`` SMALLINT (>= 1: the leaves are ``audit_events.leaf``), ``idx`` BIGINT,
        ``hash`` BYTEA/BLOB(32); primary key ``(level, idx)``. Insert-only.
    ``audit_checkpoints``
        ``tree_size`` BIGINT primary key, ``root_hash`` CHAR(64) hex, ``time`` TEXT,
        ``key_id`` TEXT, ``signature`` TEXT (base64). Insert-only.

    Concurrency: :meth:`AuditLog.append_many` does everything inside :meth:`integrating`,
    which must be one transaction holding an exclusive lock (PostgreSQL:
    ``pg_advisory_xact_lock(<audit key>)``; SQLite: ``BEGIN IMMEDIATE``). Under that lock
    ``append_batch`` numbers the rows ``size() + 1 …``, the tree nodes and a checkpoint are
    written, and the commit makes all three visible together, so there are never gaps or
    unsigned leaves. See docs/audit.md for the pending-queue variant.

    Transactions: ``append_batch``, ``put_nodes``, ``save_checkpoint``, ``size``, ``read``,
    ``get_node`` and ``latest_checkpoint`` are also called *inside* :meth:`integrating` and
    must then use its transaction (e.g. a connection held in a context variable). Called
    outside it (queries, proofs, verification, ``erase``), each runs and commits on its own.
    """

    @abstractmethod
    def integrating(self) -> AbstractContextManager[None]:
        """One exclusive transaction: the single writer of seqs, nodes and checkpoints."""

    @abstractmethod
    def size(self) -> int:
        """The highest seq stored (0 when empty)."""

    @abstractmethod
    def append_batch(
        self,
        events: Sequence[AuditEvent],
        *,
        after: int | None = None,
        leaves: Sequence[bytes] | None = None,
    ) -> list[int]:
        """Store ``events`` with seqs ``size() + 1, …`` (their own ``seq`` is ignored); return
        those seqs. ``after`` is ``size()`` when the caller has just read it under the lock;
        ``leaves``, when given, are the events' leaf hashes (nodes ``(0, seq - 1)``), stored
        with them. Called only inside :meth:`integrating`."""

    @abstractmethod
    def read(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[AuditEvent]:
        """Events with ``from_seq <= seq <= to_seq`` (``None``: to the end), ascending seq, as
        stored (erased ones with ``payload_json`` and ``salt`` ``None``)."""

    @abstractmethod
    def get_node(self, level: int, index: int) -> bytes:
        """The 32-byte hash of node ``(level, index)``; ``KeyError`` if absent."""

    @abstractmethod
    def put_nodes(self, nodes: Sequence[Node]) -> None:
        """Insert ``(level, index, hash)`` rows (ignore exact duplicates)."""

    @abstractmethod
    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint with the largest tree size."""

    @abstractmethod
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Insert a checkpoint row."""

    @abstractmethod
    def checkpoints(self) -> list[Checkpoint]:
        """All checkpoints, ascending tree size (exports carry them all)."""

    def signed_view(self) -> tuple[list[Checkpoint], int]:
        """The checkpoints and the log's size as of one moment, for a verifier: read apart,
        an append landing between the two reads made its events look unsigned (or, the
        other way round, a checkpoint look like it covers missing events). Default: both
        under :meth:`integrating`."""
        with self.integrating():
            return self.checkpoints(), self.size()

    @abstractmethod
    def erase(self, seq: int) -> bool:
        """Set ``payload`` and ``salt`` of event ``seq`` to NULL; ``False`` if no such event."""

    # ---- defaults a backend may override for speed

    def head(self) -> tuple[Checkpoint | None, int]:
        """:meth:`latest_checkpoint` and :meth:`size` together (one query in SQL: they are
        read under the integrator lock, where every round trip delays the next writer)."""
        return self.latest_checkpoint(), self.size()

    def append_signed(
        self, events: Sequence[AuditEvent], nodes: Sequence[Node], checkpoint: Checkpoint
    ) -> None:
        """Store ``events`` (already numbered ``size() + 1, …``), the tree nodes they complete
        and the checkpoint that signs them. Called only inside :meth:`integrating`; the SQL
        backend writes a small batch in one statement, since every statement under the lock
        is a round trip the next writer waits for."""
        first = events[0].seq
        leaves = [b""] * len(events)
        upper = []
        for node in nodes:
            if node[0] == 0 and 0 <= node[1] - first + 1 < len(events):
                leaves[node[1] - first + 1] = node[2]
            else:
                upper.append(node)
        if not all(leaves):
            raise ValueError("append_signed needs every event's leaf among the nodes")
        seqs = self.append_batch(events, after=first - 1, leaves=leaves)
        if seqs != [e.seq for e in events]:
            raise ValueError(f"the audit store numbered the batch {seqs[0]}…, not {first}…")
        self.put_nodes(upper)
        self.save_checkpoint(checkpoint)

    def get_frontier(self, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        """Hashes of the nodes at ``positions`` (``(level, index)``), in that order; ``KeyError``
        if one is absent (one query in SQL)."""
        return [self.get_node(level, index) for level, index in positions]

    def get_nodes(self, level: int, start: int, stop: int) -> list[bytes]:
        """Hashes of nodes ``start..stop-1`` of ``level`` (one range query in SQL)."""
        return [self.get_node(level, i) for i in range(start, stop)]

    def query(
        self,
        *,
        subject: str | None = None,
        subject_tree: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Events matching every given filter, ascending seq (or descending), at most ``limit``
        after skipping ``offset``.

        ``subject_tree="model:credit"`` matches subject ``model:credit`` and every subject
        starting with ``model:credit/`` (SQL: ``subject = :t OR subject LIKE :t || '/%'`` with
        ``%``/``_`` escaped). ``since <= time < until`` compare ISO strings.
        """
        out: list[AuditEvent] = []
        events: Iterable[AuditEvent] = self.read(1)
        if newest_first:
            events = reversed(list(events))
        for e in events:
            if subject is not None and e.subject != subject:
                continue
            if subject_tree is not None and not (
                e.subject == subject_tree or e.subject.startswith(subject_tree + "/")
            ):
                continue
            if actor is not None and e.actor != actor:
                continue
            if action is not None and e.action != action:
                continue
            if since is not None and e.time < since:
                continue
            if until is not None and e.time >= until:
                continue
            out.append(e)
            if limit is not None and len(out) >= limit:
                break
        return out
