"""The per-shopper order limit as a storefront meets it over HTTP, on a local stack of its own that keeps the limits
``orders up`` starts with (the suite's shared stack raises them: its tests place far more orders than a shopper)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.testkit.fixtures import sample_order
from tests.integration.service import OrdersService, start_local_service, stop_local_service
from workflows.resources import SHOPPER_ORDER_LIMIT, STAGE_THROTTLE

ONE_CABLE = sample_order(items=[{"sku": "CBL-USBC-2M", "quantity": 1}])
MINUTE_WINDOWS_AT_MOST = 2
"""Orders take well under a second each here, so the loop below spans at most one minute boundary."""


@pytest.fixture
def default_limits(local_only: OrdersService) -> Iterator[OrdersService]:
    """``orders up`` with the deployed order limit and AWS's stage throttle."""
    defaults = {
        "ORDERS_SHOPPER_ORDERS_PER_MINUTE": str(SHOPPER_ORDER_LIMIT.per_minute),
        "ORDERS_SHOPPER_ORDERS_PER_DAY": str(SHOPPER_ORDER_LIMIT.per_day),
        "ORDERS_STAGE_RATE_LIMIT": str(STAGE_THROTTLE.rate_limit),
        "ORDERS_STAGE_BURST_LIMIT": str(STAGE_THROTTLE.burst_limit),
    }
    service = start_local_service(defaults)
    yield service
    assert stop_local_service(service) == 0


def test_a_shopper_past_the_minutes_limit_gets_429_with_retry_after_while_replays_and_other_shoppers_go_on(
    default_limits,
):
    ada = default_limits.as_user(default_limits.users.shopper)
    grace = default_limits.as_user(default_limits.users.other_shopper)
    first = ada.request("POST", "/orders", ONE_CABLE, {"Idempotency-Key": "limits-first-order"})
    assert first.status == 202, first.body

    answers = []
    for _ in range(MINUTE_WINDOWS_AT_MOST * SHOPPER_ORDER_LIMIT.per_minute):
        answers.append(ada.request("POST", "/orders", ONE_CABLE))
        if answers[-1].status != 202:
            break
    refused = answers[-1]
    replay = ada.request("POST", "/orders", ONE_CABLE, {"Idempotency-Key": "limits-first-order"})
    other = grace.request("POST", "/orders", ONE_CABLE)

    assert refused.status == 429, [answer.status for answer in answers]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.body["error"] == "Too Many Requests"
    assert f"{SHOPPER_ORDER_LIMIT.per_minute} a minute" in refused.body["message"]
    assert (replay.status, replay.body["orderId"]) == (202, first.body["orderId"]), "a replay is never refused"
    assert other.status == 202, "another shopper has counters of their own"
