"""The reconciler of stranded orders: what it reads, what it starts, what it fails and what it leaves alone."""

from __future__ import annotations

from typing import Any

import pytest

from local.aws.awslambda.runner import LocalLambdaContext, function_arn
from local.provisioning import local_function_environment
from tasks.adapters.orders_repository import DynamoDBOrderRepository, status_shard
from tasks.adapters.workflow import ExecutionStartError
from tasks.errors import InvalidTaskInputError
from tasks.handlers import reconcile_orders as reconcile_orders_handler
from tasks.handlers.reconcile_orders import STRANDED_ORDERS_FAILED_METRIC
from tasks.handlers.runtime import metrics
from tasks.logic.ordering import order_view
from tasks.logic.reconciliation import NOT_STARTED_ERROR, START_ATTEMPTS, reconcile_order, reconcile_orders
from tasks.models.order import OrderStatus
from tasks.models.task_io import ReconcileOrdersInput, StrandedOrderOutcome
from workflows.resources import API, RECONCILE_ORDERS, STATUS_SHARDS, STRANDED_ORDER_SCHEDULE

from .support import NOW, FakeOrderWorkflow, placed_order

STRANDED_AFTER_SECONDS = 120
ATTEMPTS = 3
REQUEST = ReconcileOrdersInput(strandedAfterSeconds=STRANDED_AFTER_SECONDS, maxStartAttempts=ATTEMPTS)
THREE_MINUTES_LATER = "2026-03-01T10:03:00.000Z"
"""Three minutes after ``NOW``: an order created at ``NOW`` has been RECEIVED for longer than the age."""
A_MINUTE_LATER = "2026-03-01T10:01:00.000Z"


class StartRecorder(FakeOrderWorkflow):
    """Records each start's input; ``refusal`` makes every start fail with that AWS error code instead."""

    def __init__(self, refusal: str | None = None, ended: str | None = None) -> None:
        super().__init__()
        self.inputs: dict[str, list[dict[str, Any]]] = {}
        self.refusal = refusal
        self.ended = ended

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        if self.refusal is not None:
            raise ExecutionStartError(self.refusal, may_have_started=False)
        self.inputs.setdefault(order_id, []).append(execution_input)
        return super().start(order_id, execution_input)

    def execution_status(self, order_id: str) -> str | None:
        return self.ended or super().execution_status(order_id)


def test_the_schedule_waits_longer_than_the_api_can_run_and_a_run_ends_before_the_next():
    assert STRANDED_ORDER_SCHEDULE.stranded_after_seconds > API.timeout_seconds
    assert RECONCILE_ORDERS.timeout_seconds < STRANDED_ORDER_SCHEDULE.every_seconds


def test_received_before_reads_only_received_orders_older_than_the_cutoff_from_every_shard_oldest_first(orders):
    for second in range(12):
        orders.create(placed_order(f"order-{second:02d}"), f"2026-03-01T10:00:{second:02d}.000Z")
    orders.advance("order-00", OrderStatus.VALIDATED, NOW)

    found = orders.received_before("2026-03-01T10:00:10.000Z", limit=100)

    assert [order["orderId"] for order in found] == [f"order-{second:02d}" for second in range(1, 10)]
    assert len({order["statusShard"] for order in found}) == STATUS_SHARDS, "the orders span every shard"
    assert [order["orderId"] for order in orders.received_before("2026-03-01T10:00:10.000Z", limit=3)] == [
        "order-01",
        "order-02",
        "order-03",
    ]


def test_received_before_reads_as_much_with_a_thousand_orders_moved_on_as_with_none(orders, capacity_meter):
    """One Query per shard and one BatchGetItem: orders that left RECEIVED are in other partitions of the index."""
    orders.create(placed_order("stranded"), NOW)

    def requests() -> list[tuple[str, float]]:
        capacity_meter.clear()
        with capacity_meter:
            assert [order["orderId"] for order in orders.received_before(THREE_MINUTES_LATER, 100)] == ["stranded"]
        return [(request.operation, request.rru) for request in capacity_meter.requests]

    alone = requests()
    for number in range(1000):
        order_id = f"moved-{number:04d}"
        orders.create(placed_order(order_id), NOW)
        orders.advance(order_id, OrderStatus.VALIDATED, NOW)
    crowded = requests()

    assert crowded == alone
    assert [operation for operation, _ in alone] == ["Query"] * STATUS_SHARDS + ["BatchGetItem"]


