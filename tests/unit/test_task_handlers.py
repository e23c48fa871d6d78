"""The Lambda entry points, called as Lambda calls them: typed input errors that name the field, JSON outputs the
ASL can select from, and payment steps the workflow may repeat, answered from the payments ledger.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from local.aws.awslambda.runner import LocalLambdaContext, function_arn
from local.provisioning import local_function_environment
from local.testkit.fixtures import sample_order
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.errors import (
    InvalidOrderStateError,
    InvalidTaskInputError,
    OrderValidationError,
    PaymentProviderTransientError,
)
from tasks.handlers.runtime import metrics
from tasks.models.order import OrderStatus
from workflows.resources import (
    API,
    AUTHORIZE_PAYMENT,
    CAPTURE_PAYMENT,
    RECORD_FAILURE,
    RELEASE_INVENTORY,
    REQUEST_SHIPMENT,
    RESERVE_INVENTORY,
    VALIDATE_ORDER,
    VOID_OR_REFUND_PAYMENT,
    WORKFLOW_FUNCTIONS,
    FunctionSpec,
)

from .support import NOW, ORDER_ID, SAMPLE_TOTAL_CENTS, placed_order

Invoke = Callable[[FunctionSpec, Any], dict[str, Any]]
TOKEN = "task-token-1"


@pytest.fixture
def invoke(tables, monkeypatch) -> Invoke:
    """``invoke(spec, event)`` runs the function's handler in-process with the environment it is deployed with."""
    for name, value in local_function_environment().items():
        monkeypatch.setenv(name, value)

    def run(spec: FunctionSpec, event: Any) -> dict[str, Any]:
        handler = getattr(importlib.import_module(spec.module), spec.attribute)
        context = LocalLambdaContext(
            function_name=spec.logical_name,
            invoked_function_arn=function_arn(spec.logical_name),
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
        )
        return handler(event, context)

    return run


def authorization_event(amount_cents: int = SAMPLE_TOTAL_CENTS) -> dict[str, Any]:
    """What the ASL passes AuthorizePayment: no payment token, which the task reads from the order record."""
    return {"orderId": ORDER_ID, "amountCents": amount_cents, "currency": "USD"}


def id_field(spec: FunctionSpec) -> str:
    """ValidateOrder receives the whole order, RecordFailure the failed execution; every other task the order id."""
    return {VALIDATE_ORDER.logical_name: "order", RECORD_FAILURE.logical_name: "execution"}.get(
        spec.logical_name, "orderId"
    )


def failed_execution(status: str, error: str, cause: str, **compensations: Any) -> dict[str, Any]:
    """What a failure route of the ASL passes RecordFailure."""
    execution = {"orderId": ORDER_ID, "error": {"Error": error, "Cause": cause}, **compensations}
    return {"status": status, "execution": execution}


MALFORMED_FIELD = {
    VALIDATE_ORDER.logical_name: ({"order": ["not", "an", "object"]}, "order"),
    AUTHORIZE_PAYMENT.logical_name: ({**authorization_event(), "amountCents": "a lot"}, "amountCents"),
    RESERVE_INVENTORY.logical_name: ({"orderId": ORDER_ID, "lines": "every line"}, "lines"),
    REQUEST_SHIPMENT.logical_name: ({"orderId": ORDER_ID, "shippingAddress": {}, "lines": []}, "taskToken"),
    CAPTURE_PAYMENT.logical_name: (
        {"orderId": ORDER_ID, "authorizationId": "a", "amountCents": 1, "currency": "USD", "trackingNumber": 42},
        "trackingNumber",
    ),
    VOID_OR_REFUND_PAYMENT.logical_name: ({"orderId": [ORDER_ID]}, "orderId"),
    RELEASE_INVENTORY.logical_name: ({"orderId": "has spaces in it"}, "orderId"),
    RECORD_FAILURE.logical_name: (failed_execution("NOT_A_STATUS", "E", "cause"), "status"),
}


def bad_inputs(spec: FunctionSpec) -> dict[str, tuple[Any, str]]:
    """Name of the case → (event, the field its error must name)."""
    return {
        "null event": (None, "event"),
        "list event": ([], "event"),
        "string event": ("orderId", "event"),
        "number event": (42, "event"),
        "missing id": ({}, id_field(spec)),
        "id of the wrong type": ({id_field(spec): 123}, id_field(spec)),
        "malformed field": MALFORMED_FIELD[spec.logical_name],
    }


