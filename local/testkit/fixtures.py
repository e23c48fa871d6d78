"""Pytest fixtures for workflow tests: the real ASL on moto's engine, with the real handlers, in-process.

Enable them with ``pytest_plugins = ["local.testkit.fixtures"]`` in a ``conftest.py``. Then:

- ``order_stack``: moto with its Step Functions engine on, the tables, the seed catalog, the Lambda runner and the
  state machine, as new for the test. One stack serves the whole session and is reset after each test (executions,
  tables, queues, faults, time scale): starting one costs more than most tests.
- ``run_order(...)``: submits an order, plays the warehouse's part, and returns the final order, the execution
  history and the visited states. Every wait has a deadline.
- ``faults(rules)``: makes tasks of this test's ``order_stack`` fail or slow down (see ``local.testkit.faults``).
- ``aws_faults(rules)``: makes the AWS API calls of this test's ``order_stack`` fail as AWS fails them (throttling,
  5xx, timeouts, partial answers; see ``local.endpoint.aws_faults``). The harness's own calls are never faulted.
- ``time_scale(factor)``: runs the engine's waits ``factor`` times faster for the rest of this test.
- ``order_stack.start_reconciler()``: runs ReconcileOrders on its schedule, scaled like the engine's waits, until the
  stack is reset; off otherwise, so other tests' invocations and CPU are their own.

Every wait here has a deadline and fails with what it last saw. The waits of an order are told by the engine (an
execution ended, an order was written) instead of asking moto every few milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from local.aws.apigateway.gateway import proxy_answer, proxy_event
from local.aws.awslambda.runner import LOCAL_REGION, LambdaRunner
from local.aws.dynamodbstreams.event_source_mapping import StreamPoller
from local.aws.moto import (
    CLOCK,
    EXECUTION_END_LISTENERS,
    STREAM_RECORD_LISTENERS,
    forget_executions,
    install_time_scale,
    quiet_engine_logs,
)
from local.aws.scheduler.schedule import LocalSchedule, reconciler_schedule
from local.aws.sigv4 import WAREHOUSE
from local.aws.stepfunctions.child_executions import child_execution_arns
from local.aws.stepfunctions.endpoint import serve_sync_executions_and_test_state
from local.endpoint.aws_faults import UNFAULTED_ACCESS_KEY_ID, AwsFaultInjector, serve_aws_faults
from local.provisioning import (
    LocalDeployment,
    local_function_environment,
    local_state_machine_arn,
    provision,
    provision_order_events,
    recreate_queue,
    recreate_tables,
    subscribe_queue,
)
from local.simulators.catalog import SAMPLE_ADDRESS, catalog_items
from local.testkit.faults import FaultInjector
from local.testkit.invariants import broken_event_promises, broken_invariants
from tasks.adapters.dynamodb import from_item, to_item
from tasks.adapters.orders_repository import DynamoDBOrderRepository
from tasks.adapters.payments_ledger import DynamoDBPaymentsLedger, LedgerEntryKind
from tasks.adapters.workflow import StepFunctionsOrderWorkflow
from tasks.logic import shipment
from tasks.logic.clock import now_iso
from tasks.logic.events import status_changes
from tasks.models.order import OrderStatus, PlacedOrder
from workflows.resources import (
    API,
    ORDER_WORKFLOW,
    ORDERS_TABLE,
    SCHEDULED_FUNCTIONS,
    STREAM_FUNCTIONS,
    WORKFLOW_FUNCTIONS,
    Caller,
    route_for,
)

DEFAULT_TIME_SCALE = 1000.0
"""Retry backoff takes milliseconds, while the one-day heartbeat still leaves 86 real seconds to play the warehouse."""
DEFAULT_DEADLINE_SECONDS = 30.0
SAMPLE_CUSTOMER_ID = "cust-42"
"""Whom ``OrderStack.submit`` places orders for; through the API it is the signed-in shopper's ``sub``."""
POLL_SECONDS = 0.02
SQS_BATCH_LIMIT = 10
"""The most messages one ReceiveMessage returns and one DeleteMessageBatch deletes."""
STOP_DEADLINE_SECONDS = 5.0
"""How long a stopped execution may take to end (a task it was running finishes first)."""

