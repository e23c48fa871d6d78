"""The console's reads and its entry point, on the in-process order service (no HTTP, no browser).

Every order's execution runs a child (order-preparation, from PrepareOrder): its states and events are read from its
own history and shown with the parent's.
"""

from __future__ import annotations

import argparse
import base64
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.testkit.fixtures import sample_order
from tasks.models.order import OrderStatus
from tests.console.support import FakeOperator
from tools.console.api_caller import DeployedOperator, LocalOperator, OrderApiCaller
from tools.console.nested import ChildHistory, EngineHistories, LogGroupHistories
from tools.console.server import ConsoleServer, add_console_arguments, console_from_arguments, run_console
from tools.console.service import HIDDEN, HIDDEN_FIELDS, ConsoleService, NotFoundError, scrubbed

pytestmark = pytest.mark.workflow


def stack_console(order_stack, **options: Any) -> ConsoleService:
    """A console on the in-process stack, acting through an API that is never reached."""
    return ConsoleService(
        order_stack.stepfunctions,
        order_stack.dynamodb,
        order_stack.deployment.table_names["Orders"],
        order_stack.deployment.state_machine_arn,
        OrderApiCaller("http://127.0.0.1:9", FakeOperator()),
        **options,
    )


@pytest.fixture
def console(order_stack) -> ConsoleService:
    service = stack_console(order_stack)
    yield service
    service.close()


def test_pages_run_newest_first_and_join_each_order_status(order_stack, console):
    runs = [
        order_stack.run_order(sample_order(paymentToken=token), shipment="SHIPPED")
        for token in ("tok_ok", "tok_declined", "tok_ok")
    ]
    first = console.executions(page_size=2)
    second = console.executions(page=first["next"], page_size=2)
    names = [row["name"] for row in first["executions"] + second["executions"]]
    assert names == [run.order_id for run in reversed(runs)]
    assert second["next"] is None
    by_name = {row["name"]: row for row in first["executions"] + second["executions"]}
    assert by_name[runs[1].order_id]["orderStatus"] == OrderStatus.PAYMENT_DECLINED
    assert by_name[runs[1].order_id]["status"] == "FAILED"
    assert by_name[runs[0].order_id]["totalCents"] == runs[0].order["totalCents"]


def test_filters_by_execution_status_order_status_and_search(order_stack, console):
    completed = order_stack.run_order(sample_order(), shipment="SHIPPED")
    declined = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    assert [row["name"] for row in console.executions(status="FAILED")["executions"]] == [declined.order_id]
    by_order_status = console.executions(order_status="COMPLETED")["executions"]
    assert [row["name"] for row in by_order_status] == [completed.order_id]
    assert [row["name"] for row in console.executions(search=declined.order_id)["executions"]] == [declined.order_id]
    assert [row["name"] for row in console.executions(search=declined.order_id[-6:])["executions"]] == [
        declined.order_id
    ]
    assert console.executions(search=declined.order_id, status="SUCCEEDED")["executions"] == []
    counts = console.counts()["counts"]
    assert (counts["SUCCEEDED"], counts["FAILED"], counts["RUNNING"]) == (1, 1, 0)
    with pytest.raises(ValueError, match="status must be one of"):
        console.executions(status="DONE")


def test_the_order_status_filter_pages_newest_first_over_the_status_shards(order_stack, console):
    runs = [order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None) for _ in range(5)]
    declined = [run.order_id for run in sorted(runs, key=lambda run: run.order["createdAt"], reverse=True)]

    pages, page = [], None
    for _ in range(5):
        answer = console.executions(order_status="PAYMENT_DECLINED", page=page, page_size=2)
        pages.append([row["name"] for row in answer["executions"]])
        page = answer["next"]
        if page is None:
            break

    assert pages == [declined[:2], declined[2:4], declined[4:]]
    forged = base64.urlsafe_b64encode(json.dumps({"orders": 5}).encode()).decode()
    with pytest.raises(ValueError, match="page token"):
        console.executions(order_status="PAYMENT_DECLINED", page=forged)