@pytest.mark.parametrize("spec", WORKFLOW_FUNCTIONS, ids=lambda spec: spec.logical_name)
def test_bad_input_is_an_invalid_task_input_error_naming_the_field_and_writes_nothing(
    invoke, order_at, table_contents, subtests, spec
):
    """Never a KeyError or TypeError: the workflow's Catch sees a named error, and the execution history says why."""
    order_at(OrderStatus.VALIDATED)
    before = table_contents()

    for case, (event, field) in bad_inputs(spec).items():
        with subtests.test(case):
            with pytest.raises(InvalidTaskInputError) as refused:
                invoke(spec, event)

            assert f"{field}: " in str(refused.value)
            assert table_contents() == before


def test_a_malformed_order_reaches_validate_order_and_is_rejected_by_name(invoke):
    """Inside a well-formed event, the order's own problems are OrderValidationError: the ASL rejects the order."""
    order = {**placed_order().workflow_input(), "items": [{"sku": "KB-TKL-01", "quantity": 0}]}

    with pytest.raises(OrderValidationError) as refused:
        invoke(VALIDATE_ORDER, {"order": order})

    assert [problem.split(": ", 1)[0] for problem in refused.value.problems] == ["items[0].quantity"]


def test_the_api_refuses_an_order_with_an_unknown_sku_up_front_naming_its_line(invoke, tables):
    """A 422 at once, instead of a 202 and an order REJECTED by ValidateOrder later; nothing is recorded."""
    items = [{"sku": "KB-TKL-01", "quantity": 1}, {"sku": "NO-SUCH-SKU", "quantity": 1}]
    event = {
        "httpMethod": "POST",
        "path": "/orders",
        "resource": "/orders",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(sample_order(items=items)),
        "requestContext": {"authorizer": {"claims": {"sub": "sub-ada"}}, "httpMethod": "POST", "path": "/orders"},
    }

    answer = invoke(API, event)

    assert answer["statusCode"] == 422
    assert json.loads(answer["body"])["problems"] == ["body.items[1].sku: unknown SKU NO-SUCH-SKU"]
    assert tables.scan(TableName="orders")["Items"] == []
    assert tables.scan(TableName="idempotency")["Items"] == []


def test_the_happy_path_handlers_return_what_the_asl_selects(invoke, orders, ledger):
    orders.create(placed_order(), NOW)
    order = placed_order().workflow_input()

    pricing = invoke(VALIDATE_ORDER, {"order": order})
    authorization = invoke(AUTHORIZE_PAYMENT, authorization_event(pricing["totalCents"]))
    reservation = invoke(RESERVE_INVENTORY, {"orderId": ORDER_ID, "lines": pricing["lines"]})
    waiting = invoke(
        REQUEST_SHIPMENT,
        {
            "orderId": ORDER_ID,
            "taskToken": TOKEN,
            "shippingAddress": order["shippingAddress"],
            "lines": pricing["lines"],
        },
    )
    capture = invoke(
        CAPTURE_PAYMENT,
        {
            "orderId": ORDER_ID,
            "authorizationId": authorization["authorizationId"],
            "amountCents": pricing["totalCents"],
            "currency": pricing["currency"],
            "trackingNumber": "1Z999",
        },
    )

    assert (pricing["totalCents"], pricing["currency"], len(pricing["lines"])) == (SAMPLE_TOTAL_CENTS, "USD", 2)
    assert authorization["authorizationId"].startswith("auth_")
    assert reservation == {"reservedUnits": 3}
    assert waiting == {"orderId": ORDER_ID, "status": "AWAITING_SHIPMENT"}
    assert capture == {"captureId": capture["captureId"], "status": "COMPLETED"}
    record = orders.get(ORDER_ID)
    assert [entry["status"] for entry in record["timeline"]] == [
        "RECEIVED",
        "VALIDATED",
        "AUTHORIZED",
        "AWAITING_SHIPMENT",
        "SHIPPED",
        "COMPLETED",
    ]
    assert set(ledger.entries(ORDER_ID)) == {LedgerEntryKind.AUTHORIZATION, LedgerEntryKind.CAPTURE}


