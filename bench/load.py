"""Load generation: submit orders over the API with a bounded number in flight, and read back their outcomes.

The driver is closed-loop: it keeps at most ``in_flight`` orders between submission and a terminal status, so the
end-to-end latency it measures is the service's, not a queue the benchmark built up itself. It learns which orders
are terminal with one ``BatchGetItem`` over the unfinished ones per ``MONITOR_SECONDS`` (cheap, and independent of
how many orders the table holds); per-order end-to-end times come from the timeline each order carries.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.service import BenchStack, Shopper
from tasks.adapters.dynamodb import from_item
from tasks.models.order import TERMINAL_STATUSES, OrderStatus

MONITOR_SECONDS = 0.5
PROGRESS_SECONDS = 10.0
REQUEST_JOIN_SECONDS = 125.0

ADDRESS = {
    "name": "Grace Hopper",
    "line1": "1 Compiler Way",
    "city": "Arlington",
    "postalCode": "22201",
    "country": "US",
}


def order_body(sku: str, *, quantity: int = 1, token: str = "tok_ok") -> dict[str, Any]:
    """A valid order request for one line of ``sku``; no customer: that is whoever's token sends it.

    Example
    -------
    >>> order_body("BENCH-1", token="tok_declined")["paymentToken"]
    'tok_declined'
    """
    return {
        "items": [{"sku": sku, "quantity": quantity}],
        "paymentToken": token,
        "shippingAddress": ADDRESS,
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in [0, 1]); NaN for no values.

    Example
    -------
    >>> percentile([1, 2, 3, 4], 0.5), percentile([1, 2, 3, 4], 0.99)
    (2, 4)
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def epoch_seconds(iso: str) -> float:
    """Seconds since the epoch of a timeline timestamp such as ``2026-11-23T08:15:00.123Z``."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class Submission:
    """One order as the client saw it: who sent it (the shopper's ``sub``), when (epoch seconds), how long acceptance
    took, what came back, and the order's terminal record once the driver saw it."""

    customer_id: str
    sent_at: float
    accept_seconds: float
    status: int
    order_id: str | None
    outcome: dict[str, Any] | None = None
    attempts: int = 1
    """Requests the client sent for this order: more than one when it retried a 503 (see ``drive``'s ``submit``)."""

    @property
    def final_status(self) -> str | None:
        return self.outcome["status"] if self.outcome else None

    def end_to_end_seconds(self) -> float | None:
        """From sending the order to the COMPLETED entry of its timeline; None if it did not complete."""
        if self.final_status != OrderStatus.COMPLETED.value:
            return None
        completed = [e["at"] for e in self.outcome.get("timeline", []) if e["status"] == OrderStatus.COMPLETED.value]
        return epoch_seconds(completed[-1]) - self.sent_at if completed else None


Submit = Callable[[BenchStack, Shopper, dict[str, Any], dict[str, str] | None, str], Submission]
"""Sends one order (stack, shopper, body, extra headers, the phase's label) and returns what the client saw."""


@dataclass
class LoadRun:
    """The orders one driver run submitted, and how long the run took until every order was terminal."""

    submissions: list[Submission] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    settled: bool = False
    retried: int = 0

    @property
    def accepted(self) -> list[Submission]:
        return [submission for submission in self.submissions if submission.status == 202 and submission.order_id]

    @property
    def completed(self) -> list[Submission]:
        return [submission for submission in self.accepted if submission.final_status == OrderStatus.COMPLETED.value]

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class Progress:
    """Prints a progress line for a long phase at most every ``PROGRESS_SECONDS``."""

    def __init__(self, label: str, total: int):
        self._label = label
        self._total = total
        self._started = time.monotonic()
        self._last = 0.0

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_SECONDS:
            self._last = now
            elapsed = now - self._started
            rate = done / elapsed if elapsed else 0.0
            print(f"  {self._label}: {done}/{self._total} terminal, {elapsed:.0f}s, {rate:.1f}/s", flush=True)


