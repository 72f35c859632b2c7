"""Online verification of a large log split across processes, exactly as strict as one scan.

The log's record pages are grouped into contiguous seq ranges (chunks). Each chunk is checked
by :func:`mlwarden.audit.verify.scan`, the one definition of the per-event checks, in a worker
process with its own database connection (or in this process, which takes chunks from the
back while the workers start and take them from the front). A chunk's scan builds the minimal
aligned perfect subtrees of its range, and snapshots them at every checkpoint size inside it;
it also verifies those checkpoints' signatures. This process then walks the chunks in order:
it appends each range's subtrees to the tree's frontier (``CompactRange.extend_range``), checks
every checkpoint at its size against the composed root (:class:`Attestation`, the sequential
verifier's own code), and stops at the first finding, so the verdict (seq, problem, message,
counts) is the one the sequential verifier gives. See docs/audit.md.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlwarden.audit.merkle import CompactRange
from mlwarden.audit.verify import (
    Attestation,
    Finding,
    Record,
    ScanState,
    VerificationResult,
    scan,
)
from mlwarden.entities.audit import Checkpoint
from mlwarden.store.sql.audit_pages import PageReader, RecordSource

__all__ = ["PARALLEL_MIN_EVENTS", "WorkerFailed", "verify_parallel"]

#: below this many events one scan is about as fast: a worker's start costs ~0.08 s of CPU
#: (~0.28 s with PostgreSQL's driver), what one scan spends on 15,000-55,000 events
PARALLEL_MIN_EVENTS = 100_000
#: chunks per process: enough to even out, few enough that each costs little to compose
_CHUNKS_PER_WORKER = 8
#: this process checks chunks too (tests turn it off to send every chunk through a worker)
_LOCAL = True

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class _Task:
    source: RecordSource
    pages: tuple[tuple[int, int], ...]
    #: (position in the sorted checkpoint list, checkpoint) for the sizes inside this range
    checkpoints: tuple[tuple[int, Checkpoint], ...]
    key: bytes  # the trusted Ed25519 public key, raw


@dataclass(slots=True)
class _Chunk:
    """What a worker found in its range."""

    first: Record | None  # its first record: names a gap that ends the previous range
    segments: list[tuple[int, list[bytes], int]]  # (checkpoint size, subtrees, erased so far)
    end: int  # the next seq its scan expected
    hashes: list[bytes]  # the subtrees of [range start, end - 1)
    erased: set[int]
    targets: set[int]
    found: Finding | None
    signed: list[tuple[int, bool]]  # signature verdicts by checkpoint position


# ---- in the worker

#: a worker's program: this interpreter, importing this very mlwarden
_WORKER = (
    f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); "
    "from mlwarden.audit.parallel import _serve; _serve()"
)


def _serve() -> None:
    """A worker process (``python -c _WORKER``): chunks in on stdin, results out on stdout,
    one connection per store, until stdin closes. A fresh interpreter, not a multiprocessing
    child: nothing of the caller's program (its ``__main__``) runs again here."""
    inp = sys.stdin.buffer
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print() must not corrupt the result stream
    readers: dict[RecordSource, tuple[PageReader, Callable[[], None]]] = {}
    try:
        _send(out, _READY)  # imports done: only now does this worker claim a chunk
        while (task := _recv(inp)) is not None:
            try:
                if task.source not in readers:
                    readers[task.source] = task.source.open()
                res: Any = _check_chunk(task, readers[task.source][0])
            except Exception as exc:  # sent back as text: the caller re-raises it
                res = _WorkerError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            _send(out, res)
    except (BrokenPipeError, EOFError):
        pass  # the caller went away (or no longer needs this worker): nothing to report
    finally:
        for _, close in readers.values():
            close()


_READY = "ready"


class _WorkerError(Exception):
    """An error raised in a worker, as its text."""


class WorkerFailed(RuntimeError):
    """A worker process could not start, failed or stopped: no verdict was reached (the
    caller verifies in one scan instead)."""


