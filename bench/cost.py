"""Cost model: what one order costs on AWS, from the execution histories of the happy path and every failure path.

``python -m bench.cost`` runs one order per path on moto in-process (``local.testing.OrderStack``) and records, per
path, the states entered (billable Standard transitions, as AWS bills them), the Lambda invocations, and every
DynamoDB request each function made (counted where moto handles it), and the order's timeline. ``price_path`` turns
those counts into dollars with the prices in ``PRICES``, and ``alternative_designs`` models two designs with fewer
transitions from the same histories, since the repository keeps exactly one ASL file. The order events are priced
from the same counts: one custom event per timeline entry, one publisher invocation per write of the order item.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from collections import Counter
from typing import Any

from workflows.resources import PUBLISH_ORDER_EVENTS

PRICES = {
    "stepfunctions_standard_per_transition": 0.025 / 1000,
    "stepfunctions_express_per_request": 1.00 / 1_000_000,
    "stepfunctions_express_per_gb_second": 0.00001667,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "lambda_per_request": 0.20 / 1_000_000,
    "dynamodb_on_demand_per_wru": 0.625 / 1_000_000,
    "dynamodb_on_demand_per_rru": 0.125 / 1_000_000,
    "api_gateway_rest_per_request": 3.50 / 1_000_000,
    "eventbridge_custom_event": 1.00 / 1_000_000,
    "dynamodb_streams_read_by_lambda": 0.0,
}
PRICE_SOURCES = {
    "stepfunctions_standard_per_transition": (
        "$0.025 per 1,000 state transitions",
        "aws.amazon.com/step-functions/pricing",
    ),
    "stepfunctions_express_per_request": ("$1.00 per 1M requests", "aws.amazon.com/step-functions/pricing"),
    "stepfunctions_express_per_gb_second": (
        "$0.00001667 per GB-second (first 1,000 GB-hours), 100 ms and 64 MB granularity",
        "aws.amazon.com/step-functions/pricing",
    ),
    "lambda_arm64_per_gb_second": (
        "$0.0000133334 per GB-second (arm64, first 7.5B GB-s)",
        "aws.amazon.com/lambda/pricing",
    ),
    "lambda_per_request": ("$0.20 per 1M requests", "aws.amazon.com/lambda/pricing"),
    "dynamodb_on_demand_per_wru": (
        "$0.625 per 1M write request units (on-demand, after the 1 Nov 2024 cut)",
        "aws.amazon.com/dynamodb/pricing/on-demand",
    ),
    "dynamodb_on_demand_per_rru": (
        "$0.125 per 1M read request units (on-demand)",
        "aws.amazon.com/dynamodb/pricing/on-demand",
    ),
    "api_gateway_rest_per_request": ("$3.50 per 1M REST API calls (first 333M)", "aws.amazon.com/api-gateway/pricing"),
    "eventbridge_custom_event": (
        "$1.00 per 1M custom events put on a bus, each 64 KB chunk of a payload one event (checked 2026-12-01)",
        "aws.amazon.com/eventbridge/pricing",
    ),
    "dynamodb_streams_read_by_lambda": (
        "free: the GetRecords calls of a Lambda trigger on a DynamoDB stream are not billed (checked 2026-12-01)",
        "aws.amazon.com/dynamodb/pricing/on-demand",
    ),
}
PRICES_REGION, PRICES_CHECKED = "us-east-1", "2026-11-23"

ASSUMED_LAMBDA_MS = 100
"""Billed duration per invocation: a few in-region DynamoDB round trips plus Powertools; local timings are moto's."""
API_REQUESTS_PER_ORDER = 2
"""POST /orders and the warehouse's POST .../shipment (or the customer's cancel); reads are not counted."""
EXPRESS_CHILD_SECONDS = 0.3
EXPRESS_CHILD_MB = 64
EXPRESS_CHILD_STATES = frozenset(
    {"ValidateOrder", "AuthorizeAndReserve", "AuthorizePayment", "ReserveInventory", "CheckAuthorizedAndReserved"}
    | {"PaymentAuthorizationFailed", "InventoryReservationFailed"}
)
"""The synchronous part: validation, the Parallel and its branches, and the Choice that routes their outcome."""
DIRECT_INTEGRATION_TASKS = ("RequestShipment", "RecordFailure")
"""Lambdas whose work is one DynamoDB write: ``dynamodb:updateItem(.waitForTaskToken)`` could do it directly."""
ORDERS_GSI_WRITES = 3
"""Each write of an order also writes both GSIs (projection ALL); a status change moves its by-status entry (2)."""
STREAM_RECORDS_PER_INVOCATION = 1
"""Lambda polls each stream shard about four times a second and invokes as soon as a poll returns records (no
batching window). At a million orders a month (0.4 a second, about 4 order writes a second over the table's shards)
a poll finds about one record, so each is its own invocation; ``STREAM_BATCH_SIZE`` is only the ceiling."""
PUBLISHER_MS = ASSUMED_LAMBDA_MS
"""Billed duration per publisher invocation: one PutEvents round trip plus Powertools, as for a task."""
ORDER_ITEM_WRITES = ("PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem")
"""Requests whose every counted item on the orders table is one INSERT or MODIFY stream record (a refused
conditional write makes none, so this slightly overcounts); the mapping filters out the rare REMOVE."""

