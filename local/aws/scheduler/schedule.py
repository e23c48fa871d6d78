"""The local stand-in for EventBridge Scheduler: a rate schedule that invokes its function on the virtual clock.

A ``LocalSchedule`` invokes one function through the in-process Lambda runner every ``every_seconds`` of the virtual
clock (``local.aws.moto.CLOCK``), so ``ORDERS_TIME_SCALE`` speeds it up as it speeds up the engine's waits. The event
is built at each run, so it can carry durations scaled by the factor of that moment. The schedule runs in a thread of
its own that waits on an Event, so ``stop()`` ends it at once rather than after the period.

Where it differs from AWS: a run starts a period after the previous one ended, never while it still runs (AWS starts
runs on the clock; the function's timeout, below the period, keeps them apart), and no two runs are closer than
``MIN_REAL_PERIOD_SECONDS`` of real time, however large the time scale.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from local.aws.awslambda.runner import Invocation, LambdaRunner
from local.aws.moto import CLOCK
from workflows.resources import RECONCILE_ORDERS, STRANDED_ORDER_SCHEDULE

MIN_REAL_PERIOD_SECONDS = 0.05
"""At the test stack's factor of 1,000 a minute is 60 ms; at 100,000 it would be 0.6 ms, and the schedule would take a
core from the engine for nothing."""
STOP_SECONDS = 10.0
"""How long ``stop()`` waits for a run in progress; a run is bounded by its function's timeout."""

log = logging.getLogger(__name__)


class ScheduleDeadlineError(AssertionError):
    pass


class LocalSchedule:
    """Invokes ``function_name`` with ``event()`` every ``every_seconds`` of virtual time, from ``start()`` to
    ``stop()``; ``runs`` counts the runs that ended, ``last`` is the last one's answer.

    Example
    -------
    >>> schedule = LocalSchedule(runner, "ReconcileOrders", 60, lambda: {"strandedAfterSeconds": 120})  # doctest: +SKIP
    >>> schedule.start()  # doctest: +SKIP
    >>> schedule.wait_for_runs(schedule.runs + 2, deadline=5)  # doctest: +SKIP
    >>> schedule.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        runner: LambdaRunner,
        function_name: str,
        every_seconds: float,
        event: Callable[[], Mapping[str, Any]],
    ):
        if every_seconds <= 0:
            raise ValueError(f"a schedule needs a positive period, got {every_seconds}")
        self.function_name = function_name
        self._runner, self._every_seconds, self._event = runner, every_seconds, event
        self._stopped = threading.Event()
        self._ran = threading.Condition()
        self.runs = 0
        self.last: Invocation | None = None
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function_name}", daemon=True)

    @property
    def real_period_seconds(self) -> float:
        """The period in real seconds at the clock's factor now."""
        return max(CLOCK.real_seconds(self._every_seconds), MIN_REAL_PERIOD_SECONDS)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop waiting for the next run, and let a run in progress end."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_SECONDS)

    @property
    def running(self) -> bool:
        """Its thread is alive: started, and not stopped (or a run in progress outlived ``stop()``)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopped.wait(self.real_period_seconds):
            invocation = self._runner.invoke(self.function_name, json.dumps(self._event()).encode())
            if invocation.function_error or invocation.status_code >= 300:
                log.warning("scheduled %s failed: %s", self.function_name, invocation.payload.decode()[:2000])
            with self._ran:
                self.runs += 1
                self.last = invocation
                self._ran.notify_all()

    def wait_for_runs(self, count: int, *, deadline: float) -> Invocation | None:
        """Block until ``count`` runs have ended (counted from ``start()``), at most ``deadline`` real seconds; the
        last run's answer."""
        give_up = time.monotonic() + deadline
        with self._ran:
            if not self._ran.wait_for(lambda: self.runs >= count, timeout=max(0.0, give_up - time.monotonic())):
                raise ScheduleDeadlineError(
                    f"{self.function_name}: {count} runs not within {deadline:.1f}s; {self.runs} ran"
                )
            return self.last


def reconciler_schedule(runner: LambdaRunner, at_least_seconds: float = 0.0) -> LocalSchedule:
    """ReconcileOrders on its schedule, as CDK deploys it, with the age of a stranded order scaled like the period.

    ``at_least_seconds``: the age never drops below it. Where the API runs, pass its timeout: locally a function's
    timeout is real seconds, and a request must have ended before the reconciler may touch its order.
    """
    return LocalSchedule(
        runner,
        RECONCILE_ORDERS.logical_name,
        STRANDED_ORDER_SCHEDULE.every_seconds,
        lambda: STRANDED_ORDER_SCHEDULE.event(CLOCK.factor, at_least_seconds),
    )
