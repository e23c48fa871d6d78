"""Cost model, all-in: what one order costs on AWS and how many orders a second the default quotas allow.

``python -m bench.cost`` runs one order per path on moto in-process (``local.testkit.fixtures.OrderStack``) and measures
both executions of each: the Standard parent's billable transitions (every state entered, retries included, as AWS
bills them), the Express child's request and wall time, the Lambda invocations of both histories, every DynamoDB
request priced by ``bench.dynamodb_units.CapacityMeter``, the bytes each handler writes to stdout and stderr, the
stream records and PutEvents calls of the order events. It prints them as one JSON line. The pure functions below
turn them into dollars per line item (``price_path``), a comparison of three designs (``design_comparison``) and
sustained orders per second under each default quota (``quota_orders_per_s``), DynamoDB's per-partition and
per-table limits included (``partition_loads``); ``summarize`` gathers them into summary.json's ``cost`` section for
``bench.__main__``.

What moto cannot measure is modelled, and said so where it is: Lambda and Express durations on AWS, the log lines
AWS itself writes (Step Functions events, Lambda's START/END/REPORT, API Gateway access and execution logs), and
X-Ray sampling at the sustained rate of ``ORDERS_PER_MONTH``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from workflows.resources import (
    API,
    OPERATOR_SUBSCRIBER_SHARDS,
    PUBLISH_ORDER_EVENTS,
    PUSH_ORDER_STATUS,
    STATUS_SHARDS,
    STREAM_FUNCTIONS,
    TABLES,
    WORKFLOW_FUNCTIONS,
)

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
    "cloudwatch_logs_ingestion_per_gb": 0.50,
    "cloudwatch_logs_storage_per_gb_month": 0.03,
    "xray_trace_recorded": 5.00 / 1_000_000,
    "xray_trace_scanned": 0.50 / 1_000_000,
    "api_gateway_websocket_per_message": 1.00 / 1_000_000,
    "api_gateway_websocket_per_connection_minute": 0.25 / 1_000_000,
}
PRICE_SOURCES = {
    "stepfunctions_standard_per_transition": (
        "$0.025 per 1,000 state transitions, retries included (checked 2026-12-01)",
        "https://aws.amazon.com/step-functions/pricing/",
    ),
    "stepfunctions_express_per_request": (
        "$1.00 per 1M requests (checked 2026-12-01)",
        "https://aws.amazon.com/step-functions/pricing/",
    ),
    "stepfunctions_express_per_gb_second": (
        "$0.00001667 per GB-second ($0.06 per GB-hour, first 1,000 GB-hours), duration rounded up to 100 ms, "
        "memory billed in 64 MB chunks (checked 2026-12-01)",
        "https://aws.amazon.com/step-functions/pricing/",
    ),
    "lambda_arm64_per_gb_second": (
        "$0.0000133334 per GB-second (arm64, first 7.5B GB-s) (checked 2026-11-23)",
        "https://aws.amazon.com/lambda/pricing/",
    ),
    "lambda_per_request": ("$0.20 per 1M requests (checked 2026-11-23)", "https://aws.amazon.com/lambda/pricing/"),
    "dynamodb_on_demand_per_wru": (
        "$0.625 per 1M write request units, on-demand (checked 2026-11-23)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "dynamodb_on_demand_per_rru": (
        "$0.125 per 1M read request units, on-demand (checked 2026-11-23)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "api_gateway_rest_per_request": (
        "$3.50 per 1M REST API calls, first 333M (checked 2026-11-23)",
        "https://aws.amazon.com/api-gateway/pricing/",
    ),
    "eventbridge_custom_event": (
        "$1.00 per 1M custom events put on a bus, each 64 KB chunk one event (checked 2026-12-01)",
        "https://aws.amazon.com/eventbridge/pricing/",
    ),
    "dynamodb_streams_read_by_lambda": (
        "free: the GetRecords calls of a Lambda trigger on a DynamoDB stream are not billed (checked 2026-12-01)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "cloudwatch_logs_ingestion_per_gb": (
        "$0.50 per GB ingested: Standard class, and the first 10 TB tier of vended logs, the rate Step Functions "
        "and (since 1 May 2025) Lambda logs are billed at (checked 2026-12-01)",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "cloudwatch_logs_storage_per_gb_month": (
        "$0.03 per GB-month archived (checked 2026-12-01)",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "xray_trace_recorded": (
        "$5.00 per 1M traces recorded, beyond 100,000 free a month (checked 2026-12-01)",
        "https://aws.amazon.com/xray/pricing/",
    ),
    "xray_trace_scanned": (
        "$0.50 per 1M traces retrieved or scanned, beyond 1M free a month (checked 2026-12-01)",
        "https://aws.amazon.com/xray/pricing/",
    ),
    "api_gateway_websocket_per_message": (
        "$1.00 per 1M WebSocket messages (first 1B), sent or received, metered in 32 KB increments (checked "
        "2026-12-06 against stored copies of the pricing page and an AWS re:Post answer quoting it)",
        "https://aws.amazon.com/api-gateway/pricing/",
    ),
    "api_gateway_websocket_per_connection_minute": (
        "$0.25 per 1M WebSocket connection minutes (checked 2026-12-06 against stored copies of the pricing page)",
        "https://aws.amazon.com/api-gateway/pricing/",
    ),
}
PRICES_REGION, PRICES_CHECKED = "us-east-1", "2026-12-01"
GB = 2**30
"""CloudWatch Logs bills per GB of data ingested; the model counts a GB as 2^30 bytes."""

ORDERS_PER_MONTH = 1_000_000
HOURS_PER_MONTH = 730
SUSTAINED_ORDERS_PER_S = ORDERS_PER_MONTH / (HOURS_PER_MONTH * 3600)
"""The rate the per-order prices assume (0.38 a second): it decides X-Ray sampling and records per stream poll."""

ASSUMED_LAMBDA_MS = 100
"""Billed duration per invocation on AWS: a few in-region DynamoDB round trips plus Powertools; moto's are slower."""
LAMBDA_INTEGRATION_MS = 20
"""What Step Functions adds around each Lambda task (scheduling, the Invoke round trip) on the Express child's
clock; an assumption, as moto's engine is far slower than AWS's."""
EXPRESS_MEMORY_MB = 64
"""Express memory is 50 MB plus the definition and the payloads (a few KB here): one 64 MB chunk."""
EXPRESS_BILLING_MS = 100
STREAM_RECORDS_PER_INVOCATION = 1
"""Lambda polls each stream shard about four times a second and invokes as soon as a poll returns records (no
batching window). At ``SUSTAINED_ORDERS_PER_S`` (about 4 order writes a second over the table's shards) a poll finds
about one record, so each is its own invocation; ``STREAM_BATCH_SIZE`` is only the ceiling."""
FUNCTION_MEMORY_MB = {spec.logical_name: spec.memory_mb for spec in (*WORKFLOW_FUNCTIONS, *STREAM_FUNCTIONS, API)}

DEPLOYED_HANDLER_ENVIRONMENT = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false"}
"""What the handlers log with on AWS: ``function_environment`` sets no level, so Powertools logs at INFO and
flushes its EMF metrics to stdout; the local runtime's WARNING and disabled metrics would undercount."""

