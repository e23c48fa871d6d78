"""Chaos at the AWS level: a thousand orders while the AWS APIs the stack calls throttle, fail and time out.

The chaos phases of ``bench.chaos`` make our own tasks fail. This one makes AWS fail under every caller of the
stack (the API function, every task, the stream publisher), with the rules of ``local.endpoint.aws_faults``
(``ORDERS_AWS_FAULTS``), and leaves our tasks alone. Two stacks run side by side, one core each, with the same orders
and warehouse as the other chaos phases, and the warehouse also sends heartbeats:

- ``chaos-aws-throttled``: every operation the stack calls is throttled now and then (DynamoDB's writes 10%, its
  reads 5%, Step Functions' 10%), BatchGetItem leaves keys unprocessed and PutEvents refuses entries (10% each);
- ``chaos-aws-failing``: AWS's 500s and 503s (5%), transaction conflicts (10%), and timeouts (2%: the request is
  carried out and its answer lost, after the callers' read timeout).

The benchmark's own calls (its warehouse's reads, its event queue, the checks) sign as the unfaulted harness. Shoppers
act as a storefront does (docs/storefront.md): every order carries an Idempotency-Key, and a 503 (or no answer) is
sent again with the same key after ``Retry-After``, until ``STOREFRONT_DEADLINE_SECONDS``.

Afterwards every order of the bench shoppers in the table (accepted or not) is checked: the invariants of
``local.testkit.invariants`` and the cross-order ones of ``bench.chaos``, and the promises only AWS's failures put at
risk (``AWS_CHAOS_INVARIANTS``): no order stranded, no 5xx but a 503 (with ``Retry-After``) to any caller, no valid
order refused, and every event published or named by the stream's dead-letter queue. Each stack's injected faults
per operation come from the report ``orders up`` writes when it stops.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bench.chaos import (
    CHAOS_TIME_SCALE,
    CROSS_ORDER_INVARIANTS,
    OWNED_BY_PLACER,
    PLENTY_SKU,
    PLENTY_STOCK,
    SCARCE_SKU,
    SCARCE_STOCK,
    BenchWarehouse,
    EventsQueue,
    chaos_order,
    check_captures,
    check_stock,
    describe_executions,
    names_unknown_sku,
    submissions_for,
)
from bench.load import Submission, drive
from bench.service import REGION, BenchStack, Shopper, aws_faults_report, start_stack
from local.endpoint.aws_faults import UNFAULTED_ACCESS_KEY_ID
from local.testkit.invariants import (
    EVENTS_MATCH_TIMELINE,
    ORDER_INVARIANTS,
    broken_event_promises,
    broken_invariants,
)
from tasks.adapters.aws_sdk import TASK_CALLS
from tasks.adapters.dynamodb import from_item
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.logic.events import status_changes
from tasks.models.order import OrderStatus
from workflows.resources import ORDER_EVENTS, ORDERS_TABLE

TIMEOUT_MS = TASK_CALLS.read_timeout_seconds * 1000
"""An injected timeout holds the answer back as long as the callers' read timeout, then loses it."""
THROTTLED: dict[str, dict[str, Any]] = {
    "dynamodb:TransactWriteItems": {"kind": "throttling", "rate": 0.10},
    "dynamodb:UpdateItem": {"kind": "throttling", "rate": 0.10},
    "dynamodb:PutItem": {"kind": "throttling", "rate": 0.10},
    "dynamodb:DeleteItem": {"kind": "throttling", "rate": 0.10},
    "dynamodb:GetItem": {"kind": "throttling", "rate": 0.05},
    "dynamodb:Query": {"kind": "throttling", "rate": 0.05},
    "dynamodb:BatchGetItem": {"kind": "partial", "rate": 0.10},
    "states:StartExecution": {"kind": "throttling", "rate": 0.10},
    "states:SendTaskSuccess": {"kind": "throttling", "rate": 0.10},
    "states:SendTaskFailure": {"kind": "throttling", "rate": 0.10},
    "states:SendTaskHeartbeat": {"kind": "throttling", "rate": 0.10},
    "states:DescribeExecution": {"kind": "throttling", "rate": 0.10},
    "events:PutEvents": {"kind": "partial", "rate": 0.10},
}
FAILING: dict[str, dict[str, Any]] = {
    "dynamodb:TransactWriteItems": {"kind": "conflict", "rate": 0.10},
    "dynamodb:UpdateItem": {"kind": "timeout", "rate": 0.02, "latency_ms": TIMEOUT_MS},
    "dynamodb:PutItem": {"kind": "server-error", "rate": 0.05},
    "dynamodb:DeleteItem": {"kind": "server-error", "rate": 0.05},
    "dynamodb:GetItem": {"kind": "server-error", "rate": 0.05},
    "dynamodb:Query": {"kind": "timeout", "rate": 0.02, "latency_ms": TIMEOUT_MS},
    "dynamodb:BatchGetItem": {"kind": "server-error", "rate": 0.05},
    "states:StartExecution": {"kind": "server-error", "rate": 0.05},
    "states:SendTaskSuccess": {"kind": "timeout", "rate": 0.02, "latency_ms": TIMEOUT_MS},
    "states:SendTaskFailure": {"kind": "server-error", "rate": 0.05},
    "states:SendTaskHeartbeat": {"kind": "unavailable", "rate": 0.05},
    "states:DescribeExecution": {"kind": "server-error", "rate": 0.05},
    "events:PutEvents": {"kind": "timeout", "rate": 0.02, "latency_ms": TIMEOUT_MS},
}
PLANS = {"chaos-aws-throttled": (THROTTLED, 101), "chaos-aws-failing": (FAILING, 211)}
"""Each stack's rules and the first of its seeds (one seed per operation)."""