ShipmentPlan = str | None
"""What the warehouse does: "SHIPPED", "FAILED", "CANCEL" (the customer cancels), or None (never answers)."""


class DeadlineExceededError(AssertionError):
    pass


def harness_client(service: str, **config: Any) -> Any:
    """A boto3 client for the harness's own reads and writes: it signs as ``UNFAULTED_ACCESS_KEY_ID``, so AWS-API
    fault rules never fault what a test asserts with."""
    return boto3.session.Session(
        region_name=LOCAL_REGION, aws_access_key_id=UNFAULTED_ACCESS_KEY_ID, aws_secret_access_key="local"
    ).client(service, config=Config(**config) if config else None)


@dataclass(frozen=True)
class ApiAnswer:
    """What a client of the API got: the status, the headers and the JSON body (None when empty)."""

    status: int
    headers: dict[str, str]
    body: Any


def poll(check: Callable[[], Any], *, deadline: float, what: str, describe: Callable[[], Any] = lambda: None) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``deadline`` seconds, saying what it last saw."""
    give_up = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > give_up:
            raise DeadlineExceededError(f"{what}: not within {deadline:.1f}s; last seen {describe()!r}")
        time.sleep(POLL_SECONDS)


class EngineSignals:
    """What the engine announced (``local.aws.moto``): which executions ended, and the status each order was last
    written with. A wait on it checks again when something was announced, not every ``POLL_SECONDS``."""

    def __init__(self, orders_table: str):
        self._orders_table = orders_table
        self._changed = threading.Condition()
        self._announcements = 0
        self._ended: set[str] = set()
        self._statuses: dict[str, str | None] = {}

    def listen(self) -> None:
        EXECUTION_END_LISTENERS.append(self._execution_ended)
        STREAM_RECORD_LISTENERS.append(self._stream_record)

    def stop_listening(self) -> None:
        for listeners, listener in (
            (EXECUTION_END_LISTENERS, self._execution_ended),
            (STREAM_RECORD_LISTENERS, self._stream_record),
        ):
            if listener in listeners:
                listeners.remove(listener)

    def forget(self) -> None:
        """Drop what was announced: the executions and orders it was about are gone."""
        with self._changed:
            self._ended.clear()
            self._statuses.clear()

    def ended(self, execution_arn: str) -> bool:
        return execution_arn in self._ended

    def status(self, order_id: str) -> str | None:
        """The status of the order's last write, None before its first."""
        return self._statuses.get(order_id)

    def wait_until(
        self, check: Callable[[], Any], *, deadline: float, what: str, describe: Callable[[], Any] = lambda: None
    ) -> Any:
        """Like ``poll``, but ``check`` runs again only after an announcement (or at the deadline, to say what it
        last saw). The count is read before ``check`` runs, so an announcement during ``check`` is not missed."""
        give_up = time.monotonic() + deadline
        while True:
            with self._changed:
                seen = self._announcements
            result = check()
            if result:
                return result
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError(f"{what}: not within {deadline:.1f}s; last seen {describe()!r}")
            with self._changed:
                self._changed.wait_for(lambda seen=seen: self._announcements != seen, timeout=remaining)

    def _execution_ended(self, execution_arn: str) -> None:
        with self._changed:
            self._ended.add(execution_arn)
            self._announce()

    def _stream_record(self, table_name: str, record: dict[str, Any]) -> None:
        if table_name != self._orders_table:
            return
        change = record["dynamodb"]
        order_id = change["Keys"][ORDERS_TABLE.partition_key]["S"]
        status = change.get("NewImage", {}).get("status", {}).get("S")
        with self._changed:
            self._statuses[order_id] = status
            self._announce()

    def _announce(self) -> None:
        self._announcements += 1
        self._changed.notify_all()


