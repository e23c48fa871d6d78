"""Chaos: over a thousand orders through stacks whose every task fails now and then, and the promises still kept.

Two stacks run side by side (one core each): one injects transient faults (~20% of invocations of every task), the
other fatal faults (~5%), both seeded through ``ORDERS_FAULTS``. The orders mix card outcomes, an unknown SKU and a
scarce SKU, and the benchmark plays the warehouse: it ships most orders (signed as the warehouse), fails some
shipments and cancels some orders (as the shopper who placed them). Afterwards every order is checked with
``local.testkit.invariants.broken_invariants``, and the cross-order invariants (stock never negative and conserved, no
order captured twice, every order recorded for the shopper whose token placed it) are checked here. A queue subscribed
to each stack's ``orders`` bus before the first order, as a downstream team subscribes one, collects every
``OrderStatusChanged``; each order's events must equal its timeline
(``local.testkit.invariants.broken_event_promises``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from bench.load import LoadRun, drive, order_body
from bench.service import REGION, BenchStack, Identity, Shopper, start_stack
from local.aws.sigv4 import WAREHOUSE
from local.aws.stepfunctions.child_executions import child_execution_arns
from local.endpoint.aws_faults import UNFAULTED_ACCESS_KEY_ID
from local.provisioning import local_state_machine_arn, subscribe_queue
from local.testkit.faults import lambda_task_states
from local.testkit.invariants import (
    EVENTS_FIT_THE_SCHEMA,
    ORDER_INVARIANTS,
    SENSITIVE_KEYS,
    broken_event_promises,
    broken_invariants,
    event_schema_validator,
)
from tasks.adapters.orders_repository import DynamoDBOrderRepository
from tasks.adapters.payments_ledger import LedgerEntryKind
from workflows.resources import ORDER_WORKFLOW, ORDERS_TABLE

PLENTY_SKU, SCARCE_SKU, UNKNOWN_SKU = "CHAOS-PLENTY", "CHAOS-SCARCE", "CHAOS-NO-SUCH-SKU"
PLENTY_STOCK, SCARCE_STOCK = 1_000_000, 25
NO_NEGATIVE_STOCK = "no product's stock ever negative"
STOCK_CONSERVED = "stock conserved: initial = final + units held by completed orders"
NOT_CAPTURED_TWICE = "no order captured twice"
OWNED_BY_PLACER = "every order recorded for the shopper whose token placed it"
CROSS_ORDER_INVARIANTS = (NO_NEGATIVE_STOCK, STOCK_CONSERVED, NOT_CAPTURED_TWICE, OWNED_BY_PLACER)
EVENTS_EQUAL_TIMELINE = "every order's events equal its timeline"
CHAOS_INVARIANTS = (*ORDER_INVARIANTS, EVENTS_EQUAL_TIMELINE, *CROSS_ORDER_INVARIANTS)
WAREHOUSE_POLL_SECONDS = 0.5
HEARTBEAT_SHARE = 30
"""Percent of the orders awaiting shipment, all of them among those it ships, that the warehouse first sends a
heartbeat for."""
CHAOS_TIME_SCALE = 1000.0
EVENTS_QUEUE = "bench-chaos-events"
EVENTS_DEADLINE_SECONDS = 240.0
"""How long events are awaited after every order settled: the stream poller may still be behind the last writes
(about 100 s behind after 500 orders per stack, while the stack's own ``orders-cli-events`` queue fills unread)."""
EVENTS_POLL_SECONDS = 0.5


def fault_rules(kind: str, rate: float, seed: int) -> dict[str, dict[str, Any]]:
    """The same seeded rule on every Lambda task of the ASL, each task with its own seed.

    Example
    -------
    >>> fault_rules("fatal", 0.05, 7)["CapturePayment"]["kind"]
    'fatal'
    """
    return {
        task: {"kind": kind, "rate": rate, "seed": seed + index}
        for index, task in enumerate(sorted(lambda_task_states()))
    }


def _bucket(key: str) -> int:
    """A stable number in [0, 100) for a key, so the mix of orders and warehouse answers is reproducible."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100


def chaos_order(index: int) -> dict[str, Any]:
    """The i-th chaos order: mostly good cards and ample stock; some declines, flaky cards, scarce or unknown SKUs."""
    bucket = _bucket(f"order-{index}")
    if bucket < 5:
        return order_body(PLENTY_SKU, token="tok_declined")
    if bucket < 10:
        return order_body(PLENTY_SKU, token="tok_flaky")
    if bucket < 14:
        return order_body(UNKNOWN_SKU)
    if bucket < 24:
        return order_body(SCARCE_SKU, quantity=2)
    return order_body(PLENTY_SKU, quantity=1 + bucket % 3)


def names_unknown_sku(order: Mapping[str, Any]) -> bool:
    return any(item["sku"] == UNKNOWN_SKU for item in order["items"])


def submissions_for(valid_orders: int) -> int:
    """How many chaos orders to send so that ``valid_orders`` of them name only SKUs of the catalog: an API that
    refuses an unknown SKU up front (422) does not accept the others.

    Example
    -------
    >>> submissions_for(100) - 100 == sum(names_unknown_sku(chaos_order(i)) for i in range(submissions_for(100)))
    True
    """
    count = valid = 0
    while valid < valid_orders:
        valid += not names_unknown_sku(chaos_order(count))
        count += 1
    return count


class BenchWarehouse:
    """Answers every order awaiting shipment: ships 80%, fails 10% of shipments, and the customer cancels 10%.

    Shipments are signed as the warehouse role; a cancel is sent with the token of the order's owner, found by the
    ``customerId`` the order was stored with. With ``heartbeats``, the warehouse first says it is still working on
    ``HEARTBEAT_SHARE`` of the orders it ships (``IN_PROGRESS``, a SendTaskHeartbeat). An answer other than 202 is
    sent again at the next poll if the order still awaits shipment.
    """

    def __init__(self, stack: BenchStack, shoppers: list[Shopper], *, heartbeats: bool = False):
        self._stack = stack
        self._orders = DynamoDBOrderRepository(ORDERS_TABLE.local_name, stack.dynamodb)
        self._owners = {shopper.sub: shopper for shopper in shoppers}
        self._heartbeats = heartbeats
        self._acknowledged: set[str] = set()
        self._answered: set[str] = set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"warehouse-{stack.name}", daemon=True)
        self.answers: Counter[str] = Counter()
        self.refused: dict[str, str] = {}
        """The orders whose last answer (``SHIPPED``, ``FAILED`` or ``CANCEL``) the API refused with a 409."""

    def __enter__(self) -> BenchWarehouse:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(WAREHOUSE_POLL_SECONDS):
            for order_id, customer_id in self._waiting():
                self._answer(order_id, self._owners[customer_id])

    def _waiting(self) -> list[tuple[str, str]]:
        """The orders in the warehouse's queue (the sparse ``awaiting-shipment-shard`` index, keys only) not yet
        answered, each with its owner, read from the order: a cancel comes from the shopper who placed it."""
        queue, _ = self._orders.awaiting_shipment(200, None)
        waiting = [entry["orderId"] for entry in queue]
        return [(order_id, self._owner_of(order_id)) for order_id in waiting if order_id not in self._answered]

    def _owner_of(self, order_id: str) -> str:
        item = self._stack.dynamodb.get_item(
            TableName="orders", Key={"orderId": {"S": order_id}}, ProjectionExpression="customerId"
        )
        return item["Item"]["customerId"]["S"]

    def _answer(self, order_id: str, owner: Shopper) -> None:
        bucket = _bucket(f"ship-{order_id}")
        caller: Identity = WAREHOUSE
        if self._heartbeats and 20 <= bucket < 20 + HEARTBEAT_SHARE and order_id not in self._acknowledged:
            shipment = f"/orders/{order_id}/shipment"
            if self._stack.api.request("POST", shipment, {"outcome": "IN_PROGRESS"}, caller=WAREHOUSE).status != 202:
                return
            self._acknowledged.add(order_id)
            self.answers["IN_PROGRESS"] += 1
        if bucket < 10:
            path, body, answer, caller = f"/orders/{order_id}/cancel", {"reason": "changed my mind"}, "CANCEL", owner
        elif bucket < 20:
            path, body, answer = f"/orders/{order_id}/shipment", {"outcome": "FAILED", "reason": "lost"}, "FAILED"
        else:
            tracking = {"outcome": "SHIPPED", "trackingNumber": f"1Z{bucket:02d}{order_id[-10:]}"}
            path, body, answer = f"/orders/{order_id}/shipment", tracking, "SHIPPED"
        status = self._stack.api.request("POST", path, body, caller=caller).status
        if status == 202:
            self._answered.add(order_id)
            self.answers[answer] += 1
        elif status == 409:
            self.refused[order_id] = answer


class EventsQueue:
    """A queue subscribed to the stack's ``orders`` bus before the first order, read all along by a thread.

    The queue is emptied as events arrive, not only once every order settled: moto's SQS counts a queue's messages
    on every send and on every message received, so a queue left to fill slows the stack's publisher and the reader
    down as it grows.
    """

    def __init__(self, stack: BenchStack):
        session = boto3.session.Session(
            aws_access_key_id=UNFAULTED_ACCESS_KEY_ID, aws_secret_access_key="local", region_name=REGION
        )
        self._sqs = session.client("sqs", endpoint_url=stack.aws_endpoint)
        self._url = subscribe_queue(session.client("events", endpoint_url=stack.aws_endpoint), self._sqs, EVENTS_QUEUE)
        self._details: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last_read_empty = False
        self._error: str | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"events-{stack.name}", daemon=True)

    def __enter__(self) -> EventsQueue:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                self._read()
        except Exception as error:  # the reader's end is reported with the events it did read
            self._error = f"{type(error).__name__}: {error}"

    def _read(self) -> None:
        messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if messages:
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
        with self._lock:
            self._details += [json.loads(message["Body"])["detail"] for message in messages]
            self._last_read_empty = not messages

    def collect(
        self,
        expected: Mapping[str, int],
        accounted_for: Callable[[], Collection[tuple[str, int]]] | None = None,
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
        """The event details of the ``expected`` orders by order, in sequence, and figures on what was read.

        ``expected`` is each order's number of timeline entries. Waits (polling, with a deadline: the stream poller
        may still be behind the last writes) until every timeline entry's event arrived, or is ``accounted_for``
        elsewhere (the (orderId, sequence) of the entries the stream's dead-letter queue names, asked at each poll),
        and a read after the last of them came back empty, so late duplicates are seen too; then stops the reader.
        """
        started = time.monotonic()
        give_up = started + EVENTS_DEADLINE_SECONDS
        wanted = _timeline_keys(expected)
        while time.monotonic() < give_up and self._thread.is_alive():
            with self._lock:
                received = {(detail.get("orderId"), detail.get("sequence")) for detail in self._details}
                caught_up = self._last_read_empty
            if caught_up and not wanted - received - set(accounted_for() if accounted_for else ()):
                break
            time.sleep(EVENTS_POLL_SECONDS)
        self._stop()
        with self._lock:
            details_read = list(self._details)
        events: dict[str, list[dict[str, Any]]] = {order_id: [] for order_id in expected}
        for detail in details_read:
            if detail.get("orderId") in events:
                events[detail["orderId"]].append(detail)
        for details in events.values():
            details.sort(key=lambda detail: detail.get("sequence") or 0)
        keys = [(order_id, detail.get("sequence")) for order_id, details in events.items() for detail in details]
        figures = {
            "expected": sum(expected.values()),
            "received": len(keys),
            "missing": sum(expected.values()) - len(set(keys) & _timeline_keys(expected)),
            "duplicates": len(keys) - len(set(keys)),
            "other_orders": len(details_read) - len(keys),
            "seconds_waited": round(time.monotonic() - started, 1),
            "reader_error": self._error,
        }
        return events, figures


def _timeline_keys(expected: Mapping[str, int]) -> set[tuple[str, int]]:
    """(orderId, sequence) of every timeline entry, for ``expected`` timeline lengths."""
    return {(order_id, sequence) for order_id, count in expected.items() for sequence in range(1, count + 1)}


def run_chaos_stack(
    name: str, rules: dict[str, Any], orders: int, deadline_seconds: float
) -> tuple[LoadRun, dict[str, Any]]:
    """Run chaos orders through a fresh stack with ``rules``, ``orders`` of them valid (plus those for an unknown
    SKU among them), and check every invariant on its state."""
    with start_stack(name, warehouse_delay="off", time_scale=CHAOS_TIME_SCALE, faults=rules) as stack:
        stack.put_product(PLENTY_SKU, PLENTY_STOCK)
        stack.put_product(SCARCE_SKU, SCARCE_STOCK)
        shoppers = stack.shoppers()
        with EventsQueue(stack) as events_queue, BenchWarehouse(stack, shoppers) as warehouse:
            run = drive(
                stack,
                submissions_for(orders),
                chaos_order,
                shoppers=shoppers,
                in_flight=32,
                clients=8,
                label=name,
                deadline_seconds=deadline_seconds,
            )
            placed_by = {submission.order_id: submission.customer_id for submission in run.accepted}
            checked = check_invariants(stack, placed_by, events_queue)
        checked["warehouse_answers"] = dict(warehouse.answers)
        return run, checked


def check_invariants(stack: BenchStack, placed_by: dict[str, str], events_queue: EventsQueue) -> dict[str, Any]:
    """Every order invariant for every order, and the cross-order ones; failures with up to five example orders.

    ``placed_by`` maps each accepted order to the ``sub`` of the shopper whose token placed it; ``events_queue``
    holds the events of every order since before the first was placed.
    """
    order_ids = list(placed_by)
    orders = {item["orderId"]: item for item in stack.scan("orders")}
    ledger: dict[str, list[dict[str, Any]]] = {}
    for entry in stack.scan("payments-ledger"):
        ledger.setdefault(entry["orderId"], []).append(entry)
    with ThreadPoolExecutor(max_workers=8) as pool:
        executions = dict(zip(order_ids, pool.map(describe_executions(stack), order_ids), strict=True))
    timelines = {order_id: len(orders.get(order_id, {}).get("timeline", [])) for order_id in order_ids}
    events, event_figures = events_queue.collect(timelines)
    failures: dict[str, list[str]] = {name: [] for name in CHAOS_INVARIANTS}
    statuses: Counter[str] = Counter()
    for order_id in order_ids:
        order = orders.get(order_id)
        if order is None:
            failures[ORDER_INVARIANTS[0]].append(f"{order_id}: no record")
            continue
        statuses[order["status"]] += 1
        if order.get("customerId") != placed_by[order_id]:
            failures[OWNED_BY_PLACER].append(
                f"{order_id}: stored for {order.get('customerId')}, placed by {placed_by[order_id]}"
            )
        kinds = {LedgerEntryKind(entry["entry"]) for entry in ledger.get(order_id, []) if entry["entry"] in _KINDS}
        execution, children = executions[order_id]
        for broken in broken_invariants(order, kinds, execution, children):
            outcomes = "/".join(child.get("status", "?") for child in children) or "none"
            failures[broken].append(
                f"{order_id}: {order['status']}, execution {execution.get('status')}, preparations {outcomes}"
            )
        if broken_events := broken_event_promises(order, events[order_id]):
            failures[EVENTS_EQUAL_TIMELINE].append(_events_difference(order, events[order_id], broken_events))
    check_captures(ledger, failures)
    check_stock(stack, orders, failures)
    return {
        "orders": len(order_ids),
        "events": event_figures,
        "statuses": dict(sorted(statuses.items())),
        "invariants": {name: not broken for name, broken in failures.items()},
        "violations": {name: len(broken) for name, broken in failures.items()},
        "examples": {name: broken[:5] for name, broken in failures.items() if broken},
    }


_KINDS = {kind.value for kind in LedgerEntryKind}


def _events_difference(order: Mapping[str, Any], events: Sequence[Mapping[str, Any]], broken: list[str]) -> str:
    """Which promises an order's events break and how: its timeline against its events, each as sequence:status."""
    timeline = " ".join(f"{n}:{entry['status']}" for n, entry in enumerate(order.get("timeline", []), start=1))
    received = " ".join(f"{event.get('sequence')}:{event.get('status')}" for event in events) or "none"
    difference = f"{order['orderId']}: {'; '.join(broken)} (timeline {timeline}, events {received})"
    if EVENTS_FIT_THE_SCHEMA in broken:
        errors = (error for event in events for error in event_schema_validator().iter_errors(event))
        difference += f", schema: {next(errors).message}"
    leaked = [key for key in (*SENSITIVE_KEYS, "tok_") if key in json.dumps(list(events))]
    if leaked:
        difference += f", carries {', '.join(leaked)}"
    return difference


def describe_executions(stack: BenchStack) -> Callable[[str], tuple[dict[str, Any], list[dict[str, Any]]]]:
    """DescribeExecution of an order's execution, and of every child execution its history names."""
    machine = local_state_machine_arn(ORDER_WORKFLOW)
    execution_prefix = machine.replace(":stateMachine:", ":execution:")

    def describe(order_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        arn = f"{execution_prefix}:{order_id}"
        history = stack.stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        children = [
            stack.stepfunctions.describe_execution(executionArn=child) for child in child_execution_arns(history)
        ]
        return stack.stepfunctions.describe_execution(executionArn=arn), children

    return describe


def check_captures(ledger: dict[str, list[dict[str, Any]]], failures: dict[str, list[str]]) -> None:
    """At most one capture per order, and no capture reference shared by two orders."""
    owners: dict[str, str] = {}
    for order_id, entries in ledger.items():
        captures = [entry for entry in entries if entry["entry"] == LedgerEntryKind.CAPTURE.value]
        if len(captures) > 1:
            failures[NOT_CAPTURED_TWICE].append(f"{order_id}: {len(captures)} captures")
        for capture in captures:
            other = owners.setdefault(capture["reference"], order_id)
            if other != order_id:
                failures[NOT_CAPTURED_TWICE].append(f"{order_id}: capture {capture['reference']} also on {other}")


def check_stock(stack: BenchStack, orders: dict[str, dict[str, Any]], failures: dict[str, list[str]]) -> None:
    """Stock is never negative, and every unit missing from a product is held by a completed order's reservation."""
    held: Counter[str] = Counter()
    for order in orders.values():
        reservation = order.get("reservation") or {}
        if reservation.get("status") == "RESERVED":
            for line in reservation.get("lines", []):
                held[line["sku"]] += int(line["quantity"])
    for sku, initial in ((PLENTY_SKU, PLENTY_STOCK), (SCARCE_SKU, SCARCE_STOCK)):
        final = stack.stock(sku)
        if final < 0:
            failures[NO_NEGATIVE_STOCK].append(f"{sku}: stock {final}")
        if initial != final + held[sku]:
            failures[STOCK_CONSERVED].append(f"{sku}: initial {initial} != final {final} + held {held[sku]}")
    for product in stack.scan("products"):
        if int(product["stock"]) < 0:
            failures[NO_NEGATIVE_STOCK].append(f"{product['sku']}: stock {product['stock']}")


def run_chaos(orders_per_stack: int, deadline_seconds: float) -> dict[str, Any]:
    """Transient and fatal chaos side by side; the merged invariant results of both.

    Example
    -------
    >>> run_chaos(550, deadline_seconds=400)["invariants"]  # doctest: +SKIP
    {'every order ends in a terminal status': True, ...}
    """
    started = time.monotonic()
    plans = {
        "chaos-transient": fault_rules("transient", 0.2, seed=7),
        "chaos-fatal": fault_rules("fatal", 0.05, seed=11),
    }
    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        futures = {
            name: pool.submit(run_chaos_stack, name, rules, orders_per_stack, deadline_seconds)
            for name, rules in plans.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    per_stack = {name: checked for name, (_, checked) in results.items()}
    statuses: Counter[str] = Counter()
    for checked in per_stack.values():
        statuses.update(checked["statuses"])
    return {
        "orders": sum(checked["orders"] for checked in per_stack.values()),
        "settled": all(run.settled for run, _ in results.values()),
        "events": {
            figure: sum(checked["events"][figure] for checked in per_stack.values())
            for figure in ("expected", "received", "missing", "duplicates", "other_orders")
        },
        "seconds": round(time.monotonic() - started, 1),
        "faults": {
            name: {"kind": rules[next(iter(rules))]["kind"], "rate": rules[next(iter(rules))]["rate"]}
            for name, rules in plans.items()
        },
        "statuses": dict(sorted(statuses.items())),
        "invariants": {
            name: all(checked["invariants"][name] for checked in per_stack.values()) for name in CHAOS_INVARIANTS
        },
        "violations": {
            name: sum(checked["violations"][name] for checked in per_stack.values()) for name in CHAOS_INVARIANTS
        },
        "examples": {
            name: [example for checked in per_stack.values() for example in checked["examples"].get(name, [])][:5]
            for name in CHAOS_INVARIANTS
            if any(checked["examples"].get(name) for checked in per_stack.values())
        },
        "per_stack": per_stack,
    }
