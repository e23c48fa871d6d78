"""Shoppers' requests served at the same time stay theirs: the API's containers resolve concurrently (locally, one
thread each), and each order is recorded for, and readable by, only the shopper whose token sent it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from local.aws.cognitoidp.identity import unverified_claims
from local.testkit.fixtures import sample_order
from tests.integration.service import OrdersService

CONCURRENT_ORDERS = 16
"""Twice the local API's containers, so every container serves requests of both shoppers at once."""
ONE_CABLE = sample_order(items=[{"sku": "CBL-USBC-2M", "quantity": 1}])
"""The most plentiful product of the seed catalog: these orders leave the other tests' stock alone."""


def _subject(service: OrdersService) -> str:
    return unverified_claims(service.tokens.token(service.user))["sub"]


def test_orders_two_shoppers_place_at_once_are_each_recorded_for_the_shopper_who_sent_it(service):
    ada, grace = service.as_user(service.users.shopper), service.as_user(service.users.other_shopper)
    senders = [(ada, grace) if n % 2 == 0 else (grace, ada) for n in range(CONCURRENT_ORDERS)]

    with ThreadPoolExecutor(max_workers=CONCURRENT_ORDERS) as pool:
        placed = list(pool.map(lambda pair: pair[0].request("POST", "/orders", ONE_CABLE), senders))

    assert [response.status for response in placed] == [202] * CONCURRENT_ORDERS, [r.body for r in placed]
    for (sender, other), response in zip(senders, placed, strict=True):
        order_id = response.body["orderId"]
        assert sender.request("GET", f"/orders/{order_id}").body["customerId"] == _subject(sender)
        assert other.request("GET", f"/orders/{order_id}").status == 404