def sample_order(**overrides: Any) -> dict[str, Any]:
    """A valid order request for the seed catalog, as a shopper sends it (no customer: that is the caller); pass
    fields to override.

    Example
    -------
    >>> sample_order(paymentToken="tok_declined")["paymentToken"]
    'tok_declined'
    """
    order = {
        "items": [{"sku": "KB-TKL-01", "quantity": 1}, {"sku": "CBL-USBC-2M", "quantity": 2}],
        "paymentToken": "tok_ok",
        "shippingAddress": dict(SAMPLE_ADDRESS),
    }
    order.update(overrides)
    return order


@dataclass
class ChildRun:
    """One Express child execution of an order (the preparation): its description and its history."""

    execution_arn: str
    execution: dict[str, Any]
    history: list[dict[str, Any]]

    @property
    def visited_states(self) -> list[str]:
        return visited_states(self.history)


@dataclass
class OrderRun:
    """The outcome of one order: its stored record, its execution and its child's, and the states they went through.

    ``history`` and ``visited_states`` are the parent's; ``children`` holds every child execution it started (one
    per attempt of ``PrepareOrder``), each with its own history.
    """

    order_id: str
    execution_arn: str
    execution: dict[str, Any]
    order: dict[str, Any]
    history: list[dict[str, Any]]
    visited_states: list[str] = field(default_factory=list)
    children: list[ChildRun] = field(default_factory=list)

    @property
    def preparation(self) -> ChildRun | None:
        """The last child execution: the one whose outcome the parent acted on."""
        return self.children[-1] if self.children else None

    @property
    def histories(self) -> list[list[dict[str, Any]]]:
        """The parent's history, then each child's."""
        return [self.history, *(child.history for child in self.children)]

    @property
    def status(self) -> str:
        return self.order["status"]

    @property
    def timeline(self) -> list[str]:
        return [entry["status"] for entry in self.order.get("timeline", [])]

    def failed_tasks(self) -> list[str]:
        """The error names of every failed task attempt, the child's first, then the parent's (retries show up as
        repeats)."""
        return [
            event["taskFailedEventDetails"]["error"]
            for history in (*(child.history for child in self.children), self.history)
            for event in history
            if event["type"] == "TaskFailed"
        ]


