"""The page's bookkeeping of live status (``examples/storefront/src/live.js``), run by node: the newest ``sequence``
per order wins, repeats and older events are dropped, and a skipped sequence is reported as a gap to fill."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tools.storefront.server import EXAMPLE_DIR

APPLY_EVENTS = """
import { OrderStatuses } from %(module)s;
const statuses = new OrderStatuses();
const results = %(events)s.map((event) => statuses.apply(event));
console.log(JSON.stringify({ results, latest: Object.fromEntries(statuses.latest) }));
"""


def apply_events(events: list[dict]) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: run `make storefront-build` (it installs nodejs and npm)", pytrace=False)
    module = json.dumps((EXAMPLE_DIR / "src" / "live.js").as_uri())
    script = APPLY_EVENTS % {"module": module, "events": json.dumps(events)}
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)


def event(order_id: str, status: str, sequence: int) -> dict:
    return {"orderId": order_id, "status": status, "sequence": sequence}


def test_repeated_and_older_events_are_dropped_and_the_newest_status_kept():
    outcome = apply_events(
        [
            event("ord-1", "VALIDATED", 2),
            event("ord-1", "AUTHORIZED", 3),
            event("ord-1", "AUTHORIZED", 3),
            event("ord-1", "VALIDATED", 2),
        ]
    )

    assert [result["fresh"] for result in outcome["results"]] == [True, True, False, False]
    assert outcome["latest"]["ord-1"]["status"] == "AUTHORIZED"


def test_a_skipped_sequence_is_a_gap_and_each_order_counts_its_own():
    outcome = apply_events(
        [
            event("ord-1", "RECEIVED", 1),
            event("ord-2", "RECEIVED", 1),
            event("ord-1", "VALIDATED", 2),
            event("ord-1", "AWAITING_SHIPMENT", 4),
        ]
    )

    assert [result["gap"] for result in outcome["results"]] == [False, False, False, True]
    assert {order: seen["status"] for order, seen in outcome["latest"].items()} == {
        "ord-1": "AWAITING_SHIPMENT",
        "ord-2": "RECEIVED",
    }
