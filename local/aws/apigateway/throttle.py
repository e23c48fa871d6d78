"""The stage's throttle, as API Gateway applies it: a token bucket of ``burst_limit`` tokens, refilled at
``rate_limit`` tokens a second. Each request takes a token; one that finds the bucket empty is refused with 429
before the authorizer or the function runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from workflows.resources import StageThrottle


class TokenBucket:
    """Starts full, so a burst of ``burst_limit`` requests passes at once; after that, ``rate_limit`` a second.

    Example
    -------
    >>> bucket = TokenBucket(StageThrottle(rate_limit=1, burst_limit=2), clock=lambda: 0.0)
    >>> [bucket.take() for _ in range(3)]
    [True, True, False]
    """

    def __init__(self, throttle: StageThrottle, clock: Callable[[], float] = time.monotonic):
        self._rate = float(throttle.rate_limit)
        self._capacity = float(throttle.burst_limit)
        self._clock = clock
        self._tokens = self._capacity
        self._refilled_at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One token if the bucket holds one (True), else nothing is taken (False)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._refilled_at) * self._rate)
            self._refilled_at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