def test_the_detail_holds_graph_states_events_and_order_but_never_the_task_token(order_stack, console):
    order_id, _ = order_stack.submit(sample_order())
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT)
    detail = console.execution(order_id)
    assert detail["execution"]["status"] == "RUNNING"
    assert detail["states"]["RequestShipment"]["status"] == "running"
    assert 'data-state="RequestShipment" data-status="running"' in detail["graphSvg"]
    assert detail["actions"] == {"stop": True, "shipment": True}
    assert detail["order"]["shipment"]["taskToken"] == HIDDEN
    assert detail["events"][0]["type"] == "ExecutionStarted" and 0 <= detail["events"][0]["elapsedMs"] < 1000
    entered = [(e["execution"], e["state"]) for e in detail["events"] if e["type"] == "TaskStateEntered"]
    assert entered[:2] == [(None, "PrepareOrder"), ("PrepareOrder", "PrepareOrder/ValidateOrder")]
    assert entered[-1] == (None, "RequestShipment")
    elapsed = [e["elapsedMs"] for e in detail["events"]]
    assert elapsed == sorted(elapsed), "the child's events sit among the parent's, by time"
    (child,) = detail["children"]
    assert (child["task"], child["status"], child["source"], child["complete"]) == (
        "PrepareOrder",
        "SUCCEEDED",
        "history",
        True,
    )
    assert child["stateMachineArn"] == order_stack.deployment.preparation_state_machine_arn
    assert detail["states"]["PrepareOrder/Prepared"]["status"] == "succeeded"
    with pytest.raises(NotFoundError):
        console.execution("no-such-order")


def unfolded(value: Any) -> Any:
    """``value`` with its JSON strings parsed, at any depth, as the console's page unfolds them."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return unfolded(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, dict):
        return {key: unfolded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unfolded(item) for item in value]
    return value


def hidden_values(value: Any) -> list[Any]:
    """Every value under a hidden key, wherever it sits."""
    if isinstance(value, dict):
        found = [item for key, item in value.items() if key in HIDDEN_FIELDS]
        return found + [inner for item in value.values() for inner in hidden_values(item)]
    if isinstance(value, list):
        return [inner for item in value for inner in hidden_values(item)]
    return []


def test_no_payment_token_or_task_token_leaves_the_console_for_a_waiting_execution(order_stack, console):
    """The callback task's token is in the history (its parameters) and in the record; the card's in the record."""
    order_id, arn = order_stack.submit(sample_order(paymentToken="tok_console_secret_42"))
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT)
    task_token = order_stack.order(order_id)["shipment"]["taskToken"]
    history = order_stack.stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert task_token in json.dumps(history, default=str), "the raw history holds the task token"

    detail = console.execution(order_id)
    shown = json.dumps(detail, default=str)
    assert task_token not in shown and "tok_console_secret_42" not in shown
    assert set(hidden_values(unfolded(detail))) == {HIDDEN}
    assert detail["order"]["paymentToken"] == HIDDEN
    scheduled = next(e for e in detail["events"] if e["type"] == "TaskScheduled" and e["state"] == "RequestShipment")
    assert scheduled["id"] > 0
    listed = json.dumps(console.executions(search=order_id), default=str)
    assert task_token not in listed and "tok_console_secret_42" not in listed


def test_a_failures_whole_cause_is_shown_as_step_functions_holds_it(order_stack, console):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    described = order_stack.stepfunctions.describe_execution(executionArn=run.execution_arn)
    detail = console.execution(run.order_id)
    assert detail["execution"]["error"] == OrderStatus.PAYMENT_DECLINED
    assert detail["execution"]["cause"] == described["cause"]
    authorize = detail["states"]["PrepareOrder/AuthorizePayment"]
    assert authorize["error"] == "PaymentDeclinedError" and "card declined" in authorize["cause"]
    assert detail["states"]["PrepareOrder/PaymentNotAuthorized"]["status"] == "failed"
    assert detail["states"]["PrepareOrder"]["status"] == "caught"


def start_directly(order_stack, execution_input: Any, **name: str) -> str:
    """An execution the API did not start, as the AWS CLI starts one; returns its ARN once it has ended."""
    arn = order_stack.stepfunctions.start_execution(
        stateMachineArn=order_stack.deployment.state_machine_arn, input=json.dumps(execution_input), **name
    )["executionArn"]
    order_stack.wait_for_execution(arn, deadline=5)
    return arn


def test_executions_it_did_not_start_are_listed_searched_and_shown(order_stack, console):
    """Any name AWS allows, no order of that name, any JSON input: the console shows them as they are."""
    nameless = start_directly(order_stack, {}).rsplit(":", 1)[1]
    odd = start_directly(order_stack, "hello", name="ops.check+1@night!")
    listed = start_directly(order_stack, [1, 2]).rsplit(":", 1)[1]

    rows = console.executions()["executions"]
    assert [row["name"] for row in rows] == [listed, "ops.check+1@night!", nameless]
    assert {(row["status"], row["orderStatus"]) for row in rows} == {("FAILED", None)}
    assert [row["executionArn"] for row in console.executions(search="check+1")["executions"]] == [odd]
    assert console.counts()["counts"]["FAILED"] == 3
    detail = console.execution("ops.check+1@night!")
    assert detail["order"] is None and detail["actions"] == {"stop": False, "shipment": False}
    assert detail["execution"]["input"] == '"hello"'
    assert detail["execution"]["error"] == "States.ResultPathMatchFailure"
    assert detail["states"]["PrepareOrder"]["status"] == "failed"
    assert detail["states"]["PrepareOrder/ValidateOrder"]["status"] == "failed"
    assert console.execution(nameless)["execution"]["error"] == "InvalidExecutionInput"


class ListedExecutions:
    """A Step Functions client that lists the given executions, as any deployed account may hold them."""

    def __init__(self, executions: list[dict[str, Any]]):
        self.executions = executions

    def list_executions(self, **request: Any) -> dict[str, Any]:
        return {"executions": self.executions}


class NoOrders:
    """A DynamoDB client whose orders table is empty; it remembers which keys were read."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.read.append(request["Key"]["orderId"]["S"])
        return {}


