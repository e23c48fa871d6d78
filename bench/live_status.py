"""Live order status: how long a status change takes to reach a shopper's socket, and whether every change arrives.

``SHOPPERS`` bench shoppers each keep a socket open (``websockets``' client, as a storefront's page would) on a fresh
stack whose warehouse ships at once, and each places orders one after another: the next once every change of the last
has come over the socket. So at most ``SHOPPERS`` orders are unfinished at any time, as shoppers watching their orders
keep it; a burst of orders that outruns the stack measures its queue instead (the long run does that). Each message's
delay runs from the status's timeline entry (``at``, written by the task that changed it) to the message's arrival:
the stream, the publisher, the bus's rule, the push function and the post to the socket. Both clocks are this
machine's.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.client import connect

from bench.load import epoch_seconds, order_body, percentile
from bench.service import BenchStack, Shopper, start_stack
from tasks.models.order import TERMINAL_STATUSES

LIVE_STATUS_SKU = "BENCH-LIVE-STATUS"
SHOPPERS = 4
ORDER_DEADLINE_SECONDS = 60.0
"""How long a shopper waits for an order's last change before it counts the rest as missing and goes on."""


@dataclass
class Watch:
    """What one shopper's socket received, and a wake-up when an order has all its changes."""

    placed: list[str] = field(default_factory=list)
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    sequences: dict[str, set[int]] = field(default_factory=dict)
    final: dict[str, int] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def note(self, change: dict[str, Any]) -> None:
        with self.changed:
            self.received.append((time.time(), change))
            order_id = change["orderId"]
            self.sequences.setdefault(order_id, set()).add(change["sequence"])
            if change["status"] in TERMINAL_STATUSES:
                self.final[order_id] = change["sequence"]
            self.changed.notify_all()

    def complete(self, order_id: str) -> bool:
        last = self.final.get(order_id)
        return last is not None and self.sequences[order_id] >= set(range(1, last + 1))

    def missing(self, order_id: str) -> int:
        """The changes of a placed order that never came: none at all counts as one (its RECEIVED, at least)."""
        seen = self.sequences.get(order_id, set())
        return self.final.get(order_id, max(seen, default=0)) - len(seen) if seen else 1


def measure_push_latency(orders: int) -> dict[str, Any]:
    """Place ``orders`` in all, a shopper's next once its last is complete; the delay of each change to the socket.

    Example
    -------
    >>> measure_push_latency(20)["push_p95_ms"]  # doctest: +SKIP
    """
    with start_stack("live-status", warehouse_delay="0") as stack:
        stack.put_product(LIVE_STATUS_SKU, 10**9)
        shoppers = stack.shoppers(SHOPPERS)
        per_shopper = [orders // SHOPPERS + (1 if index < orders % SHOPPERS else 0) for index in range(SHOPPERS)]
        with ThreadPoolExecutor(max_workers=SHOPPERS) as loops:
            watches = list(loops.map(lambda pair: _shop(stack, *pair), zip(shoppers, per_shopper, strict=True)))
    received = [entry for watch in watches for entry in watch.received]
    delays_ms = [(arrived - epoch_seconds(change["at"])) * 1000 for arrived, change in received]
    placed = [order_id for watch in watches for order_id in watch.placed]
    return {
        "orders": orders,
        "shoppers": SHOPPERS,
        "placed": len(placed),
        "messages": len(received),
        "missing_changes": sum(watch.missing(order_id) for watch in watches for order_id in watch.placed),
        "push_p50_ms": round(percentile(delays_ms, 0.5), 1),
        "push_p95_ms": round(percentile(delays_ms, 0.95), 1),
        "push_max_ms": round(max(delays_ms), 1) if delays_ms else None,
    }


def _shop(stack: BenchStack, shopper: Shopper, orders: int) -> Watch:
    """One shopper's loop: place an order, wait (with a deadline) until the socket brought all its changes, repeat."""
    watch = Watch()
    with connect(f"{stack.websocket_url}/?token={shopper.token}", open_timeout=30) as socket:
        listener = threading.Thread(target=lambda: [watch.note(json.loads(m)) for m in socket], daemon=True)
        listener.start()
        for _ in range(orders):
            answer = stack.api.request("POST", "/orders", order_body(LIVE_STATUS_SKU), caller=shopper)
            if answer.status != 202:
                continue
            order_id = answer.body["orderId"]
            watch.placed.append(order_id)
            with watch.changed:
                watch.changed.wait_for(lambda order_id=order_id: watch.complete(order_id), ORDER_DEADLINE_SECONDS)
    return watch
