"""No stranded order: an order the API wrote but never started is started by the reconciler on its schedule, or failed
with a reason once its starts keep failing; an order whose execution runs is left to it.

The reconciler is the real handler, invoked through the runner on its schedule (every minute, orders two minutes
old), both scaled by the stack's time scale: at 1,000 a run every 60 ms, for orders 120 ms old.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core.exceptions import ServiceException
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from local.aws.scheduler.schedule import LocalSchedule
from local.testkit.fixtures import OrderStack, sample_order
from tasks.adapters.idempotency_keys import DynamoDBIdempotencyKeys
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.adapters.workflow import OrderWorkflow, TaskAnswer
from tasks.logic.access import Principal
from tasks.logic.clock import now_iso
from tasks.logic.ordering import order_view, submit_order
from tasks.logic.reconciliation import NOT_STARTED_ERROR, START_ATTEMPTS
from tasks.models.order import OrderRequest, OrderStatus
from workflows.resources import STRANDED_ORDER_SCHEDULE, VALIDATE_ORDER, FunctionSpec

pytestmark = pytest.mark.workflow

DEADLINE_SECONDS = 30.0
SHOPPER = Principal("cust-42")
ATTEMPTS = STRANDED_ORDER_SCHEDULE.max_start_attempts


class LambdaKilled(BaseException):
    """The API's sandbox ended inside StartExecution (its timeout, an out-of-memory kill): no except clause runs."""


class DiesInStartExecution(OrderWorkflow):
    """The API's workflow adapter, as far as a request that dies in StartExecution gets: the order was written, no
    execution was started, and nothing cleaned up."""

    def __init__(self) -> None:
        self.order_id: str | None = None

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        self.order_id = order_id
        raise LambdaKilled

    def execution_status(self, order_id: str) -> str | None:
        raise AssertionError("the API never asks")

    def complete_task(self, task_token: str, output: dict[str, Any]) -> None:
        raise AssertionError("the API never answers a task while placing an order")

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        raise AssertionError("the API never answers a task while placing an order")

    def heartbeat(self, task_token: str) -> None:
        raise AssertionError("the API never answers a task while placing an order")

    def shipment_answer(self, order_id: str) -> TaskAnswer | None:
        raise AssertionError("the API never answers a task while placing an order")


def strand_an_order(stack: OrderStack) -> str:
    """Place an order through the API's logic with a Lambda that dies in StartExecution; its id."""
    workflow = DiesInStartExecution()
    keys = DynamoDBIdempotencyKeys(stack.deployment.table_names["Idempotency"], stack.dynamodb)
    with pytest.raises(LambdaKilled):
        submit_order(
            OrderRequest.model_validate(sample_order()),
            SHOPPER,
            None,
            orders=stack.orders,
            keys=keys,
            workflow=workflow,
            now=now_iso(),
        )
    assert workflow.order_id is not None
    return workflow.order_id


def executions(stack: OrderStack) -> list[str]:
    listed = stack.stepfunctions.list_executions(stateMachineArn=stack.deployment.state_machine_arn)["executions"]
    return [execution["name"] for execution in listed]


def wait_for_outcome(schedule: LocalSchedule, order_id: str, outcome: str) -> dict[str, Any]:
    """The reconciler's report of ``order_id`` from the first run that reports ``outcome`` for it; each look waits
    for the schedule's next run to end."""
    give_up = time.monotonic() + DEADLINE_SECONDS
    seen: list[Any] = []
    while time.monotonic() < give_up:
        last = schedule.wait_for_runs(schedule.runs + 1, deadline=max(0.0, give_up - time.monotonic()))
        mine = [order for order in json.loads(last.payload).get("orders", []) if order["orderId"] == order_id]
        seen.append(mine)
        if mine and mine[0]["outcome"] == outcome:
            return mine[0]
    raise AssertionError(f"no run reported {outcome} for {order_id}; the last runs reported {seen[-5:]}")