STOREFRONT_DEADLINE_SECONDS = 60.0
"""How long a storefront keeps sending an order answered 503 (or not answered) before it tells the shopper."""
DEFAULT_RETRY_AFTER_SECONDS = 1.0
SETTLE_DEADLINE_SECONDS = 90.0
"""How long orders the API wrote but never accepted (the storefront gave up) are awaited: long enough for the
reconciler to start or fail one (it takes orders RECEIVED for at least the API's timeout, 10 s)."""
SETTLE_POLL_SECONDS = 1.0
RECONCILED_ERROR = "OrderNotStartedError"
"""``failure.error`` of an order the reconciler of stranded orders failed (``tasks.logic.reconciliation``)."""

NO_ORDER_STRANDED = (
    "no order stranded: every order ends terminal with an execution, or the reconciler failed it "
    "(OrderNotStartedError, nothing charged or reserved, no execution running)"
)
ONLY_503 = "no 5xx other than 503 to any caller, and every request answered"
RETRY_AFTER_ON_503 = "every 503 carries Retry-After"
VALID_ORDERS_ACCEPTED = "no valid order refused: only an order for an unknown SKU is answered 4xx"
EVENTS_PUBLISHED_OR_DEAD_LETTERED = "every timeline entry's event published or named by the stream's dead-letter queue"
NOTHING_PUBLISHED_OUTSIDE_TIMELINE = "every event published is an entry of its order's timeline"
EVENTS_KEEP_THEIR_FORM = "every event fits the schema and carries nothing sensitive"
AWS_CHAOS_INVARIANTS = (
    NO_ORDER_STRANDED,
    *ORDER_INVARIANTS,
    ONLY_503,
    RETRY_AFTER_ON_503,
    VALID_ORDERS_ACCEPTED,
    EVENTS_PUBLISHED_OR_DEAD_LETTERED,
    NOTHING_PUBLISHED_OUTSIDE_TIMELINE,
    EVENTS_KEEP_THEIR_FORM,
    *CROSS_ORDER_INVARIANTS,
)
_KINDS = {kind.value for kind in LedgerEntryKind}


def aws_fault_rules(plan: Mapping[str, Mapping[str, Any]], seed: int) -> dict[str, dict[str, Any]]:
    """``plan``'s rules, each operation with its own seed, as ``ORDERS_AWS_FAULTS`` takes them.

    Example
    -------
    >>> aws_fault_rules({"states:StartExecution": {"kind": "throttling", "rate": 0.1}}, 7)
    {'states:StartExecution': {'kind': 'throttling', 'rate': 0.1, 'seed': 7}}
    """
    return {operation: {**rule, "seed": seed + index} for index, (operation, rule) in enumerate(plan.items())}