DESIGNS = (
    "standard_as_built",
    "direct_integrations",
    "express_child",
    "express_child_and_direct",
    "express_child_direct_lean_indexes",
)

PATHS = {
    "happy": ({}, "SHIPPED"),
    "rejected": ({"items": [{"sku": "NO-SUCH-SKU", "quantity": 1}]}, None),
    "payment_declined": ({"paymentToken": "tok_declined"}, None),
    "out_of_stock": ({"items": [{"sku": "HDST-ANC-BT", "quantity": 50}]}, None),
    "shipment_failed": ({}, "FAILED"),
    "cancelled": ({}, "CANCEL"),
    "shipment_timed_out": ({}, "TIMEOUT"),
}


def record_paths() -> dict[str, Any]:
    """Run one order per path in-process and return its states, Lambda invocations and DynamoDB requests."""
    from moto.dynamodb.responses import DynamoHandler

    from local.testing import OrderStack, sample_order

    current = threading.local()
    requests: list[tuple[str, str, str, int]] = []
    handle: Any = None

    def counting(self: DynamoHandler) -> Any:
        body = json.loads(self.body or "{}")
        operation = self.headers.get("X-Amz-Target", "").split(".")[-1]
        for table, items in _tables_touched(operation, body):
            requests.append((getattr(current, "function", "StateMachine"), operation, table, items))
        return handle(self)

    results: dict[str, Any] = {}
    with OrderStack(time_scale=1000) as stack:
        handle = DynamoHandler.call_action
        DynamoHandler.call_action = counting
        stack.runner.before_invoke.append(lambda spec, event: setattr(current, "function", spec.logical_name))
        for name, (overrides, plan) in PATHS.items():
            if plan == "TIMEOUT":
                stack.set_time_scale(1_000_000)
                plan = None
            print(f"cost path {name}", file=sys.stderr, flush=True)
            current.function = "Client"
            requests.clear()
            run = stack.run_order(sample_order(**overrides), shipment=plan, deadline=60)
            stack.set_time_scale(1000)
            entered = [e["stateEnteredEventDetails"]["name"] for e in run.history if e["type"].endswith("StateEntered")]
            lambdas = [
                json.loads(e["taskScheduledEventDetails"]["parameters"])["FunctionName"].rsplit(":", 1)[1]
                for e in run.history
                if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "lambda"
            ]
            results[name] = {
                "status": run.status,
                "states_entered": entered,
                "lambda_invocations": lambdas,
                "dynamodb_requests": [list(request) for request in requests],
                "order_item_bytes": len(json.dumps(run.order)),
                "timeline_entries": len((run.order or {}).get("timeline") or []),
            }
    DynamoHandler.call_action = handle
    return results


def _tables_touched(operation: str, body: dict[str, Any]) -> list[tuple[str, int]]:
    if operation == "TransactWriteItems":
        touched = Counter(next(iter(item.values()))["TableName"] for item in body.get("TransactItems", []))
        return list(touched.items())
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [
            (table, len(keys.get("Keys", keys) if isinstance(keys, dict) else keys))
            for table, keys in body.get("RequestItems", {}).items()
        ]
    return [(body.get("TableName", "?"), 1)]


API_DYNAMODB_REQUESTS = [["OrderApi", "PutItem", "orders", 1], ["OrderApi", "GetItem", "orders", 1]]
"""The API's own requests per order: the conditional put of POST /orders, the read of the shipment callback."""


def capacity_units(path: dict[str, Any], lean_indexes: bool = False) -> dict[str, float]:
    """Estimated read and write request units of one path, from its requests and the size of its order item.

    The benchmark's own requests (``Client``: submitting and polling) are replaced by the API's. ``lean_indexes``
    models GSIs that project only the keys and list fields (under 1 KB) instead of the whole order.
    """
    order_kb = max(1, math.ceil(path["order_item_bytes"] / 1024))
    writes = reads = 0.0
    requests = [request for request in path["dynamodb_requests"] if request[0] != "Client"] + API_DYNAMODB_REQUESTS
    for _, operation, table, items in requests:
        size = order_kb if table == "orders" else 1
        gsi = ORDERS_GSI_WRITES * (1 if lean_indexes else size) if table == "orders" else 0
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            writes += size + gsi
        elif operation == "TransactWriteItems":
            writes += items * (2 * size) + items * gsi
        elif operation == "BatchWriteItem":
            writes += items * (size + gsi)
        elif operation in ("GetItem", "BatchGetItem"):
            reads += items * max(1, math.ceil(size / 4))
        elif operation in ("Query", "Scan"):
            reads += 1
    return {"wru": writes, "rru": reads}


