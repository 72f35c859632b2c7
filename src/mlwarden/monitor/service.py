"""``wd.monitor``: window the prediction log, compare each window with the reference."""

from __future__ import annotations

import builtins
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.entities import ModelVersion
from mlwarden.errors import NotFound, ValidationError
from mlwarden.monitor import performance as perf
from mlwarden.monitor.attribution import attribution_drift
from mlwarden.monitor.fleet import FleetReport, Map, ModelOutcome, guarded, resume_after
from mlwarden.monitor.masked import masked_reference, masked_signature
from mlwarden.monitor.quality import check_quality, summarize
from mlwarden.monitor.report import MonitorReport, WindowResult
from mlwarden.monitor.windows import bounds, parse_window, segments, split
from mlwarden.registry.evidence import PREDICTION_COLUMN, SCORE_COLUMN
from mlwarden.registry.signature import canonical_labels, conform, favorable_label
from mlwarden.store.artifacts import ArtifactStore
from mlwarden.store.prediction_store import MonitorStore, PredictionStore

META = (
    "id",
    "model_id",
    "version",
    "ts",
    "day",
    "output",
    "score",
    "latency_ms",
    "reasons",
    "subject",
    "traceparent",
    "label",
    "erased",
)
MIN_FAIRNESS_ROWS = 30
MASK_EXEMPT = (PREDICTION_COLUMN, SCORE_COLUMN)  # the model's own outputs are never masked
FAIRNESS_BOOTSTRAP = 200  # per window: enough for intervals, cheap on count tables
# the stored columns a window needs besides the inputs (id, ts and subject are always read)
WINDOW_COLUMNS = ("output", "score")
#: ``[(name, version)], [kind]`` -> ``{(name, version, kind): content}``
EvidenceOf = Callable[
    [list[tuple[str, int]], list[str]], dict[tuple[str, int, str], dict[str, Any]]
]
REFERENCE_CACHE = 64  # parsed reference profiles kept, by artifact sha256
EVIDENCE_CACHE = 4096  # registration evidence kept, by (version ref, kind)
#: evidence collected at registration and never replaced (registry.service.REGISTRATION_KINDS):
#: what every window reads, so a fleet job looks it up once per version, not once per window
CACHED_EVIDENCE = ("reference_profile", "calibration")
SAVE_BATCH = 50  # models whose new windows a fleet job stores per transaction
PIN_BATCH = 8  # models read on one pooled connection (a few per worker keeps them balanced)