def _send(f: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(len(data).to_bytes(8, "big") + data)
    f.flush()


def _recv(f: IO[bytes]) -> Any:
    head = f.read(8)
    if len(head) < 8:
        return None  # the other end closed
    size = int.from_bytes(head, "big")
    data = f.read(size)
    if len(data) < size:
        raise EOFError("audit verification worker stopped mid-message")
    return pickle.loads(data)  # our own worker or parent, over a pipe only we hold


def _check_chunk(task: _Task, read: PageReader) -> _Chunk:
    key = Ed25519PublicKey.from_public_bytes(task.key)
    signed = [(i, cp.verify(key)) for i, cp in task.checkpoints]
    it: Iterator[Record] = (rec for start, stop in task.pages for rec in read(start, stop))
    first = next(it, None)
    if first is not None:
        it = chain([first], it)
    st = ScanState(task.pages[0][0])
    segments = []
    found = None
    for stop in [*sorted({cp.tree_size for _, cp in task.checkpoints}), -1]:
        found = scan(it, st, stop)
        if found is not None or st.size != stop:
            break
        segments.append((stop, list(st.hashes), len(st.erased)))
    return _Chunk(first, segments, st.expected, st.hashes, st.erased, st.targets, found, signed)


# ---- in this process


def _plan(pages: list[tuple[int, int]], workers: int) -> list[tuple[tuple[int, int], ...]]:
    """Whole pages grouped into about ``_CHUNKS_PER_WORKER * workers`` contiguous chunks."""
    per = max(1, -(-len(pages) // (workers * _CHUNKS_PER_WORKER)))
    return [tuple(pages[i : i + per]) for i in range(0, len(pages), per)]


def verify_parallel(
    source: RecordSource,
    pages: list[tuple[int, int]],
    checkpoints: list[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    workers: int,
    require_erasure_records: bool = True,
    progress: Progress | None = None,
) -> VerificationResult:
    """Verify the records of ``pages`` (contiguous seq ranges from 1, as the store's reader
    pages them) with ``workers`` processes in all, this one included."""
    att = Attestation(checkpoints, public_key)
    found = att.check_empty()
    if found is not None:
        return att.result(found, 0, 0)
    key = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    tasks = []
    ci = att.ci
    for chunk in _plan(pages, workers):
        last = chunk[-1][1]
        mine = []
        while ci < len(att.cps) and att.cps[ci].tree_size <= last:
            mine.append((ci, att.cps[ci]))
            ci += 1
        tasks.append(_Task(source, chunk, tuple(mine), key))
    results = _run(tasks, workers, progress, pages[-1][1] if pages else 0)
    for r in results:
        att.signed.update(r.signed)
    return _compose(att, tasks, results, require_erasure_records)


def _run(tasks: list[_Task], workers: int, progress: Progress | None, total: int) -> list[_Chunk]:
    """Every task's result. Each worker process claims chunks from the front once it has
    started; this process claims them from the back meanwhile, so both ends meet wherever the
    work was split best, and returns as soon as every chunk is checked (a worker still
    starting then just exits)."""
    results: list[_Chunk | None] = [None] * len(tasks)
    cond = threading.Condition()
    ends = [0, len(tasks)]  # the next chunk from the front, one past the next from the back
    counts = [0, 0]  # chunks checked, events checked
    errors: list[BaseException] = []

    def claim(front: bool) -> int | None:
        with cond:
            if ends[0] >= ends[1] or errors:
                return None
            if front:
                ends[0] += 1
                return ends[0] - 1
            ends[1] -= 1
            return ends[1]

    def finished(k: int, res: _Chunk) -> None:
        with cond:
            results[k] = res
            counts[0] += 1
            counts[1] += sum(b - a + 1 for a, b in tasks[k].pages)
            if progress is not None:
                progress(counts[1], total)
            cond.notify_all()

    def failed(exc: BaseException) -> None:
        with cond:
            errors.append(exc)  # nobody claims anything more
            cond.notify_all()

    def drive(proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            # A chunk is claimed once the worker is up: one that starts slowly (a busy
            # machine) must not hold a chunk this process would have checked meanwhile.
            if _recv(proc.stdout) != _READY:
                raise RuntimeError(f"it exited with status {proc.wait()}")
            while (k := claim(front=True)) is not None:
                _send(proc.stdin, tasks[k])
                res = _recv(proc.stdout)
                if res is None:
                    raise RuntimeError(f"it exited with status {proc.wait()}")
                if isinstance(res, _WorkerError):
                    raise res
                finished(k, res)
        except Exception as exc:
            failed(WorkerFailed(f"a verification worker failed: {exc}"))
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the worker's signal to exit
            _reap(proc)

    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            for _ in range(workers - 1)
        ]
    except OSError as exc:
        raise WorkerFailed(f"cannot start a verification worker: {exc}") from exc
    for p in procs:
        threading.Thread(target=drive, args=(p,), daemon=True, name="mlwarden-verify").start()
    read, close = tasks[0].source.open()
    try:
        while _LOCAL and (k := claim(front=False)) is not None:
            finished(k, _check_chunk(tasks[k], read))
        with cond:
            cond.wait_for(lambda: counts[0] == len(tasks) or bool(errors))
    except BaseException as exc:
        failed(exc)
        raise
    finally:
        close()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _compose(
    att: Attestation, tasks: list[_Task], results: list[_Chunk], require_erasure_records: bool
) -> VerificationResult:
    tree = CompactRange()
    erased: set[int] = set()
    targets: set[int] = set()
    for k, (task, res) in enumerate(zip(tasks, results, strict=True)):
        for size, hashes, erased_so_far in res.segments:
            at = tree.copy()
            at.extend_range(size, hashes)
            found = att.check(size, at.root())
            if found is not None:
                return att.result(found, size, len(erased) + erased_so_far)
        if res.found is not None:
            return att.result(res.found, res.end - 1, len(erased) + len(res.erased))
        tree.extend_range(res.end - 1, res.hashes)
        erased |= res.erased
        targets |= res.targets
        if res.end - 1 < task.pages[-1][1]:
            # This range's records ran out early: the gap is named with the next record
            # stored, as the sequential scan would meet it.
            nxt = next((r.first for r in results[k + 1 :] if r.first is not None), None)
            if nxt is not None:
                found = scan(iter([nxt]), ScanState(res.end), -1)
                assert found is not None  # a later range's seqs are all above this one's
                return att.result(found, res.end - 1, len(erased))
            break
    return att.finish(tree.size, erased, targets, require_erasure_records=require_erasure_records)


def default_workers() -> int:
    return os.cpu_count() or 1
