"""The warehouse simulator: ships every waiting order after a delay, through the same callback API a warehouse uses.

It reads its work queue from the orders table's sparse ``awaiting-shipment`` index, which holds only the orders that
await shipment and only their keys and waiting time, signs its calls with the warehouse role's credentials
(``local.aws.sigv4``), acknowledges each order it is working on (a heartbeat, so HeartbeatSeconds never expires while it
works), and confirms the shipment once the order has waited ``delay_seconds``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from local.aws.sigv4 import WAREHOUSE, sign
from tasks.adapters.orders_repository import AWAITING_SHIPMENT_SINCE, OrderRepository

POLL_SECONDS = 0.25

log = logging.getLogger(__name__)


def tracking_number(order_id: str) -> str:
    """A deterministic, carrier-like tracking number for an order."""
    return "1Z" + hashlib.sha256(order_id.encode()).hexdigest()[:16].upper()


class WarehouseSimulator:
    def __init__(self, orders: OrderRepository, api_url: str, delay_seconds: float):
        self._orders = orders
        self._api_url = api_url
        self._delay = delay_seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="warehouse-simulator", daemon=True)
        self.shipped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(POLL_SECONDS):
            try:
                self.work_once()
            except Exception:
                log.warning("warehouse simulator poll failed", exc_info=True)

    def work_once(self) -> None:
        cursor = None
        while True:
            page, cursor = self._orders.awaiting_shipment(100, cursor)
            for waiting in page:
                self._handle(waiting)
            if cursor is None:
                return

    def _handle(self, order: dict[str, Any]) -> None:
        """``order`` is the queue's entry: the order's id and since when it awaits shipment."""
        requested = datetime.fromisoformat(order[AWAITING_SHIPMENT_SINCE].replace("Z", "+00:00"))
        waited = (datetime.now(UTC) - requested).total_seconds()
        if waited >= self._delay:
            callback = {"outcome": "SHIPPED", "trackingNumber": tracking_number(order["orderId"])}
        else:
            callback = {"outcome": "IN_PROGRESS"}
        status = self._post(f"/orders/{order['orderId']}/shipment", callback)
        if callback["outcome"] == "SHIPPED" and status == 202:
            self.shipped += 1

    def _post(self, path: str, body: dict[str, Any]) -> int:
        """Signed as the warehouse role: the shipment route admits no one else."""
        url, data = self._api_url + path, json.dumps(body).encode()
        headers = sign(WAREHOUSE, "POST", url, data, {"Content-Type": "application/json"})
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
