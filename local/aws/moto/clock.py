"""Time acceleration: a virtual clock, and the engine's wait points made to wait on it.

Time acceleration (``ORDERS_TIME_SCALE=N``) divides every wait the engine makes by N: Wait states, Retry intervals
(after backoff, jitter and MaxDelaySeconds), task ``TimeoutSeconds``, ``HeartbeatSeconds`` and callback timeouts.
It patches the clocks those waits use, not the durations the ASL declares, so the execution history records the
declared values and its events come in the same order.

``WAIT_POINTS`` names each engine module's ``time``, ``threading`` or ``Event`` that ``install_time_scale``
(``local.aws.moto``) replaces; ``tests/unit/test_engine_adapter.py`` fails loudly if a moto upgrade moves one.
"""

from __future__ import annotations

import threading
import time as real_time
from types import ModuleType
from typing import Any

from local.aws.moto.versions import require_supported_moto

require_supported_moto()

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.eval import environment
from moto.stepfunctions.parser.asl.eval.callback import callback

TIME_SCALE_ENV = "ORDERS_TIME_SCALE"


class VirtualClock:
    """A clock that runs ``factor`` times faster than the real one, from the moment the factor was set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._factor = 1.0
        self._real_anchor = real_time.time()
        self._virtual_anchor = self._real_anchor

    @property
    def factor(self) -> float:
        return self._factor

    def set_factor(self, factor: float) -> None:
        if factor <= 0:
            raise ValueError(f"{TIME_SCALE_ENV} must be positive, got {factor}")
        with self._lock:
            self._virtual_anchor = self.time()
            self._real_anchor = real_time.time()
            self._factor = float(factor)

    def time(self) -> float:
        return self._virtual_anchor + (real_time.time() - self._real_anchor) * self._factor

    def real_seconds(self, virtual_seconds: float | None) -> float | None:
        return None if virtual_seconds is None else virtual_seconds / self._factor


CLOCK = VirtualClock()


class ScaledEvent(threading.Event):
    """``threading.Event`` whose ``wait(timeout)`` lasts ``timeout / factor`` real seconds."""

    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(CLOCK.real_seconds(timeout))


class _ScaledTime:
    """Stands in for the ``time`` module inside the engine modules that wait."""

    def __getattr__(self, name: str) -> Any:
        return getattr(real_time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        real_time.sleep(CLOCK.real_seconds(seconds))

    @staticmethod
    def time() -> float:
        return CLOCK.time()


class _ScaledThreading:
    """Stands in for the ``threading`` module inside the engine modules that wait on events."""

    Event = ScaledEvent

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


WAIT_POINTS: tuple[tuple[ModuleType, str, Any], ...] = (
    (retrier_decl, "time", _ScaledTime()),  # Retry: time.sleep(interval) after backoff, jitter and MaxDelaySeconds
    (wait_function, "time", _ScaledTime()),  # Wait state: measures what it waited with time.time()
    (environment, "threading", _ScaledThreading()),  # Wait state: env.program_state_event.wait(seconds)
    (execute_state, "threading", _ScaledThreading()),  # TimeoutSeconds: terminated_event.wait(timeout)
    (callback, "Event", ScaledEvent),  # callback timeout and HeartbeatSeconds: Event.wait(timeout)
)