LOG_EVENT_OVERHEAD_BYTES = 26
"""CloudWatch Logs sizes an event as its UTF-8 message plus 26 bytes (PutLogEvents); counted here as billed."""
LOG_RETENTION_MONTHS = 1
"""``stacks.constants.LOG_RETENTION`` (one month); stored bytes are counted uncompressed, an upper bound."""
STATE_MACHINE_LOG_LEVEL = "ALL"
STATE_MACHINE_LOG_EXECUTION_DATA = False
"""``stacks.constants``: both state machines log every event, without inputs and outputs."""
ERROR_LEVEL_EVENTS = frozenset(
    {"ExecutionAborted", "ExecutionFailed", "ExecutionTimedOut", "FailStateEntered", "LambdaFunctionFailed"}
    | {"LambdaFunctionScheduleFailed", "LambdaFunctionStartFailed", "LambdaFunctionTimedOut", "MapIterationAborted"}
    | {"MapIterationFailed", "MapStateAborted", "MapStateFailed", "ParallelStateAborted", "ParallelStateFailed"}
    | {"TaskFailed", "TaskStartFailed", "TaskStateAborted", "TaskSubmitFailed", "TaskTimedOut", "WaitStateAborted"}
)
FATAL_LEVEL_EVENTS = frozenset({"ExecutionAborted", "ExecutionFailed", "ExecutionTimedOut"})
EXECUTION_DATA_FIELDS = frozenset({"input", "output", "parameters"})
"""What ``includeExecutionData: false`` leaves out of a logged event's details."""

API_ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","user":"$context.identity.user",'
    '"caller":"$context.identity.caller","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",'
    '"resourcePath":"$context.resourcePath","status":"$context.status","protocol":"$context.protocol",'
    '"responseLength":"$context.responseLength"}'
)
"""What ``AccessLogFormat.json_with_standard_fields`` renders for the fields ``stacks/constructs/api_construct.py``
turns on (the stage's synthesized ``AccessLogSetting.Format``)."""
API_EXECUTION_LOG_LINES = (
    "Extended Request Id: {extended_id}",
    "Verifying Usage Plan for request: {request_id}. API Key:  API Stage: {api_id}/prod",
    "API Key  authorized because method '{method} {resource_path}' does not require API Key. Request will not "
    "contribute to throttle or quota limits",
    "Usage Plan check succeeded for API Key  and API Stage {api_id}/prod",
    "Starting execution for request: {request_id}",
    "HTTP Method: {method}, Resource Path: {path}",
    "Sending request to https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/{function_arn}/invocations",
    "Received response. Status: 200, Integration latency: {latency_ms} ms",
    "Method completed with status: {status}",
    "Successfully completed execution",
)
"""The stage logs at INFO without data tracing: per request, these lines, each prefixed with ``(request id)``. A
model of what API Gateway writes (after the AWS Knowledge Center's examples), not a measurement."""
SAMPLE_ACCOUNT = "123456789012"
SAMPLE_API_ID = "a1b2c3d4e5"
SAMPLE_IAM_CALLER = "AROAEXAMPLEWAREHOUSE1:warehouse-callback"
SAMPLE_FUNCTION_NAME = "OrderOrchestration-FunctionsOrderApiFunction362D36F9-Ab1Cd2Ef3Gh4"

XRAY_RESERVOIR_PER_S = 1
XRAY_FIXED_RATE = 0.05
"""X-Ray's default sampling rule (the stack defines no other): the first request each second, then 5 percent; the
reservoir is shared by every service using the rule."""
XRAY_SCANS_PER_TRACE = 1
"""Each recorded trace is scanned once (the service map and trace lists); an assumption."""

BEFORE_STANDARD_TRANSITIONS = {
    "happy": 7,
    "rejected": 4,
    "payment_declined": 11,
    "out_of_stock": 11,
    "shipment_failed": 11,
    "cancelled": 11,
    "shipment_timed_out": 11,
}
"""The previous, all-Standard design: ``cost.paths`` of bench/results/summary.json at commit bd44242."""
DESIGNS = ("standard_only_before", "express_child_sync", "callback_child")

REGION_CLASSES = ("large_regions", "other_regions")
"""us-east-1, us-west-2 and eu-west-1; every other commercial region, at its class's lowest default."""
QUOTAS: dict[str, dict[str, Any]] = {
    "stepfunctions_standard_start_execution": {
        "demand": "standard_starts",
        "large_regions": 300,
        "other_regions": 150,
        "meaning": "Standard StartExecution refill per second (bucket 1,300 / 800)",
        "source": "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html",
    },
    "stepfunctions_express_start_execution": {
        "demand": "express_starts",
        "large_regions": 6000,
        "other_regions": 6000,
        "meaning": "Express StartExecution refill per second (bucket 6,000)",
        "source": "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html",
    },
    "stepfunctions_state_transitions": {
        "demand": "standard_transitions",
        "large_regions": 1500,
        "other_regions": 500,
        "meaning": "Standard StateTransition refill per second (bucket 5,000 / 800); Express transitions unlimited",
        "source": "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html",
    },
    "stepfunctions_send_task_response": {
        "demand": "task_responses",
        "large_regions": 500,
        "other_regions": 300,
        "meaning": "SendTaskSuccess (and SendTaskFailure) refill per second (bucket 3,000 / 1,500)",
        "source": "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html",
    },
    "lambda_concurrency": {
        "demand": "lambda_concurrency_seconds",
        "large_regions": 1000,
        "other_regions": 1000,
        "meaning": "Lambda concurrent executions per Region (new accounts start lower)",
        "source": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    },
    "api_gateway_account_throttle": {
        "demand": "api_requests",
        "large_regions": 10000,
        "other_regions": 2500,
        "meaning": "API Gateway requests per second per account and Region (2,500 in the newest Regions)",
        "source": "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html",
    },
    "eventbridge_put_events": {
        "demand": "put_events_calls",
        "large_regions": 10000,
        "other_regions": 400,
        "meaning": "EventBridge PutEvents requests per second (2,400, 1,200, 600 or 400 outside the large three)",
        "source": "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html",
    },
    "dynamodb_partition_writes": {
        "demand": "dynamodb_partition_wru",
        "large_regions": 1000,
        "other_regions": 1000,
        "meaning": "DynamoDB write units per second one partition takes, in a table or a GSI: the hottest partition "
        "key value every order writes (a sort key that only grows cannot be split for heat)",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/throttling-key-range-limit-exceeded-mitigation.html",
    },
    "dynamodb_partition_reads": {
        "demand": "dynamodb_partition_rru",
        "large_regions": 3000,
        "other_regions": 3000,
        "meaning": "DynamoDB read units per second one partition serves: the hottest key value every order reads",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/throttling-key-range-limit-exceeded-mitigation.html",
    },
    "dynamodb_table_writes": {
        "demand": "dynamodb_table_wru",
        "large_regions": 40000,
        "other_regions": 40000,
        "meaning": "DynamoDB on-demand write request units per second per table, and per GSI: the busiest of them",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html",
    },
    "dynamodb_table_reads": {
        "demand": "dynamodb_table_rru",
        "large_regions": 40000,
        "other_regions": 40000,
        "meaning": "DynamoDB on-demand read request units per second per table, and per GSI: the busiest of them",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html",
    },
}
"""Documented defaults, per account and Region; Express executions and their transitions draw on none of the
Standard buckets. Sources and the figures' provenance: docs/aws-references.md."""
STAGE_THROTTLE_RPS = 50
"""``workflows.resources.STAGE_THROTTLE.rate_limit``: the stack's own stage throttle, below every AWS default."""

PARTITION_KEY_SCOPES = {
    "statusShard": "every order",
    "orderId": "one order",
    "customerId": "one shopper",
    "sku": "one product",
    "id": "one Idempotency-Key",
    "connectionId": "one WebSocket connection",
    "subscriber": "one shopper's sockets",
}
"""Whose requests one value of each partition key takes. Only a key every order writes (a status shard) loads its
partition in step with the shop's order rate; the others with one order's, one shopper's (capped per caller) or one
product's rate. The model assumes orders spread over many shoppers and products, so those are listed
(``partition_table``) but bind no quota: a sale of a single product is capped by its stock item, at the figure shown
for it."""
SHARED_SCOPES = ("every order", "one shopper", "one product")
"""Scopes whose partitions several orders write; an order's own item and Idempotency-Key record are its alone."""
DESIGN_CEILING_ORDERS_PER_S = 1000
"""The rate the indexes are sized for: above every per-order default of Step Functions and Lambda in the large regions
(300 Standard starts, 500 transitions, 700 to 770 orders in 1,000 concurrent executions), each of which AWS raises on
request, while no request raises a partition's 1,000 write units."""
PARTITION_HEADROOM = 0.5
"""The share of a partition one sharded key value may take at the design ceiling: two hot key values can share a
partition until DynamoDB splits it for heat."""