def terminal_records(stack: BenchStack, order_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The records of those orders that are terminal now: one BatchGetItem per 100 orders."""
    found: dict[str, dict[str, Any]] = {}
    terminal = {status.value for status in TERMINAL_STATUSES}
    for start in range(0, len(order_ids), 100):
        request = {
            "orders": {
                "Keys": [{"orderId": {"S": order_id}} for order_id in order_ids[start : start + 100]],
                "ProjectionExpression": "orderId, #status, timeline, reservation, failure",
                "ExpressionAttributeNames": {"#status": "status"},
                "ConsistentRead": True,
            }
        }
        for _ in range(100):
            response = stack.dynamodb.batch_get_item(RequestItems=request)
            for raw in response["Responses"].get("orders", []):
                item = from_item(raw)
                if item.get("status") in terminal:
                    found[item["orderId"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
    return found


def drive(
    stack: BenchStack,
    count: int,
    make_order: Callable[[int], dict[str, Any]],
    *,
    shoppers: Sequence[Shopper],
    in_flight: int,
    clients: int,
    label: str,
    deadline_seconds: float,
    headers: Callable[[int], dict[str, str]] | None = None,
    submit_seconds: float | None = None,
    retries: int = 0,
    submit: Submit | None = None,
) -> LoadRun:
    """Submit ``count`` orders from ``clients`` threads, never more than ``in_flight`` unfinished, and wait for all.

    Parameters
    ----------
    stack:
        The running stack.
    count:
        Orders to submit.
    make_order:
        The request body of the i-th order.
    shoppers:
        Who places the orders: the i-th order is sent with the token of ``shoppers[i % len(shoppers)]``.
    in_flight:
        The most orders submitted and not yet terminal at any time.
    clients:
        Concurrent submitting threads (each with its own keep-alive connection).
    label:
        Names the phase in progress lines.
    deadline_seconds:
        The whole run gives up after this long; ``settled`` then stays False.
    headers:
        Extra request headers of the i-th order.
    submit_seconds:
        Stop submitting after this long even if fewer than ``count`` were sent (a time-boxed run).
    retries:
        Resend an order answered with a 5xx up to this many times, as a client with an Idempotency-Key would.
    submit:
        Sends one order and returns what the client saw (``submit_order`` by default: one POST); a client that
        retries on its own terms, as a storefront does, brings its own.

    Example
    -------
    >>> run = drive(stack, 100, lambda i: order_body("BENCH-1"), shoppers=stack.shoppers(), in_flight=16, clients=8,
    ...             label="demo", deadline_seconds=60)  # doctest: +SKIP
    >>> len(run.completed)  # doctest: +SKIP
    100
    """
    run = LoadRun(started=time.time())
    give_up = time.monotonic() + deadline_seconds
    stop_submitting = time.monotonic() + (submit_seconds if submit_seconds is not None else deadline_seconds)
    unfinished: dict[str, Submission] = {}
    state = {"next": 0, "sending": 0, "terminal": 0, "closed": False}
    changed = threading.Condition()
    progress = Progress(label, count)
    send = submit or submit_order

    def submitter() -> None:
        while True:
            with changed:
                while (
                    state["next"] < count
                    and len(unfinished) + state["sending"] >= in_flight
                    and time.monotonic() < stop_submitting
                ):
                    changed.wait(timeout=MONITOR_SECONDS)
                if state["next"] >= count or time.monotonic() >= stop_submitting:
                    state["closed"] = True
                    return
                index = state["next"]
                state["next"] += 1
                state["sending"] += 1
            body, extra = make_order(index), headers(index) if headers else None
            shopper = shoppers[index % len(shoppers)]
            submission = send(stack, shopper, body, extra, label)
            for _ in range(retries):
                if submission.status < 500:
                    break
                with changed:
                    run.retried += 1
                submission = send(stack, shopper, body, extra, label)
            with changed:
                state["sending"] -= 1
                run.submissions.append(submission)
                if submission.status == 202 and submission.order_id:
                    unfinished[submission.order_id] = submission
                changed.notify_all()

    threads = [threading.Thread(target=submitter, name=f"{label}-client-{n}", daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    while time.monotonic() < give_up:
        with changed:
            watched = list(unfinished)
        records = terminal_records(stack, watched)
        with changed:
            for order_id, record in records.items():
                unfinished.pop(order_id).outcome = record
            state["terminal"] += len(records)
            changed.notify_all()
            all_sent = (state["next"] >= count or state["closed"]) and state["sending"] == 0
            settled = all_sent and not unfinished
        progress.update(state["terminal"])
        if settled:
            run.settled = True
            break
        time.sleep(MONITOR_SECONDS)
    for thread in threads:
        thread.join(timeout=REQUEST_JOIN_SECONDS)
    progress.update(state["terminal"], force=True)
    run.finished = time.time()
    return run


def submit_order(
    stack: BenchStack, shopper: Shopper, body: dict[str, Any], headers: dict[str, str] | None, label: str
) -> Submission:
    """One POST /orders as ``shopper``; a request that got no answer is status 0."""
    sent_at = time.time()
    try:
        response = stack.api.request("POST", "/orders", body, headers=headers, caller=shopper)
    except OSError as error:
        print(f"  {label}: request failed: {error}", file=sys.stderr, flush=True)
        return Submission(shopper.sub, sent_at, math.nan, 0, None)
    order_id = response.body.get("orderId") if isinstance(response.body, dict) else None
    return Submission(shopper.sub, sent_at, response.seconds, response.status, order_id)