class OrderStack:
    """The order service, in-process: moto with the Step Functions engine, tables, catalog, runner, state machine.

    ``faults`` takes the rules of ``local.testkit.faults`` (a dict or JSON text), ``aws_faults`` those of
    ``local.endpoint.aws_faults``; they apply from the first order on. The stack's own reads and writes (``orders``,
    ``dynamodb``, ``stepfunctions``, what ``submit`` and ``confirm_shipment`` do in the API's place) sign as
    ``UNFAULTED_ACCESS_KEY_ID``; the functions, the API's included (``call_api``), meet every fault.

    Example
    -------
    >>> with OrderStack(faults={"ReserveInventory": {"kind": "transient", "times": 2}}) as stack:  # doctest: +SKIP
    ...     run = stack.run_order(sample_order(), shipment="SHIPPED")
    ...     assert run.status == "COMPLETED"
    """

    def __init__(
        self,
        products: list[dict[str, Any]] | None = None,
        time_scale: float = DEFAULT_TIME_SCALE,
        faults: str | Mapping[str, Any] | None = None,
        aws_faults: str | Mapping[str, Any] | None = None,
    ):
        self._products = catalog_items() if products is None else products
        self._time_scale = time_scale
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        functions = (*WORKFLOW_FUNCTIONS, API, *STREAM_FUNCTIONS, *SCHEDULED_FUNCTIONS)
        self.runner = LambdaRunner(
            functions, local_function_environment(functions, local_state_machine_arn(ORDER_WORKFLOW))
        )
        self.reconciler: LocalSchedule | None = None
        self.deployment: LocalDeployment | None = None
        self.fault_injector: FaultInjector | None = None
        self.aws_fault_injector: AwsFaultInjector | None = None
        self._faults = faults
        self._aws_faults = aws_faults
        self.set_faults(faults)
        self.signals = EngineSignals(ORDERS_TABLE.local_name)

    def __enter__(self) -> OrderStack:
        quiet_engine_logs()
        install_time_scale(self._time_scale)
        serve_sync_executions_and_test_state()
        self._mock.start()
        self.signals.listen()
        self.runner.install()
        self.dynamodb = harness_client("dynamodb")
        self.stepfunctions = harness_client("stepfunctions")
        self.deployment = provision(self.dynamodb, self.stepfunctions, self._products)
        self.orders = DynamoDBOrderRepository(self.deployment.table_names["Orders"], self.dynamodb)
        self.ledger_table = DynamoDBPaymentsLedger(self.deployment.table_names["PaymentsLedger"], self.dynamodb)
        self.workflow = StepFunctionsOrderWorkflow(self.deployment.state_machine_arn, self.stepfunctions)
        self._start_order_events()
        self.set_aws_faults(self._aws_faults)
        return self

    def _start_order_events(self) -> None:
        """The bus, a queue subscribed to it as a downstream team would, and the stream poller that feeds it."""
        events, self.sqs = harness_client("events"), harness_client("sqs")
        self.order_events = provision_order_events(self.dynamodb, events, self.sqs)
        self._events_queue = subscribe_queue(events, self.sqs, "order-stack-events")
        self._received: dict[str, list[dict[str, Any]]] = {}
        self._streams = harness_client("dynamodbstreams", account_id_endpoint_mode="disabled")
        self.stream_poller = StreamPoller(
            self._streams, self.order_events.stream_arn, self.runner, self.sqs, self.order_events.dead_letter_queue_url
        )
        self.stream_poller.start()

    def events(self, order_id: str) -> list[dict[str, Any]]:
        """The ``detail`` of every OrderStatusChanged the subscribed queue received for the order, in order.

        The stream is drained first, so every change made so far has been published.
        """
        self.stream_poller.drain()
        self._collect_events()
        return sorted(self._received.get(order_id, []), key=lambda detail: detail["sequence"])

    def _collect_events(self) -> None:
        """Move what the subscribed queue holds into ``_received``. Also done after every order: moto counts a queue's
        messages on every send to it, so a queue left to grow made each event of a long-lived stack cost more."""
        while True:
            messages = self.sqs.receive_message(QueueUrl=self._events_queue, MaxNumberOfMessages=SQS_BATCH_LIMIT).get(
                "Messages", []
            )
            for message in messages:
                detail = json.loads(message["Body"])["detail"]
                self._received.setdefault(detail["orderId"], []).append(detail)
            if messages:
                receipts = [{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(messages)]
                self.sqs.delete_message_batch(QueueUrl=self._events_queue, Entries=receipts)
            if len(messages) < SQS_BATCH_LIMIT:
                return

    def dead_letters(self) -> list[dict[str, Any]]:
        """What the stream's dead-letter queue holds (batch coordinates, as Lambda's on-failure destination)."""
        url = self.order_events.dead_letter_queue_url
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(message["Body"]) for message in messages.get("Messages", [])]

    def dead_lettered_events(self, order_id: str) -> list[dict[str, Any]]:
        """The ``status`` and ``sequence`` of every event of the order whose stream record the dead-letter queue
        names: the records from each message's first to its last sequence number, read from the stream again."""
        ranges = [
            (int(info["startSequenceNumber"]), int(info["endSequenceNumber"]))
            for info in (message["DDBStreamBatchInfo"] for message in self.dead_letters())
        ]
        named = []
        for record in self._stream_records():
            change = record["dynamodb"]
            number = int(change["SequenceNumber"])
            if change["Keys"][ORDERS_TABLE.partition_key]["S"] != order_id:
                continue
            if any(first <= number <= last for first, last in ranges):
                old, new = (from_item(change[image]) if image in change else None for image in ("OldImage", "NewImage"))
                named += [
                    {"status": event.status.value, "sequence": event.sequence} for event in status_changes(old, new)
                ]
        return named

    def _stream_records(self) -> list[dict[str, Any]]:
        stream_arn = self.order_events.stream_arn
        records: list[dict[str, Any]] = []
        for shard in self._streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
            iterator = self._streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                records += page["Records"]
                iterator = page.get("NextShardIterator") if page["Records"] else None
        return records

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop_reconciler()
            self._stop_running_executions()
        finally:
            self.set_aws_faults(None)
            self.stream_poller.stop()
            self.signals.stop_listening()
            self.runner.uninstall()
            self._mock.stop()
            install_time_scale(1)

    def reset(self) -> None:
        """Make the started stack as new for the next user, for a fraction of what a new stack costs: executions
        stopped and forgotten, tables empty with the catalog seeded, queues empty, the stream followed from its
        new start, fault rules and hooks as at construction, invocations counted from zero, the time scale restored,
        the reconciler's schedule stopped.

        Lambda containers stay warm, as a deployed service's would between two orders.
        """
        self.stop_reconciler()
        self.set_aws_faults(None)
        self._stop_running_executions()
        stream_arn = recreate_tables(self.dynamodb, self._products)[ORDERS_TABLE.local_name]["LatestStreamArn"]
        self.stream_poller.follow(stream_arn)
        self.order_events = dataclasses.replace(self.order_events, stream_arn=stream_arn)
        for url in (self._events_queue, self.order_events.dead_letter_queue_url):
            recreate_queue(self.sqs, url)
        for machine in (self.deployment.state_machine_arn, self.deployment.preparation_state_machine_arn):
            forget_executions(machine)
        self.signals.forget()
        self._received.clear()
        self.runner.before_invoke.clear()
        self.fault_injector = None
        self.set_faults(self._faults)
        self.set_aws_faults(self._aws_faults)
        self.runner.invocations.update(dict.fromkeys(self.runner.invocations, 0))
        self.restore_time_scale()

    def restore_time_scale(self) -> None:
        """Back to the factor the stack was made with, whatever a test set."""
        install_time_scale(self._time_scale)

    def _stop_running_executions(self) -> None:
        """Waiting executions hold engine threads, the parents' and then their children's; stop them while moto still
        answers their calls, and wait until they ended, so none of them works on into the next test or stack."""
        if self.deployment is None:
            return
        for machine in (self.deployment.state_machine_arn, self.deployment.preparation_state_machine_arn):
            listed = self.stepfunctions.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
            running = [execution["executionArn"] for execution in listed]
            for arn in running:
                poll(lambda arn=arn: self._stopped(arn), deadline=STOP_DEADLINE_SECONDS, what=f"{arn} to stop")
            for arn in running:
                self.wait_for_execution(arn, deadline=STOP_DEADLINE_SECONDS)

    def _stopped(self, execution_arn: str) -> bool:
        """moto cannot stop an execution whose worker has not started yet; then it is tried again."""
        try:
            self.stepfunctions.stop_execution(executionArn=execution_arn)
        except AttributeError:
            return False
        return True

    def set_time_scale(self, factor: float) -> None:
        install_time_scale(factor)

    def start_reconciler(self) -> LocalSchedule:
        """Run ReconcileOrders on its schedule (every minute, orders two minutes old), both scaled by the time scale
        of each moment, until ``stop_reconciler()`` or the next reset. The real handler runs, through the runner."""
        if self.reconciler is None:
            self.reconciler = reconciler_schedule(self.runner)
            self.reconciler.start()
        return self.reconciler

    def stop_reconciler(self) -> None:
        reconciler, self.reconciler = self.reconciler, None
        if reconciler is not None:
            reconciler.stop()

    def set_faults(self, rules: str | Mapping[str, Any] | None, source: str = "faults") -> FaultInjector | None:
        """Replace the fault rules (``None`` removes them); invocations are counted afresh from here."""
        if self.fault_injector is not None:
            self.runner.before_invoke.remove(self.fault_injector)
            self.fault_injector = None
        if rules is not None:
            self.fault_injector = FaultInjector(rules, source)
            self.runner.before_invoke.append(self.fault_injector)
        return self.fault_injector

    def set_aws_faults(
        self, rules: str | Mapping[str, Any] | None, source: str = "aws_faults"
    ) -> AwsFaultInjector | None:
        """Replace the AWS-API fault rules (``None`` removes them); calls are counted afresh from here."""
        self.aws_fault_injector = None if rules is None else AwsFaultInjector(rules, source)
        serve_aws_faults(self.aws_fault_injector)
        return self.aws_fault_injector

    def call_api(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        customer_id: str = SAMPLE_CUSTOMER_ID,
    ) -> ApiAnswer:
        """Call the real API function through the Lambda runner, as API Gateway would, after its authorizer: as the
        shopper ``customer_id`` on shopper routes, as the warehouse on the shipment route. The answer is API
        Gateway's: the function's response, or 502 when the function failed (a timeout too).

        Example
        -------
        >>> stack.call_api("POST", "/orders", sample_order(), {"Idempotency-Key": "k-1"}).status  # doctest: +SKIP
        202
        """
        route = route_for(method, path)
        if route is None:
            raise ValueError(f"no route {method} {path}")
        sent = {"Content-Type": "application/json", **(headers or {})}
        event = proxy_event(
            route,
            method,
            path,
            "",
            sent,
            None if body is None else json.dumps(body),
            "127.0.0.1",
            claims={"sub": customer_id, "token_use": "id"} if route.caller is Caller.SHOPPER else None,
            caller_arn=WAREHOUSE.arn if route.caller is Caller.SERVICE else None,
        )
        answer = proxy_answer(self.runner.invoke(API.logical_name, json.dumps(event).encode()))
        return ApiAnswer(answer.status, answer.headers, json.loads(answer.body) if answer.body else None)

    def submit(
        self, order: Mapping[str, Any], order_id: str | None = None, customer_id: str = SAMPLE_CUSTOMER_ID
    ) -> tuple[str, str]:
        """Record the order as RECEIVED and start its execution, as the API does. Returns (order id, execution ARN).

        The payment token goes into the order record only, never into the execution input, as with the API. An
        order the API would refuse is not recorded, and its execution starts with whatever else it holds.
        """
        order_id = order_id or f"order-{uuid.uuid4().hex[:12]}"
        placed = _placed_or_none({"orderId": order_id, "customerId": customer_id, **order})
        if placed is not None:
            self.orders.create(placed, now_iso())
            execution_input = placed.workflow_input()
        else:
            execution_input = {"orderId": order_id, "customerId": customer_id, **order}
            execution_input.pop("paymentToken", None)
        return order_id, self.workflow.start(order_id, execution_input)

    def order(self, order_id: str) -> dict[str, Any] | None:
        return self.orders.get(order_id)

    def wait_for_status(self, order_id: str, status: OrderStatus, deadline: float = DEFAULT_DEADLINE_SECONDS) -> dict:
        """The order's record once it holds ``status``; read when the stream announces a write with that status."""

        def reached() -> dict | None:
            if self.signals.status(order_id) not in (None, status.value):
                return None
            record = self.order(order_id)
            return record if record and record["status"] == status.value else None

        return self.signals.wait_until(
            reached,
            deadline=deadline,
            what=f"order {order_id} to reach {status.value}",
            describe=lambda: (self.order(order_id) or {}).get("status"),
        )

    def wait_for_execution(self, execution_arn: str, deadline: float = DEFAULT_DEADLINE_SECONDS) -> dict[str, Any]:
        """The execution's description once the engine announced its end."""

        def describe() -> dict[str, Any]:
            return self.stepfunctions.describe_execution(executionArn=execution_arn)

        self.signals.wait_until(
            lambda: self.signals.ended(execution_arn),
            deadline=deadline,
            what=f"execution {execution_arn} to end",
            describe=lambda: describe()["status"],
        )
        return describe()

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.stepfunctions.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def confirm_shipment(self, order_id: str, tracking_number: str = "1Z999AA10123456784") -> None:
        shipment.confirm_shipment(order_id, tracking_number, orders=self.orders, workflow=self.workflow)

    def fail_shipment(self, order_id: str, reason: str = "warehouse flooded") -> None:
        shipment.fail_shipment(order_id, reason, orders=self.orders, workflow=self.workflow)

    def cancel(self, order_id: str, reason: str = "customer changed their mind") -> None:
        shipment.cancel_order(order_id, reason, orders=self.orders, workflow=self.workflow)

    def acknowledge_shipment(self, order_id: str) -> None:
        shipment.acknowledge_shipment(order_id, orders=self.orders, workflow=self.workflow)

    def run_order(
        self,
        order: Mapping[str, Any],
        *,
        shipment: ShipmentPlan = "SHIPPED",
        deadline: float = DEFAULT_DEADLINE_SECONDS,
    ) -> OrderRun:
        """Submit ``order``, play the warehouse's (or customer's) part, and wait for the execution to end."""
        order_id, execution_arn = self.submit(order)
        if shipment is not None:
            self._answer_shipment(order_id, execution_arn, shipment, deadline)
        execution = self.wait_for_execution(execution_arn, deadline)
        self._collect_events()
        return self.outcome(order_id, execution_arn, execution)

    def wait_for_shipment_request(self, order_id: str, execution_arn: str, deadline: float) -> bool:
        """Wait until the order awaits its shipment (True) or its execution ended without asking for one (False)."""

        def waiting_or_over() -> bool:
            awaiting = self.signals.status(order_id) == OrderStatus.AWAITING_SHIPMENT.value
            return awaiting or self.signals.ended(execution_arn)

        self.signals.wait_until(
            waiting_or_over,
            deadline=deadline,
            what=f"order {order_id} to await shipment",
            describe=lambda: self.signals.status(order_id),
        )
        return self.order(order_id)["status"] == OrderStatus.AWAITING_SHIPMENT.value

    def wait_for_the_callback_wait(self, execution_arn: str, deadline: float = DEFAULT_DEADLINE_SECONDS) -> None:
        """Wait until the engine waits for a task token: the state entered last is a ``.waitForTaskToken`` task, and
        ``TaskSubmitted`` follows it (a ``.sync`` task, which waits for a child execution, submits too).

        From then on no task of the execution runs until a callback, so nothing of it calls AWS; and moto refuses
        a heartbeat sent earlier with InvalidToken, which AWS accepts (docs/decisions.md). The engine announces no
        event for it, so this polls the history, with a deadline."""

        def waits() -> bool:
            history = self.history(execution_arn)
            entered = max((i for i, event in enumerate(history) if event["type"] == "TaskStateEntered"), default=-1)
            since = history[entered + 1 :]
            resources = [event.get("taskScheduledEventDetails", {}).get("resource", "") for event in since]
            callback = any(resource.endswith(".waitForTaskToken") for resource in resources)
            return callback and any(event["type"] == "TaskSubmitted" for event in since)

        poll(waits, deadline=deadline, what=f"execution {execution_arn} to wait for its callback")

    def _answer_shipment(self, order_id: str, execution_arn: str, plan: str, deadline: float) -> None:
        if not self.wait_for_shipment_request(order_id, execution_arn, deadline):
            return
        answers = {"SHIPPED": self.confirm_shipment, "FAILED": self.fail_shipment, "CANCEL": self.cancel}
        answers[plan](order_id)

    def outcome(self, order_id: str, execution_arn: str, execution: dict[str, Any] | None = None) -> OrderRun:
        history = self.history(execution_arn)
        return OrderRun(
            order_id=order_id,
            execution_arn=execution_arn,
            execution=execution or self.stepfunctions.describe_execution(executionArn=execution_arn),
            order=self.order(order_id) or {},
            history=history,
            visited_states=visited_states(history),
            children=[
                ChildRun(arn, self.stepfunctions.describe_execution(executionArn=arn), self.history(arn))
                for arn in child_execution_arns(history)
            ],
        )

    def ledger(self, order_id: str) -> set[LedgerEntryKind]:
        return set(self.ledger_table.entries(order_id))

    def broken_invariants(self, run: OrderRun) -> list[str]:
        """The promises this order broke (see ``local.testkit.invariants``), its events' and its child executions'
        included; empty when it kept them all."""
        return [
            *broken_invariants(
                run.order, self.ledger(run.order_id), run.execution, [child.execution for child in run.children]
            ),
            *broken_event_promises(run.order, self.events(run.order_id)),
        ]

    def stock(self, sku: str) -> int:
        item = self.dynamodb.get_item(TableName=self.deployment.table_names["Products"], Key=to_item({"sku": sku}))
        return int(from_item(item["Item"])["stock"])


