"""Checking an uploaded artifact in a separate process with time and memory limits.

An artifact that arrives as bytes (remote registration) is loaded by its flavor and asked to
predict a sample of its inputs before it is stored. Loading runs the flavor's parser (and,
for a trusted generic loader, the operator's code) on bytes a client chose, so it happens in
a child process: a crash, a hang or a runaway allocation ends the child, not the server.

The child is forked from a *zygote*: a helper started once with ``subprocess`` (never a fork
of the threaded server) that imports numpy, pandas, scikit-learn, skops and LightGBM with
one thread each, then forks one worker per check. The first check pays the imports (about
3 s); later ones cost tens of milliseconds. Each worker sets ``RLIMIT_AS`` (the zygote's own
address space plus ``memory_mb``), forbids core dumps, and is killed with its process group
after ``timeout_s``.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.engines.fitted import as_fitted
from mlwarden.errors import ArtifactRejected, WardenError
from mlwarden.registry.flavors.base import Trust

SAMPLE_ROWS = 8
_PREIMPORT = ("numpy", "pandas", "sklearn", "skops.io", "lightgbm", "scipy.sparse")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def sample_frame(signature: dict[str, Any], rows: int = SAMPLE_ROWS) -> pd.DataFrame | None:
    """``rows`` made-up rows with the signature's columns and the dtypes the server's
    ``frame_for`` gives a request (categories from the signature, numbers, flags, times).
    ``None`` when the signature names no inputs (the check then only loads)."""
    inputs = list(signature.get("inputs") or [])
    if not inputs:
        return None
    data: dict[str, Any] = {}
    for spec in inputs:
        kind, cats = spec.get("type", "string"), list(spec.get("categories") or [])
        values = [cats[i % len(cats)] for i in range(rows)] if cats else None
        if kind == "category":
            data[spec["name"]] = pd.Categorical(values or [None] * rows, categories=cats)
        elif kind == "integer":
            data[spec["name"]] = np.arange(rows, dtype=np.int64)
        elif kind == "float":
            data[spec["name"]] = np.linspace(0.0, 1.0, rows)
        elif kind == "boolean":
            data[spec["name"]] = np.arange(rows) % 2 == 0
        elif kind == "datetime":
            data[spec["name"]] = pd.date_range("2024-01-01", periods=rows, freq="D")
        else:
            data[spec["name"]] = pd.Series(values or ["x"] * rows, dtype=object)
    return pd.DataFrame(data)


class Sandbox:
    """Runs artifact checks in forked workers of one long-lived zygote process."""

    def __init__(self, timeout_s: float = 20.0, memory_mb: int = 2048) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self._lock = threading.Lock()

    # -- the zygote ------------------------------------------------------------------------

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **dict.fromkeys(_THREAD_VARS, "1")}
        # the same imports as this process: trusted loaders and plugins resolve alike
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from mlwarden.registry.sandbox import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a signal meant for the server's group spares it
        )
        self._proc, self._buf = proc, b""
        ready = self._read_line(time.monotonic() + 120)
        if ready is None or json.loads(ready).get("ready") is not True:
            self.close()
            raise WardenError("the artifact sandbox did not start")
        return proc

    def _read_line(self, deadline: float) -> str | None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    # -- checks ----------------------------------------------------------------------------

    def check_artifact(
        self,
        flavor: str,
        flavor_info: dict[str, Any],
        data: bytes,
        sample: pd.DataFrame | None,
        *,
        trust: Trust = Trust(),
    ) -> dict[str, Any]:
        """Load ``data`` as ``flavor`` and predict ``sample`` in a limited child process.

        Returns what the child measured (rows predicted, seconds); ``ArtifactRejected``
        names the problem when the artifact fails, crashes, hangs or runs out of memory."""
        with tempfile.TemporaryDirectory(prefix="mlwarden-sandbox-") as tmp:
            folder = Path(tmp)
            (folder / "artifact").write_bytes(data)
            if sample is not None:
                # written by this process for its own child; the artifact is never pickled
                sample.to_pickle(folder / "sample.pkl")
            job = {
                "dir": tmp,
                "flavor": flavor,
                "flavor_info": flavor_info,
                "loaders": sorted(trust.loaders),
                "types": sorted(trust.types),
                "timeout_s": self.timeout_s,
                "memory_mb": self.memory_mb,
            }
            with self._lock:
                answer = self._ask(job)
        if not answer.get("ok"):
            raise ArtifactRejected(
                f"the {flavor} artifact failed the check: {answer.get('error')}",
                field="artifact",
                problem=answer.get("problem", "error"),
            )
        return {k: v for k, v in answer.items() if k != "ok"}

    def _ask(self, job: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):  # a zygote that died since the last check is started again
            proc = self._proc if self._proc is not None and self._proc.poll() is None else None
            proc = proc or self._start()
            assert proc.stdin is not None
            try:
                proc.stdin.write(json.dumps(job).encode() + b"\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self.close()
                if attempt == 2:
                    raise WardenError("the artifact sandbox is not answering") from None
                continue
            line = self._read_line(time.monotonic() + self.timeout_s + 30)
            if line is None:
                self.close()
                if attempt == 2:
                    raise WardenError("the artifact sandbox is not answering")
                continue
            return json.loads(line)  # type: ignore[no-any-return]
        raise AssertionError("unreachable")


# ------------------------------------------------------------------ the zygote's side


def main() -> None:
    """The zygote: import the heavy libraries once, then fork one worker per job line."""
    for name in _PREIMPORT:
        with contextlib.suppress(Exception):
            __import__(name)
    import mlwarden.registry.flavors  # noqa: F401

    # the protocol gets its own descriptor; anything printed goes nowhere
    proto_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    out = os.fdopen(proto_fd, "w")
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    base = _address_space()
    for line in sys.stdin:
        job = json.loads(line)
        out.write(json.dumps(_run(job, base, proto_fd)) + "\n")
        out.flush()


def _address_space() -> int:
    """This process's virtual size in bytes (what ``RLIMIT_AS`` counts)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _run(job: dict[str, Any], base: int, proto_fd: int) -> dict[str, Any]:
    folder = Path(job["dir"])
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            os.close(proto_fd)
            code = _worker(job, base)
        finally:
            os._exit(code)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # also from this side: no window where a kill misses it
    deadline = started + float(job["timeout_s"])
    status = _wait(pid, deadline)
    if status is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return {
            "ok": False,
            "problem": "timeout",
            "error": f"it did not load and predict within {job['timeout_s']:g} s",
        }
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # whatever it left behind
    result = folder / "result.json"
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        return {"ok": False, "problem": "crash", "error": f"the loading process crashed ({sig})"}
    if result.is_file():
        try:
            return json.loads(result.read_text())  # type: ignore[no-any-return]
        except ValueError:
            pass
    return {
        "ok": False,
        "problem": "crash",
        "error": f"the loading process exited with status {os.WEXITSTATUS(status)}",
    }