def test_a_stranded_order_is_started_with_the_input_the_api_gives_it_and_the_attempt_is_counted(orders):
    orders.create(placed_order("stranded"), NOW)
    workflow = StartRecorder()

    result = reconcile_orders(REQUEST, orders=orders, workflow=workflow, now=THREE_MINUTES_LATER)

    assert [(order.orderId, order.outcome, order.startAttempts) for order in result.orders] == [
        ("stranded", StrandedOrderOutcome.STARTED, 1)
    ]
    assert workflow.inputs == {"stranded": [placed_order("stranded").workflow_input()]}
    assert orders.get("stranded")[START_ATTEMPTS] == 1
    assert orders.get("stranded")["status"] == "RECEIVED"


def test_an_order_younger_than_the_age_or_past_received_is_not_touched(orders):
    orders.create(placed_order("young"), A_MINUTE_LATER)
    orders.create(placed_order("moved-on"), NOW)
    orders.advance("moved-on", OrderStatus.VALIDATED, NOW)
    workflow = StartRecorder()

    result = reconcile_orders(REQUEST, orders=orders, workflow=workflow, now=THREE_MINUTES_LATER)

    assert result.orders == []
    assert workflow.calls == []
    assert START_ATTEMPTS not in orders.get("young")


def test_an_order_whose_starts_keep_failing_is_failed_with_a_reason_the_shopper_can_read(orders):
    orders.create(placed_order("stranded"), NOW)
    workflow = StartRecorder(refusal="ThrottlingException")

    runs = [reconcile_orders(REQUEST, orders=orders, workflow=workflow, now=THREE_MINUTES_LATER) for _ in range(5)]

    outcomes = [[(order.outcome, order.startAttempts, order.detail) for order in run.orders] for run in runs]
    assert outcomes == [
        [(StrandedOrderOutcome.START_FAILED, 1, "ThrottlingException")],
        [(StrandedOrderOutcome.START_FAILED, 2, "ThrottlingException")],
        [(StrandedOrderOutcome.START_FAILED, 3, "ThrottlingException")],
        [(StrandedOrderOutcome.FAILED, 3, None)],
        [],
    ]
    record = orders.get("stranded")
    assert record["status"] == "FAILED"
    assert record["statusShard"] == status_shard("stranded", OrderStatus.FAILED)
    assert [entry["status"] for entry in record["timeline"]] == ["RECEIVED", "FAILED"]
    assert record["failure"] == {
        "error": NOT_STARTED_ERROR,
        "cause": "the order could not be started after 3 attempts; nothing was charged and no stock was reserved",
    }
    assert order_view(record).failure.model_dump() == {
        "error": NOT_STARTED_ERROR,
        "message": "the order could not be started after 3 attempts; nothing was charged and no stock was reserved",
    }
    assert ("execution_status", "stranded") in workflow.calls


def test_out_of_attempts_an_order_whose_execution_runs_is_left_to_it(orders):
    orders.create(placed_order("slow"), NOW)
    workflow = StartRecorder()

    runs = [reconcile_orders(REQUEST, orders=orders, workflow=workflow, now=THREE_MINUTES_LATER) for _ in range(5)]

    assert [run.orders[0].outcome for run in runs] == [StrandedOrderOutcome.STARTED] * ATTEMPTS + [
        StrandedOrderOutcome.LEFT_RUNNING
    ] * 2
    assert len(workflow.inputs["slow"]) == ATTEMPTS, "the same start, which answers with the running execution"
    assert orders.get("slow")["status"] == "RECEIVED"
    assert "failure" not in orders.get("slow")


def test_out_of_attempts_an_order_whose_execution_ended_without_moving_it_is_failed_naming_how_it_ended(orders):
    orders.create(placed_order("aborted"), NOW)
    orders.set_fields("aborted", {START_ATTEMPTS: ATTEMPTS}, only_if_status=OrderStatus.RECEIVED)

    result = reconcile_orders(REQUEST, orders=orders, workflow=StartRecorder(ended="ABORTED"), now=THREE_MINUTES_LATER)

    assert [(order.outcome, order.detail) for order in result.orders] == [(StrandedOrderOutcome.FAILED, "ABORTED")]
    assert orders.get("aborted")["failure"]["cause"].startswith("the order's execution ended (ABORTED)")