def storefront_submit(
    stack: BenchStack, shopper: Shopper, body: dict[str, Any], headers: dict[str, str] | None, label: str
) -> Submission:
    """POST /orders as a storefront does: a 503, or no answer, is sent again with the same Idempotency-Key after
    ``Retry-After`` (1 s without one), until ``STOREFRONT_DEADLINE_SECONDS``; the last answer is the submission's."""
    sent_at, started = time.time(), time.monotonic()
    give_up = started + STOREFRONT_DEADLINE_SECONDS
    attempts = 0
    while True:
        attempts += 1
        try:
            response = stack.api.request("POST", "/orders", body, headers=headers, caller=shopper)
        except OSError as error:
            stack.api.answers.add("shopper", 0, {}, "POST /orders", f"{type(error).__name__}: {error}")
            status, order_id, wait = 0, None, DEFAULT_RETRY_AFTER_SECONDS
        else:
            status = response.status
            order_id = response.body.get("orderId") if isinstance(response.body, dict) else None
            wait = _retry_after(response.headers)
        if status not in (0, 503) or time.monotonic() + wait > give_up:
            return Submission(shopper.sub, sent_at, time.monotonic() - started, status, order_id, attempts=attempts)
        time.sleep(wait)


def _retry_after(headers: Mapping[str, str]) -> float:
    value = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS


def is_reconciled(order: Mapping[str, Any]) -> bool:
    """Whether the reconciler of stranded orders failed the order (it never started)."""
    return (
        order.get("status") == OrderStatus.FAILED.value
        and (order.get("failure") or {}).get("error") == RECONCILED_ERROR
    )


