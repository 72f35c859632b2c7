"""Prometheus metrics: ``/metrics`` over the store, plus live prediction counters.

Monitoring results, alert states and the audit size are read from the store *at scrape time*
by a custom collector (:class:`WardenCollector`), so every replica reports the same values and
nothing is kept in memory between scrapes. Predictions served are counted in-process by
:func:`observe_prediction` (the serving path calls it), as a counter and a latency histogram.

The ``/metrics`` route itself is the server's (``server/routes/metrics.py``): this module is
the metric logic only. See docs/alerts.md for the metric table.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlwarden.entities.alerts import FIRING

if TYPE_CHECKING:
    from mlwarden.alerts.host import AlertHost

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_MV = ["model", "version"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


class _Live:
    """The in-process prediction counters: one registry per process, made on first use."""

    _lock = threading.Lock()
    _instance: _Live | None = None

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.predictions = Counter(
            "mlwarden_predictions",
            "Predictions served by this process",
            _MV,
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlwarden_prediction_latency_seconds",
            "Time to serve a prediction request, by model version",
            _MV,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        #: each version's two children, looked up once: ``labels()`` validates and locks,
        #: which cost the prediction path more than counting
        self.children: dict[tuple[str, int | str], tuple[Any, Any]] = {}

    def of(self, model: str, version: int | str) -> tuple[Any, Any]:
        key = (model, version)
        found = self.children.get(key)
        if found is None:
            labels = (model, str(version))
            found = (self.predictions.labels(*labels), self.latency.labels(*labels))
            if len(self.children) > 10_000:  # a bound, not an eviction policy: rebuilt on use
                self.children.clear()
            self.children[key] = found
        return found

    @classmethod
    def get(cls) -> _Live:
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance


def observe_prediction(model: str, version: int | str, latency_s: float, rows: int = 1) -> None:
    """Count ``rows`` predictions of ``model@version`` served in ``latency_s`` seconds."""
    count, latency = _Live.get().of(model, version)
    count.inc(rows)
    latency.observe(latency_s)


class WardenCollector(Collector):
    """Reads the current values from the store on every scrape."""

    def __init__(self, warden: AlertHost) -> None:
        self.warden = warden

    def collect(self) -> Iterator[Metric]:
        wd = self.warden
        store = wd.alerting.store
        g = {
            "drift_score": GaugeMetricFamily(
                "mlwarden_drift_score",
                "Drift statistic of a feature in the newest monitoring window",
                labels=[*_MV, "feature"],
            ),
            "drift_detected": GaugeMetricFamily(
                "mlwarden_drift_detected",
                "1 if the feature drifted in the newest window",
                labels=[*_MV, "feature"],
            ),
            "drift_share": GaugeMetricFamily(
                "mlwarden_drift_share", "Share of features that drifted", labels=_MV
            ),
            "dataset_drift": GaugeMetricFamily(
                "mlwarden_dataset_drift",
                "1 if the dataset drifted (share over threshold)",
                labels=_MV,
            ),
            "null_rate": GaugeMetricFamily(
                "mlwarden_null_rate",
                "Share of nulls of a feature in the newest window",
                labels=[*_MV, "feature"],
            ),
            "quality_failed": GaugeMetricFamily(
                "mlwarden_quality_failed_checks", "Failed data-quality checks", labels=_MV
            ),
            "performance": GaugeMetricFamily(
                "mlwarden_performance",
                "Realized metric from labels in the newest window",
                labels=[*_MV, "metric"],
            ),
            "estimated": GaugeMetricFamily(
                "mlwarden_estimated_performance",
                "Metric estimated from calibrated scores in the newest window",
                labels=[*_MV, "metric"],
            ),
            "registered": GaugeMetricFamily(
                "mlwarden_registered_metric",
                "Metric measured at registration (the baseline for performance drops)",
                labels=[*_MV, "metric"],
            ),
            "fairness": GaugeMetricFamily(
                "mlwarden_fairness",
                "Fairness metric per sensitive attribute in the newest window",
                labels=[*_MV, "attribute", "metric"],
            ),
            "attribution": GaugeMetricFamily(
                "mlwarden_attribution_drift", "Attribution drift distance", labels=_MV
            ),
            "rows": GaugeMetricFamily(
                "mlwarden_monitor_window_rows", "Predictions in the newest window", labels=_MV
            ),
            "window_end": GaugeMetricFamily(
                "mlwarden_monitor_window_end_timestamp_seconds",
                "End of the newest monitoring window",
                labels=_MV,
            ),
            "last_run": GaugeMetricFamily(
                "mlwarden_monitor_last_run_timestamp_seconds",
                "When the newest window was computed",
                labels=_MV,
            ),
        }
        versions: dict[str, dict[int, Any]] = {}
        for row in store.latest_windows():
            labels = [row["name"], str(row["version"])]
            result = row["result"]
            drift = result.get("drift") or {}
            for feature, col in (drift.get("columns") or {}).items():
                stat = _number(col.get("statistic"))
                if stat is not None:
                    g["drift_score"].add_metric([*labels, feature], stat)
                g["drift_detected"].add_metric([*labels, feature], float(bool(col.get("drifted"))))
            for key, name in (
                ("share_drifted", "drift_share"),
                ("dataset_drifted", "dataset_drift"),
            ):
                value = _number(drift.get(key))
                if value is not None:
                    g[name].add_metric(labels, value)
            quality = result.get("quality") or {}
            for r in quality.get("results") or ():
                value = _number(r.get("value"))
                if r.get("rule") == "null_rate" and value is not None:
                    g["null_rate"].add_metric([*labels, r["column"]], value)
            if _number(quality.get("failed")) is not None:
                g["quality_failed"].add_metric(labels, float(quality["failed"]))
            for key in ("performance", "estimated"):
                for metric, value in (result.get(key) or {}).items():
                    if _number(value) is not None:
                        g[key].add_metric([*labels, metric], float(value))
            for attribute, metrics in (result.get("fairness") or {}).items():
                for metric, value in (metrics or {}).items() if isinstance(metrics, dict) else ():
                    if _number(value) is not None:
                        g["fairness"].add_metric([*labels, attribute, metric], float(value))
            distance = _number((result.get("attribution") or {}).get("distance"))
            if distance is not None:
                g["attribution"].add_metric(labels, distance)
            g["rows"].add_metric(labels, float(row["rows"]))
            if row["end"] is not None:
                g["window_end"].add_metric(labels, row["end"].timestamp())
            g["last_run"].add_metric(labels, row["computed_at"].timestamp())
            versions.setdefault(row["name"], {})[row["version"]] = labels
        for name, numbers in versions.items():
            for mv in wd.list_versions(name):
                if mv.version in numbers:
                    for metric, value in (mv.metrics or {}).items():
                        if _number(value) is not None:
                            g["registered"].add_metric(
                                [name, str(mv.version), metric], float(value)
                            )
        yield from g.values()
        yield from self._registry_metrics()
        yield from self._review_metrics()
        yield from self._alert_metrics(store)
        audit = GaugeMetricFamily("mlwarden_audit_log_size", "Events in the audit log")
        audit.add_metric([], float(wd.audit.size))
        yield audit

    def _registry_metrics(self) -> Iterator[Metric]:
        alias = GaugeMetricFamily(
            "mlwarden_alias_version",
            "Version number an alias points at",
            labels=["model", "alias"],
        )
        blocked = GaugeMetricFamily(
            "mlwarden_version_blocked", "1 for versions blocked from promotion", labels=_MV
        )
        for model in self.warden.list_models():
            for name, version in model.aliases.items():
                alias.add_metric([model.name, name], float(version))
        for row in self.warden.alerting.store.version_statuses():
            if row["status"] == "blocked":
                blocked.add_metric([row["name"], str(row["version"])], 1.0)
        yield alias
        yield blocked

    def _review_metrics(self) -> Iterator[Metric]:
        """Human oversight: the review queue per status and the override rate per model."""
        items = GaugeMetricFamily(
            "mlwarden_review_items",
            "Flagged predictions per review status",
            labels=["model", "status"],
        )
        rate = GaugeMetricFamily(
            "mlwarden_review_override_rate",
            "Reviewed predictions whose output a reviewer overrode (overridden / decided)",
            labels=["model"],
        )
        for model in self.warden.list_models():
            got = self.warden.oversight.override_rate(model.name)
            if not any(got[s] for s in ("pending", "confirmed", "overridden")):
                continue
            for status in ("pending", "confirmed", "overridden"):
                items.add_metric([model.name, status], float(got[status]))
            if got["override_rate"] is not None:
                rate.add_metric([model.name], float(got["override_rate"]))
        yield items
        yield rate

    def _alert_metrics(self, store: Any) -> Iterator[Metric]:
        firing = GaugeMetricFamily(
            "mlwarden_alert_firing",
            "1 for every alert firing now",
            labels=[*_MV, "policy", "rule", "severity"],
        )
        for a in store.find(status=FIRING):
            firing.add_metric([a.model, str(a.version), a.policy, a.rule, a.severity], 1.0)
        yield firing
        fired = CounterMetricFamily(
            "mlwarden_alerts", "Alerts fired (all time)", labels=["policy", "severity"]
        )
        totals: dict[tuple[str, str], int] = {}
        for row in store.alert_counts():
            key = (row["policy"], row["severity"])
            totals[key] = totals.get(key, 0) + int(row["n"])
        for key, n in totals.items():
            fired.add_metric(list(key), float(n))
        yield fired
        deliveries = CounterMetricFamily(
            "mlwarden_alert_deliveries",
            "Alert delivery attempts by channel and outcome",
            labels=["channel", "outcome"],
        )
        for row in store.delivery_counts():
            outcome = "ok" if row["ok"] else "failed"
            deliveries.add_metric([row["channel"], outcome], float(row["n"]))
        yield deliveries


def registry_for(warden: AlertHost) -> CollectorRegistry:
    """A registry with the store collector and this process's prediction counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WardenCollector(warden))
    registry.register(_LiveCollector())
    return registry


class _LiveCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _Live.get().registry.collect()


def render(warden: AlertHost) -> bytes:
    return generate_latest(registry_for(warden))