PATHS = {
    "happy": ({}, "SHIPPED"),
    "rejected": ({"items": [{"sku": "NO-SUCH-SKU", "quantity": 1}]}, None),
    "payment_declined": ({"paymentToken": "tok_declined"}, None),
    "out_of_stock": ({"items": [{"sku": "HDST-ANC-BT", "quantity": 50}]}, None),
    "shipment_failed": ({}, "FAILED"),
    "cancelled": ({}, "CANCEL"),
    "shipment_timed_out": ({}, "TIMEOUT"),
}
CALLBACK_ROUTES = {
    "SHIPPED": ("/orders/{orderId}/shipment", "iam", "SHIPPED"),
    "FAILED": ("/orders/{orderId}/shipment", "iam", "FAILED"),
    "CANCEL": ("/orders/{orderId}/cancel", "cognito", "CANCEL"),
}
"""The API request that plays each warehouse (or customer) answer: its resource, its authorizer, its answer."""
API_CALLER = "OrderApi"


def record_paths() -> dict[str, Any]:
    """Run one order per path in-process and return what each path measured (see the module docstring).

    A first, unmeasured order warms the containers (and spends Python's once-per-process warnings), as in steady
    state; the handlers run with ``DEPLOYED_HANDLER_ENVIRONMENT``.

    Example
    -------
    >>> record_paths()["happy"]["standard_transitions"]  # doctest: +SKIP
    3
    """
    from bench.dynamodb_units import CapacityMeter
    from local.testkit.fixtures import OrderStack, sample_order

    paths: dict[str, Any] = {}
    with HandlerOutput() as output, OrderStack(time_scale=1000) as stack, CapacityMeter() as meter:
        os.environ.update(DEPLOYED_HANDLER_ENVIRONMENT)
        meter.label_invocations(stack.runner)
        with output.capturing(stack.runner), _put_events_counted() as put_events:
            _run_path(stack, meter, sample_order(), "SHIPPED")
            for name, (overrides, plan) in PATHS.items():
                print(f"cost path {name}", file=sys.stderr, flush=True)
                meter.clear()
                output.clear()
                put_events.clear()
                if plan == "TIMEOUT":
                    stack.set_time_scale(1_000_000)
                run, api_requests = _run_path(stack, meter, sample_order(**overrides), plan)
                stack.set_time_scale(1000)
                measured = measure_run(run, api_requests, meter.requests, output.by_function(), put_events)
                paths[name] = {"path": name, **measured}
    return paths


def _run_path(stack: Any, meter: Any, order: Mapping[str, Any], plan: str | None) -> tuple[Any, list[dict]]:
    """One order, as the API would handle it: its DynamoDB requests (the storefront's Idempotency-Key claim and the
    count against the shopper's order limit included) are labelled ``OrderApi``; what the benchmark reads itself
    stays ``Client`` and is not billed. The count is a shopper's first order of its minute, the common case (one
    write); a second order of one shopper within a minute meets the other form of the update first (two)."""
    from local.testkit.fixtures import SAMPLE_CUSTOMER_ID
    from tasks.adapters.idempotency_keys import DynamoDBIdempotencyKeys
    from tasks.adapters.order_quotas import DynamoDBOrderQuotas
    from tasks.logic.clock import now_iso
    from tasks.logic.quotas import counters_at
    from workflows.resources import SHOPPER_ORDER_LIMIT

    keys = DynamoDBIdempotencyKeys(stack.deployment.table_names["Idempotency"], stack.dynamodb)
    quotas = DynamoDBOrderQuotas(stack.deployment.table_names["OrderQuotas"], stack.dynamodb)
    with meter.caller(API_CALLER):
        order_id, execution_arn = stack.submit(order)
        keys.claim(SAMPLE_CUSTOMER_ID, f"key-{order_id}", order_id, "fingerprint", now_iso())
        quotas.count(counters_at(f"{SAMPLE_CUSTOMER_ID}-{order_id}", now_iso()), SHOPPER_ORDER_LIMIT)
    accepted = {"orderId": order_id, "status": "RECEIVED", "executionArn": execution_arn}
    api_requests = [api_request("POST", "/orders", "cognito", accepted)]
    callback = CALLBACK_ROUTES.get(plan or "")

    if callback is not None and stack.wait_for_shipment_request(order_id, execution_arn, deadline=60):
        resource, auth, answer = callback
        with meter.caller(API_CALLER):
            if answer == "CANCEL":
                stack.order(order_id)
                stack.cancel(order_id)
            elif answer == "FAILED":
                stack.fail_shipment(order_id)
            else:
                stack.confirm_shipment(order_id)
        api_requests.append(api_request("POST", resource, auth, {"orderId": order_id, "accepted": answer}))
    execution = stack.wait_for_execution(execution_arn, deadline=60)
    run = stack.outcome(order_id, execution_arn, execution)
    stack.stream_poller.drain()
    return run, api_requests


