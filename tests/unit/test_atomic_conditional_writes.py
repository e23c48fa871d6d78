"""The local runtime's DynamoDB must keep DynamoDB's promise: one conditional write wins, however many race.

A tiny thread switch interval makes the interpreter switch threads between moto's condition check and its write,
which is where two writers slip through without the fix.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

from local.aws.moto import make_dynamodb_writes_atomic
from tasks.models.order import OrderStatus

from .support import NOW

RACERS = 16
ROUNDS = 12


def test_concurrent_moves_to_one_status_let_exactly_one_through(order_at, orders):
    make_dynamodb_writes_atomic()
    order_ids = [f"order-race-{round_}" for round_ in range(ROUNDS)]
    for order_id in order_ids:
        order_at(OrderStatus.VALIDATED, order_id=order_id)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            moved = {
                order_id: list(
                    pool.map(lambda _, o=order_id: orders.advance(o, OrderStatus.AUTHORIZED, NOW), range(RACERS))
                )
                for order_id in order_ids
            }
    finally:
        sys.setswitchinterval(previous)

    for order_id in order_ids:
        timeline = [entry["status"] for entry in orders.get(order_id)["timeline"]]
        assert moved[order_id].count(True) == 1, order_id
        assert timeline.count("AUTHORIZED") == 1, order_id