def _wait(pid: int, deadline: float) -> int | None:
    """The worker's wait status, or ``None`` once ``deadline`` passes."""
    pidfd = None
    if hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(pid)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if pidfd is not None:
                with selectors.DefaultSelector() as sel:
                    sel.register(pidfd, selectors.EVENT_READ)
                    sel.select(left)
            else:
                time.sleep(min(left, 0.005))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _worker(job: dict[str, Any], base: int) -> int:
    import resource

    os.setpgid(0, 0)  # its own group: a timeout kills whatever it spawned too
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the zygote's pipes stay the zygote's
        os.dup2(devnull, fd)
    limit = base + int(job["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    folder = Path(job["dir"])
    result: dict[str, Any]
    try:
        result = _check(job, folder)
    except MemoryError:
        result = {
            "ok": False,
            "problem": "memory",
            "error": f"it ran out of memory (limit {job['memory_mb']} MB)",
        }
    except BaseException as exc:  # everything the artifact does is the artifact's problem
        result = {
            "ok": False,
            "problem": "error",
            "error": f"{type(exc).__name__}: {str(exc)[:500]}",
        }
    (folder / "result.json").write_text(json.dumps(result, default=str))
    return 0


def _check(job: dict[str, Any], folder: Path) -> dict[str, Any]:
    from mlwarden.registry.flavors import load_flavor

    t0 = time.perf_counter()
    flavor = load_flavor(job["flavor"], Trust.of(job["loaders"], job["types"]))
    model = flavor.load((folder / "artifact").read_bytes(), dict(job["flavor_info"]))
    t1 = time.perf_counter()
    sample_path = folder / "sample.pkl"
    if not sample_path.is_file():
        return {"ok": True, "rows": 0, "load_s": t1 - t0, "predict_s": 0.0}
    if getattr(model, "is_proxy", False):
        # a proxied version's predict is a call to its endpoint, not a test of the bytes
        return {"ok": True, "rows": 0, "load_s": t1 - t0, "predict_s": 0.0}
    sample = pd.read_pickle(sample_path)
    if not hasattr(model, "predict"):
        return {"ok": False, "problem": "error", "error": "the loaded model has no predict"}
    pred = np.asarray(model.predict(as_fitted(model, sample)))
    if pred.shape[:1] != (len(sample),):
        return {
            "ok": False,
            "problem": "error",
            "error": f"it predicted shape {pred.shape} for {len(sample)} rows",
        }
    took = time.perf_counter() - t1
    return {"ok": True, "rows": len(sample), "load_s": t1 - t0, "predict_s": took}
