"""Prediction ids made on the hot path: valid UUIDv7, unique, and never shared by a fork."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from mlwarden.server.routes.predict import uuid7s


def test_ids_are_unique_uuid7_with_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    ids = [i for _ in range(3000) for i in uuid7s(3)]  # more than one 4 KiB read of entropy
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids) == 9000
    for text in ids[:: len(ids) // 50]:
        u = uuid.UUID(text)
        assert str(u) == text
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert before <= u.int >> 80 <= after


def test_large_requests_get_sorted_bulk_ids():
    ids = uuid7s(100)
    assert len(set(ids)) == 100 and ids == sorted(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_the_parents_ids():
    uuid7s(1)  # the parent holds buffered entropy now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, through the pipe
        os.close(read)
        os.write(write, "\n".join(uuid7s(5)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        child = fh.read().split("\n")
    os.waitpid(pid, 0)
    parent = uuid7s(5)
    # the random bits (all but the millisecond prefix) differ between the two processes
    assert {c[13:] for c in child}.isdisjoint(p[13:] for p in parent)