def test_an_execution_without_a_name_or_with_a_name_no_order_has_is_listed_without_reading_an_order():
    prefix = "arn:aws:states:us-east-1:123456789012:execution:order-workflow:"
    executions = [
        {"executionArn": prefix + "5b0c1f9e-0d1e-4f6a-9a51-7f0e8c3d2b1a", "status": "RUNNING"},
        {"executionArn": prefix + "ops check", "name": "ops check", "status": "FAILED"},
    ]
    orders = NoOrders()
    service = ConsoleService(
        ListedExecutions(executions), orders, "orders", prefix, OrderApiCaller("http://127.0.0.1:9", FakeOperator())
    )
    try:
        rows = service.executions()["executions"]
    finally:
        service.close()

    assert [(row["name"], row["orderStatus"]) for row in rows] == [
        ("5b0c1f9e-0d1e-4f6a-9a51-7f0e8c3d2b1a", None),
        ("ops check", None),
    ]
    assert orders.read == ["5b0c1f9e-0d1e-4f6a-9a51-7f0e8c3d2b1a"], "only a name an order could have is looked up"


class SecretChildHistories(EngineHistories):
    """The engine's child histories, with a task token and a payment token planted in every child event."""

    def history(self, execution_arn, machine, started) -> ChildHistory:
        read = super().history(execution_arn, machine, started)
        for event in read.events:
            details = next((key for key in event if key.endswith("EventDetails")), None)
            if details:
                event[details] = {**event[details], "taskToken": "AAAA-child-token", "paymentToken": "tok_child_9"}
        return read


def test_the_childs_history_is_scrubbed_like_the_parents(order_stack):
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    service = stack_console(order_stack, child_histories=SecretChildHistories(order_stack.stepfunctions))
    try:
        detail = service.execution(run.order_id)
    finally:
        service.close()
    shown = json.dumps(detail, default=str)
    assert "AAAA-child-token" not in shown and "tok_child_9" not in shown
    assert detail["children"][0]["events"] == len(run.preparation.history)
    assert detail["states"]["PrepareOrder/AuthorizePayment"]["status"] == "caught", "still read after scrubbing"


class UnreadableLogs:
    """A logs client without the right to read the log group."""

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "FilterLogEvents")


def test_a_child_whose_logs_cannot_be_read_is_drawn_and_says_why(order_stack):
    """In AWS the child is Express and its events are in its log group; locally its machine is described as such."""
    run = order_stack.run_order(sample_order(paymentToken="tok_declined"), shipment=None)
    histories = LogGroupHistories(UnreadableLogs(), order_stack.stepfunctions, "/aws/vendedlogs/states/prep")
    service = stack_console(order_stack, child_histories=histories)
    try:
        detail = service.execution(run.order_id)
    finally:
        service.close()
    (child,) = detail["children"]
    assert child["source"] == "" and "AccessDeniedException" in child["note"] and child["events"] == 0
    assert detail["states"]["PrepareOrder"]["status"] == "caught"
    assert 'data-state="PrepareOrder/ValidateOrder" data-status="not-run"' in detail["graphSvg"]