def broken_order_promises(
    order: Mapping[str, Any],
    ledger: Collection[LedgerEntryKind],
    execution: Mapping[str, Any] | None,
    children: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """The order invariants this order breaks, an order without an execution included.

    ``local.testkit.invariants.broken_invariants`` judges an order by its execution. An order the reconciler failed
    has none (or one that ended without taking it): it keeps its promises when nothing was charged or reserved and
    no execution of it still runs. Any other order without an execution is stranded.

    Example
    -------
    >>> broken_order_promises({"orderId": "o-1", "status": "RECEIVED", "timeline": []}, set(), None)
    ['no order stranded: every order ends terminal with an execution, or the reconciler failed it \
(OrderNotStartedError, nothing charged or reserved, no execution running)']
    """
    if is_reconciled(order):
        reserved = (order.get("reservation") or {}).get("status") == "RESERVED"
        running = execution is not None and execution.get("status") == "RUNNING"
        return [NO_ORDER_STRANDED] if ledger or reserved or running else []
    if execution is None:
        return [NO_ORDER_STRANDED]
    broken = broken_invariants(order, ledger, execution, children)
    return [NO_ORDER_STRANDED, *broken] if ORDER_INVARIANTS[0] in broken else broken


def broken_event_delivery(
    order: Mapping[str, Any], published: Sequence[Mapping[str, Any]], dead_lettered: Collection[tuple[int, str]]
) -> list[str]:
    """The event promises an order breaks when AWS fails: each timeline entry's event was published or the stream's
    dead-letter queue names its record, nothing published is outside the timeline (duplicates are allowed: delivery
    is at least once), and every event fits the schema and carries nothing sensitive.

    ``published`` are the ``detail`` of the order's events read from the bus; ``dead_lettered`` the (sequence,
    status) of the order's entries the dead-letter queue names (``dead_lettered_entries``).

    Example
    -------
    >>> order = {"orderId": "o-1", "timeline": [{"status": "RECEIVED"}, {"status": "VALIDATED"}]}
    >>> broken_event_delivery(order, [], {(1, "RECEIVED")})
    ["every timeline entry's event published or named by the stream's dead-letter queue"]
    """
    timeline = {(position, entry["status"]) for position, entry in enumerate(order.get("timeline", []), start=1)}
    received = {(event.get("sequence"), event.get("status")) for event in published}
    broken = []
    if timeline - received - set(dead_lettered):
        broken.append(EVENTS_PUBLISHED_OR_DEAD_LETTERED)
    if received - timeline:
        broken.append(NOTHING_PUBLISHED_OUTSIDE_TIMELINE)
    if any(promise != EVENTS_MATCH_TIMELINE for promise in broken_event_promises(order, published)):
        broken.append(EVENTS_KEEP_THEIR_FORM)
    return broken


def broken_caller_promises(answers: Mapping[str, Any]) -> dict[str, list[str]]:
    """What the callers of the API were promised and did not get, from ``AnswerTally.figures()``: no 5xx but 503
    (status 0, no answer at all, counts as broken too), and ``Retry-After`` on every 503.

    Example
    -------
    >>> broken_caller_promises({"statuses": {"shopper": {"202": 9, "502": 1}}, "unavailable_without_retry_after": 0})
    {'no 5xx other than 503 to any caller, and every request answered': ['shopper: 1 answered 502'], \
'every 503 carries Retry-After': []}
    """
    wrong = [
        f"{caller}: {count} {'answered ' + status if status != '0' else 'not answered'}"
        for caller, statuses in answers["statuses"].items()
        for status, count in statuses.items()
        if status == "0" or (int(status) >= 500 and status != "503")
    ]
    missing = answers["unavailable_without_retry_after"]
    return {ONLY_503: wrong, RETRY_AFTER_ON_503: [f"{missing} 503s without Retry-After"] if missing else []}


def dead_lettered_entries(
    dead_letters: Iterable[Mapping[str, Any]], records: Iterable[Mapping[str, Any]]
) -> dict[str, set[tuple[int, str]]]:
    """The (sequence, status) of every timeline entry, by order, whose stream record a dead-letter message names.

    A message (Lambda's on-failure record for a stream) names a shard and a range of sequence numbers, not the data:
    ``records`` are the stream's records, read again, and each named record's new timeline entries are its events.

    Example
    -------
    >>> message = {"DDBStreamBatchInfo": {"shardId": "s", "startSequenceNumber": "2", "endSequenceNumber": "2"}}
    >>> image = {"orderId": {"S": "o-1"}, "timeline": {"L": [{"M": {"status": {"S": "RECEIVED"}, "at": {"S": "t"}}}]}}
    >>> record = {"shardId": "s", "dynamodb": {"SequenceNumber": "2", "NewImage": image}}
    >>> dead_lettered_entries([message], [record])
    {'o-1': {(1, 'RECEIVED')}}
    """
    ranges = [
        (info["shardId"], int(info["startSequenceNumber"]), int(info["endSequenceNumber"]))
        for info in (message["DDBStreamBatchInfo"] for message in dead_letters)
    ]
    named: dict[str, set[tuple[int, str]]] = {}
    for record in records:
        change = record["dynamodb"]
        number = int(change["SequenceNumber"])
        if not any(shard == record["shardId"] and first <= number <= last for shard, first, last in ranges):
            continue
        old, new = (from_item(change[image]) if image in change else None for image in ("OldImage", "NewImage"))
        for event in status_changes(old, new):
            named.setdefault(event.orderId, set()).add((event.sequence, event.status.value))
    return named


class DeadLetters:
    """The stream's dead-letter queue, emptied as it is read, and the stream's records, read once each.

    ``entries()`` reads what arrived since the last call: the events the queue names so far.
    """

    def __init__(self, stack: BenchStack):
        session = boto3.session.Session(
            aws_access_key_id=UNFAULTED_ACCESS_KEY_ID, aws_secret_access_key="local", region_name=REGION
        )
        self._sqs = session.client("sqs", endpoint_url=stack.aws_endpoint)
        self._streams = session.client("dynamodbstreams", endpoint_url=stack.aws_endpoint)
        self._url = self._sqs.get_queue_url(QueueName=ORDER_EVENTS.dead_letter_queue)["QueueUrl"]
        dynamodb = session.client("dynamodb", endpoint_url=stack.aws_endpoint)
        self._stream_arn = dynamodb.describe_table(TableName=ORDERS_TABLE.local_name)["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str] = {}
        self._lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self._records: list[dict[str, Any]] = []

    def entries(self) -> dict[str, set[tuple[int, str]]]:
        with self._lock:
            self._read_queue()
            if self.messages:
                self._read_stream()
            return dead_lettered_entries(self.messages, self._records)

    def keys(self) -> set[tuple[str, int]]:
        """(orderId, sequence) of every entry the queue names: what ``EventsQueue.collect`` need not wait for."""
        return {(order_id, sequence) for order_id, named in self.entries().items() for sequence, _ in named}

    def _read_queue(self) -> None:
        for _ in range(10_000):
            messages = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            self.messages += [json.loads(message["Body"]) for message in messages]
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )

    def _read_stream(self) -> None:
        shards = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]["Shards"]
        for shard_id in (shard["ShardId"] for shard in shards):
            iterator = (
                self._iterators.get(shard_id)
                or self._streams.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            for _ in range(100_000):
                page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                self._records += [{**record, "shardId": shard_id} for record in page["Records"]]
                iterator = page.get("NextShardIterator") or iterator
                if not page["Records"]:
                    break
            self._iterators[shard_id] = iterator


def refused_wrongly(order: Mapping[str, Any], status: int) -> bool:
    """A 4xx to an order with nothing wrong in it: only an unknown SKU may be refused (the mix has no other fault).

    Example
    -------
    >>> refused_wrongly(chaos_order(0), 422) == (not names_unknown_sku(chaos_order(0)))
    True
    """
    return 400 <= status < 500 and not names_unknown_sku(order)


def run_chaos_aws_stack(
    name: str, rules: dict[str, Any], orders: int, deadline_seconds: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chaos orders through a fresh stack with AWS-API fault ``rules``, ``orders`` of them valid (plus the orders for
    an unknown SKU among them); its invariants, and the faults its rules injected per operation (read from the report
    the stack writes when it stops)."""
    report = aws_faults_report(name)
    report.unlink(missing_ok=True)
    count = submissions_for(orders)
    keys = [f"{name}-{index}" for index in range(count)]
    refused: list[str] = []

    def submit(
        stack: BenchStack, shopper: Shopper, body: dict[str, Any], headers: dict[str, str] | None, label: str
    ) -> Submission:
        submission = storefront_submit(stack, shopper, body, headers, label)
        if refused_wrongly(body, submission.status):
            refused.append(f"{(headers or {}).get('Idempotency-Key')}: {submission.status} to a valid order")
        return submission

    with start_stack(name, warehouse_delay="off", time_scale=CHAOS_TIME_SCALE, aws_faults=rules) as stack:
        stack.put_product(PLENTY_SKU, PLENTY_STOCK)
        stack.put_product(SCARCE_SKU, SCARCE_STOCK)
        shoppers = stack.shoppers()
        with (
            EventsQueue(stack) as events_queue,
            BenchWarehouse(stack, shoppers, heartbeats=True) as warehouse,
        ):
            started = time.monotonic()
            run = drive(
                stack,
                count,
                chaos_order,
                shoppers=shoppers,
                in_flight=32,
                clients=8,
                label=name,
                deadline_seconds=deadline_seconds,
                headers=lambda index: {"Idempotency-Key": keys[index]},
                submit=submit,
            )
            placed_by = {key: shoppers[index % len(shoppers)].sub for index, key in enumerate(keys)}
            settled = await_settled(stack, set(placed_by.values()))
            accepted = {submission.order_id for submission in run.accepted}
            checked = check_aws_invariants(stack, placed_by, accepted, events_queue, refused)
            seconds = time.monotonic() - started
        checked["warehouse_answers"] = dict(warehouse.answers)
        checked["refused_though_taken"] = refused_though_taken(stack, warehouse.refused)
    submissions = run.submissions
    checked.update(
        settled=run.settled and settled,
        seconds=round(seconds, 1),
        submitted=len(submissions),
        accepted=len(run.accepted),
        retried_orders=sum(1 for submission in submissions if submission.attempts > 1),
        storefront_gave_up=sum(1 for submission in submissions if submission.status in (0, 503)),
        faults=_injected(report),
    )
    return checked, rules


def _injected(report: Path) -> dict[str, Any]:
    """The stack's report of the faults it injected; a stack killed at stop writes none, and that is said."""
    if not report.exists():
        print(f"  {report.name} is missing: the stack did not stop cleanly, see its log", file=sys.stderr, flush=True)
        return {}
    return json.loads(report.read_text())


ENDS_AS = {"SHIPPED": OrderStatus.COMPLETED.value, "FAILED": OrderStatus.FAILED.value, "CANCEL": "CANCELLED"}
"""The status an order ends in when the workflow took the warehouse's (or the shopper's) answer."""


def refused_though_taken(stack: BenchStack, refused: Mapping[str, str]) -> list[str]:
    """The callbacks the API answered 409 although the workflow took them: the order ended as the answer asked.

    That happens when Step Functions carried out a SendTaskSuccess (or SendTaskFailure) and its answer was lost: the
    SDK sends it again, and the token is gone by then.
    """
    taken = []
    for order_id, answer in sorted(refused.items()):
        item = stack.dynamodb.get_item(TableName=ORDERS_TABLE.local_name, Key={"orderId": {"S": order_id}})
        status = from_item(item["Item"])["status"] if "Item" in item else None
        if status == ENDS_AS[answer]:
            taken.append(f"{order_id}: {answer} answered 409, order {status}")
    return taken


def await_settled(stack: BenchStack, customers: set[str]) -> bool:
    """Wait (with a deadline) until every order of ``customers`` in the table is terminal: the driver awaited only
    the orders it saw accepted, and the reconciler may still be starting or failing one the storefront gave up on."""
    give_up = time.monotonic() + SETTLE_DEADLINE_SECONDS
    while True:
        orders = stack.scan("orders")
        if all(OrderStatus(order["status"]).is_terminal for order in orders if order.get("customerId") in customers):
            return True
        if time.monotonic() > give_up:
            return False
        time.sleep(SETTLE_POLL_SECONDS)


def check_aws_invariants(
    stack: BenchStack,
    placed_by: Mapping[str, str],
    accepted: set[str | None],
    events_queue: EventsQueue,
    refused: Sequence[str] = (),
) -> dict[str, Any]:
    """Every invariant over every order of the bench shoppers in the table, accepted or not.

    ``placed_by`` maps each Idempotency-Key the storefront sent to the ``sub`` of the shopper who sent it: an order
    records its key, so even an order whose every answer was a 503 is checked against its placer. ``refused`` are
    the valid orders the API answered 4xx.
    """
    shoppers = set(placed_by.values())
    orders = {item["orderId"]: item for item in stack.scan("orders") if item.get("customerId") in shoppers}
    order_ids = sorted(orders.keys() | {order_id for order_id in accepted if order_id})
    ledger: dict[str, list[dict[str, Any]]] = {}
    for entry in stack.scan("payments-ledger"):
        ledger.setdefault(entry["orderId"], []).append(entry)
    describe = describe_executions(stack)

    def execution_of(order_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        try:
            return describe(order_id)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None, []
            raise

    with ThreadPoolExecutor(max_workers=8) as pool:
        executions = dict(zip(order_ids, pool.map(execution_of, order_ids), strict=True))
        give_up = time.monotonic() + SETTLE_DEADLINE_SECONDS
        while ending := [
            order_id for order_id in order_ids if _still_ending(orders.get(order_id), executions[order_id])
        ]:
            if time.monotonic() > give_up:
                break
            time.sleep(SETTLE_POLL_SECONDS)
            executions.update(zip(ending, pool.map(execution_of, ending), strict=True))
    dead_letters = DeadLetters(stack)
    timelines = {order_id: len(orders.get(order_id, {}).get("timeline", [])) for order_id in order_ids}
    events, event_figures = events_queue.collect(timelines, accounted_for=dead_letters.keys)
    dead_lettered = dead_letters.entries()
    failures: dict[str, list[str]] = {name: [] for name in AWS_CHAOS_INVARIANTS}
    statuses: Counter[str] = Counter()
    for order_id in order_ids:
        order = orders.get(order_id)
        if order is None:
            failures[ORDER_INVARIANTS[0]].append(f"{order_id}: accepted, and no record")
            continue
        statuses[order["status"]] += 1
        placer = placed_by.get(order.get("idempotencyKey", ""))
        if order.get("customerId") != placer:
            failures[OWNED_BY_PLACER].append(f"{order_id}: stored for {order.get('customerId')}, placed by {placer}")
        kinds = {LedgerEntryKind(entry["entry"]) for entry in ledger.get(order_id, []) if entry["entry"] in _KINDS}
        execution, children = executions[order_id]
        for broken in broken_order_promises(order, kinds, execution, children):
            failures[broken].append(_order_difference(order, kinds, execution, children, order_id in accepted))
        for broken in broken_event_delivery(order, events[order_id], dead_lettered.get(order_id, set())):
            failures[broken].append(_events_difference(order, events[order_id], dead_lettered.get(order_id, set())))
    for name, broken in broken_caller_promises(stack.api.answers.figures()).items():
        failures[name] += broken
    failures[VALID_ORDERS_ACCEPTED] += refused
    check_captures(ledger, failures)
    check_stock(stack, orders, failures)
    named = {(order_id, sequence) for order_id, entries in dead_lettered.items() for sequence, _ in entries}
    return {
        "orders": len(order_ids),
        "not_accepted": len([order_id for order_id in order_ids if order_id not in accepted]),
        "reconciled": sum(1 for order in orders.values() if is_reconciled(order)),
        "events": {
            **event_figures,
            "dead_letter_messages": len(dead_letters.messages),
            "dead_lettered": len(named),
            "missing": len(_timeline_keys(orders) - _received_keys(events) - named),
        },
        "answers": stack.api.answers.figures(),
        "statuses": dict(sorted(statuses.items())),
        "invariants": {name: not broken for name, broken in failures.items()},
        "violations": {name: len(broken) for name, broken in failures.items()},
        "examples": {name: broken[:5] for name, broken in failures.items() if broken},
    }


def _still_ending(
    order: Mapping[str, Any] | None, execution: tuple[Mapping[str, Any] | None, Sequence[Mapping[str, Any]]]
) -> bool:
    """A terminal order whose execution still runs: its last task wrote the order and has not returned yet (an
    injected timeout holds its answer back, and the task retries the write)."""
    described, _ = execution
    terminal = order is not None and OrderStatus(order["status"]).is_terminal
    return terminal and described is not None and described.get("status") == "RUNNING"


def _timeline_keys(orders: Mapping[str, Mapping[str, Any]]) -> set[tuple[str, int]]:
    return {
        (order_id, sequence)
        for order_id, order in orders.items()
        for sequence in range(1, len(order.get("timeline", [])) + 1)
    }


def _received_keys(events: Mapping[str, Sequence[Mapping[str, Any]]]) -> set[tuple[str, int]]:
    return {(order_id, event.get("sequence")) for order_id, details in events.items() for event in details}


def _order_difference(
    order: Mapping[str, Any],
    ledger: Collection[LedgerEntryKind],
    execution: Mapping[str, Any] | None,
    children: Sequence[Mapping[str, Any]],
    accepted: bool,
) -> str:
    """How an order ended, for a broken invariant: enough to find it in the stack's log and the console."""
    timeline = " ".join(entry["status"] for entry in order.get("timeline", []))
    failure = order.get("failure") or {}
    outcomes = "/".join(child.get("status", "?") for child in children) or "none"
    return (
        f"{order['orderId']} ({'accepted' if accepted else 'never accepted'}): {order['status']}"
        f"{' ' + failure.get('error', '') if failure else ''}, timeline {timeline}, "
        f"execution {execution.get('status') if execution else 'none'}, preparations {outcomes}, "
        f"ledger {'/'.join(sorted(kind.value for kind in ledger)) or 'none'}, "
        f"reservation {(order.get('reservation') or {}).get('status', 'none')}"
    )


def _events_difference(
    order: Mapping[str, Any], events: Sequence[Mapping[str, Any]], dead_lettered: Collection[tuple[int, str]]
) -> str:
    timeline = " ".join(f"{n}:{entry['status']}" for n, entry in enumerate(order.get("timeline", []), start=1))
    received = " ".join(f"{event.get('sequence')}:{event.get('status')}" for event in events) or "none"
    named = " ".join(f"{sequence}:{status}" for sequence, status in sorted(dead_lettered)) or "none"
    return f"{order['orderId']}: timeline {timeline}, events {received}, dead-lettered {named}"


def faults_by_operation(reports: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The stacks' fault reports merged per operation: calls seen, and faults injected by kind.

    Example
    -------
    >>> faults_by_operation([{"events:PutEvents": {"calls": 90, "faults": 9, "kind": "partial"}},
    ...                      {"events:PutEvents": {"calls": 80, "faults": 2, "kind": "timeout"}}])
    {'events:PutEvents': {'calls': 170, 'faults': {'partial': 9, 'timeout': 2}}}
    """
    merged: dict[str, dict[str, Any]] = {}
    for report in reports:
        for operation, entry in report.items():
            into = merged.setdefault(operation, {"calls": 0, "faults": {}})
            into["calls"] += entry["calls"]
            kind = entry.get("kind") or "latency"
            into["faults"][kind] = into["faults"].get(kind, 0) + entry["faults"]
    return dict(sorted(merged.items()))


def run_chaos_aws(orders_per_stack: int, deadline_seconds: float) -> dict[str, Any]:
    """Both AWS-fault stacks side by side; the merged invariants, the callers' answers and the injected faults.

    Example
    -------
    >>> run_chaos_aws(500, deadline_seconds=480)["invariants"][NO_ORDER_STRANDED]  # doctest: +SKIP
    True
    """
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(PLANS)) as pool:
        futures = {
            name: pool.submit(
                run_chaos_aws_stack, name, aws_fault_rules(plan, seed), orders_per_stack, deadline_seconds
            )
            for name, (plan, seed) in PLANS.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    per_stack = {name: checked for name, (checked, _) in results.items()}
    stacks = per_stack.values()
    answers: dict[str, Counter[str]] = {}
    for checked in stacks:
        for caller, counts in checked["answers"]["statuses"].items():
            answers.setdefault(caller, Counter()).update(counts)
    return {
        "orders": sum(checked["orders"] for checked in stacks),
        "accepted": sum(checked["accepted"] for checked in stacks),
        "settled": all(checked["settled"] for checked in stacks),
        "seconds": round(time.monotonic() - started, 1),
        "rules": {name: rules for name, (_, rules) in results.items()},
        "faults": faults_by_operation(checked["faults"] for checked in stacks),
        "answers": {caller: dict(sorted(counts.items())) for caller, counts in sorted(answers.items())},
        "answer_examples": {
            key: [example for checked in stacks for example in checked["answers"]["examples"].get(key, [])][:3]
            for key in sorted({key for checked in stacks for key in checked["answers"]["examples"]})
        },
        "retried_orders": sum(checked["retried_orders"] for checked in stacks),
        "refused_though_taken": [example for checked in stacks for example in checked["refused_though_taken"]],
        "storefront_gave_up": sum(checked["storefront_gave_up"] for checked in stacks),
        "reconciled": sum(checked["reconciled"] for checked in stacks),
        "events": {
            figure: sum(checked["events"][figure] for checked in stacks)
            for figure in ("expected", "received", "dead_lettered", "missing", "duplicates", "other_orders")
        },
        "statuses": dict(sorted(sum((Counter(checked["statuses"]) for checked in stacks), Counter()).items())),
        "invariants": {name: all(checked["invariants"][name] for checked in stacks) for name in AWS_CHAOS_INVARIANTS},
        "violations": {name: sum(checked["violations"][name] for checked in stacks) for name in AWS_CHAOS_INVARIANTS},
        "examples": {
            name: [example for checked in stacks for example in checked["examples"].get(name, [])][:5]
            for name in AWS_CHAOS_INVARIANTS
            if any(checked["examples"].get(name) for checked in stacks)
        },
        "per_stack": per_stack,
    }


def main() -> None:
    """``python -m bench.chaos_aws --orders-per-stack 50``: this phase alone, its summary as JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders-per-stack", type=int, default=500)
    parser.add_argument("--deadline-seconds", type=float, default=480.0)
    arguments = parser.parse_args()
    print(json.dumps(run_chaos_aws(arguments.orders_per_stack, arguments.deadline_seconds), indent=2))


if __name__ == "__main__":
    main()
