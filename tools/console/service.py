"""What the console shows and does, as JSON: reads from Step Functions and DynamoDB, actions through the order API.

Reads use only ListExecutions, DescribeExecution, GetExecutionHistory, DescribeStateMachine, and DynamoDB GetItem
and Query, so credentials that may read a deployed stack are enough; with an Express child in AWS, also
FilterLogEvents on its log group (``tools.console.nested``); and Cognito's ListUsers for the customers' e-mails
(``tools.console.customers``), without which each customer shows as its sub alone. Shipping and cancelling go
through the order API as an operator (``tools.console.api_caller``), so the console never bypasses the API's rules.

A task that runs a child state machine is drawn holding the child's states, colored by the child execution it
started (its own history: GetExecutionHistory, or its log group), and the child's events join the event history.

Payment tokens and task tokens never leave the console: every value it shows or returns is scrubbed by key, also
inside the JSON strings of the execution's input and output and of its history's events, the child's included
(``scrubbed``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import heapq
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.orders_repository import DynamoDBOrderRepository
from tasks.models.order import OrderStatus
from tools.console.api_caller import OrderApiCaller
from tools.console.customers import CustomerEmails
from tools.console.graph import (
    ExecutionTrace,
    StateGraph,
    child_state_id,
    nested_state_machines,
    nested_trace,
    trace_execution,
    workflow_graph,
)
from tools.console.layout import Layout, layout_graph
from tools.console.nested import ChildHistories, ChildRun, EngineHistories, started_children
from tools.console.render import render_svg
from tools.events import EventLog

EXECUTION_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
PAGE_SIZE = 20
COUNT_LIMIT = 1000
"""Counting pages through ListExecutions; past this a count shows as "1000+" rather than costing more calls."""
COUNTS_TTL_SECONDS = 5.0
SEARCH_LIMIT = 1000
HIDDEN_FIELDS = frozenset({"taskToken", "TaskToken", "paymentToken"})
"""A task token answers the execution's callback and a payment token charges a card: the console never shows them."""
HIDDEN = "(hidden)"
LOG = logging.getLogger(__name__)


class NotFoundError(LookupError):
    pass