def api_request(method: str, resource_path: str, auth: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """One API request of a path, with what its access log needs: the response body's length stands for
    ``$context.responseLength``.

    Example
    -------
    >>> api_request("POST", "/orders", "cognito", {"orderId": "o-1"})["response_length"]
    17
    """
    return {
        "method": method,
        "resource_path": resource_path,
        "auth": auth,
        "status": 202,
        "response_length": len(json.dumps(body, separators=(",", ":"))),
    }


def measure_run(
    run: Any,
    api_requests: list[dict[str, Any]],
    dynamodb_requests: Sequence[Any],
    handler_output: Mapping[str, Mapping[str, int]],
    put_events: Counter,
) -> dict[str, Any]:
    """What one path measured, from the order's run (``local.testkit.fixtures.OrderRun``) and the counters around it.

    Example
    -------
    >>> measure_run(run, api_requests, meter.requests, output.by_function(), put_events)["status"]  # doctest: +SKIP
    'COMPLETED'
    """
    child_logs = [
        stepfunctions_log_bytes(child.history, express_execution_arn(child.execution_arn)) for child in run.children
    ]
    return {
        "status": run.status,
        "states_entered": run.visited_states,
        "standard_transitions": billable_transitions(run.history),
        "lambda_invocations": lambda_invocations(run.history)
        + [name for child in run.children for name in lambda_invocations(child.history)],
        "children": [
            {
                "states_entered": child.visited_states,
                "status": child.execution["status"],
                "moto_wall_ms": _wall_ms(child.execution),
                "lambda_stages": lambda_stages(child.history),
            }
            for child in run.children
        ],
        "stepfunctions_logs": {
            "parent": stepfunctions_log_bytes(run.history, run.execution_arn),
            "children": child_logs,
        },
        "handler_output": dict(handler_output),
        "api_requests": api_requests,
        "dynamodb_requests": [
            [request.caller, request.operation, request.table, request.wru, request.rru]
            for request in dynamodb_requests
            if request.caller != "Client"
        ],
        "dynamodb_partitions": partition_units(dynamodb_requests),
        "stream_records": handler_output.get(PUBLISH_ORDER_EVENTS.logical_name, {}).get("records", 0),
        "put_events_calls": put_events["calls"],
        "put_events_entries": put_events["entries"],
        "timeline_entries": len((run.order or {}).get("timeline") or []),
    }


def partition_units(dynamodb_requests: Sequence[Any]) -> list[list[Any]]:
    """Write and read units of the billed requests (not the benchmark's own, ``Client``), summed per partition key
    value: ``[table, index, key, value, wru, rru]`` rows, the index "" for the table itself.

    Example
    -------
    >>> from bench.dynamodb_units import MeteredRequest, PartitionUnits
    >>> part = PartitionUnits("orders", "", "orderId", "o-1", 1.0, 0.0)
    >>> partition_units([MeteredRequest("OrderApi", "PutItem", "orders", 1.0, 0.0, (part, part))])
    [['orders', '', 'orderId', 'o-1', 2.0, 0.0]]
    """
    totals: dict[tuple[str, str, str, str], list[float]] = {}
    for request in dynamodb_requests:
        if request.caller == "Client":
            continue
        for part in request.partitions:
            units = totals.setdefault((part.table, part.index, part.key, part.value), [0.0, 0.0])
            units[0] += part.wru
            units[1] += part.rru
    return [[*where, wru, rru] for where, (wru, rru) in totals.items()]


def _wall_ms(execution: Mapping[str, Any]) -> float:
    start, stop = execution.get("startDate"), execution.get("stopDate")
    if not isinstance(start, datetime) or not isinstance(stop, datetime):
        return math.nan
    return round((stop - start).total_seconds() * 1000, 1)


class HandlerOutput:
    """What the handlers write to stdout and stderr, per function: bytes, lines and invocations.

    Entered before the handler modules load (Powertools' Logger keeps the stream it finds), it puts a tee in
    front of both streams; text written by a thread inside a Lambda invocation is counted and kept out of the
    benchmark's own output, as Lambda sends it to CloudWatch Logs, not to the caller.

    Example
    -------
    >>> with HandlerOutput() as output, output.invocation("ValidateOrder"):
    ...     print('{"level":"INFO"}')
    >>> output.by_function()["ValidateOrder"]["bytes"]
    17
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._counts: dict[str, Counter] = {}
        self._saved: tuple[Any, Any] | None = None

    def __enter__(self) -> HandlerOutput:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = _Tee(sys.stdout, self), _Tee(sys.stderr, self)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self._saved

    @contextlib.contextmanager
    def invocation(self, function: str, records: int = 0) -> Iterator[None]:
        """Count what this thread writes inside the block as one invocation of ``function`` (with ``records``
        stream records)."""
        with self._lock:
            counts = self._counts.setdefault(function, Counter())
            counts["invocations"] += 1
            counts["records"] += records
        self._local.function = function
        try:
            yield
        finally:
            self._local.function = None

    @contextlib.contextmanager
    def capturing(self, runner: Any) -> Iterator[None]:
        """Count each invocation ``runner`` (a ``local.aws.awslambda.runner.LambdaRunner``) runs, stream records too."""
        from local.aws.awslambda.runner import function_name_from

        invoke = runner.invoke

        def counted(function_name: str, payload: bytes) -> Any:
            records = len(json.loads(payload or b"{}").get("Records", [])) if b"Records" in (payload or b"") else 0
            with self.invocation(function_name_from(function_name), records):
                return invoke(function_name, payload)

        runner.invoke = counted
        try:
            yield
        finally:
            runner.invoke = invoke

    def write(self, text: str) -> bool:
        """Count ``text`` if this thread is in an invocation; False when it is not the handlers' to count."""
        function = getattr(self._local, "function", None)
        if function is None:
            return False
        with self._lock:
            counts = self._counts.setdefault(function, Counter())
            counts["bytes"] += len(text.encode())
            counts["lines"] += text.count("\n")
        return True

    def by_function(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {function: dict(counts) for function, counts in self._counts.items()}

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class _Tee:
    """Stands in for ``sys.stdout`` or ``sys.stderr``: handlers' text to ``HandlerOutput``, the rest through."""

    def __init__(self, stream: Any, output: HandlerOutput):
        self._stream, self._output = stream, output

    def write(self, text: str) -> int:
        if not self._output.write(text):
            self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _put_events_counted() -> Iterator[Counter]:
    """PutEvents calls and entries as moto's EventBridge answers them."""
    from moto.events.responses import EventsHandler

    counts: Counter = Counter()
    original = EventsHandler.put_events

    def counted(handler: Any) -> Any:
        counts["calls"] += 1
        counts["entries"] += len(handler._get_param("Entries") or [])
        return original(handler)

    EventsHandler.put_events = counted
    try:
        yield counts
    finally:
        EventsHandler.put_events = original


def billable_transitions(history: Sequence[Mapping[str, Any]]) -> int:
    """Standard transitions as AWS bills them: every state entered, and every retry of a task.

    Example
    -------
    >>> history = [{"id": 2, "type": "TaskStateEntered"}, {"id": 3, "type": "TaskScheduled", "previousEventId": 2},
    ...     {"id": 4, "type": "TaskFailed"}, {"id": 5, "type": "TaskScheduled", "previousEventId": 4},
    ...     {"id": 6, "type": "ChoiceStateEntered"}]
    >>> billable_transitions(history)
    3
    """
    entered = {event["id"] for event in history if event["type"].endswith("StateEntered")}
    retries = sum(
        1 for event in history if event["type"] == "TaskScheduled" and event.get("previousEventId") not in entered
    )
    return len(entered) + retries


def lambda_invocations(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """The function of every Lambda task attempt in the history.

    Example
    -------
    >>> scheduled = {"type": "TaskScheduled", "taskScheduledEventDetails": {"resourceType": "lambda",
    ...     "parameters": '{"FunctionName": "arn:aws:lambda:us-east-1:1:function:ValidateOrder"}'}}
    >>> lambda_invocations([scheduled, scheduled])
    ['ValidateOrder', 'ValidateOrder']
    """
    return [
        json.loads(event["taskScheduledEventDetails"]["parameters"])["FunctionName"].rsplit(":", 1)[1]
        for event in history
        if event["type"] == "TaskScheduled" and event["taskScheduledEventDetails"]["resourceType"] == "lambda"
    ]


PARALLEL_ENDS = frozenset({"ParallelStateSucceeded", "ParallelStateFailed", "ParallelStateAborted"})


def lambda_stages(history: Sequence[Mapping[str, Any]]) -> int:
    """Lambda calls one after the other on the execution's clock: the tasks of a Parallel's branches run side by
    side, so each Parallel counts as one stage (its longest branch is taken to be one call).

    Example
    -------
    >>> lambda_stages([{"type": "TaskScheduled", "taskScheduledEventDetails": {"resourceType": "lambda"}},
    ...     {"type": "ParallelStateStarted"},
    ...     {"type": "TaskScheduled", "taskScheduledEventDetails": {"resourceType": "lambda"}},
    ...     {"type": "TaskScheduled", "taskScheduledEventDetails": {"resourceType": "lambda"}},
    ...     {"type": "ParallelStateSucceeded"}])
    2
    """
    stages, depth, parallel_has_task = 0, 0, False
    for event in history:
        kind = event["type"]
        if kind == "ParallelStateStarted":
            parallel_has_task = parallel_has_task and depth > 0
            depth += 1
        elif kind in PARALLEL_ENDS and depth:
            depth -= 1
            if depth == 0 and parallel_has_task:
                stages += 1
        elif kind == "TaskScheduled" and (event.get("taskScheduledEventDetails") or {}).get("resourceType") == "lambda":
            if depth:
                parallel_has_task = True
            else:
                stages += 1
    return stages


def express_execution_arn(execution_arn: str) -> str:
    """An Express execution's ARN as AWS writes it (``:express:<machine>:<name>:<id>``); moto uses ``:execution:``.

    Example
    -------
    >>> express_execution_arn("arn:aws:states:us-east-1:1:execution:prep:run-1")  # doctest: +ELLIPSIS
    'arn:aws:states:us-east-1:1:express:prep:run-1:...'
    """
    return f"{execution_arn.replace(':execution:', ':express:', 1)}:{uuid.UUID(int=0)}"


def stepfunctions_log_events(
    history: Sequence[Mapping[str, Any]],
    execution_arn: str,
    level: str = STATE_MACHINE_LOG_LEVEL,
    include_execution_data: bool = STATE_MACHINE_LOG_EXECUTION_DATA,
) -> list[str]:
    """The log events Step Functions writes to CloudWatch Logs for a history, in their documented JSON shape:
    ``id``, ``type``, ``details``, ``previous_event_id``, ``event_timestamp`` (epoch ms), ``execution_arn``,
    ``redrive_count``, the details without inputs and outputs unless execution data is included.

    Example
    -------
    >>> events = [{"id": 1, "type": "ExecutionStarted", "previousEventId": 0,
    ...     "executionStartedEventDetails": {"input": "{}", "inputDetails": {"truncated": False}}},
    ...     {"id": 2, "type": "ExecutionFailed", "previousEventId": 1}]
    >>> stepfunctions_log_events(events, "arn:x", level="ERROR")  # doctest: +ELLIPSIS
    ['{"id":"2","type":"ExecutionFailed","details":{},"previous_event_id":"1","event_timestamp":"...","execution...']
    >>> '"input":' in stepfunctions_log_events(events, "arn:x")[0]
    False
    """
    wanted = {"ALL": None, "ERROR": ERROR_LEVEL_EVENTS, "FATAL": FATAL_LEVEL_EVENTS, "OFF": frozenset()}[level]
    logged = []
    for event in history:
        if wanted is not None and event["type"] not in wanted:
            continue
        details = next((value for key, value in event.items() if key.endswith("EventDetails")), {}) or {}
        if not include_execution_data:
            details = {key: value for key, value in details.items() if key not in EXECUTION_DATA_FIELDS}
        record = {
            "id": str(event["id"]),
            "type": event["type"],
            "details": details,
            "previous_event_id": str(event.get("previousEventId", 0)),
            "event_timestamp": _epoch_ms(event.get("timestamp")),
            "execution_arn": execution_arn,
            "redrive_count": "0",
        }
        logged.append(json.dumps(record, separators=(",", ":"), default=str))
    return logged


def _epoch_ms(timestamp: Any) -> str:
    if isinstance(timestamp, datetime):
        return str(int(timestamp.timestamp() * 1000))
    return "1764584290670"


def stepfunctions_log_bytes(history: Sequence[Mapping[str, Any]], execution_arn: str) -> dict[str, int]:
    """Events and billed bytes (message plus ``LOG_EVENT_OVERHEAD_BYTES``) of one execution's logs.

    Example
    -------
    >>> stepfunctions_log_bytes([{"id": 1, "type": "ExecutionStarted"}], "arn:x")["events"]
    1
    """
    events = stepfunctions_log_events(history, execution_arn)
    return {"events": len(events), "bytes": sum(len(event.encode()) + LOG_EVENT_OVERHEAD_BYTES for event in events)}


def lambda_platform_lines(memory_mb: int, billed_ms: int = ASSUMED_LAMBDA_MS) -> list[str]:
    """The START, END and REPORT lines Lambda writes for one warm invocation of an actively traced function.

    Example
    -------
    >>> [line.split(" ", 1)[0] for line in lambda_platform_lines(256)]
    ['START', 'END', 'REPORT']
    """
    request_id = str(uuid.UUID(int=0))
    return [
        f"START RequestId: {request_id} Version: $LATEST",
        f"END RequestId: {request_id}",
        f"REPORT RequestId: {request_id}\tDuration: {billed_ms - 0.5:.2f} ms\tBilled Duration: {billed_ms} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {min(memory_mb, 110)} MB\t\n"
        f"XRAY TraceId: 1-{'0' * 8}-{'0' * 24}\tSegmentId: {'0' * 16}\tSampled: true\t",
    ]


def api_gateway_log_lines(request: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The access log line (``API_ACCESS_LOG_FORMAT`` rendered) and the INFO execution log lines of one request.

    Example
    -------
    >>> access, execution = api_gateway_log_lines(api_request("POST", "/orders", "cognito", {}))
    >>> json.loads(access)["resourcePath"], len(execution)
    ('/orders', 10)
    """
    request_id = str(uuid.UUID(int=0))
    iam = request["auth"] == "iam"
    path = request["resource_path"].replace("{orderId}", "ord-0123456789ab")
    context = {
        "$context.requestId": request_id,
        "$context.identity.sourceIp": "203.0.113.42",
        "$context.identity.user": SAMPLE_IAM_CALLER if iam else "-",
        "$context.identity.caller": SAMPLE_IAM_CALLER if iam else "-",
        "$context.requestTime": "01/Dec/2026:10:18:10 +0000",
        "$context.httpMethod": request["method"],
        "$context.resourcePath": request["resource_path"],
        "$context.status": str(request["status"]),
        "$context.protocol": "HTTP/1.1",
        "$context.responseLength": str(request["response_length"]),
    }
    access = API_ACCESS_LOG_FORMAT
    for variable in sorted(context, key=len, reverse=True):
        access = access.replace(variable, context[variable])
    values = {
        "extended_id": "Ab1Cd2Ef3Gh4Ij=",
        "request_id": request_id,
        "api_id": SAMPLE_API_ID,
        "method": request["method"],
        "resource_path": request["resource_path"],
        "path": path,
        "function_arn": f"arn:aws:lambda:us-east-1:{SAMPLE_ACCOUNT}:function:{SAMPLE_FUNCTION_NAME}",
        "latency_ms": ASSUMED_LAMBDA_MS,
        "status": request["status"],
    }
    return access, [f"({request_id}) {line.format(**values)}" for line in API_EXECUTION_LOG_LINES]


def order_events(path: Mapping[str, Any]) -> dict[str, float]:
    """Custom events and publisher invocations of one path: one event per timeline entry, one invocation per
    ``STREAM_RECORDS_PER_INVOCATION`` stream records.

    Example
    -------
    >>> order_events({"timeline_entries": 6, "stream_records": 7})
    {'events': 6, 'stream_records': 7, 'invocations': 7.0}
    """
    records = path["stream_records"]
    return {
        "events": path["timeline_entries"],
        "stream_records": records,
        "invocations": records / STREAM_RECORDS_PER_INVOCATION,
    }


def express_billed_ms(lambda_stages_count: int) -> int:
    """The Express child's billed duration on AWS: each stage one Lambda call plus the integration's overhead,
    rounded up to 100 ms. An assumption (moto's wall time is reported beside it, never billed).

    Example
    -------
    >>> express_billed_ms(2), express_billed_ms(1), express_billed_ms(0)
    (300, 200, 100)
    """
    running_ms = lambda_stages_count * (ASSUMED_LAMBDA_MS + LAMBDA_INTEGRATION_MS)
    return max(1, math.ceil(running_ms / EXPRESS_BILLING_MS)) * EXPRESS_BILLING_MS


def sampled_fraction(rate_per_s: float, reservoir: int = XRAY_RESERVOIR_PER_S, rate: float = XRAY_FIXED_RATE) -> float:
    """The share of requests a reservoir-then-rate rule records when ``rate_per_s`` arrive as a Poisson stream.

    Each second the reservoir takes the first ``reservoir`` requests, then ``rate`` of the rest.

    Example
    -------
    >>> round(sampled_fraction(0.01), 3), round(sampled_fraction(1000), 3)
    (0.995, 0.051)
    """
    if rate_per_s <= 0:
        return 0.0
    probability, below = math.exp(-rate_per_s), 0.0
    reserved = 0.0
    for count in range(reservoir):
        below += probability
        reserved += 1 - below
        probability *= rate_per_s / (count + 1)
    return (reserved + rate * (rate_per_s - reserved)) / rate_per_s


def path_usage(
    path: Mapping[str, Any], design: str = "express_child_sync", *, sharded: bool = True
) -> dict[str, float]:
    """What one order of ``path`` uses, per billed unit and per quota, in ``design`` (see ``design_comparison``),
    with the status indexes sharded as built or not (``partition_loads``).

    Example
    -------
    >>> path_usage(paths["happy"])["standard_transitions"], path_usage(paths["happy"], "callback_child")[
    ...     "standard_transitions"]  # doctest: +SKIP
    (3, 2)
    """
    functions = Counter(path["lambda_invocations"])
    events = order_events(path)
    api_requests = path["api_requests"]
    stages = [child["lambda_stages"] for child in path["children"]]
    transitions = path["standard_transitions"]
    if design == "standard_only_before":
        transitions, stages = BEFORE_STANDARD_TRANSITIONS[path["path"]], []
    elif design == "callback_child" and "RequestShipment" in path["states_entered"]:
        transitions -= 1
        stages = [*stages[:-1], stages[-1] + 1] if stages else stages
    lambda_gb_seconds = (
        (
            sum(count * FUNCTION_MEMORY_MB.get(name, 256) for name, count in functions.items())
            + len(api_requests) * API.memory_mb
            + events["invocations"] * PUBLISH_ORDER_EVENTS.memory_mb
        )
        / 1024
        * ASSUMED_LAMBDA_MS
        / 1000
    )
    lambda_requests = sum(functions.values()) + len(api_requests) + events["invocations"]
    logs = log_bytes(path, lambda_requests)
    traces = len(api_requests) + events["invocations"]
    recorded = traces * sampled_fraction(SUSTAINED_ORDERS_PER_S * traces)
    return {
        "standard_transitions": transitions,
        "express_requests": len(stages),
        "express_gb_seconds": sum(express_billed_ms(s) / 1000 * EXPRESS_MEMORY_MB / 1024 for s in stages),
        "lambda_requests": lambda_requests,
        "lambda_gb_seconds": lambda_gb_seconds,
        "wru": sum(request[3] for request in path["dynamodb_requests"]),
        "rru": sum(request[4] for request in path["dynamodb_requests"]),
        "api_requests": len(api_requests),
        "custom_events": events["events"],
        **{f"log_bytes_{source}": size for source, size in logs.items()},
        "xray_traces_recorded": recorded,
        "xray_traces_scanned": recorded * XRAY_SCANS_PER_TRACE,
        "standard_starts": 1,
        "express_starts": len(stages),
        "task_responses": len(api_requests) - 1,
        "lambda_concurrency_seconds": lambda_requests * ASSUMED_LAMBDA_MS / 1000,
        "put_events_calls": path["put_events_calls"],
        **dynamodb_demand(path, sharded=sharded),
    }


def log_bytes(path: Mapping[str, Any], lambda_requests: float) -> dict[str, float]:
    """Billed CloudWatch Logs bytes of one order, by source: the state machines' events, the Lambda functions'
    output and platform lines, API Gateway's access and execution logs.

    Example
    -------
    >>> sorted(log_bytes(paths["happy"], lambda_requests=13))  # doctest: +SKIP
    ['api_gateway', 'lambda', 'stepfunctions']
    """
    logs = path["stepfunctions_logs"]
    stepfunctions = logs["parent"]["bytes"] + sum(child["bytes"] for child in logs["children"])
    output = path["handler_output"].values()
    handler = sum(counts.get("bytes", 0) + counts.get("lines", 0) * LOG_EVENT_OVERHEAD_BYTES for counts in output)
    platform = sum(len(line.encode()) + LOG_EVENT_OVERHEAD_BYTES for line in lambda_platform_lines(256))
    api = 0
    for request in path["api_requests"]:
        access, execution = api_gateway_log_lines(request)
        api += sum(len(line.encode()) + LOG_EVENT_OVERHEAD_BYTES for line in (access, *execution))
    return {"stepfunctions": stepfunctions, "lambda": handler + lambda_requests * platform, "api_gateway": api}


LINE_ITEMS = {
    "stepfunctions_standard_transitions": (
        "Step Functions",
        "Standard transitions",
        "standard_transitions",
        "stepfunctions_standard_per_transition",
    ),
    "stepfunctions_express_requests": (
        "Step Functions",
        "Express requests",
        "express_requests",
        "stepfunctions_express_per_request",
    ),
    "stepfunctions_express_duration": (
        "Step Functions",
        "Express duration",
        "express_gb_seconds",
        "stepfunctions_express_per_gb_second",
    ),
    "lambda_requests": ("Lambda", "requests", "lambda_requests", "lambda_per_request"),
    "lambda_duration": ("Lambda", "duration", "lambda_gb_seconds", "lambda_arm64_per_gb_second"),
    "dynamodb_writes": ("DynamoDB", "writes", "wru", "dynamodb_on_demand_per_wru"),
    "dynamodb_reads": ("DynamoDB", "reads", "rru", "dynamodb_on_demand_per_rru"),
    "api_gateway_requests": ("API Gateway", "REST requests", "api_requests", "api_gateway_rest_per_request"),
    "eventbridge_events": ("EventBridge", "custom events", "custom_events", "eventbridge_custom_event"),
    "logs_stepfunctions": (
        "CloudWatch Logs",
        "Step Functions logs",
        "log_bytes_stepfunctions",
        "cloudwatch_logs_ingestion_per_gb",
    ),
    "logs_lambda": ("CloudWatch Logs", "Lambda logs", "log_bytes_lambda", "cloudwatch_logs_ingestion_per_gb"),
    "logs_api_gateway": (
        "CloudWatch Logs",
        "API Gateway logs",
        "log_bytes_api_gateway",
        "cloudwatch_logs_ingestion_per_gb",
    ),
    "logs_storage": ("CloudWatch Logs", "storage", "log_bytes_total", "cloudwatch_logs_storage_per_gb_month"),
    "xray_recorded": ("X-Ray", "traces recorded", "xray_traces_recorded", "xray_trace_recorded"),
    "xray_scanned": ("X-Ray", "traces scanned", "xray_traces_scanned", "xray_trace_scanned"),
}
"""Each line of the bill: its service, its name, the usage it counts and the price it is billed at."""


def price_usage(usage: Mapping[str, float]) -> dict[str, float]:
    """Dollars per order by line item (``LINE_ITEMS``), and ``total``.

    Example
    -------
    >>> price_usage({"standard_transitions": 4})["stepfunctions_standard_transitions"]
    0.0001
    """
    measured = dict(usage)
    measured["log_bytes_total"] = sum(value for key, value in usage.items() if key.startswith("log_bytes_"))
    costs = {}
    for line, (_, _, quantity, price) in LINE_ITEMS.items():
        amount = measured.get(quantity, 0.0)
        if price.startswith("cloudwatch_logs"):
            amount = amount / GB * (LOG_RETENTION_MONTHS if price.endswith("month") else 1)
        costs[line] = amount * PRICES[price]
    costs["total"] = sum(costs.values())
    return costs


def price_path(path: Mapping[str, Any], design: str = "express_child_sync") -> dict[str, float]:
    """USD per million orders of one path, by line item and ``total``, rounded to cents.

    Example
    -------
    >>> price_path(paths["happy"])["stepfunctions_standard_transitions"]  # doctest: +SKIP
    75.0
    """
    return {line: round(usd * 1_000_000, 2) for line, usd in price_usage(path_usage(path, design)).items()}


def by_service(usd: Mapping[str, float]) -> dict[str, float]:
    """Line items summed per service.

    Example
    -------
    >>> by_service({"lambda_requests": 1.0, "lambda_duration": 2.0, "total": 3.0})
    {'Lambda': 3.0}
    """
    services: dict[str, float] = {}
    for line, amount in usd.items():
        if line in LINE_ITEMS:
            service = LINE_ITEMS[line][0]
            services[service] = round(services.get(service, 0.0) + amount, 2)
    return services


def design_comparison(paths: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per design and path: Standard transitions, Express requests, Lambda invocations, USD per million orders.

    - ``standard_only_before``: the previous all-Standard workflow (transitions from ``BEFORE_STANDARD_TRANSITIONS``,
      no Express child); its Step Functions logs are taken to equal the parent's and child's together.
    - ``express_child_sync``: as built and measured; the parent waits for its Express child with
      ``startExecution.sync:2``.
    - ``callback_child``: modelled; the parent's one task is ``startExecution.waitForTaskToken`` and the child hands
      the parent's token to the warehouse (RequestShipment moves into the child), so the parent enters one state
      fewer. Its weakness: a child that dies without reporting (throttled, timed out, a bug before it hands the
      token on) leaves the parent waiting until the task's one-day heartbeat expires.

    Example
    -------
    >>> design_comparison(paths)["callback_child"]["happy"]["standard_transitions"]  # doctest: +SKIP
    2
    """
    comparison: dict[str, dict[str, Any]] = {}
    for design in DESIGNS:
        per_path = {}
        for name, path in paths.items():
            usage = path_usage(path, design)
            per_path[name] = {
                "standard_transitions": usage["standard_transitions"],
                "express_requests": usage["express_requests"],
                "lambda_invocations": len(path["lambda_invocations"]),
                "usd_per_million_orders": price_path(path, design)["total"],
            }
        comparison[design] = per_path
    return comparison


def partition_loads(path: Mapping[str, Any], *, sharded: bool = True) -> list[dict[str, Any]]:
    """Units per order on each partition key value of every table and GSI, from what one order of ``path`` measured.

    A sharded index spreads one logical value (a status) over its ``write_shards`` values: one order lands on one of
    them, so many orders put a ``1 / write_shards`` share of its units on each. ``sharded=False`` models the same
    writes with the status itself as the partition key, as the indexes had it before 2026-12-06.

    Example
    -------
    >>> order = {"dynamodb_partitions": [["orders", "by-status-shard", "statusShard", "RECEIVED#2", 2.0, 0.0]]}
    >>> [row["wru"] for row in partition_loads(order)], [row["wru"] for row in partition_loads(order, sharded=False)]
    ([0.5], [2.0])
    """
    loads: dict[tuple[str, str, str, str], list[float]] = {}
    for table, index, key, value, wru, rru in path.get("dynamodb_partitions", []):
        shards = _write_shards(table, index)
        logical = value.rsplit("#", 1)[0] if shards > 1 else value
        spread = shards if sharded else 1
        units = loads.setdefault((table, index, key, logical), [0.0, 0.0])
        units[0] += wru / spread
        units[1] += rru / spread
    rows = []
    for (table, index, key, value), (wru, rru) in loads.items():
        where = f"{table}/{index}" if index else table
        shard = "#n" if sharded and _write_shards(table, index) > 1 else ""
        rows.append(
            {"partition": f"{where} {key}={value}{shard}", "table": where, "scope": PARTITION_KEY_SCOPES[key]}
            | {"wru": wru, "rru": rru}
        )
    return rows


def _write_shards(table: str, index: str) -> int:
    """How many partition key values the index spreads one logical value over (1 for a table, unknown tables too)."""
    for spec in TABLES:
        if spec.local_name == table:
            return next((each.write_shards for each in spec.indexes if each.name == index), 1)
    return 1


def dynamodb_demand(path: Mapping[str, Any], *, sharded: bool = True) -> dict[str, float]:
    """What one order takes of the hottest partition every order shares (write and read units) and of the busiest
    table or GSI, the demands of the ``dynamodb_*`` quotas.

    Example
    -------
    >>> order = {"dynamodb_partitions": [["orders", "", "orderId", "o-1", 9.0, 3.0],
    ...     ["orders", "by-status-shard", "statusShard", "RECEIVED#2", 2.0, 0.0]]}
    >>> dynamodb_demand(order)
    {'dynamodb_partition_wru': 0.5, 'dynamodb_partition_rru': 0.0, 'dynamodb_table_wru': 9.0, 'dynamodb_table_rru': 3.0}
    """
    shared = [row for row in partition_loads(path, sharded=sharded) if row["scope"] == "every order"]
    per_table: dict[tuple[str, str], list[float]] = {}
    for table, index, _, _, wru, rru in path.get("dynamodb_partitions", []):
        units = per_table.setdefault((table, index), [0.0, 0.0])
        units[0] += wru
        units[1] += rru
    return {
        "dynamodb_partition_wru": max((row["wru"] for row in shared), default=0.0),
        "dynamodb_partition_rru": max((row["rru"] for row in shared), default=0.0),
        "dynamodb_table_wru": max((units[0] for units in per_table.values()), default=0.0),
        "dynamodb_table_rru": max((units[1] for units in per_table.values()), default=0.0),
    }


def partition_table(path: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every partition key value one order writes or reads that other orders share (all of them, or one shopper's,
    or one product's), hottest first, with the orders per second at which it reaches a partition's 1,000 write or
    3,000 read units: sharded as built, and with the bare status as the key.

    Example
    -------
    >>> order = {"dynamodb_partitions": [["orders", "by-status-shard", "statusShard", "RECEIVED#2", 2.0, 0.0]]}
    >>> partition_table(order)[0]["orders_per_s"], partition_table(order)[0]["orders_per_s_unsharded"]
    (2000.0, 500.0)
    """
    unsharded = {row["partition"].removesuffix("#n"): row for row in partition_loads(path, sharded=False)}
    rows = []
    for row in partition_loads(path):
        if row["scope"] not in SHARED_SCOPES:
            continue
        before = unsharded[row["partition"].removesuffix("#n")]
        rows.append(
            {
                "partition": row["partition"],
                "scope": row["scope"],
                "wru_per_order": round(row["wru"], 3),
                "rru_per_order": round(row["rru"], 3),
                "orders_per_s": _saturating_rate(row),
                "orders_per_s_unsharded": _saturating_rate(before),
            }
        )
    return sorted(rows, key=lambda row: row["orders_per_s"])


def _saturating_rate(row: Mapping[str, float]) -> float:
    rates = [
        limit / units
        for limit, units in (
            (QUOTAS["dynamodb_partition_writes"]["large_regions"], row["wru"]),
            (QUOTAS["dynamodb_partition_reads"]["large_regions"], row["rru"]),
        )
        if units
    ]
    return round(min(rates), 1) if rates else math.inf


def status_shards_needed(path: Mapping[str, Any]) -> int:
    """The fewest shards that keep every shared key value under ``PARTITION_HEADROOM`` of a partition at
    ``DESIGN_CEILING_ORDERS_PER_S``.

    Example
    -------
    >>> status_shards_needed({"dynamodb_partitions": [["orders", "i", "statusShard", "RECEIVED", 2.0, 0.0]]})
    4
    """
    limit = QUOTAS["dynamodb_partition_writes"]["large_regions"] * PARTITION_HEADROOM
    shared = [row for row in partition_loads(path, sharded=False) if row["scope"] == "every order"]
    hottest = max((row["wru"] for row in shared), default=0.0)
    return max(1, math.ceil(hottest * DESIGN_CEILING_ORDERS_PER_S / limit))


def quota_orders_per_s(usage: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Sustained orders per second each default quota allows, per region class, for an order using ``usage``.

    Example
    -------
    >>> limits = quota_orders_per_s({"standard_starts": 1, "standard_transitions": 3, "api_requests": 2})
    >>> large, other = limits["large_regions"], limits["other_regions"]
    >>> large["stepfunctions_state_transitions"], other["api_gateway_account_throttle"]
    (500.0, 1250.0)
    """
    limits: dict[str, dict[str, float]] = {region: {} for region in REGION_CLASSES}
    for quota, spec in QUOTAS.items():
        demand = usage.get(spec["demand"], 0)
        for region in REGION_CLASSES:
            limits[region][quota] = round(spec[region] / demand, 1) if demand else math.inf
    return limits


def binding_quota(limits: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
    """The quota that allows the fewest orders a second, per region class.

    Example
    -------
    >>> binding_quota({"large_regions": {"a": 3.0, "b": 1.0}})
    {'large_regions': 'b'}
    """
    return {region: min(per_quota, key=per_quota.get) for region, per_quota in limits.items()}


def quota_summary(
    path: Mapping[str, Any], design: str = "express_child_sync", *, sharded: bool = True
) -> dict[str, Any]:
    """The binding figure, the binding quota and every quota's figure, per region class, for one path.

    Example
    -------
    >>> quota_summary(paths["happy"])["binding"]["large_regions"]  # doctest: +SKIP
    'stepfunctions_standard_start_execution'
    """
    limits = quota_orders_per_s(path_usage(path, design, sharded=sharded))
    binding = binding_quota(limits)
    return {
        "orders_per_s": {region: limits[region][binding[region]] for region in REGION_CLASSES},
        "binding": binding,
        "by_quota": limits,
    }


def summarize(paths: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The ``cost`` section of summary.json, from what ``record_paths`` measured.

    Example
    -------
    >>> summarize(record_paths())["aws_quota_binding"]  # doctest: +SKIP
    {'large_regions': 'stepfunctions_standard_start_execution', 'other_regions': 'eventbridge_put_events'}
    """
    happy = paths["happy"]
    happy_usage = path_usage(happy)
    now, before = quota_summary(happy), quota_summary(happy, "standard_only_before")
    unsharded = quota_summary(happy, sharded=False)
    partitions = partition_table(happy)
    return {
        "standard_transitions_happy_path": happy["standard_transitions"],
        "usd_per_million_orders": price_path(happy)["total"],
        "usd_per_million_orders_by_line": price_path(happy),
        "usd_per_million_orders_by_service": by_service(price_path(happy)),
        "dynamodb_wru_happy_path": happy_usage["wru"],
        "aws_quota_orders_per_s": now["orders_per_s"],
        "aws_quota_binding": now["binding"],
        "aws_quota_orders_per_s_before": before["orders_per_s"],
        "aws_quota_binding_before": before["binding"],
        "aws_quotas": now["by_quota"],
        "aws_quotas_before": before["by_quota"],
        "aws_quota_orders_per_s_unsharded": unsharded["orders_per_s"],
        "aws_quota_binding_unsharded": unsharded["binding"],
        "dynamodb_partitions": partitions,
        "dynamodb_hottest_shared_partition": next((row for row in partitions if row["scope"] == "every order"), None),
        "dynamodb_status_shards": STATUS_SHARDS,
        "dynamodb_status_shards_needed": status_shards_needed(happy),
        "dynamodb_design_ceiling_orders_per_s": DESIGN_CEILING_ORDERS_PER_S,
        "aws_quota_ratio_to_before": round(
            min(now["orders_per_s"][region] / before["orders_per_s"][region] for region in REGION_CLASSES), 3
        ),
        "state_transitions_binding_region_classes": sum(
            quota == "stepfunctions_state_transitions" for quota in now["binding"].values()
        ),
        "stage_throttle_orders_per_s": round(STAGE_THROTTLE_RPS / happy_usage["api_requests"], 1),
        "assumptions": assumptions(),
        "prices": PRICES,
        "paths": {name: path_summary(path) for name, path in paths.items()},
        "designs": design_comparison(paths),
    }


def path_summary(path: Mapping[str, Any]) -> dict[str, Any]:
    """One path's figures for summary.json and BENCHMARKS.md.

    Example
    -------
    >>> path_summary(paths["happy"])["log_kb"]  # doctest: +SKIP
    {'stepfunctions': 15.0, 'lambda': 5.7, 'api_gateway': 3.5}
    """
    usage = path_usage(path)
    wru_by_caller: Counter = Counter()
    for caller, _, table, wru, _ in path["dynamodb_requests"]:
        wru_by_caller[f"{caller} {table}"] += wru
    return {
        "status": path["status"],
        "standard_transitions": path["standard_transitions"],
        "express_requests": usage["express_requests"],
        "child_moto_wall_ms": [child["moto_wall_ms"] for child in path["children"]],
        "child_billed_ms": [express_billed_ms(child["lambda_stages"]) for child in path["children"]],
        "lambda_invocations": int(usage["lambda_requests"]),
        "wru": usage["wru"],
        "rru": usage["rru"],
        "wru_by_caller": dict(wru_by_caller.most_common()),
        "log_kb": {
            source: round(usage[f"log_bytes_{source}"] / 1024, 1)
            for source in ("stepfunctions", "lambda", "api_gateway")
        },
        "xray_traces_recorded": round(usage["xray_traces_recorded"], 2),
        "put_events_calls": path["put_events_calls"],
        "usd_per_million_orders": price_path(path)["total"],
        "usd_per_million_orders_by_line": price_path(path),
        "states_entered": path["states_entered"],
        "child_states_entered": [child["states_entered"] for child in path["children"]],
    }


def assumptions() -> dict[str, Any]:
    """What the model assumes where moto cannot measure, for the report.

    Example
    -------
    >>> assumptions()["lambda_ms"]
    100
    """
    return {
        "orders_per_month": ORDERS_PER_MONTH,
        "sustained_orders_per_s": round(SUSTAINED_ORDERS_PER_S, 3),
        "lambda_ms": ASSUMED_LAMBDA_MS,
        "lambda_integration_ms": LAMBDA_INTEGRATION_MS,
        "express_memory_mb": EXPRESS_MEMORY_MB,
        "stream_records_per_invocation": STREAM_RECORDS_PER_INVOCATION,
        "log_event_overhead_bytes": LOG_EVENT_OVERHEAD_BYTES,
        "log_retention_months": LOG_RETENTION_MONTHS,
        "state_machine_log_level": STATE_MACHINE_LOG_LEVEL,
        "state_machine_log_execution_data": STATE_MACHINE_LOG_EXECUTION_DATA,
        "xray_reservoir_per_s": XRAY_RESERVOIR_PER_S,
        "xray_fixed_rate": XRAY_FIXED_RATE,
        "xray_scans_per_trace": XRAY_SCANS_PER_TRACE,
        "handler_environment": DEPLOYED_HANDLER_ENVIRONMENT,
    }


def live_status_usd(connection_minutes: float, events: float, messages_per_event: float = 1.0) -> dict[str, float]:
    """What the WebSocket API of live order status costs for ``connection_minutes`` of open sockets and ``events``
    OrderStatusChanged events, each posted to ``messages_per_event`` connections on average.

    Per event the push function runs once (``ASSUMED_LAMBDA_MS`` at its memory) and queries the owner's key and every
    operator shard of the keys-only index, half a read unit each; EventBridge delivering to the function is not
    billed beyond the event already put. The local stack runs the same functions (``local.aws.apigatewayv2``), and
    ``bench.live_status`` measures how long a push takes there; these dollars are modelled from the prices.

    Example
    -------
    >>> round(live_status_usd(connection_minutes=1_000_000, events=0)["websocket_connection_minutes"], 2)
    0.25
    >>> sorted(live_status_usd(0, 1_000_000))[:2]
    ['push_dynamodb_queries', 'push_lambda_duration']
    """
    memory_gb = PUSH_ORDER_STATUS.memory_mb / 1024
    queries = 1 + OPERATOR_SUBSCRIBER_SHARDS
    return {
        "websocket_connection_minutes": connection_minutes * PRICES["api_gateway_websocket_per_connection_minute"],
        "websocket_messages": events * messages_per_event * PRICES["api_gateway_websocket_per_message"],
        "push_lambda_requests": events * PRICES["lambda_per_request"],
        "push_lambda_duration": events * memory_gb * ASSUMED_LAMBDA_MS / 1000 * PRICES["lambda_arm64_per_gb_second"],
        "push_dynamodb_queries": events * queries * 0.5 * PRICES["dynamodb_on_demand_per_rru"],
    }


def main() -> None:
    from local.aws.moto import quiet_engine_logs

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    quiet_engine_logs()
    paths = record_paths()
    for name, path in paths.items():
        usd = price_path(path)
        lines = ", ".join(f"{line} {amount:.2f}" for line, amount in usd.items() if amount and line != "total")
        print(f"{name}: {path['standard_transitions']} transitions, ${usd['total']:.2f}/1M ({lines})", file=sys.stderr)
    print(json.dumps(paths, default=str))


if __name__ == "__main__":
    main()
