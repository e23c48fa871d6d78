"""The console's reads and its entry point, on the in-process order service (no HTTP, no browser)."""

from __future__ import annotations

import argparse

import pytest

from local.console.server import add_console_arguments, console_from_arguments, run_console
from local.console.service import ConsoleService, NotFoundError
from local.testing import sample_order
from tasks.models.order import OrderStatus

pytestmark = pytest.mark.workflow


@pytest.fixture
def console(order_stack) -> ConsoleService:
    service = ConsoleService(
        order_stack.stepfunctions,
        order_stack.dynamodb,
        order_stack.deployment.table_names["Orders"],
        order_stack.deployment.state_machine_arn,
        "http://127.0.0.1:9",
    )
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


def test_the_detail_holds_graph_states_events_and_order_but_never_the_task_token(order_stack, console):
    order_id, _ = order_stack.submit(sample_order())
    order_stack.wait_for_status(order_id, OrderStatus.AWAITING_SHIPMENT)
    detail = console.execution(order_id)
    assert detail["execution"]["status"] == "RUNNING"
    assert detail["states"]["RequestShipment"]["status"] == "running"
    assert 'data-state="RequestShipment" data-status="running"' in detail["graphSvg"]
    assert detail["actions"] == {"stop": True, "shipment": True}
    assert detail["order"]["shipment"]["taskToken"] == "(hidden)"
    assert detail["events"][0]["type"] == "ExecutionStarted" and 0 <= detail["events"][0]["elapsedMs"] < 1000
    entered = next(e for e in detail["events"] if e["type"] == "TaskStateEntered")
    assert entered["state"] == "ValidateOrder"
    with pytest.raises(NotFoundError):
        console.execution("no-such-order")


def test_an_unreachable_api_is_a_502_not_a_crash(console):
    status, answer = console.order_action("ord-1", "shipment", {"outcome": "SHIPPED", "trackingNumber": "1Z"})
    assert status == 502 and "cannot reach the order API" in answer["message"]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", default="http://127.0.0.1:3000")
    parser.add_argument("--token")
    add_console_arguments(parser)
    return parser.parse_args(argv)


def test_the_entry_point_defaults_to_the_local_stack_and_insists_on_names_for_aws(capsys):
    local = console_from_arguments(parse(["--port", "0", "--aws-endpoint", "http://127.0.0.1:4566"]))
    assert local.service.state_machine_arn.endswith(":stateMachine:order-workflow")
    assert local.service.execution_arn("ord-1").endswith(":execution:order-workflow:ord-1")
    assert run_console(parse(["--aws", "--orders-table", "orders"])) == 2
    assert "--aws needs --state-machine-arn" in capsys.readouterr().err