class ConsoleService:
    """The console's reads and actions against one state machine, its orders table and its order API.

    ``child_histories`` is where child executions' events come from: GetExecutionHistory by default (the local
    engine keeps them for Express children too), ``nested.LogGroupHistories`` for a deployed stack.
    ``customers`` looks up each customer's e-mail in the user pool; without it, rows show the sub alone.

    Example
    -------
    >>> api = OrderApiCaller("http://127.0.0.1:3000", LocalOperator(cognito))  # doctest: +SKIP
    >>> service = ConsoleService(sfn, dynamodb, "orders", arn, api)  # doctest: +SKIP
    >>> service.executions(status="FAILED")["executions"][0]["orderStatus"]  # doctest: +SKIP
    'PAYMENT_DECLINED'
    """

    def __init__(
        self,
        stepfunctions: Any,
        dynamodb: Any,
        orders_table_name: str,
        state_machine_arn: str,
        api: OrderApiCaller,
        order_events: EventLog | None = None,
        child_histories: ChildHistories | None = None,
        customers: CustomerEmails | None = None,
    ):
        self._order_events = order_events
        self.customers = customers
        self._sfn = stepfunctions
        self.child_histories = child_histories or EngineHistories(stepfunctions)
        self._orders = DynamoDBOrderRepository(orders_table_name, dynamodb)
        self.state_machine_arn = state_machine_arn
        self.api = api
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="console-read")
        self._counts: tuple[float, dict[str, Any]] | None = None
        self._counts_lock = threading.Lock()
        self._pages = PageTokens()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._order_events is not None:
            self._order_events.stop()

    def execution_arn(self, name: str) -> str:
        """Execution ARNs follow from the state machine's: the console links by order id alone."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name

    def executions(
        self,
        status: str | None = None,
        order_status: str | None = None,
        search: str | None = None,
        page: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> dict[str, Any]:
        """One page of executions, newest first, each with its order's status; ``next`` is the following page.

        Filtering by order status reads the shards of the orders table's ``by-status-shard`` index, merged newest
        created first; a search is an exact order id, or else a part of one among the newest executions.

        Example
        -------
        >>> service.executions(order_status="PAYMENT_DECLINED", page_size=5)["next"]  # doctest: +SKIP
        'eyJvcmRlcnMiOiB7...'
        """
        _check_choice(status, EXECUTION_STATUSES, "status")
        _check_choice(order_status, tuple(s.value for s in OrderStatus), "orderStatus")
        if search:
            rows, next_page = self._search(search.strip(), status), None
        elif order_status:
            rows, next_page = self._by_order_status(order_status, status, page, page_size)
        else:
            rows, next_page = self._listed(status, page, page_size)
        orders = list(self._pool.map(self._order_or_none, [row["name"] for row in rows]))
        for row, order in zip(rows, orders, strict=True):
            row.update(_order_summary(order))
        self._add_emails(rows)
        if order_status:
            rows = [row for row in rows if row.get("orderStatus") == order_status]
        return {"executions": rows, "next": next_page}

    def _listed(self, status: str | None, page: str | None, page_size: int) -> tuple[list[dict], str | None]:
        request: dict[str, Any] = {"stateMachineArn": self.state_machine_arn, "maxResults": page_size}
        if status:
            request["statusFilter"] = status
        if page:
            request["nextToken"] = self._pages.decode(page, "executions")
        answer = self._sfn.list_executions(**request)
        token = answer.get("nextToken")
        return [_execution_row(e) for e in answer["executions"]], token and self._pages.encode("executions", token)

    def _by_order_status(
        self, order_status: str, status: str | None, page: str | None, page_size: int
    ) -> tuple[list[dict], str | None]:
        before = _listing_position(self._pages.decode(page, "orders")) if page else None
        orders, position = self._orders.with_status([OrderStatus(order_status)], page_size, before)
        described = self._pool.map(self._described_or_none, [order["orderId"] for order in orders])
        rows = [row for row in described if row is not None and (status is None or row["status"] == status)]
        return rows, position and self._pages.encode("orders", list(position))

    def _search(self, text: str, status: str | None) -> list[dict[str, Any]]:
        exact = self._described_or_none(text) if _plausible_name(text) else None
        if exact is not None:
            return [exact] if status in (None, exact["status"]) else []
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"stateMachineArn": self.state_machine_arn, "maxResults": 1000}
        if status:
            request["statusFilter"] = status
        scanned = 0
        while scanned < SEARCH_LIMIT:
            answer = self._sfn.list_executions(**request)
            scanned += len(answer["executions"])
            rows = [_execution_row(e) for e in answer["executions"]]
            found += [row for row in rows if text.lower() in row["name"].lower()]
            if not answer.get("nextToken"):
                break
            request["nextToken"] = answer["nextToken"]
        return found[:PAGE_SIZE]

    def _described_or_none(self, name: str) -> dict[str, Any] | None:
        try:
            return _execution_row(self._sfn.describe_execution(executionArn=self.execution_arn(name)))
        except ClientError as error:
            if error.response["Error"]["Code"] in {"ExecutionDoesNotExist", "InvalidArn"}:
                return None
            raise

    def _order_or_none(self, name: str) -> dict[str, Any] | None:
        """The order an execution is named after; an execution started by other means may have any name."""
        return self._orders.get(name) if _plausible_name(name) else None

    def counts(self) -> dict[str, Any]:
        """Executions per status (capped at ``COUNT_LIMIT``), cached for a few seconds: every open list polls it."""
        with self._counts_lock:
            if self._counts and time.monotonic() - self._counts[0] < COUNTS_TTL_SECONDS:
                return self._counts[1]
            counted = dict(zip(EXECUTION_STATUSES, self._pool.map(self._count, EXECUTION_STATUSES), strict=True))
            result = {
                "counts": {status: number for status, (number, _) in counted.items()},
                "capped": [status for status, (_, capped) in counted.items() if capped],
            }
            self._counts = (time.monotonic(), result)
            return result

    def _count(self, status: str) -> tuple[int, bool]:
        request: dict[str, Any] = {
            "stateMachineArn": self.state_machine_arn,
            "statusFilter": status,
            "maxResults": 1000,
        }
        total = 0
        while True:
            answer = self._sfn.list_executions(**request)
            total += len(answer["executions"])
            if not answer.get("nextToken"):
                return total, False
            if total >= COUNT_LIMIT:
                return total, True
            request["nextToken"] = answer["nextToken"]

    def execution(self, name: str) -> dict[str, Any]:
        """Everything the detail page shows: the execution, its colored graph, each state's run, the event
        history, and the order's record.

        Example
        -------
        >>> detail = service.execution("ord-1234")  # doctest: +SKIP
        >>> detail["states"]["PrepareOrder/AuthorizePayment"]["status"]  # doctest: +SKIP
        'caught'
        """
        described = scrubbed(self._described_raw(name))
        history = scrubbed(self._history(described["executionArn"]))
        definition = self._sfn.describe_state_machine(stateMachineArn=described["stateMachineArn"])["definition"]
        machines = self._child_machines(definition)
        graph, layout = _graph_and_layout(
            definition, tuple((task, machine["definition"]) for task, machine in machines.items())
        )
        trace = trace_execution(history, described["status"])
        children = self._children(history, trace, machines)
        child_traces = {child.task: trace_execution(child.history.events, child.history.status) for child in children}
        shown = nested_trace(trace, child_traces)
        order = scrubbed(self._order_or_none(name))
        started = described["startDate"]
        return {
            "execution": {
                **_execution_row(described),
                "input": described.get("input"),
                "output": described.get("output"),
                "error": described.get("error"),
                "cause": described.get("cause"),
            },
            "graphSvg": render_svg(graph, layout, shown),
            "states": {name: run.to_json() for name, run in shown.runs.items()},
            "children": [child.to_json() for child in children],
            "events": _event_rows(history, trace, children, child_traces, started),
            "order": order,
            "customerEmail": self._customer_email(order),
            "orderEvents": None if self._order_events is None else self._order_events.events(name),
            "actions": {
                "stop": described["status"] == "RUNNING",
                "shipment": bool(order) and order.get("status") == OrderStatus.AWAITING_SHIPMENT.value,
            },
        }

    def _add_emails(self, rows: list[dict[str, Any]]) -> None:
        """Each row's ``customerEmail``, where the pool has one: the lookups run at once, a failed one gives none."""
        subs = [row["customerId"] for row in rows if row.get("customerId")]
        emails = self.customers.emails(subs, self._pool.map) if self.customers and subs else {}
        for row in rows:
            row["customerEmail"] = emails.get(row.get("customerId"))

    def _customer_email(self, order: dict[str, Any] | None) -> str | None:
        if not order or not self.customers or not isinstance(order.get("customerId"), str):
            return None
        return self.customers.email(order["customerId"])

    def _child_machines(self, definition: str) -> dict[str, dict[str, Any]]:
        """DescribeStateMachine of each machine a task of ``definition`` runs; one the console may not read (or
        that is gone) is drawn as a plain task."""
        machines = {}
        for task, arn in nested_state_machines(definition).items():
            try:
                machines[task] = self._sfn.describe_state_machine(stateMachineArn=arn)
            except ClientError as error:
                LOG.warning("cannot draw %s inside %s: %s", arn, task, error)
        return machines

    def _children(
        self, history: list[dict[str, Any]], trace: ExecutionTrace, machines: dict[str, dict[str, Any]]
    ) -> list[ChildRun]:
        """The child execution each nesting task ran last, with its (scrubbed) history."""
        children = []
        for task, (arn, submitted) in started_children(history, trace.state_of_event).items():
            if task not in machines:
                continue
            started = submitted if isinstance(submitted, datetime) else None
            child_history = self.child_histories.history(arn, machines[task], started)
            shown = replace(child_history, events=scrubbed(child_history.events))
            children.append(ChildRun(task, arn, machines[task]["stateMachineArn"], shown))
        return children

    def _described_raw(self, name: str) -> dict[str, Any]:
        try:
            return self._sfn.describe_execution(executionArn=self.execution_arn(name))
        except ClientError as error:
            if error.response["Error"]["Code"] in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise NotFoundError(f"no execution named {name!r}") from None
            raise

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self._sfn.get_execution_history(**request)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            request["nextToken"] = page["nextToken"]

    def stop(self, name: str) -> dict[str, Any]:
        """StopExecution: the execution ends ABORTED; the order keeps the status it had."""
        arn = self._described_raw(name)["executionArn"]
        answer = self._sfn.stop_execution(executionArn=arn, error="StoppedFromConsole", cause="stopped in the console")
        return {"stopDate": _iso(answer.get("stopDate"))}

    def order_action(self, order_id: str, action: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST to the order API's own path (``shipment`` or ``cancel``) and hand back its status and answer.

        Example
        -------
        >>> shipped = {"outcome": "SHIPPED", "trackingNumber": "1Z9"}
        >>> service.order_action("ord-1234", "shipment", shipped)  # doctest: +SKIP
        (202, {'orderId': 'ord-1234', 'accepted': 'SHIPPED'})
        """
        if action not in {"shipment", "cancel"}:
            raise NotFoundError(f"no order action {action!r}")
        status, answer = self.api.post(f"/orders/{urllib.parse.quote(order_id, safe='')}/{action}", body)
        return status, scrubbed(answer)


@functools.lru_cache(maxsize=8)
def _graph_and_layout(definition: str, children: tuple[tuple[str, str], ...] = ()) -> tuple[StateGraph, Layout]:
    """Laying out is the costly part and depends on the definitions alone, so each set is laid out once.

    ``children`` pairs each task that runs a child state machine with that machine's definition.
    """
    graph = workflow_graph(definition, dict(children))
    return graph, layout_graph(graph)


def _check_choice(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def _plausible_name(text: str) -> bool:
    return 0 < len(text) <= 80 and all(c.isalnum() or c in "-_" for c in text)


class PageTokens:
    """The console's page tokens: the listing's own position, signed with a key of this console process.

    A page token goes to the browser and comes back, so it is input. A token this console did not hand out (forged,
    altered, from another listing, or from before a restart) is a ``ValueError`` (400) before Step Functions or
    DynamoDB sees it, instead of a ``KeyError`` (500) or a position made up by the caller.

    Example
    -------
    >>> pages = PageTokens()
    >>> pages.decode(pages.encode("orders", {"orderId": "ord-1"}), "orders")
    {'orderId': 'ord-1'}
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def encode(self, listing: str, position: Any) -> str:
        payload = base64.urlsafe_b64encode(json.dumps({listing: position}).encode()).decode()
        return f"{payload}.{self._signature(payload)}"

    def decode(self, page: str, listing: str) -> Any:
        payload, _, signature = page.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            raise ValueError("page is not a page token this console handed out; start again from the first page")
        position = json.loads(base64.urlsafe_b64decode(payload.encode()))
        if listing not in position:
            raise ValueError("page is a page of another listing; start again from the first page")
        return position[listing]

    def _signature(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


def _listing_position(value: Any) -> tuple[str, str]:
    """A page token's place in the orders listing: the last order's creation time and id."""
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value)):
        raise ValueError("page is not a page token this console handed out")
    return value[0], value[1]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _execution_row(execution: dict[str, Any]) -> dict[str, Any]:
    """Also for executions the API did not start: an ARN always ends in the execution's name, a name may be missing."""
    return {
        "name": execution.get("name") or execution["executionArn"].rsplit(":", 1)[-1],
        "executionArn": execution["executionArn"],
        "status": execution["status"],
        "startDate": _iso(execution.get("startDate")),
        "stopDate": _iso(execution.get("stopDate")),
    }


