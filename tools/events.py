"""``orders events``: the order events a queue subscribed to the ``orders`` bus received, as they arrive.

``orders-cli-events`` is subscribed with a rule, as any downstream team would subscribe one, by the first
``orders events`` run. Reading consumes: each event is shown once. With an order id, the other orders' events are
left in the queue for later.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

RECEIVE_WAIT_SECONDS = 1
log = logging.getLogger(__name__)
CLI_EVENTS_QUEUE = "orders-cli-events"
"""The queue ``orders events`` subscribes to the local bus on its first run and reads from then on."""
FAILURE_EXPLANATIONS = {
    "States.HeartbeatTimeout": "the warehouse sent no heartbeat in time",
    "States.Timeout": "a step ran past its time limit",
}
"""What the Step Functions errors that come without a cause mean for an order (only RequestShipment heartbeats)."""


def events_from_queue(
    sqs: Any,
    queue_url: str,
    order_id: str | None = None,
    *,
    follow: bool = False,
    stopped: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
    """The events in the queue (the whole EventBridge event), oldest first within each receive.

    Without ``follow`` it ends at the first receive that finds nothing more; with it, when ``stopped`` is set.
    Other orders' events stay invisible while it reads (so a scan ends) and are handed back when it is done.

    Example
    -------
    >>> for event in events_from_queue(sqs, url, "ord-1"):  # doctest: +SKIP
    ...     print(event["detail"]["status"])
    """
    stopped = stopped or threading.Event()
    held: list[str] = []
    try:
        while not stopped.is_set():
            answer = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=RECEIVE_WAIT_SECONDS, VisibilityTimeout=30
            )
            messages = answer.get("Messages", [])
            if not messages and not follow:
                return
            mine = []
            for message in messages:
                event = json.loads(message["Body"])
                if order_id in (None, event.get("detail", {}).get("orderId")):
                    mine.append((message, event))
                else:
                    held.append(message["ReceiptHandle"])
            for message, event in sorted(mine, key=lambda pair: pair[1]["detail"].get("sequence", 0)):
                yield event
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    finally:
        for handle in held:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)


def describe(event: dict[str, Any]) -> str:
    """One line per event: when, which order, which step of its timeline, and what is new.

    Example
    -------
    >>> describe({"detail": {"at": "t1", "orderId": "o-1", "sequence": 2, "previousStatus": "RECEIVED",
    ...                      "status": "VALIDATED", "totalCents": 8999, "currency": "USD"}})
    't1  o-1  #2 RECEIVED -> VALIDATED  89.99 USD'
    """
    detail = event["detail"]
    change = f"{detail.get('previousStatus') or '-'} -> {detail['status']}"
    extra = []
    if detail.get("totalCents") is not None:
        extra.append(f"{detail['totalCents'] / 100:.2f} {detail.get('currency') or ''}".strip())
    if detail.get("trackingNumber"):
        extra.append(f"tracking {detail['trackingNumber']}")
    if detail.get("failure"):
        extra.append(failure_text(detail["failure"]))
    return f"{detail['at']}  {detail['orderId']}  #{detail['sequence']} {change}" + (
        f"  {', '.join(extra)}" if extra else ""
    )


class EventLog:
    """The order events one subscribed queue has received, kept by order: what the console shows beside a timeline.

    A thread reads the queue as it fills (each event once, as any consumer), and keeps each order's events by
    ``sequence``, so a redelivered event is kept once. ``queue`` is the queue's URL, or a function that subscribes
    one and returns its URL: it is called in the thread, so a console can start before the stack it reads.

    Example
    -------
    >>> log = EventLog(sqs, url)  # doctest: +SKIP
    >>> log.start()  # doctest: +SKIP
    >>> [event["status"] for event in log.events("ord-1")]  # doctest: +SKIP
    ['RECEIVED', 'VALIDATED']
    """

    def __init__(self, sqs: Any, queue: str | Callable[[], str]):
        self._sqs, self._queue = sqs, queue
        self._by_order: dict[str, dict[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="order-event-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=RECEIVE_WAIT_SECONDS + 5)

    def events(self, order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            kept = self._by_order.get(order_id, {})
            return [kept[sequence] for sequence in sorted(kept)]

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                if callable(self._queue):
                    self._queue = self._queue()
                for event in events_from_queue(self._sqs, self._queue, follow=True, stopped=self._stopped):
                    detail = event["detail"]
                    with self._lock:
                        self._by_order.setdefault(detail["orderId"], {})[detail["sequence"]] = detail
            except Exception:
                log.warning("reading the order events queue failed; trying again", exc_info=True)
                self._stopped.wait(RECEIVE_WAIT_SECONDS)


def failure_text(failure: Mapping[str, Any]) -> str:
    """``error: message``; an error without a message (a Step Functions timeout) is named with what it means.

    Older records say ``cause`` where the API now says ``message``.

    Example
    -------
    >>> failure_text({"error": "PaymentDeclinedError", "message": "card declined"})
    'PaymentDeclinedError: card declined'
    >>> failure_text({"error": "States.HeartbeatTimeout", "message": ""})
    'States.HeartbeatTimeout (the warehouse sent no heartbeat in time)'
    """
    error = str(failure.get("error") or "an unnamed error")
    message = failure.get("message") or failure.get("cause")
    if message:
        return f"{error}: {message}"
    explanation = FAILURE_EXPLANATIONS.get(error)
    return f"{error} ({explanation})" if explanation else error
