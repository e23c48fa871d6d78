"""``orders events``: the order events a queue subscribed to the ``orders`` bus received, kept and shown in time order.

``orders-cli-events`` is subscribed with a rule, as any downstream team would subscribe one, by the first
``orders events`` run. Reading consumes the queue, so what is read is kept in an ``EventStore`` (a JSON-lines file
per queue): a later run can show one order's events again. Events from before the queue was subscribed come from the
bus's archive, replayed to the queue's rule (``replay_archive``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workflows.resources import ORDER_EVENTS

RECEIVE_WAIT_SECONDS = 1
log = logging.getLogger(__name__)
CLI_EVENTS_QUEUE = "orders-cli-events"
"""The queue ``orders events`` subscribes to the local bus on its first run and reads from then on."""
FAILURE_EXPLANATIONS = {
    "States.HeartbeatTimeout": "the warehouse sent no heartbeat in time",
    "States.Timeout": "a step ran past its time limit",
}
"""What the Step Functions errors that come without a cause mean for an order (only RequestShipment heartbeats)."""
REPLAY_DEADLINE_SECONDS = 900.0
"""How long ``replay_archive`` waits for EventBridge to finish a replay (AWS replays take minutes; moto's at once)."""
REPLAY_POLL_SECONDS = 2.0


def events_from_queue(
    sqs: Any, queue_url: str, *, follow: bool = False, stopped: threading.Event | None = None
) -> Iterator[dict[str, Any]]:
    """The events in the queue (the whole EventBridge event), in time order within each receive.

    Without ``follow`` it ends at the first receive that finds nothing more; with it, when ``stopped`` is set. Each
    message is deleted once the consumer has taken its event, so store it before asking for the next.

    Example
    -------
    >>> for event in events_from_queue(sqs, url):  # doctest: +SKIP
    ...     print(event["detail"]["status"])
    """
    stopped = stopped or threading.Event()
    while not stopped.is_set():
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=RECEIVE_WAIT_SECONDS, VisibilityTimeout=30
        )
        messages = answer.get("Messages", [])
        if not messages and not follow:
            return
        received = [(message, json.loads(message["Body"])) for message in messages]
        for message, event in sorted(received, key=lambda pair: time_order(pair[1])):
            yield event
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def event_time(event: Mapping[str, Any]) -> datetime:
    """When the status changed: the detail's ``at`` (milliseconds), else the event's ``time`` (seconds).

    Example
    -------
    >>> event_time({"time": "2026-12-06T04:20:52Z", "detail": {"at": "2026-12-06T04:20:52.057Z"}})
    datetime.datetime(2026, 12, 6, 4, 20, 52, 57000, tzinfo=datetime.timezone.utc)
    """
    for text in (event.get("detail", {}).get("at"), event.get("time")):
        try:
            moment = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def time_order(event: Mapping[str, Any]) -> tuple[datetime, int, str]:
    """The sort key of events across orders: time, then the order's sequence (two changes can share a millisecond).

    Example
    -------
    >>> sorted(events, key=time_order)  # doctest: +SKIP
    """
    detail = event.get("detail", {})
    return event_time(event), int(detail.get("sequence") or 0), str(detail.get("orderId"))


def event_key(event: Mapping[str, Any]) -> tuple[str, int]:
    """One status change of one order: a redelivered or replayed event has the same key."""
    detail = event.get("detail", {})
    return str(detail.get("orderId")), int(detail.get("sequence") or 0)


@dataclass
class EventStore:
    """Every event one queue delivered, kept in a JSON-lines file (0600) so that reading the queue loses nothing.

    The file's first line names the queue and when it was created: a queue created anew (the local stack started
    again) starts an empty store. Each event is kept once, by order and sequence.

    Example
    -------
    >>> store = EventStore.open(Path("events.jsonl"), queue_url, created="1796535372")  # doctest: +SKIP
    >>> store.add(events_from_queue(sqs, queue_url))  # doctest: +SKIP
    [{'detail': {'orderId': 'ord-1', 'sequence': 1, ...}, ...}]
    """

    path: Path
    header: dict[str, str]
    _events: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, queue_url: str, created: str) -> EventStore:
        header = {"queue": queue_url, "created": created}
        store = cls(path, header)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        if lines and _json_or_none(lines[0]) == header:
            for line in lines[1:]:
                event = _json_or_none(line)
                if isinstance(event, dict) and isinstance(event.get("detail"), dict):
                    store._events[event_key(event)] = event
        else:
            store._write([json.dumps(header)], mode="w")
        return store

    def events(self) -> list[dict[str, Any]]:
        """Every kept event, in time order."""
        return sorted(self._events.values(), key=time_order)

    def add(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the events not kept yet (each is written before the next is taken); returns those, in time order."""
        new = []
        for event in events:
            if event_key(event) not in self._events:
                self._write([json.dumps(event)], mode="a")
                self._events[event_key(event)] = event
                new.append(event)
        return sorted(new, key=time_order)

    def _write(self, lines: list[str], mode: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
        with os.fdopen(os.open(self.path, flags, 0o600), "w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


class ReplayError(RuntimeError):
    """The archive could not be replayed to the queue: no rule delivers to it, or EventBridge gave up."""


def replay_archive(
    events: Any,
    sqs: Any,
    queue_url: str,
    since: datetime,
    until: datetime,
    *,
    deadline_seconds: float = REPLAY_DEADLINE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Replay the ``orders`` bus archive's events from ``since`` to ``until`` to the rules that feed the queue, and
    return the replay's name once EventBridge says it is complete.

    EventBridge replays only that window, only to those rules (``FilterArns``), asynchronously. moto replays the
    whole archive at once to every rule on the bus: the caller keeps what is at or after ``since``, and other
    subscribers get the archive again (the console keeps each event once).

    Example
    -------
    >>> replay_archive(events, sqs, url, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))  # doctest: +SKIP
    'orders-cli-3f2a…'
    """
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rules = events.list_rule_names_by_target(TargetArn=queue_arn, EventBusName=ORDER_EVENTS.name)["RuleNames"]
    if not rules:
        raise ReplayError(f"no rule of the {ORDER_EVENTS.name} bus delivers to {queue_url}")
    rule_arns = [events.describe_rule(Name=rule, EventBusName=ORDER_EVENTS.name)["Arn"] for rule in rules]
    archive = events.describe_archive(ArchiveName=ORDER_EVENTS.archive_name)
    name = f"orders-cli-{uuid.uuid4().hex}"
    events.start_replay(
        ReplayName=name,
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=since,
        EventEndTime=until,
        Destination={"Arn": archive["EventSourceArn"], "FilterArns": rule_arns},
    )
    give_up = time.monotonic() + deadline_seconds
    while True:
        replay = events.describe_replay(ReplayName=name)
        if replay["State"] == "COMPLETED":
            return name
        if replay["State"] in ("FAILED", "CANCELLED"):
            raise ReplayError(f"the replay {name} ended {replay['State']}: {replay.get('StateReason') or 'no reason'}")
        if time.monotonic() > give_up:
            raise ReplayError(f"the replay {name} is still {replay['State']} after {deadline_seconds:.0f}s")
        sleep(REPLAY_POLL_SECONDS)


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
