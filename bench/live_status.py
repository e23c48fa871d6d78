"""Live order status: how long a status change takes to reach a shopper's socket, and whether every change arrives.

One bench shopper keeps a socket open (``websockets``' client, as a storefront's page would) while it places orders a
few at a time on a fresh stack whose warehouse ships at once. Each message's delay runs from the status's timeline
entry (``at``, written by the task that changed it) to the message's arrival: the stream, the publisher, the bus's
rule, the push function and the post to the socket. Both clocks are this machine's.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from websockets.sync.client import connect

from bench.load import epoch_seconds, order_body, percentile
from bench.service import BenchStack, start_stack
from tasks.models.order import TERMINAL_STATUSES

LIVE_STATUS_SKU = "BENCH-LIVE-STATUS"
IN_FLIGHT = 4
DEADLINE_SECONDS = 120.0


def measure_push_latency(orders: int) -> dict[str, Any]:
    """Place ``orders`` with a socket open; the delay of each change over it, and the changes that never came.

    Example
    -------
    >>> measure_push_latency(20)["push_p95_ms"]  # doctest: +SKIP
    """
    with start_stack("live-status", warehouse_delay="0") as stack:
        return _measure(stack, orders)


def _measure(stack: BenchStack, orders: int) -> dict[str, Any]:
    stack.put_product(LIVE_STATUS_SKU, 10**9)
    [shopper] = stack.shoppers(1)
    received: list[tuple[float, dict[str, Any]]] = []
    sequences: dict[str, set[int]] = {}
    final: dict[str, int] = {}
    finished: set[str] = set()
    all_finished = threading.Event()
    placed: list[str] = []
    with connect(f"{stack.websocket_url}/?token={shopper.token}", open_timeout=30) as socket:

        def listen() -> None:
            for message in socket:
                change = json.loads(message)
                received.append((time.time(), change))
                order_id = change["orderId"]
                sequences.setdefault(order_id, set()).add(change["sequence"])
                if change["status"] in TERMINAL_STATUSES:
                    final[order_id] = change["sequence"]
                if order_id in final and sequences[order_id] >= set(range(1, final[order_id] + 1)):
                    finished.add(order_id)
                    if len(finished) == orders:
                        all_finished.set()

        listener = threading.Thread(target=listen, name="live-status listener", daemon=True)
        listener.start()

        def place(_: int) -> Any:
            return stack.api.request("POST", "/orders", order_body(LIVE_STATUS_SKU), caller=shopper)

        with ThreadPoolExecutor(max_workers=IN_FLIGHT) as clients:
            answers = clients.map(place, range(orders))
            placed = [answer.body["orderId"] for answer in answers if answer.status == 202]
        all_finished.wait(DEADLINE_SECONDS)
    delays_ms = [(arrived - epoch_seconds(change["at"])) * 1000 for arrived, change in received]
    missing = sum(final.get(order_id, max(seen)) - len(seen) for order_id, seen in sequences.items())
    return {
        "orders": orders,
        "placed": len(placed),
        "finished": len(finished),
        "unfinished": len(set(placed) - finished),
        "messages": len(received),
        "missing_changes": missing + len(set(placed) - set(sequences)),
        "push_p50_ms": round(percentile(delays_ms, 0.5), 1),
        "push_p95_ms": round(percentile(delays_ms, 0.95), 1),
        "push_max_ms": round(max(delays_ms), 1) if delays_ms else None,
    }
