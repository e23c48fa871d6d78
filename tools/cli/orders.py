"""The order commands: ``submit``, ``products``, ``status``, ``list``, ``watch``, ``ship`` and ``cancel``."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.stepfunctions.child_executions import EnteredState, ExecutionTrail
from local.provisioning import local_state_machine_arn
from local.simulators.catalog import SAMPLE_ADDRESS
from tasks.logic.ordering import MAX_PAGE
from tasks.models.order import PROGRESS, TERMINAL_STATUSES, OrderStatus
from tools.cli.api import OrdersApi
from tools.cli.endpoints import aws_client, local_aws_endpoint
from tools.cli.exit_codes import EXIT_OK, EXIT_ORDER_FAILED, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_USAGE, CliError
from tools.cli.output import money, print_json, say, visible
from tools.events import failure_text
from workflows.resources import ORDER_WORKFLOW

DEFAULT_PAGE = 20
MAX_PAGES = 1000
"""``list --all`` reads at most this many pages (100,000 orders): one command's load on the API stays bounded."""


FIRST_ORDER = {
    "items": [{"sku": "KB-TKL-01", "quantity": 1}],
    "paymentToken": "tok_ok",
    "shippingAddress": SAMPLE_ADDRESS,
}
"""The order the banner's curl submits, and what ``submit --item`` leaves out comes from: no customerId, the API takes
the customer from the token."""


ORDER_OPTIONS = ("--payment-token", "--name", "--line1", "--city", "--postal-code", "--country")
"""The options that make an order with ``--item``; ``--file`` holds the whole order, so they contradict it."""


def order_line(text: str) -> dict[str, Any]:
    """``--item SKU=QUANTITY`` as a line of the order, checked before anything is sent.

    Example
    -------
    >>> order_line("KB-TKL-01=2")
    {'sku': 'KB-TKL-01', 'quantity': 2}
    """
    sku, _, quantity = text.partition("=")
    if not sku or not re.fullmatch("[0-9]+", quantity):
        raise argparse.ArgumentTypeError(f"{text!r}: use SKU=QUANTITY, e.g. KB-TKL-01=2")
    return {"sku": sku, "quantity": int(quantity)}


def order_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The order of ``--item`` and the address options; what they leave out is the banner's first order's."""
    address = FIRST_ORDER["shippingAddress"]
    given = {
        "name": args.name,
        "line1": args.line1,
        "city": args.city,
        "postalCode": args.postal_code,
        "country": args.country,
    }
    return {
        "items": args.item,
        "paymentToken": FIRST_ORDER["paymentToken"] if args.payment_token is None else args.payment_token,
        "shippingAddress": {key: address[key] if value is None else value for key, value in given.items()},
    }


def order_file(name: str) -> Any:
    """``--file``: the order's JSON, read and checked while the options are, before anything is sent."""
    try:
        with open(name, encoding="utf-8") as handle:
            order = json.load(handle)
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"cannot read {name}: {error}") from None
    if isinstance(order, dict) and "customerId" in order:
        raise argparse.ArgumentTypeError(f"{name}: remove customerId; the API takes the customer from your sign-in")
    return order


def order_to_submit(args: argparse.Namespace) -> Any:
    """The order of ``--file``, or of ``--item`` and the address options, which contradict ``--file``."""
    if args.item:
        return order_from_flags(args)
    given = [option for option in ORDER_OPTIONS if getattr(args, option[2:].replace("-", "_")) is not None]
    if given:
        raise CliError(EXIT_USAGE, f"--file holds the whole order: drop {' '.join(given)}")
    return args.order


def cmd_submit(api: OrdersApi, order: Any, idempotency_key: str | None) -> int:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    print_json(api.call("POST", "/orders", order, headers))
    return EXIT_OK


PRODUCT_COLUMNS = ("SKU", "NAME", "PRICE", "STOCK")


def cmd_products(api: OrdersApi, args: argparse.Namespace) -> int:
    """The catalog, one product a line: what ``--item SKU=QUANTITY`` can order. Public: nothing is signed."""
    products = api.call("GET", "/products")
    if args.json:
        print_json(products)
        return EXIT_OK
    if not products:
        say("no products")
        return EXIT_OK
    rows = [
        (product["sku"], product["name"], money(product, "priceCents"), str(product["stock"])) for product in products
    ]
    widths = [max(len(row[column]) for row in [PRODUCT_COLUMNS, *rows]) for column in range(3)]
    for sku, name, price, stock in [PRODUCT_COLUMNS, *rows]:
        say(f"{sku:<{widths[0]}}  {name:<{widths[1]}}  {price:>{widths[2]}}  {stock:>5}")
    return EXIT_OK


def cmd_status(api: OrdersApi, args: argparse.Namespace) -> int:
    order = api.call("GET", f"/orders/{urllib.parse.quote(args.order_id)}")
    if args.json:
        print_json(order)
        return EXIT_OK
    say(f"{order['orderId']}  {order['status']}  total {money(order)}  customer {order.get('customerId')}")
    for entry in order.get("timeline", []):
        say(f"  {entry['at']}  {entry['status']}")
    if order.get("failure"):
        say(f"  failure: {failure_text(order['failure'])}")
    return EXIT_OK


