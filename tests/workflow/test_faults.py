"""Fault injection on the real ASL: every retry, catch and compensation path, driven by faults instead of test tokens.

Faults are raised before the real handler runs (``local.testkit.faults``), so a faulted task did nothing: what follows
is exactly what the ASL's Retry and Catch make of an error of that name.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.testkit.faults import FaultInjector
from local.testkit.fixtures import OrderRun, OrderStack, sample_order
from local.testkit.invariants import AUTHORIZATION_VOIDED
from tasks.adapters.orders_repository import INDEXES
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.models.order import OrderStatus

pytestmark = pytest.mark.workflow

AUTH = LedgerEntryKind.AUTHORIZATION
CAPTURE = LedgerEntryKind.CAPTURE
VOID = LedgerEntryKind.VOID

SUCCEEDED = "succeeded"
COMPENSATION = ["VoidOrRefundPayment", "ReleaseInventory", "RecordFailure", "OrderFailed"]
COMPENSATION_ATTEMPTS = 6
"""The compensations retry States.ALL five times: six attempts in all."""
RECORD_FAILURE_ATTEMPTS = 5
"""RecordFailure retries its transient errors four times: five attempts in all; any other error is not retried."""


def task_attempts(history: list[dict[str, Any]], state: str) -> list[str]:
    """The outcome of each attempt of the Task state ``state``: its error name, or ``succeeded``.

    Retries stay inside the state, so each attempt's outcome is traced back to the state it was entered for.
    """
    by_id = {event["id"]: event for event in history}

    def entered_state(event: dict[str, Any]) -> str | None:
        while "stateEnteredEventDetails" not in event:
            if event.get("previousEventId", 0) not in by_id:
                return None
            event = by_id[event["previousEventId"]]
        return event["stateEnteredEventDetails"]["name"]

    outcomes = []
    for event in history:
        if event["type"] in ("TaskFailed", "TaskSucceeded") and entered_state(event) == state:
            failed = event["type"] == "TaskFailed"
            outcomes.append(event["taskFailedEventDetails"]["error"] if failed else SUCCEEDED)
    return outcomes


def attempts_of(run: OrderRun, state: str) -> list[str]:
    """``task_attempts`` of ``state`` in the parent and in every child execution it started."""
    return [outcome for history in run.histories for outcome in task_attempts(history, state)]


def stock_of(stack: OrderStack, order: dict) -> dict[str, int]:
    return {item["sku"]: stack.stock(item["sku"]) for item in order["items"]}


def test_transient_faults_on_reserve_inventory_are_retried_and_the_order_completes(order_stack, faults):
    injector = faults({"ReserveInventory": {"kind": "transient", "times": 2}})

    run = order_stack.run_order(sample_order(), shipment="SHIPPED")

    assert run.status == "COMPLETED"
    assert attempts_of(run, "ReserveInventory") == ["InventoryTransientError"] * 2 + [SUCCEEDED]
    assert run.preparation.visited_states.count("ReserveInventory") == 1, "a retry stays inside the state"
    assert injector.outcomes("ReserveInventory") == [True, True, False]
    assert order_stack.runner.invocations["ReserveInventory"] == 3
    assert order_stack.ledger(run.order_id) == {AUTH, CAPTURE}
    assert order_stack.broken_invariants(run) == []


def test_a_fatal_fault_on_capture_payment_fails_the_order_and_compensates(order_stack, faults):
    faults({"CapturePayment": {"kind": "fatal"}})
    order = sample_order()
    stock_before = stock_of(order_stack, order)

    run = order_stack.run_order(order, shipment="SHIPPED")

    assert run.status == "FAILED"
    assert attempts_of(run, "CapturePayment") == ["InjectedFatalError"], "not retried"
    assert run.visited_states == ["PrepareOrder", "RequestShipment", "CapturePayment", *COMPENSATION]
    assert run.order["failure"]["error"] == "InjectedFatalError"
    assert run.order["compensations"] == {"payment": "VOIDED", "inventory": "RELEASED"}
    assert order_stack.ledger(run.order_id) == {AUTH, VOID}
    assert stock_of(order_stack, order) == stock_before
    assert order_stack.broken_invariants(run) == []


@pytest.mark.parametrize(
    ("task", "parent_states", "timeline", "compensations", "ledger"),
    [
        pytest.param(
            "ValidateOrder",
            ["PrepareOrder", "RoutePreparationFailure"],
            ["RECEIVED", "FAILED"],
            {"payment": "NOTHING_TO_UNDO", "inventory": "BLOCKED"},
            set(),
            id="validate-nothing-to-compensate",
        ),
        pytest.param(
            "AuthorizePayment",
            ["PrepareOrder", "RoutePreparationFailure"],
            ["RECEIVED", "VALIDATED", "FAILED"],
            {"payment": "NOTHING_TO_UNDO", "inventory": "RELEASED"},
            set(),
            id="authorize-releases-stock",
        ),
        pytest.param(
            "ReserveInventory",
            ["PrepareOrder", "RoutePreparationFailure"],
            ["RECEIVED", "VALIDATED", "FAILED"],
            {"payment": "VOIDED", "inventory": "BLOCKED"},
            {AUTH, VOID},
            id="reserve-voids-authorization",
        ),
        pytest.param(
            "RequestShipment",
            ["PrepareOrder", "RequestShipment"],
            ["RECEIVED", "VALIDATED", "AUTHORIZED", "FAILED"],
            {"payment": "VOIDED", "inventory": "RELEASED"},
            {AUTH, VOID},
            id="shipment-voids-and-releases",
        ),
    ],
)
def test_a_fatal_fault_takes_the_compensation_path_of_its_task(
    order_stack, faults, task, parent_states, timeline, compensations, ledger
):
    faults({task: {"kind": "fatal"}})
    order = sample_order()
    stock_before = stock_of(order_stack, order)

    run = order_stack.run_order(order, shipment="SHIPPED")

    assert run.status == "FAILED"
    assert attempts_of(run, task) == ["InjectedFatalError"]
    assert run.visited_states == [*parent_states, *COMPENSATION]
    assert run.timeline == timeline
    assert run.order["failure"]["error"] == "InjectedFatalError"
    assert run.order["compensations"] == compensations
    assert run.order["compensationFailures"] == {}
    assert order_stack.ledger(run.order_id) == ledger
    assert stock_of(order_stack, order) == stock_before
    assert order_stack.broken_invariants(run) == []


def test_a_compensation_that_always_fails_is_recorded_on_the_order(order_stack, faults):
    injector = faults({"VoidOrRefundPayment": {"kind": "fatal"}})

    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)

    assert run.status == "PAYMENT_DECLINED"
    assert attempts_of(run, "VoidOrRefundPayment") == ["InjectedFatalError"] * COMPENSATION_ATTEMPTS, (
        "States.ALL retries even a fatal fault"
    )
    assert injector.outcomes("VoidOrRefundPayment") == [True] * COMPENSATION_ATTEMPTS
    assert run.order["compensationFailures"]["payment"]["error"] == "InjectedFatalError"
    assert "inventory" not in run.order["compensationFailures"]
    assert run.order["compensations"] == {"inventory": "RELEASED"}
    assert order_stack.broken_invariants(run) == [], "a declined payment left no authorization to void"


def test_an_authorization_whose_void_finally_failed_is_reported_by_the_invariants(order_stack, faults):
    faults({"CapturePayment": {"kind": "fatal"}, "VoidOrRefundPayment": {"kind": "fatal"}})

    run = order_stack.run_order(sample_order(), shipment="SHIPPED")

    assert run.status == "FAILED"
    assert run.order["compensationFailures"]["payment"]["error"] == "InjectedFatalError"
    assert order_stack.ledger(run.order_id) == {AUTH}
    assert order_stack.broken_invariants(run) == [AUTHORIZATION_VOIDED], "the open authorization needs a human"


def test_a_compensation_that_recovers_within_its_retries_records_no_failure(order_stack, faults):
    faults({"ReleaseInventory": {"kind": "transient", "times": 3}})

    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)

    assert run.status == "PAYMENT_DECLINED"
    assert attempts_of(run, "ReleaseInventory") == ["InjectedTransientError"] * 3 + [SUCCEEDED]
    assert run.order["compensations"] == {"payment": "NOTHING_TO_UNDO", "inventory": "RELEASED"}
    assert run.order["compensationFailures"] == {}
    assert order_stack.broken_invariants(run) == []


@pytest.mark.parametrize(
    ("kind", "attempts"),
    [
        ("transient", ["StorageTransientError"] * RECORD_FAILURE_ATTEMPTS),
        ("fatal", ["InjectedFatalError"]),
    ],
    ids=["transient-retries-exhausted", "fatal-not-retried"],
)
def test_when_record_failure_cannot_run_record_failure_directly_ends_the_order(order_stack, faults, kind, attempts):
    faults({"RecordFailure": {"kind": kind}})

    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)

    assert run.status == "PAYMENT_DECLINED"
    assert run.execution["error"] == "PAYMENT_DECLINED"
    assert attempts_of(run, "RecordFailure") == attempts
    assert run.visited_states[-3:] == ["RecordFailure", "RecordFailureDirectly", "OrderFailed"]
    assert run.order["failure"]["recordedBy"] == "RecordFailureDirectly"
    assert run.order["failure"]["error"] == "PaymentDeclinedError"
    assert run.timeline[-1] == "PAYMENT_DECLINED"
    assert order_stack.broken_invariants(run) == []


EXHAUSTION_TIME_SCALE = 10_000.0
"""The ASL's own backoff (1, 2, 4 s; 2 to 30 s for compensations; full jitter), about 30 s in all, in milliseconds."""
ACCELERATED_DEADLINE_SECONDS = 15.0
"""Half the backoff's real 30 s: an order that ends within it was retried on the accelerated clock; a busy machine
still has room."""