def _order_summary(order: dict[str, Any] | None) -> dict[str, Any]:
    if order is None:
        return {"orderStatus": None}
    return {
        "orderStatus": order.get("status"),
        "customerId": order.get("customerId"),
        "totalCents": order.get("totalCents"),
        "currency": order.get("currency"),
    }


def scrubbed(value: Any) -> Any:
    """``value`` with every ``HIDDEN_FIELDS`` key's value replaced, at any depth, also inside JSON strings.

    Step Functions keeps inputs, outputs, parameters and causes as JSON strings (a cause may nest a Lambda error's
    JSON in another string), so strings that parse as JSON are scrubbed too. A string with nothing to hide is
    returned as it was, so a failure's cause reads exactly as Step Functions holds it.

    Example
    -------
    >>> scrubbed({"input": '{"orderId": "ord-1", "Payload": {"taskToken": "AAAA"}}'})
    {'input': '{"orderId": "ord-1", "Payload": {"taskToken": "(hidden)"}}'}
    """
    if isinstance(value, dict):
        return {key: HIDDEN if key in HIDDEN_FIELDS else scrubbed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrubbed(item) for item in value]
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "[", '"'):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        cleaned = scrubbed(parsed)
        return value if cleaned == parsed else json.dumps(cleaned, ensure_ascii=False)
    return value