def order_events(path: dict[str, Any]) -> dict[str, float]:
    """Custom events and publisher invocations of one path: one event per timeline entry, one stream record per write
    of the order item (the benchmark's own writes replaced by the API's, as in ``capacity_units``).

    Example
    -------
    >>> path = {"timeline_entries": 2, "dynamodb_requests": [["ValidateOrder", "UpdateItem", "orders", 1]]}
    >>> order_events(path)
    {'events': 2, 'stream_records': 2, 'invocations': 2.0}
    """
    requests = [request for request in path["dynamodb_requests"] if request[0] != "Client"] + API_DYNAMODB_REQUESTS
    writes = [(table, operation, items) for _, operation, table, items in requests if operation in ORDER_ITEM_WRITES]
    records = sum(items for table, _, items in writes if table == "orders")
    return {
        "events": path["timeline_entries"],
        "stream_records": records,
        "invocations": records / STREAM_RECORDS_PER_INVOCATION,
    }


def price_path(
    path: dict[str, Any], transitions: int, lambdas: int, express_requests: int = 0, lean_indexes: bool = False
) -> dict[str, float]:
    """Dollars per order of one path, by service."""
    units = capacity_units(path, lean_indexes)
    lambda_gb_seconds = (
        lambdas * 0.25 * ASSUMED_LAMBDA_MS / 1000 + API_REQUESTS_PER_ORDER * 0.5 * ASSUMED_LAMBDA_MS / 1000
    )
    express_gb_seconds = express_requests * EXPRESS_CHILD_MB / 1024 * EXPRESS_CHILD_SECONDS
    costs = {
        "stepfunctions": transitions * PRICES["stepfunctions_standard_per_transition"]
        + express_requests * PRICES["stepfunctions_express_per_request"]
        + express_gb_seconds * PRICES["stepfunctions_express_per_gb_second"],
        "lambda": (lambdas + API_REQUESTS_PER_ORDER) * PRICES["lambda_per_request"]
        + lambda_gb_seconds * PRICES["lambda_arm64_per_gb_second"],
        "dynamodb": units["wru"] * PRICES["dynamodb_on_demand_per_wru"]
        + units["rru"] * PRICES["dynamodb_on_demand_per_rru"],
        "api_gateway": API_REQUESTS_PER_ORDER * PRICES["api_gateway_rest_per_request"],
        "events": _events_cost(path),
    }
    costs["total"] = sum(costs.values())
    return costs


def _events_cost(path: dict[str, Any]) -> float:
    """The bus's custom events, and the publisher's requests and duration; its stream reads are free."""
    counts = order_events(path)
    gb_seconds = counts["invocations"] * PUBLISH_ORDER_EVENTS.memory_mb / 1024 * PUBLISHER_MS / 1000
    return (
        counts["events"] * PRICES["eventbridge_custom_event"]
        + counts["invocations"] * PRICES["lambda_per_request"]
        + gb_seconds * PRICES["lambda_arm64_per_gb_second"]
        + counts["stream_records"] * PRICES["dynamodb_streams_read_by_lambda"]
    )


def alternative_designs(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per design and path: Standard transitions, Lambda invocations, Express requests and USD per million orders.

    - ``standard_as_built``: the ASL as it is.
    - ``direct_integrations``: RequestShipment and RecordFailure as direct DynamoDB integrations; same transitions,
      fewer Lambda invocations.
    - ``express_child``: the synchronous part (``EXPRESS_CHILD_STATES``) as an Express child started with
      ``states:startExecution.sync:2`` from one Task state of a Standard parent that keeps the shipment callback,
      the capture and the compensations.
    - ``express_child_and_direct``: both.
    - ``express_child_direct_lean_indexes``: both, and GSIs projecting only what the list views need.

    Example
    -------
    >>> alternative_designs(paths)["express_child"]["happy"]["standard_transitions"]  # doctest: +SKIP
    3
    """
    designs: dict[str, dict[str, Any]] = {}
    for design in DESIGNS:
        per_path = {}
        for name, path in paths.items():
            entered = path["states_entered"]
            lambdas = list(path["lambda_invocations"])
            express = 0
            transitions = len(entered)
            if "express" in design and any(state in EXPRESS_CHILD_STATES for state in entered):
                transitions = len([state for state in entered if state not in EXPRESS_CHILD_STATES]) + 1
                express = 1
            if "direct" in design:
                lambdas = [function for function in lambdas if function not in DIRECT_INTEGRATION_TASKS]
            costs = price_path(path, transitions, len(lambdas), express, lean_indexes="lean" in design)
            per_path[name] = {
                "standard_transitions": transitions,
                "lambda_invocations": len(lambdas),
                "express_requests": express,
                "usd_per_million_orders": {service: round(usd * 1_000_000, 2) for service, usd in costs.items()},
            }
        designs[design] = per_path
    return designs


def main() -> None:
    from local.engine import quiet_engine_logs

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    quiet_engine_logs()
    print(json.dumps(record_paths()))


if __name__ == "__main__":
    main()