def test_retries_exhausted_with_the_real_backoff_fail_the_order_and_compensate(order_stack, faults, time_scale):
    time_scale(EXHAUSTION_TIME_SCALE)
    faults({"ReserveInventory": {"kind": "transient"}, "ReleaseInventory": {"kind": "transient"}})

    run = order_stack.run_order(sample_order(), shipment=None, deadline=ACCELERATED_DEADLINE_SECONDS)

    assert run.status == "FAILED"
    assert attempts_of(run, "ReserveInventory") == ["InventoryTransientError"] * 4, "attempt + 3 retries"
    assert attempts_of(run, "ReleaseInventory") == ["InjectedTransientError"] * COMPENSATION_ATTEMPTS
    assert run.visited_states == ["PrepareOrder", "RoutePreparationFailure", *COMPENSATION]
    assert run.order["failure"]["error"] == "InventoryTransientError"
    assert run.order["compensations"] == {"payment": "VOIDED"}
    assert run.order["compensationFailures"]["inventory"]["error"] == "InjectedTransientError"
    assert order_stack.ledger(run.order_id) == {AUTH, VOID}
    assert order_stack.broken_invariants(run) == []


SEEDED_RULES = {"AuthorizePayment": {"kind": "transient", "rate": 0.5, "seed": 7}}


