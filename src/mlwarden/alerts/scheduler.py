"""Run the installed monitoring policies on a schedule inside ``mlwarden serve``.

``create_app``'s lifespan calls :func:`start` and, on shutdown, ``stop()`` on what it
returned. One daemon thread evaluates every ``MLWARDEN_ALERTS_INTERVAL_S`` seconds (the first
run one interval after start, so a server starts fast); an evaluation that fails is logged
and retried next time, never fatal to the server. Several replicas may each run one: alert
state is in the store, and a firing alert is opened (and its actions run) only once.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from mlwarden.alerts.settings import AlertSettings
from mlwarden.entities.alerts import Evaluation

if TYPE_CHECKING:
    from mlwarden.alerts.host import AlertHost

log = logging.getLogger("mlwarden.alerts")


class Scheduler:
    def __init__(self, warden: AlertHost, settings: AlertSettings | None = None) -> None:
        self.warden = warden
        self.settings = settings if settings is not None else warden.settings.alerts
        self.runs = 0
        self.last: Evaluation | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Evaluation | None:
        try:
            # the service itself, not the facade: the server evaluates as the system, not
            # as a user whose role the facade would check
            evaluation = self.warden.alerting.evaluate(
                actor=self.warden.actor, refresh=self.settings.refresh
            )
        except Exception as exc:  # a bad policy or a database blip must not kill the loop
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("monitoring policy evaluation failed")
            return None
        self.runs += 1
        self.last, self.last_error = evaluation, None
        for o in evaluation.outcomes:
            if o.change in ("fired", "resolved"):
                log.warning("%s %s/%s on %s@%s", o.change, o.policy, o.rule, o.model, o.version)
        return evaluation

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.interval_s):
            self.run_once()

    def start(self) -> Scheduler:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="mlwarden-monitoring", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def start(warden: AlertHost, settings: AlertSettings | None = None) -> Scheduler | None:
    """Start evaluating (``None`` when ``interval_s`` is 0: the scheduler is off);
    ``settings`` default to the warden's (``warden.settings.alerts``)."""
    settings = settings if settings is not None else warden.settings.alerts
    if settings.interval_s <= 0:
        return None
    return Scheduler(warden, settings).start()


def stop(scheduler: Scheduler | None) -> None:
    if scheduler is not None:
        scheduler.stop()