@pytest.mark.parametrize("attempts", [0, ATTEMPTS], ids=["start", "fail"])
def test_an_order_that_moved_on_since_it_was_read_is_neither_started_nor_failed(orders, attempts):
    orders.create(placed_order("raced"), NOW)
    orders.set_fields("raced", {START_ATTEMPTS: attempts}, only_if_status=OrderStatus.RECEIVED)
    read_before_it_moved = orders.get("raced")
    orders.advance("raced", OrderStatus.VALIDATED, A_MINUTE_LATER)
    workflow = StartRecorder(ended="ABORTED")

    outcome = reconcile_order(read_before_it_moved, ATTEMPTS, orders=orders, workflow=workflow, now=THREE_MINUTES_LATER)

    assert outcome.outcome is StrandedOrderOutcome.MOVED_ON
    assert workflow.inputs == {}
    assert orders.get("raced")["status"] == "VALIDATED"
    assert orders.get("raced")[START_ATTEMPTS] == attempts


def test_a_failed_write_only_from_received_leaves_an_order_in_another_status_and_says_so(orders):
    orders.create(placed_order("validated"), NOW)
    orders.advance("validated", OrderStatus.VALIDATED, NOW)

    moved = orders.advance(
        "validated", OrderStatus.FAILED, A_MINUTE_LATER, fields={"failure": {}}, only_from=(OrderStatus.RECEIVED,)
    )

    assert moved is False
    assert orders.get("validated")["status"] == "VALIDATED"


def test_a_missing_order_is_not_created_by_the_failed_write(orders: DynamoDBOrderRepository):
    stale = {**placed_order("deleted").model_dump(mode="json"), START_ATTEMPTS: ATTEMPTS}

    outcome = reconcile_order(stale, ATTEMPTS, orders=orders, workflow=StartRecorder(), now=THREE_MINUTES_LATER)

    assert outcome.outcome is StrandedOrderOutcome.MOVED_ON
    assert orders.get("deleted") is None


@pytest.fixture
def reconcile(tables: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handler, called as Lambda calls it, with its deployed environment; the state machine does not exist."""
    missing_machine = "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine"
    for name, value in local_function_environment((RECONCILE_ORDERS,), missing_machine).items():
        monkeypatch.setenv(name, value)
    context = LocalLambdaContext(
        function_name=RECONCILE_ORDERS.logical_name,
        invoked_function_arn=function_arn(RECONCILE_ORDERS.logical_name),
        memory_limit_in_mb=RECONCILE_ORDERS.memory_mb,
        timeout_seconds=RECONCILE_ORDERS.timeout_seconds,
    )
    return lambda event: reconcile_orders_handler.handler(event, context)


def test_the_handler_reports_each_order_and_counts_its_outcome_as_a_metric(reconcile, orders, monkeypatch):
    orders.create(placed_order("stranded"), "2026-03-01T10:00:00.000Z")
    emitted: dict[str, float] = {}
    monkeypatch.setattr(metrics, "add_metric", lambda name, unit, value: emitted.__setitem__(name, value))

    result = reconcile(STRANDED_ORDER_SCHEDULE.event())

    assert result == {
        "orders": [
            {"orderId": "stranded", "outcome": "START_FAILED", "startAttempts": 1, "detail": "StateMachineDoesNotExist"}
        ]
    }
    assert emitted == {"StrandedOrdersStarted": 0, "StrandedOrderStartsFailed": 1, STRANDED_ORDERS_FAILED_METRIC: 0}


@pytest.mark.parametrize(
    ("event", "field"),
    [({}, "strandedAfterSeconds"), ({"strandedAfterSeconds": 0, "maxStartAttempts": 5}, "strandedAfterSeconds")],
)
def test_the_handler_refuses_an_event_without_a_usable_age_naming_the_field(reconcile, event, field):
    with pytest.raises(InvalidTaskInputError, match=f"{field}: "):
        reconcile(event)