def test_scrubbing_reaches_into_json_strings_and_leaves_the_rest_as_it_was():
    lambda_error = json.dumps({"errorMessage": "boom", "errorType": "RuntimeError", "stackTrace": ["  File x"]})
    cause = json.dumps({"Payload": {"TaskToken": "AAAA", "detail": lambda_error}, "paymentToken": "tok_x"})
    event = {"taskFailedEventDetails": {"error": "States.TaskFailed", "cause": cause}, "id": 7}
    cleaned = scrubbed(event)
    assert "AAAA" not in json.dumps(cleaned) and "tok_x" not in json.dumps(cleaned)
    assert json.loads(json.loads(cleaned["taskFailedEventDetails"]["cause"])["Payload"]["detail"]) == json.loads(
        lambda_error
    )
    nested = json.dumps(json.dumps({"taskToken": "BBBB"}))
    assert "BBBB" not in scrubbed(nested)
    untouched = '{"errorMessage":  "spacing kept",  "n": 1}'
    assert scrubbed({"cause": untouched}) == {"cause": untouched}
    assert scrubbed({"cause": "{not json"}) == {"cause": "{not json"}


def test_an_unreachable_api_is_a_502_not_a_crash(console):
    status, answer = console.order_action("ord-1", "shipment", {"outcome": "SHIPPED", "trackingNumber": "1Z"})
    assert status == 502 and "cannot reach the order API" in answer["message"]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", default="http://127.0.0.1:3000")
    parser.add_argument("--token")
    add_console_arguments(parser)
    return parser.parse_args(argv)


def test_the_entry_point_defaults_to_the_local_stack_and_insists_on_names_for_aws(capsys, monkeypatch):
    local = console_from_arguments(parse(["--port", "0", "--aws-endpoint", "http://127.0.0.1:4566"]))
    assert local.service.state_machine_arn.endswith(":stateMachine:order-workflow")
    assert local.service.execution_arn("ord-1").endswith(":execution:order-workflow:ord-1")
    assert isinstance(local.operator, LocalOperator)
    assert run_console(parse(["--aws", "--orders-table", "orders"])) == 64
    assert "--aws needs --state-machine-arn" in capsys.readouterr().err
    assert isinstance(local.service.child_histories, EngineHistories), "the local engine keeps Express histories"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    deployed = console_from_arguments(
        parse(["--aws", "--orders-table", "t", "--state-machine-arn", "arn:aws:states:eu-west-1:1:stateMachine:w"])
    )
    assert isinstance(deployed.operator, DeployedOperator)
    assert isinstance(deployed.service.child_histories, LogGroupHistories)
    assert deployed.service.child_histories.log_group is None, "by default the child's own logging configuration"
    monkeypatch.setenv("ORDERS_PREPARATION_LOG_GROUP", "/aws/vendedlogs/states/from-env")
    arguments = ["--aws", "--orders-table", "t", "--state-machine-arn", "arn:aws:states:eu-west-1:1:stateMachine:w"]
    assert console_from_arguments(parse(arguments)).service.child_histories.log_group.endswith("from-env")
    given = console_from_arguments(parse([*arguments, "--preparation-log-group", "/aws/vendedlogs/states/prep"]))
    assert given.service.child_histories.log_group == "/aws/vendedlogs/states/prep"


def test_without_an_operator_the_server_acts_as_the_local_one_or_as_the_given_token():
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    clients = session.client("stepfunctions", endpoint_url="http://127.0.0.1:9"), session.client("dynamodb")
    args = (*clients, "orders", "arn", "http://127.0.0.1:9")
    local = ConsoleServer(*args, port=0)
    assert isinstance(local.operator, LocalOperator)
    assert local.operator.cognito.meta.endpoint_url == "http://127.0.0.1:9", "the endpoint the console reads"
    assert isinstance(ConsoleServer(*args, "ops-token", port=0).operator, DeployedOperator)
    cognito = session.client("cognito-idp", endpoint_url="http://127.0.0.1:9")
    assert ConsoleServer(*args, port=0, cognito=cognito).operator.cognito is cognito