def _event_rows(
    history: list[dict[str, Any]],
    trace: ExecutionTrace,
    children: list[ChildRun],
    child_traces: dict[str, ExecutionTrace],
    started: datetime,
) -> list[dict[str, Any]]:
    """The parent's events and each child's, merged by time; each list keeps its own order, and a child's rows name
    the task whose execution they belong to (``execution``) and its states as the graph keys them."""
    rows = [[_event_row(event, trace.state_of_event, started) for event in history]]
    for child in children:
        states = {
            event_id: child_state_id(child.task, state)
            for event_id, state in child_traces[child.task].state_of_event.items()
        }
        rows.append([_event_row(event, states, started, child.task) for event in child.history.events])
    return list(heapq.merge(*rows, key=_row_time))


def _row_time(row: dict[str, Any]) -> float:
    """Rows without a comparable time (a hand-made history) keep their place."""
    return row["elapsedMs"] if row["elapsedMs"] is not None else float("-inf")


def _event_row(
    event: dict[str, Any], state_of_event: dict[int, str], started: datetime, execution: str | None = None
) -> dict[str, Any]:
    details = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
    timestamp = event["timestamp"]
    return {
        "id": event["id"],
        "execution": execution,
        "type": event["type"],
        "state": state_of_event.get(event["id"]),
        "timestamp": _iso(timestamp),
        "elapsedMs": round((timestamp - started).total_seconds() * 1000) if isinstance(timestamp, datetime) else None,
        "error": details.get("error"),
        "cause": details.get("cause"),
    }