class MonitorService:
    def __init__(
        self,
        predictions: PredictionStore,
        results: MonitorStore,
        artifacts: ArtifactStore,
        *,
        model_id: Callable[[str], int],
        model_ids: Callable[[list[str]], dict[str, int]] | None = None,
        evidence: Callable[[str, str], dict[str, Any]],
        evidence_of: EvidenceOf | None = None,
        load_model: Callable[[str], Any] | None = None,
        timezone: str = "UTC",
        masking: Callable[[str], Any] | None = None,
        masking_of: Callable[[list[str]], dict[str, Any]] | None = None,
        pinned: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.predictions = predictions
        # one model's reads on one connection (store.sql.Database.pinned)
        self._pinned = pinned or nullcontext
        self.timezone = timezone  # calendar windows (days, weeks, months) start in this zone
        self.results = results
        self.artifacts = artifacts
        self._model_id = model_id
        self._model_ids = model_ids  # many models' ids in one read (fleet jobs)
        self._evidence = evidence
        self._evidence_of = evidence_of  # many versions' evidence in one query (fleet jobs)
        self._load_model = load_model
        self._masking = masking  # model -> its masking policy (None: inputs logged as they are)
        self._masking_of = masking_of  # many models' policies in one read (fleet jobs)
        # content-addressed, so never stale; profiles are read, never changed, by monitoring
        self._profiles: OrderedDict[str, Any] = OrderedDict()
        self._profiles_lock = threading.Lock()
        self._fixed_evidence: OrderedDict[tuple[str, str], dict[str, Any] | None] = OrderedDict()

    def _registration_evidence(self, mv: ModelVersion, kind: str) -> dict[str, Any] | None:
        """``kind`` evidence of ``mv`` (None when it has none), cached: registration evidence
        is never replaced or added later, so a cached answer cannot go stale."""
        key = (mv.ref, kind)
        with self._profiles_lock:
            if key in self._fixed_evidence:
                self._fixed_evidence.move_to_end(key)
                return self._fixed_evidence[key]
        try:
            found: dict[str, Any] | None = self._evidence(mv.ref, kind)
        except NotFound:
            found = None
        with self._profiles_lock:
            self._fixed_evidence[key] = found
            while len(self._fixed_evidence) > EVIDENCE_CACHE:
                self._fixed_evidence.popitem(last=False)
        return found

    def _prefetch_evidence(self, versions: list[ModelVersion]) -> None:
        """Fill the registration-evidence cache for ``versions`` in one query, instead of a
        few queries per model as each window first asks."""
        if self._evidence_of is None or not versions:
            return
        with self._profiles_lock:
            missing = [
                mv
                for mv in versions
                if any((mv.ref, kind) not in self._fixed_evidence for kind in CACHED_EVIDENCE)
            ]
        if not missing:
            return
        found = self._evidence_of([(mv.name, mv.version) for mv in missing], list(CACHED_EVIDENCE))
        with self._profiles_lock:
            for mv in missing:
                for kind in CACHED_EVIDENCE:
                    self._fixed_evidence[(mv.ref, kind)] = found.get((mv.name, mv.version, kind))
            while len(self._fixed_evidence) > EVIDENCE_CACHE:
                self._fixed_evidence.popitem(last=False)

    def reference(self, mv: ModelVersion, segment: str = "all") -> Any:
        """The reference profile; for ``col=value`` segments the profile of that group at
        registration when one was stored (sensitive features), else the overall one."""
        from mlwarden.engines.profile import Profile

        ev = self._registration_evidence(mv, "reference_profile")
        if ev is None:
            raise NotFound(
                f"{mv.ref} has no 'reference_profile' evidence",
                model=mv.name,
                kind="reference_profile",
            )
        if ev.get("status") != "ok":
            raise NotFound(
                f"{mv.ref} has no reference profile ({ev.get('reason')}); "
                "register it with training or evaluation data",
                model=mv.name,
            )
        column, _, value = segment.partition("=")
        digest = ev.get("segments", {}).get(column, {}).get(value, ev["artifact_sha256"])
        with self._profiles_lock:
            if digest in self._profiles:
                self._profiles.move_to_end(digest)
                return self._profiles[digest]
        found = Profile.from_bytes(self.artifacts.get(digest, what=f"{mv.ref} reference profile"))
        with self._profiles_lock:
            self._profiles[digest] = found
            while len(self._profiles) > REFERENCE_CACHE:
                self._profiles.popitem(last=False)
        return found

    def forget_profiles(self) -> None:
        """Drop the parsed reference profiles (on close: their sketches are native objects
        that should not outlive the store)."""
        with self._profiles_lock:
            self._profiles.clear()
            self._fixed_evidence.clear()

    def run(
        self,
        mv: ModelVersion,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        window: str = "1d",
        segment_by: str | None = None,
        store: bool = True,
        explain: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> MonitorReport:
        model_id = self._model_id(mv.name)
        report, stored = self._evaluate(
            mv,
            model_id,
            since=since,
            until=until,
            window=window,
            segment_by=segment_by,
            store=store,
            explain=explain,
            progress=progress,
        )
        if stored:
            self.results.save(model_id, mv.version, window, stored)
        return report

    def _evaluate(
        self,
        mv: ModelVersion,
        model_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        window: str = "1d",
        segment_by: str | None = None,
        store: bool = True,
        explain: bool = False,
        progress: Callable[[int, int], None] | None = None,
        policy: Any = ...,
    ) -> tuple[MonitorReport, list[dict[str, Any]]]:
        """``run`` without the write: the report, and (``store``) the items to save.
        ``policy``: the model's masking policy when the caller read it (a fleet job)."""
        from mlwarden.engines.drift import compare
        from mlwarden.engines.profile import profile

        parse_window(window)
        since, until = as_time(since, "since"), as_time(until, "until")
        if policy is ...:
            policy = self._masking(mv.name) if self._masking is not None else None
        # the log holds masked inputs: compare them with the reference masked the same way
        ref, left_out = masked_reference(self.reference(mv), policy, MASK_EXEMPT)
        signature = masked_signature(dict(mv.signature), policy)
        read_at = datetime.now(UTC)
        frame = self.predictions.read(
            model_id, since=since, until=until, version=mv.version, columns=WINDOW_COLUMNS
        )
        windows: list[WindowResult] = []
        stored: list[dict[str, Any]] = []
        if "erased" in frame.columns:
            # a shredded subject's rows keep only id, time and version: nothing to monitor
            frame = frame[~frame["erased"].astype(bool)].reset_index(drop=True)
        if frame.empty:
            return MonitorReport(mv.name, mv.version, window, segment_by, ()), []
        frame = frame.assign(**{PREDICTION_COLUMN: frame["output"].astype(str)})
        if SCORE_COLUMN in ref.columns:
            frame[SCORE_COLUMN] = frame["score"].astype(float)
        # protected attributes logged beside the inputs feed fairness, never drift or quality
        attributes = set(mv.sensitive_attributes)
        inputs = [c for c in frame.columns if c not in META and c not in attributes]
        spans = list(split(frame, window, self.timezone))
        refs: dict[str, Any] = {"all": ref}  # segment -> its reference profile
        by_rows = window.endswith("rows")
        sensitive = mv.sensitive_features
        calibration = self._calibration(mv)
        model = None
        reference_importance: dict[str, float] = {}
        if explain and self._load_model is not None:
            model = self._load_model(mv.ref)
            reference_importance = self._evidence(mv.ref, "explain").get("importance") or {}
        for i, (start, end, part) in enumerate(spans):
            for segment, rows in segments(part, segment_by):
                if segment not in refs:
                    refs[segment] = masked_reference(
                        self.reference(mv, segment), policy, MASK_EXEMPT
                    )[0]
                seg_ref = refs[segment]
                cur = profile(
                    rows[inputs],
                    bins_from=seg_ref,
                    categorical=[PREDICTION_COLUMN] if PREDICTION_COLUMN in inputs else None,
                )
                drift = compare(seg_ref, cur).to_dict()
                drift["skipped"].update(left_out)
                features = rows[[c for c in inputs if c not in (PREDICTION_COLUMN, SCORE_COLUMN)]]
                quality = summarize(check_quality(signature, seg_ref, features))
                result = WindowResult(
                    start=start,
                    end=end,
                    segment=segment,
                    rows=len(rows),
                    labelled=int(rows["label"].notna().sum()),
                    drift=drift,
                    quality=quality,
                    attribution=(
                        attribution_drift(
                            model, conform(features, dict(mv.signature)), reference_importance
                        )
                        if model is not None and segment == "all"
                        else {}
                    ),
                    **self._performance(rows, mv.signature, sensitive, calibration),
                )
                windows.append(result)
                if store:
                    # time windows are keyed by start, row windows by their first prediction
                    key = f"first:{rows['id'].iloc[0]}" if by_rows else start.isoformat()
                    stored.append(
                        {
                            "key": key,
                            "start": start.to_pydatetime(),
                            "end": end.to_pydatetime(),
                            "segment": segment,
                            "rows": len(rows),
                            "profile_sha256": self.artifacts.put(cur.to_bytes()),
                            "read_at": read_at,
                            "result": result.to_dict(),
                        }
                    )
            if progress is not None:
                progress(i + 1, len(spans))
        return MonitorReport(mv.name, mv.version, window, segment_by, tuple(windows)), stored

    def refresh(
        self,
        mv: ModelVersion,
        *,
        window: str = "1d",
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> ModelOutcome:
        """Evaluate and store the windows of ``mv`` not final yet: the raw rows after the
        newest window that was closed when stored (time windows; row windows are all
        evaluated again). An explicit ``since`` evaluates everything from there, final
        windows included: what a label for a final window, or a prediction logged late with
        an older timestamp, needs to count."""
        model_id = self._model_id(mv.name)
        _, unit = parse_window(window)
        closed = None
        if unit != "rows" and as_time(since, "since") is None:
            closed = self.results.stored_windows(model_id, mv.version, window)
        outcome, stored = self._refresh(mv, model_id, closed, window, since, until)
        if stored:
            self.results.save(model_id, mv.version, window, stored)
        return outcome

    def _refresh(
        self,
        mv: ModelVersion,
        model_id: int,
        closed: list[tuple[datetime, datetime]] | None,
        window: str,
        since: datetime | None,
        until: datetime | None,
        policy: Any = ...,
    ) -> tuple[ModelOutcome, list[dict[str, Any]]]:
        """``refresh`` without its reads of the model id and stored windows (``closed``:
        None when every window is evaluated) and without the write: the outcome and the
        items to save."""
        started = time.perf_counter()
        _, unit = parse_window(window)
        since = as_time(since, "since")
        kept = 0
        if unit != "rows" and since is None:
            since, kept = resume_after(closed or [])
        report, stored = self._evaluate(
            mv, model_id, since=since, until=until, window=window, policy=policy
        )
        latest = report.windows[-1] if report.windows else None
        outcome = ModelOutcome(
            mv.name,
            mv.version,
            window,
            new_windows=len(report.windows),
            kept_windows=kept,
            rows=sum(w.rows for w in report.windows if w.segment == "all"),
            drifted=None if latest is None else bool(latest.drift.get("dataset_drifted")),
            seconds=time.perf_counter() - started,
        )
        return outcome, stored

    def evaluate_fleet(
        self,
        versions: Iterable[ModelVersion | tuple[ModelVersion, str]],
        *,
        window: str = "1d",
        since: datetime | None = None,
        until: datetime | None = None,
        map: Map | None = None,
        executor: str = "serial",
        workers: int = 1,
    ) -> FleetReport:
        """``refresh`` every version (or ``(version, window)`` pair), mapped with ``map``
        (default: one after another; a thread pool's ``map`` runs models side by side).
        A model that fails is reported in its outcome; the others go on.

        The per-model fixed cost is a read of its rows and little else: the model ids, the
        stored windows and the registration evidence of all models are read up front, one
        query each; ``PIN_BATCH`` models share a connection checkout and the new windows are
        saved ``SAVE_BATCH`` models per transaction."""
        parse_window(window)
        started = time.perf_counter()
        jobs = [v if isinstance(v, tuple) else (v, window) for v in versions]
        self._prefetch_evidence(list({mv.ref: mv for mv, _ in jobs}.values()))
        names = sorted({mv.name for mv, _ in jobs})
        ids = self._model_ids(names) if self._model_ids is not None else {}
        policies = self._masking_of(names) if self._masking_of is not None else {}
        closed: dict[tuple[int, int, str], list[tuple[datetime, datetime]]] = {}
        if as_time(since, "since") is None:
            closed = self.results.stored_windows_of(
                sorted(
                    {
                        (ids[mv.name], mv.version, size)
                        for mv, size in jobs
                        if mv.name in ids and parse_window(size)[1] != "rows"
                    }
                )
            )

        Write = tuple[int, int, str, list[dict[str, Any]]]  # save_many's (id, version, ...)

        def one(job: tuple[ModelVersion, str]) -> tuple[ModelOutcome, list[Write]]:
            mv, size = job
            write: list[Write] = []

            def task() -> ModelOutcome:
                model_id = ids.get(mv.name)
                if model_id is None:  # not prefetched (or gone since): its own read
                    model_id = self._model_id(mv.name)
                outcome, stored = self._refresh(
                    mv,
                    model_id,
                    closed.get((model_id, mv.version, size), []),
                    size,
                    since,
                    until,
                    policies.get(mv.name, ...),
                )
                if stored:
                    write.append((model_id, mv.version, size, stored))
                return outcome

            return guarded(task, mv.name, mv.version, size), write

        def some(part: list[tuple[ModelVersion, str]]) -> list[tuple[ModelOutcome, list[Write]]]:
            with self._pinned():  # one connection checkout for several models' reads
                return [one(job) for job in part]

        parts = [jobs[i : i + PIN_BATCH] for i in range(0, len(jobs), PIN_BATCH)]
        outcomes: list[ModelOutcome] = []
        pending: list[tuple[int, Write]] = []  # (index in outcomes, what to save)
        for done in (map or builtins.map)(some, parts):
            for outcome, write in done:
                outcomes.append(outcome)
                if write and outcome.error is None:
                    pending.append((len(outcomes) - 1, write[0]))
            if len(pending) >= SAVE_BATCH:
                self._save_batch(outcomes, pending)
                pending = []
        self._save_batch(outcomes, pending)
        return FleetReport(
            window, tuple(outcomes), time.perf_counter() - started, executor, workers
        )

    def _save_batch(
        self,
        outcomes: list[ModelOutcome],
        pending: list[tuple[int, tuple[int, int, str, list[dict[str, Any]]]]],
    ) -> None:
        """Save several models' new windows in one transaction; if it fails, each of those
        models reports the error (nothing of theirs was stored)."""
        if not pending:
            return
        try:
            self.results.save_many([write for _, write in pending])
        except Exception as exc:  # reported per model, as guarded() does
            for index, _ in pending:
                failed = outcomes[index]
                outcomes[index] = ModelOutcome(
                    failed.name,
                    failed.version,
                    failed.window,
                    seconds=failed.seconds,
                    error=f"saving its windows failed: {type(exc).__name__}: {exc}",
                )

    def traffic(
        self, name: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[int, int]:
        """Logged predictions per version of ``name`` in [since, until)."""
        since, until = as_time(since, "since"), as_time(until, "until")
        return self.predictions.version_counts(self._model_id(name), since=since, until=until)

    def history(
        self, name: str, *, segment: str | None = None, version: int | None = None
    ) -> list[dict[str, Any]]:
        """``name``'s stored monitor windows (of one segment, one version), ordered by window
        start: the dashboard's charts and the reports' monitoring facts."""
        return self.results.history(self._model_id(name), segment=segment, version=version)

    def rollup(self, mv: ModelVersion, *, source: str = "1d", window: str = "7d") -> MonitorReport:
        """Drift over longer windows by merging the stored profiles of shorter ones: no raw
        prediction is read again (profiles merge exactly; quantiles within the sketch bound)."""
        from functools import reduce

        from mlwarden.engines.drift import compare
        from mlwarden.engines.profile import Profile

        _, unit = parse_window(window)
        if unit == "rows":
            raise ValidationError("roll-ups need a time window (e.g. 7d, 1w)", field="window")
        policy = self._masking(mv.name) if self._masking is not None else None
        ref, left_out = masked_reference(self.reference(mv), policy, MASK_EXEMPT)
        stored = self.results.history(
            self._model_id(mv.name), window=source, segment="all", version=mv.version
        )
        if not stored:
            raise NotFound(
                f"no stored {source} windows for {mv.ref}: run monitor first", model=mv.name
            )
        frame = pd.DataFrame(stored)
        frame["start"] = pd.to_datetime(frame["start"], utc=True)
        frame["bucket"], frame["bucket_end"] = bounds(frame["start"], window, self.timezone)
        results = []
        for (bucket, bucket_end), group in frame.groupby(["bucket", "bucket_end"], sort=True):
            profiles = [
                Profile.from_bytes(self.artifacts.get(sha)) for sha in group["profile_sha256"]
            ]
            merged = reduce(lambda a, b: a.merge(b), profiles)
            results.append(
                WindowResult(
                    start=bucket,
                    end=bucket_end,
                    segment="all",
                    rows=int(group["rows"].sum()),
                    labelled=int(sum(r.get("labelled", 0) for r in group["result"])),
                    drift=_with_left_out(compare(ref, merged).to_dict(), left_out),
                    quality={},
                )
            )
        return MonitorReport(mv.name, mv.version, window, None, tuple(results))

    def _calibration(self, mv: ModelVersion) -> dict[str, Any] | None:
        """The version's score calibration (evidence), or None for versions registered before
        it existed."""
        return self._registration_evidence(mv, "calibration")

    def _performance(
        self,
        rows: pd.DataFrame,
        signature: dict[str, Any],
        sensitive: list[str],
        calibration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        output = signature.get("output", {})
        classes = [str(c) for c in output["classes"]] if output.get("classes") else None
        y_pred = rows["output"].astype(str).to_numpy()
        scores = rows["score"].astype(float).to_numpy()
        has_scores = not np.isnan(scores).all()
        if classes is not None and len(classes) == 2 and has_scores:
            out["estimated"] = perf.estimated(y_pred, scores, classes[-1], calibration)
        present = [c for c in sensitive if c in rows.columns]
        # only the columns read below: a row filter copies every column it keeps
        labelled = rows.loc[rows["label"].notna(), ["label", "output", "score", *present]]
        # labels stored before they were validated: left out and counted, never a failed window
        _, unreadable = canonical_labels(labelled["label"].to_numpy(), dict(signature))
        if unreadable:
            out["unreadable_labels"] = len(unreadable)
            labelled = labelled.drop(index=labelled.index[unreadable])
        if labelled.empty:
            return out
        y_true = labelled["label"].astype(str).to_numpy()
        if classes is None:
            out["performance"] = perf.realized(
                y_true.astype(float), labelled["output"].astype(float).to_numpy(), None, None
            )
            return out
        lab_scores = labelled["score"].astype(float).to_numpy()
        out["performance"] = perf.realized(
            y_true,
            labelled["output"].astype(str).to_numpy(),
            lab_scores if has_scores else None,
            classes,
        )
        if present and len(labelled) >= MIN_FAIRNESS_ROWS and len(classes) == 2:
            from mlwarden.engines.fairness import audit

            report = audit(
                y_true,
                labelled["output"].astype(str).to_numpy(),
                sensitive_features=labelled[present].reset_index(drop=True),
                favorable_label=str(favorable_label(signature)),
                n_boot=FAIRNESS_BOOTSTRAP,
            )
            out["fairness"] = report.summary  # what to_dict()["summary"] holds, without the rest
        return out


def _with_left_out(drift: dict[str, Any], left_out: dict[str, str]) -> dict[str, Any]:
    drift["skipped"].update(left_out)  # masked columns: why they are not compared
    return drift


def as_time(value: Any, field: str) -> datetime | None:
    """Accept datetimes, pandas timestamps and ISO strings; naive times are UTC."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"{field} must be a date or time, got {value!r}", field=field
        ) from exc
    return (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    ).to_pydatetime()