def cmd_list(api: OrdersApi, args: argparse.Namespace) -> int:
    """One page, or with ``--all`` each page as it comes; a last line says how to go on when there are more."""
    limit = args.limit or (MAX_PAGE if args.all else DEFAULT_PAGE)
    query = {"status": args.status, "customerId": args.customer, "limit": limit}
    token, listed = args.next_token, 0
    for _ in range(MAX_PAGES if args.all else 1):
        sent = {key: value for key, value in {**query, "nextToken": token}.items() if value}
        page = api.call("GET", "/orders?" + urllib.parse.urlencode(sent))
        for order in page["orders"]:
            say(f"{order['createdAt']}  {order['orderId']}  {order['status']:<18} {money(order)}")
        listed += len(page["orders"])
        token = page.get("nextToken")
        if not token:
            break
    if not listed:
        given = (("--status", args.status), ("--customer", args.customer))
        filters = [f"{option} {value}" for option, value in given if value]
        say(f"no orders matching {' '.join(filters)}" if filters else "no orders")
    if token:
        say(f"(more: --next-token {shlex.quote(token)})")
    if token and args.all:
        print(f"orders list: stopped after {MAX_PAGES} pages; go on with the --next-token above", file=sys.stderr)
        return EXIT_TIMEOUT
    return EXIT_OK


def cmd_watch(api: OrdersApi, args: argparse.Namespace) -> int:
    """Follow the order through its statuses with a progress bar until it is terminal; with ``--states``, also the
    states its execution and its Express child enter, merged with the timeline in the order they happened.

    Each poll reads the execution first and the order second, so both are complete up to the moment before the
    poll; a line stamped later waits for the next poll, where something may come before it.
    """
    give_up = time.monotonic() + args.timeout
    shown = 0
    trail = _execution_trail(args) if args.states else None
    held: list[tuple[datetime, int, str]] = []
    while True:
        complete_until = datetime.now(UTC)
        states = trail.new_states() if trail else []
        order = api.call("GET", f"/orders/{urllib.parse.quote(args.order_id)}")
        try:
            status = OrderStatus(order["status"])
            timeline = [(OrderStatus(entry["status"]), entry["at"]) for entry in order.get("timeline", [])]
        except (KeyError, TypeError, ValueError):
            say(
                f"the API answered a status this CLI does not know: {visible(json.dumps(order))[:200]}", file=sys.stderr
            )
            return EXIT_REFUSED
        terminal, timed_out = status in TERMINAL_STATUSES, time.monotonic() > give_up
        if trail and (terminal or timed_out):
            states += trail.new_states()  # what the parent enters after the order's last write
        held += [(state.at, 0, _state_line(state)) for state in states]
        held += [
            (_instant(at, complete_until), 1, f"{_progress_bar(entry_status)} {entry_status.value:<18} {at}")
            for entry_status, at in timeline[shown:]
        ]
        shown = len(timeline)
        if trail:
            held.sort(key=lambda line: line[:2])  # stable: a state before a timeline entry of the same moment
        waits = trail and not (terminal or timed_out)
        ready = sum(1 for at, _, _ in held if at <= complete_until) if waits else len(held)
        for _, _, line in held[:ready]:
            say(line, flush=True)
        del held[:ready]
        if terminal:
            if status is OrderStatus.COMPLETED:
                say(f"completed: tracking {order.get('trackingNumber')}, charged {money(order)}")
                return EXIT_OK
            failure = order.get("failure")
            say(f"ended {status.value}: {failure_text(failure)}" if failure else f"ended {status.value}")
            return EXIT_ORDER_FAILED
        if timed_out:
            say(f"still {status.value} after {args.timeout:.0f}s", file=sys.stderr)
            return EXIT_TIMEOUT
        time.sleep(args.interval)


def _state_line(state: EnteredState) -> str:
    return f"{'  ' * (state.depth + 1)}{'child ' if state.depth else ''}state {state.name}"


def _instant(at: str, otherwise: datetime) -> datetime:
    """A timeline entry's ``at`` as a moment; one the CLI cannot read sorts as ``otherwise``, the poll's moment."""
    try:
        moment = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return otherwise
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _execution_trail(args: argparse.Namespace) -> ExecutionTrail:
    """The order's execution on the local stack's AWS endpoint: its name is the order id."""
    stepfunctions = aws_client("stepfunctions", local_aws_endpoint(args.aws_endpoint), LOCAL_REGION)
    machine = local_state_machine_arn(ORDER_WORKFLOW)
    return ExecutionTrail(stepfunctions, f"{machine.replace(':stateMachine:', ':execution:')}:{args.order_id}")


def _progress_bar(status: OrderStatus) -> str:
    width = len(PROGRESS)
    done = PROGRESS.index(status) + 1 if status in PROGRESS else width
    mark = "#" if status in PROGRESS else "x"
    return "[" + mark * done + "." * (width - done) + "]"


def cmd_ship(api: OrdersApi, args: argparse.Namespace) -> int:
    body = (
        {"outcome": "FAILED", "reason": args.fail}
        if args.fail
        else {"outcome": "SHIPPED", "trackingNumber": args.tracking}
    )
    print_json(api.call("POST", f"/orders/{urllib.parse.quote(args.order_id)}/shipment", body))
    return EXIT_OK


def cmd_cancel(api: OrdersApi, args: argparse.Namespace) -> int:
    print_json(api.call("POST", f"/orders/{urllib.parse.quote(args.order_id)}/cancel", {"reason": args.reason}))
    return EXIT_OK