@pytest.fixture
def refuse_start_execution(order_stack: OrderStack, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``refuse_start_execution(name)``: the AWS endpoint answers every StartExecution of the order workflow named
    ``name`` with a ThrottlingException, as an overloaded Step Functions would (an error common to every AWS API,
    so moto warns that Step Functions' model does not name it)."""
    refused: set[str] = set()
    start = StepFunctionsParserBackend.start_execution
    parent = order_stack.deployment.state_machine_arn

    def start_unless_refused(backend: Any, state_machine_arn: str, name: str | None = None, *args: Any) -> Any:
        if state_machine_arn == parent and name in refused:
            raise ServiceException("ThrottlingException", "Rate exceeded")
        return start(backend, state_machine_arn, name, *args)

    monkeypatch.setattr(StepFunctionsParserBackend, "start_execution", start_unless_refused)
    return refused.add


@pytest.fixture
def held_validation(order_stack: OrderStack) -> Iterator[threading.Event]:
    """ValidateOrder waits (at most ``DEADLINE_SECONDS``) until the test sets the Event: its execution runs, and the
    order stays RECEIVED meanwhile."""
    release = threading.Event()

    def hold(spec: FunctionSpec, event: Any) -> None:
        if spec.logical_name == VALIDATE_ORDER.logical_name:
            release.wait(DEADLINE_SECONDS)

    order_stack.runner.before_invoke.append(hold)
    yield release
    release.set()


def test_an_order_whose_api_died_before_starting_it_is_started_by_the_reconciler_and_completes(order_stack):
    order_id = strand_an_order(order_stack)
    assert order_stack.order(order_id)["status"] == OrderStatus.RECEIVED.value
    assert executions(order_stack) == []

    order_stack.start_reconciler()
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT, deadline=DEADLINE_SECONDS)
    order_stack.confirm_shipment(order_id)
    execution_arn = order_stack.workflow.execution_arn(order_id)
    run = order_stack.outcome(order_id, execution_arn, order_stack.wait_for_execution(execution_arn))

    assert run.status == OrderStatus.COMPLETED.value
    assert run.order["trackingNumber"]
    assert run.order[START_ATTEMPTS] >= 1
    assert executions(order_stack) == [order_id]
    assert order_stack.ledger(order_id) == {LedgerEntryKind.AUTHORIZATION, LedgerEntryKind.CAPTURE}
    assert order_stack.broken_invariants(run) == []


@pytest.mark.filterwarnings("ignore:Exception.ServiceException. with code ThrottlingException:UserWarning")
def test_an_order_whose_starts_keep_failing_is_failed_with_its_reason_and_nothing_touched(
    order_stack, refuse_start_execution
):
    stock_before = {item["sku"]: order_stack.stock(item["sku"]) for item in sample_order()["items"]}
    order_id = strand_an_order(order_stack)
    refuse_start_execution(order_id)

    order_stack.start_reconciler()
    record = order_stack.wait_for_status(order_id, OrderStatus.FAILED, deadline=DEADLINE_SECONDS)

    cause = f"the order could not be started after {ATTEMPTS} attempts; nothing was charged and no stock was reserved"
    assert record["failure"] == {"error": NOT_STARTED_ERROR, "cause": cause}
    assert order_view(record).failure.model_dump() == {"error": NOT_STARTED_ERROR, "message": cause}
    assert record[START_ATTEMPTS] == ATTEMPTS
    assert [entry["status"] for entry in record["timeline"]] == ["RECEIVED", "FAILED"]
    assert executions(order_stack) == []
    assert order_stack.ledger(order_id) == set()
    assert {sku: order_stack.stock(sku) for sku in stock_before} == stock_before
    events = order_stack.events(order_id)
    assert [(event["status"], event["failure"]) for event in events] == [
        ("RECEIVED", None),
        ("FAILED", {"error": NOT_STARTED_ERROR, "message": cause}),
    ]


def test_an_order_whose_execution_runs_but_has_not_written_yet_is_left_to_it(order_stack, held_validation):
    order_id, execution_arn = order_stack.submit(sample_order())

    reconciler = order_stack.start_reconciler()
    report = wait_for_outcome(reconciler, order_id, "LEFT_RUNNING")
    held_validation.set()
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT, deadline=DEADLINE_SECONDS)
    order_stack.confirm_shipment(order_id)
    run = order_stack.outcome(order_id, execution_arn, order_stack.wait_for_execution(execution_arn))

    assert report == {"orderId": order_id, "outcome": "LEFT_RUNNING", "startAttempts": ATTEMPTS, "detail": None}
    assert run.status == OrderStatus.COMPLETED.value
    assert run.order[START_ATTEMPTS] == ATTEMPTS, "every attempt answered with the running execution"
    assert executions(order_stack) == [order_id]
    assert len(run.children) == 1
    assert order_stack.ledger(order_id) == {LedgerEntryKind.AUTHORIZATION, LedgerEntryKind.CAPTURE}
    assert order_stack.broken_invariants(run) == []


def test_starting_an_execution_again_answers_as_aws_documents(order_stack):
    """Same name and input while it runs: that execution. Another input, or once it ended: ExecutionAlreadyExists."""
    order_id, execution_arn = order_stack.submit(sample_order())
    execution_input = order_stack.stepfunctions.describe_execution(executionArn=execution_arn)["input"]

    def start(given_input: str) -> str:
        return order_stack.stepfunctions.start_execution(
            stateMachineArn=order_stack.deployment.state_machine_arn, name=order_id, input=given_input
        )["executionArn"]

    assert start(execution_input) == execution_arn
    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        start(json.dumps({**json.loads(execution_input), "note": "another input"}))
    assert order_stack.workflow.execution_status(order_id) == "RUNNING"
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT)
    order_stack.confirm_shipment(order_id)
    order_stack.wait_for_execution(execution_arn)
    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        start(execution_input)
    assert order_stack.workflow.execution_status(order_id) == "SUCCEEDED"
    assert order_stack.workflow.execution_status("never-placed") is None
    assert executions(order_stack) == [order_id]
