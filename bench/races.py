"""Races: one shopper posts one Idempotency-Key 50 times at once, and 100 concurrent orders race for 10 units.

Keys belong to their caller, so the duplicate race is one shopper's: only the same key from the same ``sub`` names the
same order. The stock race spreads its orders over the bench shoppers, each order with its own key.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.load import drive, order_body
from bench.service import BenchStack

DUPLICATE_POSTS = 50
RACE_ORDERS, RACE_STOCK = 100, 10
RETRIES = 5
"""The local API runs at most 8 containers with a 10 s timeout, so some of 100 simultaneous POSTs time out (502);
each order carries its own Idempotency-Key and is resent, as a real client would, so all 100 take part."""


def duplicate_submissions(stack: BenchStack) -> dict[str, Any]:
    """50 concurrent POSTs of one body with one Idempotency-Key by one shopper: how many orders came of it.

    Example
    -------
    >>> duplicate_submissions(stack)["duplicate_orders_created"]  # doctest: +SKIP
    1
    """
    key = f"bench-race-{uuid.uuid4().hex[:12]}"
    body = order_body("BENCH-THROUGHPUT")
    shopper = stack.shoppers(1)[0]
    with ThreadPoolExecutor(max_workers=DUPLICATE_POSTS) as pool:
        responses = list(
            pool.map(
                lambda _: stack.api.request("POST", "/orders", body, headers={"Idempotency-Key": key}, caller=shopper),
                range(DUPLICATE_POSTS),
            )
        )
    order_ids = {response.body["orderId"] for response in responses if response.status == 202}
    stored = [
        item
        for item in stack.scan("orders", projection="orderId, customerId, idempotencyKey")
        if item.get("idempotencyKey") == key
    ]
    return {
        "posts": DUPLICATE_POSTS,
        "statuses": sorted({response.status for response in responses}),
        "distinct_order_ids": len(order_ids),
        "duplicate_orders_created": len(stored),
        "stored_for_the_shopper": all(item.get("customerId") == shopper.sub for item in stored),
    }


def stock_race(stack: BenchStack) -> dict[str, Any]:
    """100 orders of one unit each, all in flight at once, for a SKU with stock 10: exactly 10 units may be reserved.

    ``stock_race_reserved`` counts the units held by reservations at the end. It falls short of 10 only when an
    order that had reserved was then compensated (it fails under the burst, say, and releases its units after the
    others were refused); ``stock_conserved`` then shows nothing was oversold, ``statuses`` how the orders ended and
    ``failures`` why, other than for stock, any of them failed.

    Example
    -------
    >>> stock_race(stack)["stock_race_reserved"]  # doctest: +SKIP
    10
    """
    sku = f"BENCH-RACE-{uuid.uuid4().hex[:6].upper()}"
    keys = [f"{sku}-{index}" for index in range(RACE_ORDERS)]
    stack.put_product(sku, RACE_STOCK)
    started = time.monotonic()
    run = drive(
        stack,
        RACE_ORDERS,
        lambda index: order_body(sku),
        shoppers=stack.shoppers(),
        in_flight=RACE_ORDERS,
        clients=RACE_ORDERS,
        label="stock race",
        deadline_seconds=240,
        headers=lambda index: {"Idempotency-Key": keys[index]},
        retries=RETRIES,
    )
    reservations = [(submission.outcome or {}).get("reservation") or {} for submission in run.accepted]
    still_reserved = [reservation for reservation in reservations if reservation.get("status") == "RESERVED"]
    held_units = sum(int(line["quantity"]) for reservation in still_reserved for line in reservation.get("lines", []))
    final_stock = stack.stock(sku)
    statuses = Counter(submission.final_status for submission in run.accepted)
    failures = Counter(
        f"{failure.get('error')}: {failure.get('cause', '')[:160]}"
        for submission in run.accepted
        if (failure := (submission.outcome or {}).get("failure")) and submission.final_status != "OUT_OF_STOCK"
    )
    return {
        "orders": RACE_ORDERS,
        "stock": RACE_STOCK,
        "settled": run.settled,
        "accepted": len(run.accepted),
        "retried_after_5xx": run.retried,
        "seconds": round(time.monotonic() - started, 1),
        "stock_race_reserved": held_units,
        "stock_conserved": held_units + final_stock == RACE_STOCK,
        "statuses": dict(sorted(statuses.items(), key=lambda item: str(item[0]))),
        "final_stock": final_stock,
        "failures": dict(failures),
    }
