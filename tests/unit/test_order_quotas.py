"""The per-shopper order limit: new orders count in a minute and a day window, checked together in DynamoDB; a refused
order writes nothing and says when to come back; a repeat with the key of a placed order counts nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.aws.apigateway.gateway import proxy_event
from local.aws.awslambda.runner import LocalLambdaContext, function_arn
from local.provisioning import local_table_names
from local.testkit.fixtures import sample_order
from tasks.adapters.dynamodb import from_item, to_item
from tasks.adapters.order_quotas import DynamoDBOrderQuotas, QuotaWindow
from tasks.adapters.workflow import ExecutionStartError
from tasks.errors import OrderRateLimitedError, WorkflowUnavailableError
from tasks.logic.access import Principal
from tasks.logic.ordering import submit_order
from tasks.logic.quotas import OrderQuota, counters_at
from tasks.models.order import OrderRequest
from workflows.resources import (
    API,
    CORS_ALLOWED_ORIGINS_ENV,
    ORDER_QUOTAS_TABLE,
    SHOPPER_ORDER_LIMIT,
    OrderRateLimit,
    function_environment,
    route_for,
)

from .support import FakeOrderWorkflow

ADA = Principal("sub-ada")
GRACE = Principal("sub-grace")
SMALL = OrderRateLimit(per_minute=2, per_day=3)
"""Small enough to reach in a few orders; the deployed defaults have tests of their own below."""
MINUTE_START = "2026-03-01T10:00:00.000Z"
LATE_IN_THE_MINUTE = "2026-03-01T10:00:45.250Z"
NEXT_MINUTE = "2026-03-01T10:01:05.000Z"
LATER_THAT_DAY = "2026-03-01T22:00:00.000Z"
"""Two hours before the UTC day ends: 7,200 seconds."""
STOREFRONT = "https://shop.example.com"


class WorkflowThatFailsOnce(FakeOrderWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        if self.failures_left:
            self.failures_left -= 1
            raise ExecutionStartError("StartExecution: ThrottlingException", may_have_started=False)
        return super().start(order_id, execution_input)


@pytest.fixture
def counters(tables: Any) -> DynamoDBOrderQuotas:
    return DynamoDBOrderQuotas(ORDER_QUOTAS_TABLE.local_name, client=tables)


@pytest.fixture
def place(orders: Any, keys: Any, counters: DynamoDBOrderQuotas):
    """``place(now, caller=ADA, key=None, limit=SMALL, workflow=...)`` submits the sample order as the API does."""

    def submit(
        now: str,
        caller: Principal = ADA,
        key: str | None = None,
        limit: OrderRateLimit = SMALL,
        workflow: FakeOrderWorkflow | None = None,
    ):
        return submit_order(
            OrderRequest.model_validate(sample_order()),
            caller,
            key,
            orders=orders,
            keys=keys,
            workflow=workflow or FakeOrderWorkflow(),
            now=now,
            quota=OrderQuota(counters, limit),
        )

    return submit


def counter_item(tables: Any, customer_id: str, now: str) -> dict[str, Any]:
    key = counters_at(customer_id, now).key
    return from_item(tables.get_item(TableName=ORDER_QUOTAS_TABLE.local_name, Key=key, ConsistentRead=True)["Item"])


def test_past_the_minute_limit_a_new_order_gets_the_seconds_to_the_minutes_end_and_writes_nothing(
    place, table_contents
):
    place(MINUTE_START)
    place(MINUTE_START)
    before = table_contents()
    workflow = FakeOrderWorkflow()

    with pytest.raises(OrderRateLimitedError, match="2 a minute") as refused:
        place(LATE_IN_THE_MINUTE, workflow=workflow)

    assert refused.value.retry_after_seconds == 15, "10:00:45.250 → the minute ends at 10:01:00"
    assert table_contents() == before, "no order, no key, no counter changed"
    assert workflow.calls == [], "no execution started"


def test_the_next_minute_takes_orders_again_until_the_day_limit_which_waits_for_the_days_end(place, table_contents):
    place(MINUTE_START)
    place(MINUTE_START)
    place(NEXT_MINUTE)
    before = table_contents()

    with pytest.raises(OrderRateLimitedError, match="3 a day") as refused:
        place(LATER_THAT_DAY)

    assert refused.value.retry_after_seconds == 7200
    assert table_contents() == before


def test_both_windows_count_in_one_item_that_expires_with_its_day(place, tables):
    place(MINUTE_START)
    place(NEXT_MINUTE)

    item = counter_item(tables, ADA.subject, NEXT_MINUTE)
    ttl = tables.describe_time_to_live(TableName=ORDER_QUOTAS_TABLE.local_name)["TimeToLiveDescription"]

    assert item["dayOrders"] == 2
    assert item["minuteOrders"] == 1, "the new minute counts from one"
    assert item["expiration"] == counters_at(ADA.subject, NEXT_MINUTE).day_ends == 1772409600  # 2026-03-02T00:00Z
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}


def test_a_repeat_with_the_key_of_a_placed_order_counts_nothing_and_is_never_refused(place, tables):
    first = place(MINUTE_START, key="checkout-1")
    place(MINUTE_START)

    repeats = [place(LATE_IN_THE_MINUTE, key="checkout-1") for _ in range(3)]

    assert {repeat.orderId for repeat in repeats} == {first.orderId}
    assert counter_item(tables, ADA.subject, MINUTE_START)["minuteOrders"] == 2
    with pytest.raises(OrderRateLimitedError):
        place(LATE_IN_THE_MINUTE, key="checkout-2")


def test_a_refused_order_keeps_its_key_for_the_same_body_and_is_placed_by_a_retry_after_the_window(place, orders):
    place(MINUTE_START)
    place(MINUTE_START)
    with pytest.raises(OrderRateLimitedError):
        place(LATE_IN_THE_MINUTE, key="checkout-3")

    retried = place(NEXT_MINUTE, key="checkout-3")

    assert orders.get(retried.orderId)["status"] == "RECEIVED"


def test_another_shoppers_orders_are_counted_apart(place, tables):
    place(MINUTE_START)
    place(MINUTE_START)

    grace = place(LATE_IN_THE_MINUTE, caller=GRACE)

    assert grace.status == "RECEIVED"
    assert counter_item(tables, GRACE.subject, MINUTE_START)["minuteOrders"] == 1
    assert counter_item(tables, ADA.subject, MINUTE_START)["minuteOrders"] == 2


def test_an_order_whose_start_failed_is_given_back(place, tables):
    with pytest.raises(WorkflowUnavailableError):
        place(MINUTE_START, key="checkout-4", workflow=WorkflowThatFailsOnce())
    assert counter_item(tables, ADA.subject, MINUTE_START)["dayOrders"] == 0

    place(MINUTE_START, key="checkout-4")
    place(MINUTE_START)

    assert counter_item(tables, ADA.subject, MINUTE_START)["minuteOrders"] == 2


def test_the_deployed_day_limit_refuses_the_201st_order_of_a_day(counters, tables):
    counters_then = counters_at(ADA.subject, MINUTE_START)
    tables.put_item(
        TableName=ORDER_QUOTAS_TABLE.local_name,
        Item={**counters_then.key, **to_item({"dayOrders": 199, "minute": counters_then.minute - 60})},
    )

    assert counters.count(counters_then, SHOPPER_ORDER_LIMIT) is None
    assert counters.count(counters_then, SHOPPER_ORDER_LIMIT) is QuotaWindow.DAY
    assert counter_item(tables, ADA.subject, MINUTE_START)["dayOrders"] == 200


def test_a_minute_a_container_with_a_later_clock_started_is_counted_in_not_overwritten(counters, tables):
    late, early = counters_at(ADA.subject, NEXT_MINUTE), counters_at(ADA.subject, MINUTE_START)
    assert counters.count(late, SMALL) is None

    assert counters.count(early, SMALL) is None
    assert counters.count(early, SMALL) is QuotaWindow.MINUTE
    assert counter_item(tables, ADA.subject, NEXT_MINUTE)["minute"] == late.minute


def test_the_api_function_is_deployed_with_ten_orders_a_minute_and_two_hundred_a_day():
    deployed = OrderRateLimit.from_environment(function_environment(API, local_table_names(), "arn"))

    assert deployed == SHOPPER_ORDER_LIMIT
    assert deployed.per_minute == 10
    assert deployed.per_day == 200


def test_the_api_answers_the_eleventh_order_of_a_minute_429_with_retry_after_a_storefront_may_read(tables, monkeypatch):
    from tasks.handlers import api

    for name, value in function_environment(API, local_table_names(), "arn:aws:states:::order-workflow").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(CORS_ALLOWED_ORIGINS_ENV, STOREFRONT)
    monkeypatch.setattr(api, "now_iso", lambda: LATE_IN_THE_MINUTE)
    monkeypatch.setattr(api, "order_workflow", FakeOrderWorkflow)
    event = proxy_event(
        route_for("POST", "/orders"),
        "POST",
        "/orders",
        "",
        {"Content-Type": "application/json", "Origin": STOREFRONT},
        json.dumps(sample_order()),
        "127.0.0.1",
        claims={"sub": "sub-ada", "token_use": "id"},
    )
    context = LocalLambdaContext(API.logical_name, function_arn(API.logical_name), API.memory_mb, API.timeout_seconds)

    answers = [api.handler(event, context) for _ in range(11)]

    assert [answer["statusCode"] for answer in answers] == [202] * 10 + [429]
    refused = answers[-1]
    headers = {**refused.get("headers", {}), **{k: v[-1] for k, v in (refused.get("multiValueHeaders") or {}).items()}}
    assert headers["Retry-After"] == "15"
    assert headers["Access-Control-Allow-Origin"] == STOREFRONT
    assert headers["Access-Control-Expose-Headers"] == "Retry-After", "a storefront's script may read it"
    body = json.loads(refused["body"])
    assert body["error"] == "Too Many Requests"
    assert "10 a minute" in body["message"] and "Retry after 15 s" in body["message"]
