"""A rule's Lambda targets, invoked as EventBridge invokes them: asynchronously, retried, within the event's age.

moto matches each event against the rules and hands the Lambda targets' events to ``LAMBDA_TARGET_LISTENERS``
(``local.aws.moto.fidelity``). This delivers them through the Lambda runner on a few worker threads, so PutEvents
returns at once, as in AWS. A failed invocation (a function error or a throttle) is tried again after 0.5 s, 1 s,
2 s, … up to the target's ``RetryPolicy`` (``MaximumRetryAttempts``, ``MaximumEventAgeInSeconds``; EventBridge's
defaults are 185 and 24 hours), then dropped with a warning: the rule has no dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.aws.awslambda.runner import LambdaRunner, function_name_from

LOG = logging.getLogger(__name__)

DEFAULT_RETRY_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE_SECONDS = 24 * 60 * 60
FIRST_RETRY_SECONDS = 0.5
WORKERS = 4
"""Pushes are short (a Query and a post per connection); a few at a time keep a burst of events from queueing."""


class LambdaRuleTargets:
    """Delivers the events of rules whose target is one of ``runner``'s functions; ``stop()`` drops what is left.

    Example
    -------
    >>> targets = LambdaRuleTargets(runner)  # doctest: +SKIP
    >>> targets.start()  # doctest: +SKIP  (PutEvents on a bus now invokes the rules' functions)
    """

    def __init__(self, runner: LambdaRunner, workers: int = WORKERS):
        self._runner = runner
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventbridge-lambda-target")
        self._stopped = threading.Event()

    def start(self) -> None:
        from local.aws.moto import LAMBDA_TARGET_LISTENERS

        LAMBDA_TARGET_LISTENERS.append(self._received)

    def stop(self) -> None:
        from local.aws.moto import LAMBDA_TARGET_LISTENERS

        if self._received in LAMBDA_TARGET_LISTENERS:
            LAMBDA_TARGET_LISTENERS.remove(self._received)
        self._stopped.set()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _received(self, target: dict[str, Any], event: dict[str, Any]) -> None:
        if function_name_from(target["Arn"]) in self._runner.functions and not self._stopped.is_set():
            self._executor.submit(self._deliver, target, json.dumps(event).encode(), time.monotonic())

    def _deliver(self, target: dict[str, Any], payload: bytes, received_at: float) -> None:
        policy = target.get("RetryPolicy") or {}
        attempts = 1 + int(policy.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
        max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_SECONDS))
        function = function_name_from(target["Arn"])
        for attempt in range(attempts):
            invocation = self._runner.invoke(function, payload)
            if invocation.status_code == 200 and not invocation.function_error:
                return
            backoff = FIRST_RETRY_SECONDS * 2**attempt
            if time.monotonic() + backoff - received_at > max_age or self._stopped.wait(backoff):
                break
        LOG.warning("an event for %s was dropped after %d attempts: the function kept failing", function, attempt + 1)