def seeded_run_outcomes(stack: OrderStack, orders: int) -> tuple[list[bool], list[str]]:
    """Reset the stack to as new, then run ``orders`` orders one after another under the seeded rules; return the
    fault sequence and the statuses."""
    stack.reset()
    injector: FaultInjector = stack.set_faults(SEEDED_RULES)
    statuses = []
    for _ in range(orders):
        run = stack.run_order(sample_order(), shipment="SHIPPED")
        assert stack.broken_invariants(run) == []
        statuses.append(run.status)
    return injector.outcomes("AuthorizePayment"), statuses


def test_a_seeded_rate_gives_the_same_failures_every_time(order_stack):
    first = seeded_run_outcomes(order_stack, orders=3)
    second = seeded_run_outcomes(order_stack, orders=3)

    assert first == second
    faults_seen, _ = first
    assert True in faults_seen, "seed 7 injects some faults"
    assert False in faults_seen, "and lets some invocations through"


def test_an_order_recorded_directly_after_awaiting_shipment_leaves_the_warehouse_queue(order_stack, faults):
    faults({"RecordFailure": {"kind": "fatal"}})

    run = order_stack.run_order(sample_order(), shipment="FAILED")

    assert run.status == "FAILED"
    assert run.order["failure"]["recordedBy"] == "RecordFailureDirectly"
    assert "awaitingShipmentSince" not in run.order, "the sparse index no longer lists it"
    queue, _ = order_stack.orders.awaiting_shipment(100, None)
    assert run.order_id not in [entry["orderId"] for entry in queue]
    assert order_stack.broken_invariants(run) == []


def test_an_order_recorded_directly_is_listed_under_its_failure_status(order_stack, faults):
    faults({"RecordFailure": {"kind": "fatal"}})

    run = order_stack.run_order(sample_order(), shipment="FAILED")

    assert run.order["failure"]["recordedBy"] == "RecordFailureDirectly"
    assert run.order["statusShard"] in INDEXES["by-status-shard"].shard_values("FAILED")
    assert run.order["statusAt"] == f"FAILED#{run.order['updatedAt']}"
    failed, _ = order_stack.orders.with_status([OrderStatus.FAILED], 100, None)
    shipped_at, _ = order_stack.orders.with_status([OrderStatus.AWAITING_SHIPMENT], 100, None)
    theirs, _ = order_stack.orders.query(
        "by-customer-status", run.order["customerId"], 100, None, sort_prefix="FAILED#"
    )
    assert run.order_id in [order["orderId"] for order in failed]
    assert run.order_id not in [order["orderId"] for order in shipped_at]
    assert run.order_id in [order["orderId"] for order in theirs]


def test_a_standalone_stack_applies_its_fault_rules_from_the_first_order():
    with OrderStack(faults={"ReserveInventory": {"kind": "transient", "times": 2}}) as stack:
        run = stack.run_order(sample_order(), shipment="SHIPPED")

        assert run.status == "COMPLETED"
        assert run.failed_tasks() == ["InventoryTransientError", "InventoryTransientError"]
        assert stack.fault_injector.outcomes("ReserveInventory") == [True, True, False]