def test_the_compensation_handlers_undo_and_record_the_failure(invoke, order_at, orders, stock_of):
    order_at(OrderStatus.VALIDATED)
    invoke(AUTHORIZE_PAYMENT, authorization_event())
    lines = [{"sku": "KB-TKL-01", "name": "Keyboard", "quantity": 2, "unitPriceCents": 8999, "lineTotalCents": 17998}]
    invoke(RESERVE_INVENTORY, {"orderId": ORDER_ID, "lines": lines})

    voided = invoke(VOID_OR_REFUND_PAYMENT, {"orderId": ORDER_ID})
    released = invoke(RELEASE_INVENTORY, {"orderId": ORDER_ID})
    recorded = invoke(
        RECORD_FAILURE,
        failed_execution(
            "CANCELLED",
            "OrderCancelledError",
            "changed mind",
            paymentCompensation=voided,
            inventoryCompensation=released,
        ),
    )

    assert (voided, released) == ({"action": "VOIDED"}, {"action": "RELEASED"})
    assert recorded == {"orderId": ORDER_ID, "status": "CANCELLED", "compensationFailures": 0}
    assert orders.get(ORDER_ID)["compensations"] == {"payment": "VOIDED", "inventory": "RELEASED"}
    assert stock_of("KB-TKL-01") == 40


def test_a_repeated_authorize_payment_is_answered_without_reaching_the_provider_again(
    invoke, order_at, ledger, provider, monkeypatch
):
    order_at(OrderStatus.VALIDATED)
    monkeypatch.setattr(importlib.import_module(AUTHORIZE_PAYMENT.module), "payment_provider", lambda: provider)

    first = invoke(AUTHORIZE_PAYMENT, authorization_event())
    again = invoke(AUTHORIZE_PAYMENT, authorization_event())

    assert again == first
    assert provider.calls == [("authorize", ORDER_ID)]
    assert list(ledger.entries(ORDER_ID)) == [LedgerEntryKind.AUTHORIZATION]


def test_a_failed_authorization_is_not_remembered_so_the_workflow_retry_reaches_the_provider(invoke, order_at, ledger):
    order_at(OrderStatus.VALIDATED, payment_token="tok_flaky")

    for _ in range(2):
        with pytest.raises(PaymentProviderTransientError):
            invoke(AUTHORIZE_PAYMENT, authorization_event())
    approved = invoke(AUTHORIZE_PAYMENT, authorization_event())

    assert ledger.entries(ORDER_ID)[LedgerEntryKind.AUTHORIZATION].reference == approved["authorizationId"]


def test_a_repeated_authorize_payment_with_another_amount_is_refused(invoke, order_at, ledger):
    order_at(OrderStatus.VALIDATED)
    invoke(AUTHORIZE_PAYMENT, authorization_event(SAMPLE_TOTAL_CENTS))

    with pytest.raises(InvalidOrderStateError, match=f"not {SAMPLE_TOTAL_CENTS + 1} USD"):
        invoke(AUTHORIZE_PAYMENT, authorization_event(SAMPLE_TOTAL_CENTS + 1))

    assert ledger.entries(ORDER_ID)[LedgerEntryKind.AUTHORIZATION].amount_cents == SAMPLE_TOTAL_CENTS


def test_a_repeated_void_or_refund_answers_what_the_first_one_did(invoke, order_at, ledger):
    """The ledger keeps what was done, so a repeat answers it without reaching the provider again."""
    order_at(OrderStatus.VALIDATED)
    invoke(AUTHORIZE_PAYMENT, authorization_event())

    answers = [invoke(VOID_OR_REFUND_PAYMENT, {"orderId": ORDER_ID}) for _ in range(2)]

    assert answers == [{"action": "VOIDED"}, {"action": "VOIDED"}]
    assert LedgerEntryKind.VOID in ledger.entries(ORDER_ID)


def test_metrics_do_not_pile_up_across_invocations_when_publishing_is_disabled(invoke, capsys):
    """Powertools keeps unpublished metrics; a hundred failures must not leak into, or print from, the next call."""
    for index in range(101):
        event = failed_execution("FAILED", "Boom", "test")
        event["execution"]["orderId"] = f"order-metrics-{index}"
        invoke(RECORD_FAILURE, event)

    assert metrics.metric_set == {}
    assert "CloudWatchMetrics" not in capsys.readouterr().out
