"""The ``orders`` command: run the local stack, and submit, inspect, watch, ship and cancel orders over the API.

Exit codes, for scripts: 0 success; 1 the API refused the request (the message says why); 2 the API could not be
reached or the stack could not start; 3 ``watch`` saw the order end in a failure status; 4 ``watch`` timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from local.console.server import add_console_arguments, run_console
from tasks.models.order import PROGRESS, TERMINAL_STATUSES, OrderStatus

DEFAULT_API_URL = "http://127.0.0.1:3000"
EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_ORDER_FAILED, EXIT_TIMEOUT = 0, 1, 2, 3, 4


class ApiError(Exception):
    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code


class OrdersApi:
    """A small client of the order API, local or deployed (``--api-url``, ``ORDERS_API_URL``)."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self._token = token

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self._token:
            all_headers["Authorization"] = self._token
        request = urllib.request.Request(self.base_url + path, data=data, headers=all_headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise ApiError(EXIT_REFUSED, f"{error.code}: {_explain(error.read())}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ApiError(EXIT_UNREACHABLE, f"cannot reach the API at {self.base_url}: {error}") from None


def _explain(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
    problems = body.get("problems") if isinstance(body, dict) else None
    message = body.get("message", raw.decode(errors="replace")) if isinstance(body, dict) else str(body)
    return message + ("".join(f"\n  - {problem}" for problem in problems) if problems else "")


def order_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    items = []
    for item in args.item:
        sku, _, quantity = item.partition("=")
        if not quantity.isdigit():
            raise ApiError(EXIT_REFUSED, f"--item {item!r}: use SKU=QUANTITY, e.g. KB-TKL-01=2")
        items.append({"sku": sku, "quantity": int(quantity)})
    return {
        "customerId": args.customer,
        "items": items,
        "paymentToken": args.payment_token,
        "shippingAddress": {
            "name": args.name,
            "line1": args.line1,
            "city": args.city,
            "postalCode": args.postal_code,
            "country": args.country,
        },
    }


def cmd_submit(api: OrdersApi, args: argparse.Namespace) -> int:
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            order = json.load(handle)
    elif args.item:
        order = order_from_flags(args)
    else:
        raise ApiError(EXIT_REFUSED, "give --file order.json or at least one --item SKU=QUANTITY")
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    _print(api.call("POST", "/orders", order, headers))
    return EXIT_OK


def cmd_status(api: OrdersApi, args: argparse.Namespace) -> int:
    order = api.call("GET", f"/orders/{urllib.parse.quote(args.order_id)}")
    if args.json:
        _print(order)
        return EXIT_OK
    print(f"{order['orderId']}  {order['status']}  total {_money(order)}  customer {order.get('customerId')}")
    for entry in order.get("timeline", []):
        print(f"  {entry['at']}  {entry['status']}")
    if order.get("failure"):
        print(f"  failure: {order['failure'].get('error')}: {order['failure'].get('cause')}")
    return EXIT_OK


def cmd_list(api: OrdersApi, args: argparse.Namespace) -> int:
    query = {"status": args.status, "customerId": args.customer, "limit": args.limit}
    page = api.call("GET", "/orders?" + urllib.parse.urlencode({k: v for k, v in query.items() if v}))
    for order in page["orders"]:
        print(f"{order['createdAt']}  {order['orderId']}  {order['status']:<18} {_money(order)}")
    if page.get("nextToken"):
        print(f"(more: nextToken={page['nextToken']})")
    return EXIT_OK


def cmd_watch(api: OrdersApi, args: argparse.Namespace) -> int:
    """Follow the order through its statuses with a progress bar until it is terminal."""
    give_up = time.monotonic() + args.timeout
    seen = 0
    while True:
        order = api.call("GET", f"/orders/{urllib.parse.quote(args.order_id)}")
        timeline = order.get("timeline", [])
        for entry in timeline[seen:]:
            print(f"{_progress_bar(entry['status'])} {entry['status']:<18} {entry['at']}", flush=True)
        seen = len(timeline)
        status = OrderStatus(order["status"])
        if status in TERMINAL_STATUSES:
            if status is OrderStatus.COMPLETED:
                print(f"completed: tracking {order.get('trackingNumber')}, charged {_money(order)}")
                return EXIT_OK
            failure = order.get("failure") or {}
            print(f"ended {status.value}: {failure.get('error')}: {failure.get('cause')}")
            return EXIT_ORDER_FAILED
        if time.monotonic() > give_up:
            print(f"still {status.value} after {args.timeout:.0f}s", file=sys.stderr)
            return EXIT_TIMEOUT
        time.sleep(args.interval)


def _progress_bar(status: str) -> str:
    width = len(PROGRESS)
    done = PROGRESS.index(OrderStatus(status)) + 1 if OrderStatus(status) in PROGRESS else width
    mark = "#" if OrderStatus(status) in PROGRESS else "x"
    return "[" + mark * done + "." * (width - done) + "]"


def cmd_ship(api: OrdersApi, args: argparse.Namespace) -> int:
    body = (
        {"outcome": "FAILED", "reason": args.fail}
        if args.fail
        else {"outcome": "SHIPPED", "trackingNumber": args.tracking}
    )
    _print(api.call("POST", f"/orders/{urllib.parse.quote(args.order_id)}/shipment", body))
    return EXIT_OK


def cmd_cancel(api: OrdersApi, args: argparse.Namespace) -> int:
    _print(api.call("POST", f"/orders/{urllib.parse.quote(args.order_id)}/cancel", {"reason": args.reason}))
    return EXIT_OK


def cmd_up(args: argparse.Namespace) -> int:
    """Run the local stack in the foreground until Ctrl-C or SIGTERM."""
    from local.stack import LocalStack, PortInUseError, StackSettings

    try:
        settings = StackSettings.from_environment()
    except ValueError as error:
        print(f"orders up: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    overrides = {"aws_port": args.aws_port, "api_port": args.api_port, "console_port": args.console_port}
    settings = StackSettings(
        **{**settings.__dict__, **{key: value for key, value in overrides.items() if value is not None}}
    )
    stack = LocalStack(settings)
    try:
        stack.start()
    except PortInUseError as error:
        print(
            f"orders up: {error}. Free it, or pick another: ORDERS_API_PORT, ORDERS_AWS_PORT, ORDERS_CONSOLE_PORT.",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    print(_banner(stack), flush=True)
    stopped.wait()
    print("stopping…", flush=True)
    stack.stop()
    return EXIT_OK


def _banner(stack: Any) -> str:
    warehouse = (
        f"confirms shipments after {stack.settings.warehouse_delay_seconds:g}s"
        if stack.settings.warehouse_delay_seconds is not None
        else "off: ship with `orders ship ID` or POST /orders/{id}/shipment"
    )
    curl = (
        f"curl -s -X POST {stack.api_url}/orders -H 'Content-Type: application/json' "
        '-H \'Idempotency-Key: my-first-order\' -d \'{"customerId": "cust-42", "items": [{"sku": '
        '"KB-TKL-01", "quantity": 1}], "paymentToken": "tok_ok", "shippingAddress": {"name": '
        '"Ada Lovelace", "line1": "12 Analytical Row", "city": "London", "postalCode": "NW1 6XE", '
        '"country": "GB"}}\''
    )
    return "\n".join(
        [
            "Order service is ready.",
            f"  API            {stack.api_url}   (docs: {stack.api_url}/docs, health: {stack.api_url}/health)",
            f"  Console        {stack.console.url}",
            f"  AWS endpoint   {stack.aws_endpoint}   (aws --endpoint-url {stack.aws_endpoint} stepfunctions ...)",
            f"  State machine  {stack.state_machine_arn}",
            f"  Warehouse      {warehouse}",
            f"  Time scale     {stack.settings.time_scale:g}x",
            f"  Fault rules    {', '.join(rule.task for rule in stack.settings.faults) or 'none'}",
            "Submit an order:",
            f"  {curl}",
            "Then watch it:  orders watch <orderId>      Stop with Ctrl-C.",
        ]
    )


def _money(order: dict[str, Any]) -> str:
    if order.get("totalCents") is None:
        return "-"
    return f"{order['totalCents'] / 100:.2f} {order.get('currency', '')}".strip()


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orders", description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", default=os.environ.get("ORDERS_API_URL", DEFAULT_API_URL))
    parser.add_argument("--token", default=os.environ.get("ORDERS_API_TOKEN"), help="Authorization header (AWS)")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the local stack in the foreground")
    up.add_argument("--aws-port", type=int, help="default ORDERS_AWS_PORT or 4566")
    up.add_argument("--api-port", type=int, help="default ORDERS_API_PORT or 3000")
    up.add_argument("--console-port", type=int, help="default ORDERS_CONSOLE_PORT or 8233")

    submit = commands.add_parser("submit", help="submit an order")
    submit.add_argument("--file", help="order JSON file")
    submit.add_argument("--item", action="append", default=[], help="SKU=QUANTITY, repeatable")
    submit.add_argument("--customer", default="cust-42")
    submit.add_argument("--payment-token", default="tok_ok")
    submit.add_argument("--name", default="Ada Lovelace")
    submit.add_argument("--line1", default="12 Analytical Row")
    submit.add_argument("--city", default="London")
    submit.add_argument("--postal-code", default="NW1 6XE")
    submit.add_argument("--country", default="GB")
    submit.add_argument("--idempotency-key")

    status = commands.add_parser("status", help="show an order")
    status.add_argument("order_id")
    status.add_argument("--json", action="store_true")

    listing = commands.add_parser("list", help="list orders, newest first")
    listing.add_argument("--status", choices=[s.value for s in OrderStatus])
    listing.add_argument("--customer")
    listing.add_argument("--limit", type=int, default=20)

    watch = commands.add_parser("watch", help="follow an order until it is terminal")
    watch.add_argument("order_id")
    watch.add_argument("--timeout", type=float, default=120.0)
    watch.add_argument("--interval", type=float, default=0.5)

    ship = commands.add_parser("ship", help="answer the shipment callback as the warehouse")
    ship.add_argument("order_id")
    ship.add_argument("--fail", metavar="REASON")
    ship.add_argument("--tracking", default="1Z999AA10123456784")

    console = commands.add_parser("console", help="serve the ops console (for the local stack, or --aws)")
    add_console_arguments(console)

    cancel = commands.add_parser("cancel", help="cancel an order awaiting shipment")
    cancel.add_argument("order_id")
    cancel.add_argument("--reason", default="cancelled by the customer")
    return parser


COMMANDS = {
    "submit": cmd_submit,
    "status": cmd_status,
    "list": cmd_list,
    "watch": cmd_watch,
    "ship": cmd_ship,
    "cancel": cmd_cancel,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "up":
        return cmd_up(args)
    if args.command == "console":
        return run_console(args)
    try:
        return COMMANDS[args.command](OrdersApi(args.api_url, args.token), args)
    except ApiError as error:
        print(f"orders {args.command}: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
