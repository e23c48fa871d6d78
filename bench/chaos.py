"""Chaos: over a thousand orders through stacks whose every task fails now and then, and the promises still kept.

Two stacks run side by side (one core each): one injects transient faults (~20% of invocations of every task), the
other fatal faults (~5%), both seeded through ``ORDERS_FAULTS``. The orders mix card outcomes, an unknown SKU and a
scarce SKU, and the benchmark plays the warehouse: it ships most orders (signed as the warehouse), fails some
shipments and cancels some orders (as the shopper who placed them). Afterwards every order is checked with
``local.invariants.broken_invariants``, and the cross-order invariants (stock never negative and conserved, no order
captured twice, every order recorded for the shopper whose token placed it) are checked here.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.load import LoadRun, drive, order_body
from bench.service import BenchStack, Identity, Shopper, start_stack
from local.faults import lambda_task_states
from local.invariants import ORDER_INVARIANTS, broken_invariants
from local.sigv4 import WAREHOUSE
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.models.order import OrderStatus

PLENTY_SKU, SCARCE_SKU, UNKNOWN_SKU = "CHAOS-PLENTY", "CHAOS-SCARCE", "CHAOS-NO-SUCH-SKU"
PLENTY_STOCK, SCARCE_STOCK = 1_000_000, 25
NO_NEGATIVE_STOCK = "no product's stock ever negative"
STOCK_CONSERVED = "stock conserved: initial = final + units held by completed orders"
NOT_CAPTURED_TWICE = "no order captured twice"
OWNED_BY_PLACER = "every order recorded for the shopper whose token placed it"
CROSS_ORDER_INVARIANTS = (NO_NEGATIVE_STOCK, STOCK_CONSERVED, NOT_CAPTURED_TWICE, OWNED_BY_PLACER)
WAREHOUSE_POLL_SECONDS = 0.5
CHAOS_TIME_SCALE = 1000.0


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


class BenchWarehouse:
    """Answers every order awaiting shipment: ships 80%, fails 10% of shipments, and the customer cancels 10%.

    Shipments are signed as the warehouse role; a cancel is sent with the token of the order's owner, found by the
    ``customerId`` the order was stored with.
    """

    def __init__(self, stack: BenchStack, shoppers: list[Shopper]):
        self._stack = stack
        self._owners = {shopper.sub: shopper for shopper in shoppers}
        self._answered: set[str] = set()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"warehouse-{stack.name}", daemon=True)
        self.answers: Counter[str] = Counter()

    def __enter__(self) -> BenchWarehouse:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(WAREHOUSE_POLL_SECONDS):
            for order_id, customer_id in self._waiting():
                if order_id not in self._answered:
                    self._answer(order_id, self._owners[customer_id])

    def _waiting(self) -> list[tuple[str, str]]:
        response = self._stack.dynamodb.query(
            TableName="orders",
            IndexName="by-status",
            KeyConditionExpression="#status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": OrderStatus.AWAITING_SHIPMENT.value}},
            ProjectionExpression="orderId, customerId",
            Limit=200,
        )
        return [(item["orderId"]["S"], item["customerId"]["S"]) for item in response.get("Items", [])]

    def _answer(self, order_id: str, owner: Shopper) -> None:
        bucket = _bucket(f"ship-{order_id}")
        caller: Identity = WAREHOUSE
        if bucket < 10:
            path, body, answer, caller = f"/orders/{order_id}/cancel", {"reason": "changed my mind"}, "CANCEL", owner
        elif bucket < 20:
            path, body, answer = f"/orders/{order_id}/shipment", {"outcome": "FAILED", "reason": "lost"}, "FAILED"
        else:
            tracking = {"outcome": "SHIPPED", "trackingNumber": f"1Z{bucket:02d}{order_id[-10:]}"}
            path, body, answer = f"/orders/{order_id}/shipment", tracking, "SHIPPED"
        if self._stack.api.request("POST", path, body, caller=caller).status == 202:
            self._answered.add(order_id)
            self.answers[answer] += 1


def run_chaos_stack(
    name: str, rules: dict[str, Any], orders: int, deadline_seconds: float
) -> tuple[LoadRun, dict[str, Any]]:
    """Run ``orders`` chaos orders through a fresh stack with ``rules``, and check every invariant on its state."""
    with start_stack(name, warehouse_delay="off", time_scale=CHAOS_TIME_SCALE, faults=rules) as stack:
        stack.put_product(PLENTY_SKU, PLENTY_STOCK)
        stack.put_product(SCARCE_SKU, SCARCE_STOCK)
        shoppers = stack.shoppers()
        with BenchWarehouse(stack, shoppers) as warehouse:
            run = drive(
                stack,
                orders,
                chaos_order,
                shoppers=shoppers,
                in_flight=32,
                clients=8,
                label=name,
                deadline_seconds=deadline_seconds,
            )
        checked = check_invariants(stack, {submission.order_id: submission.customer_id for submission in run.accepted})
        checked["warehouse_answers"] = dict(warehouse.answers)
        return run, checked


def check_invariants(stack: BenchStack, placed_by: dict[str, str]) -> dict[str, Any]:
    """Every order invariant for every order, and the cross-order ones; failures with up to five example orders.

    ``placed_by`` maps each accepted order to the ``sub`` of the shopper whose token placed it.
    """
    order_ids = list(placed_by)
    orders = {item["orderId"]: item for item in stack.scan("orders")}
    ledger: dict[str, list[dict[str, Any]]] = {}
    for entry in stack.scan("payments-ledger"):
        ledger.setdefault(entry["orderId"], []).append(entry)
    with ThreadPoolExecutor(max_workers=8) as pool:
        executions = dict(zip(order_ids, pool.map(_describe(stack), order_ids), strict=True))
    failures: dict[str, list[str]] = {name: [] for name in (*ORDER_INVARIANTS, *CROSS_ORDER_INVARIANTS)}
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
        for broken in broken_invariants(order, kinds, executions[order_id]):
            failures[broken].append(f"{order_id}: {order['status']}, execution {executions[order_id].get('status')}")
    _check_captures(ledger, failures)
    _check_stock(stack, orders, failures)
    return {
        "orders": len(order_ids),
        "statuses": dict(sorted(statuses.items())),
        "invariants": {name: not broken for name, broken in failures.items()},
        "violations": {name: len(broken) for name, broken in failures.items()},
        "examples": {name: broken[:5] for name, broken in failures.items() if broken},
    }


_KINDS = {kind.value for kind in LedgerEntryKind}


def _describe(stack: BenchStack) -> Callable[[str], dict[str, Any]]:
    prefix = stack.stepfunctions.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    execution_prefix = prefix.replace(":stateMachine:", ":execution:")

    def describe(order_id: str) -> dict[str, Any]:
        return stack.stepfunctions.describe_execution(executionArn=f"{execution_prefix}:{order_id}")

    return describe


def _check_captures(ledger: dict[str, list[dict[str, Any]]], failures: dict[str, list[str]]) -> None:
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


def _check_stock(stack: BenchStack, orders: dict[str, dict[str, Any]], failures: dict[str, list[str]]) -> None:
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
    names = (*ORDER_INVARIANTS, *CROSS_ORDER_INVARIANTS)
    per_stack = {name: checked for name, (_, checked) in results.items()}
    statuses: Counter[str] = Counter()
    for checked in per_stack.values():
        statuses.update(checked["statuses"])
    return {
        "orders": sum(checked["orders"] for checked in per_stack.values()),
        "settled": all(run.settled for run, _ in results.values()),
        "seconds": round(time.monotonic() - started, 1),
        "faults": {
            name: {"kind": rules[next(iter(rules))]["kind"], "rate": rules[next(iter(rules))]["rate"]}
            for name, rules in plans.items()
        },
        "statuses": dict(sorted(statuses.items())),
        "invariants": {name: all(checked["invariants"][name] for checked in per_stack.values()) for name in names},
        "violations": {name: sum(checked["violations"][name] for checked in per_stack.values()) for name in names},
        "examples": {
            name: [example for checked in per_stack.values() for example in checked["examples"].get(name, [])][:5]
            for name in names
            if any(checked["examples"].get(name) for checked in per_stack.values())
        },
        "per_stack": per_stack,
    }