def visited_states(history: list[dict[str, Any]]) -> list[str]:
    """The names of the states entered, in the order the history records them."""
    return [event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event]


def _placed_or_none(execution_input: dict[str, Any]) -> PlacedOrder | None:
    """Orders the API would reject are not stored; the workflow must reject them itself (ValidationFailure)."""
    try:
        return PlacedOrder.model_validate(execution_input)
    except ValueError:
        return None


class SharedOrderStack:
    """One started ``OrderStack`` for a whole test session, reset after each test that used it.

    A test that does not use it may start a moto of its own, which must not find this stack's tables and state
    machines in it; the stack is therefore stopped ("parked") before such a test, and the next test that asks for
    it gets a new one.
    """

    def __init__(self) -> None:
        self._stack: OrderStack | None = None

    def check_out(self) -> OrderStack:
        if self._stack is None:
            self._stack = OrderStack().__enter__()
        else:
            self._stack.restore_time_scale()
        return self._stack

    def check_in(self) -> None:
        """Reset the stack for the next test; one that cannot be reset is stopped, and the next test gets a new one."""
        if self._stack is None:
            return
        try:
            self._stack.reset()
        except BaseException:
            self.park()
            raise

    def park(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.__exit__(None, None, None)


SHARED_ORDER_STACK = pytest.StashKey[SharedOrderStack]()


@pytest.fixture(scope="session")
def shared_order_stack(request: pytest.FixtureRequest) -> Iterator[SharedOrderStack]:
    """The session's ``OrderStack``, started by the first test that uses ``order_stack``."""
    shared = SharedOrderStack()
    request.config.stash[SHARED_ORDER_STACK] = shared
    yield shared
    del request.config.stash[SHARED_ORDER_STACK]
    shared.park()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Park the shared stack before any fixture of a test that does not use it (see ``SharedOrderStack``)."""
    shared = item.config.stash.get(SHARED_ORDER_STACK, None)
    if shared is not None and "order_stack" not in getattr(item, "fixturenames", ()):
        shared.park()


@pytest.fixture
def order_stack(shared_order_stack: SharedOrderStack) -> Iterator[OrderStack]:
    """The in-process order service, as new for this test: the session's stack, reset after each test."""
    yield shared_order_stack.check_out()
    shared_order_stack.check_in()


@pytest.fixture
def run_order(order_stack: OrderStack) -> Callable[..., OrderRun]:
    """``run_order(order, shipment="SHIPPED", deadline=30)`` → OrderRun, on the ``order_stack`` of this test."""
    return order_stack.run_order


@pytest.fixture
def faults(order_stack: OrderStack) -> Callable[..., FaultInjector]:
    """``faults(rules)`` → FaultInjector: apply fault rules to this test's ``order_stack`` (replacing earlier ones).

    Example
    -------
    >>> def test_recovers(order_stack, faults):  # doctest: +SKIP
    ...     faults({"ReserveInventory": {"kind": "transient", "times": 2}})
    ...     assert order_stack.run_order(sample_order()).status == "COMPLETED"
    """
    return order_stack.set_faults


@pytest.fixture
def aws_faults(order_stack: OrderStack) -> Callable[..., AwsFaultInjector]:
    """``aws_faults(rules)`` → AwsFaultInjector: make AWS API calls of this test's ``order_stack`` fail (replacing
    earlier rules); the stack's own reads and asserts are never faulted.

    Example
    -------
    >>> def test_throttled(order_stack, aws_faults):  # doctest: +SKIP
    ...     aws_faults({"dynamodb:UpdateItem": {"kind": "throttling", "times": 3}})
    ...     assert order_stack.run_order(sample_order()).status == "COMPLETED"
    """
    return order_stack.set_aws_faults


@pytest.fixture
def time_scale() -> Iterator[Callable[[float], None]]:
    """``time_scale(factor)``: the engine's waits run ``factor`` times faster until this test ends.

    Example
    -------
    >>> def test_backoff_is_fast(order_stack, time_scale):  # doctest: +SKIP
    ...     time_scale(100_000)  # a two-day callback timeout now fires after 1.7 real seconds
    """
    factor_before = CLOCK.factor
    yield install_time_scale
    install_time_scale(factor_before)
