"""The orders command: run the local stack, sign in, list the catalog, and submit, inspect, list, watch, ship and cancel
orders.

Shopper commands send the signed-in user's Cognito ID token (--token, or the stored login of --user); ship signs its
request with SigV4 as the warehouse. Text from the API is printed with its terminal control characters escaped.

Exit codes, for scripts: 0 success; 1 the API refused the request, or Cognito refused the sign-in, or there is no
login or no AWS credentials to use (the message says why); 2 the API, the AWS endpoint or the user pool could not be
reached, or the stack could not start; 3 watch saw the order end in a failure status; 4 watch timed out, or list --all
stopped at its page limit; 64 a usage error: an unknown command, a bad, missing or contradictory option, or an
unreadable order file (nothing was sent); 130 Ctrl-C (orders up stops what had started); 141 the reader of the output
went away, as in orders list | head -1.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from typing import Any, NoReturn

from local.aws.cognitoidp.identity import SHOPPER_ADA
from tasks.logic.ordering import MAX_PAGE
from tasks.models.order import OrderStatus
from tools.cli.api import OrdersApi, token_api
from tools.cli.auth import cmd_login, cmd_token, shopper_token, warehouse_signature
from tools.cli.endpoints import default_api_url
from tools.cli.events import cmd_events, parse_since
from tools.cli.exit_codes import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_ORDER_FAILED,
    EXIT_OUTPUT_CLOSED,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
)
from tools.cli.orders import (
    DEFAULT_PAGE,
    FIRST_ORDER,
    MAX_PAGES,
    cmd_cancel,
    cmd_list,
    cmd_products,
    cmd_ship,
    cmd_status,
    cmd_submit,
    cmd_watch,
    order_file,
    order_line,
    order_to_submit,
)
from tools.cli.output import visible
from tools.cli.stack import cmd_up
from tools.console.server import DEFAULT_PORT as DEFAULT_CONSOLE_PORT
from tools.console.server import add_console_arguments, run_console
from tools.storefront.server import PORT_SETTING as STOREFRONT_PORT_SETTING

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_ORDER_FAILED",
    "EXIT_OUTPUT_CLOSED",
    "EXIT_REFUSED",
    "EXIT_TIMEOUT",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "run",
]
"""The entry and the exit codes, which the module's docstring explains; the commands are in their own modules."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, except that a usage error exits 64 (EX_USAGE): its own 2 means "unreachable" here."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _page_size(text: str) -> int:
    """``--limit`` within the API's bounds, checked before anything is sent."""
    if not re.fullmatch("[0-9]+", text) or not 1 <= int(text) <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of orders from 1 to {MAX_PAGE}")
    return int(text)


def _seconds(text: str) -> float:
    """A positive, finite number of seconds: ``watch --interval 0`` would poll the API without pause."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return seconds


def _add_global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options that go before or after the subcommand; a subcommand's copy sets them only when given there."""
    env = os.environ

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--api-url", default=default(default_api_url()), help="default ORDERS_API_URL, or 127.0.0.1:ORDERS_API_PORT"
    )
    parser.add_argument(
        "--token", default=default(env.get("ORDERS_API_TOKEN") or None), help="an ID token; wins over --user"
    )
    parser.add_argument(
        "--user",
        default=default(env.get("ORDERS_USER") or SHOPPER_ADA.email),
        help=f"sign in as this user (default ORDERS_USER or {SHOPPER_ADA.email})",
    )
    parser.add_argument(
        "--password",
        default=default(env.get("ORDERS_PASSWORD") or None),
        help="the password of --user (default ORDERS_PASSWORD): a command that signs in then signs in anew with it "
        "instead of using a stored token; the local stack's seeded users need none",
    )


def _add_pool_options(parser: argparse.ArgumentParser) -> None:
    env = os.environ
    pool = parser.add_mutually_exclusive_group()
    pool.add_argument("--client-id", help="a deployed pool's app client (UserPoolClientId); default the local pool")
    pool.add_argument("--aws-endpoint", help="the local AWS endpoint (default ORDERS_AWS_ENDPOINT or ORDERS_AWS_PORT)")
    parser.add_argument(
        "--region",
        default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        help="the deployed pool's region, with --client-id (default AWS_REGION or AWS_DEFAULT_REGION)",
    )


def build_parser() -> argparse.ArgumentParser:
    summary, *_, exit_codes = __doc__.split("\n\n")
    parser = _Parser(prog="orders", description=summary, epilog=exit_codes)
    _add_global_options(parser, suppress=False)
    shared = argparse.ArgumentParser(add_help=False)
    _add_global_options(shared, suppress=True)
    commands = parser.add_subparsers(
        dest="command", required=True, title="commands", metavar="COMMAND", help="orders COMMAND --help for more"
    )

    def command(name: str, summary: str, parents: tuple[argparse.ArgumentParser, ...] = (shared,)) -> _Parser:
        return commands.add_parser(name, help=summary, description=summary, parents=list(parents))

    up = command("up", "run the local stack in the foreground", parents=())
    up.add_argument("--aws-port", type=int, help="default ORDERS_AWS_PORT or 4566")
    up.add_argument("--api-port", type=int, help="default ORDERS_API_PORT or 3000")
    up.add_argument("--console-port", type=int, help=f"default ORDERS_CONSOLE_PORT or {DEFAULT_CONSOLE_PORT}")
    up.add_argument("--ws-port", type=int, help="live order status socket: default ORDERS_WS_PORT or 3001")
    up.add_argument(
        "--storefront",
        action="store_true",
        help="also serve the sample storefront (examples/storefront, built by make storefront) and allow its origin",
    )
    up.add_argument("--storefront-port", type=int, help=f"default {STOREFRONT_PORT_SETTING} or 5173")

    login = command("login", "sign in as --user (with --password) and store the tokens")
    _add_pool_options(login)

    token = command(
        "token", "print a current ID token of --user (refreshed, or signed in anew when it must or --password is given)"
    )
    _add_pool_options(token)

    address = FIRST_ORDER["shippingAddress"]
    submit = command("submit", "submit an order as --user: an order file, or --item lines and the address options")
    order = submit.add_mutually_exclusive_group(required=True)
    order.add_argument(
        "--file", dest="order", type=order_file, help="the order as JSON, as POST /orders takes it (without customerId)"
    )
    order.add_argument(
        "--item", action="append", type=order_line, metavar="SKU=QUANTITY", help="a line of the order; repeatable"
    )
    submit.add_argument(
        "--payment-token",
        help=f"the simulated card: tok_declined, tok_flaky, tok_unavailable (default {FIRST_ORDER['paymentToken']})",
    )
    submit.add_argument("--name", help=f"shipping address: the name (default {address['name']})")
    submit.add_argument("--line1", help=f"shipping address: the street (default {address['line1']})")
    submit.add_argument("--city", help=f"shipping address: the city (default {address['city']})")
    submit.add_argument("--postal-code", help=f"shipping address: the postal code (default {address['postalCode']})")
    submit.add_argument("--country", help=f"shipping address: the ISO country code (default {address['country']})")
    submit.add_argument("--idempotency-key", help="a repeat with the same key returns the same order")

    products = command("products", "list the catalog: each product's SKU, name, price and stock (needs no sign-in)")
    products.add_argument("--json", action="store_true", help="print the API's JSON")

    status = command("status", "show an order")
    status.add_argument("order_id", help="the orderId")
    status.add_argument("--json", action="store_true", help="print the API's JSON")

    listing = command("list", "list orders, newest first (a shopper's own; any customer's for operators)")
    statuses = [status.value for status in OrderStatus]
    listing.add_argument(
        "--status", choices=statuses, metavar="STATUS", help=f"only orders in this status: {', '.join(statuses)}"
    )
    listing.add_argument("--customer", help="operators: only this customer's orders")
    listing.add_argument(
        "--limit",
        type=_page_size,
        help=f"orders per page, 1 to {MAX_PAGE} (default {DEFAULT_PAGE}; {MAX_PAGE} with --all)",
    )
    listing.add_argument("--next-token", help="go on where an earlier page ended: the token its last line gives")
    listing.add_argument(
        "--all", action="store_true", help=f"follow the pages to the last one (at most {MAX_PAGES} pages)"
    )

    watch = command("watch", "follow an order until it is terminal")
    watch.add_argument("order_id", help="the orderId")
    watch.add_argument("--timeout", type=_seconds, default=120.0, help="give up after this many seconds (default 120)")
    watch.add_argument("--interval", type=_seconds, default=0.5, help="seconds between polls (default 0.5)")
    watch.add_argument(
        "--states",
        action="store_true",
        help="also print each state the order's execution and its Express child enter (local stack only)",
    )
    watch.add_argument(
        "--aws-endpoint",
        help="with --states: the local stack's AWS endpoint (default ORDERS_AWS_ENDPOINT, else ORDERS_AWS_PORT)",
    )

    ship = command("ship", "answer the shipment callback as the warehouse (SigV4-signed)")
    ship.add_argument("order_id", help="the orderId")
    outcome = ship.add_mutually_exclusive_group()
    outcome.add_argument("--fail", metavar="REASON", help="report that the shipment failed, and why")
    outcome.add_argument(
        "--tracking", default="1Z999AA10123456784", help="the shipment's tracking number (default 1Z999AA10123456784)"
    )
    ship.add_argument("--region", help="a deployed API's region (default: from its URL, else AWS_REGION)")

    console = command("console", "serve the ops console (for the local stack, or --aws)")
    add_console_arguments(console)

    events = command(
        "events", "print order events in time order: the new ones, one order's, or all since a time (--since)"
    )
    events.add_argument("order_id", nargs="?", help="every event of this order read so far, shown or not")
    events.add_argument(
        "--since",
        type=parse_since,
        metavar="WHEN",
        help="replay the bus archive from WHEN and print every event since: an ISO time such as 2026-12-06T04:20Z "
        "(UTC unless it says otherwise), or a duration back from now: 90s, 10m, 2h, 1d",
    )
    events.add_argument("--follow", action="store_true", help="keep printing events as they come, until Ctrl-C")
    events.add_argument(
        "--aws-endpoint", help="the local stack's AWS endpoint (default ORDERS_AWS_ENDPOINT, else ORDERS_AWS_PORT)"
    )
    events.add_argument("--queue-url", help="read another queue subscribed to the bus (a deployed stack's, say)")

    cancel = command("cancel", "cancel an order awaiting shipment")
    cancel.add_argument("order_id", help="the orderId")
    cancel.add_argument("--reason", default="cancelled by the customer", help="default: cancelled by the customer")
    return parser


SHOPPER_COMMANDS = {
    "status": cmd_status,
    "list": cmd_list,
    "watch": cmd_watch,
    "cancel": cmd_cancel,
}


def main(argv: list[str] | None = None) -> int:
    """Parse and run one command; stdout is flushed here, so that a closed pipe is met here too."""
    name = "orders"
    try:
        args = build_parser().parse_args(argv)
        name = f"orders {args.command}"
        exit_code = run(args)
        sys.stdout.flush()
    except CliError as error:
        print(f"{name}: {visible(str(error), newlines=True)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Python's recipe: stdout to devnull, or the interpreter's own flush at exit fails again, with a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OUTPUT_CLOSED
    return exit_code


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; shopper commands get their token first, so a failed sign-in sends nothing."""
    if args.command == "submit":
        order = order_to_submit(args)  # a usage error, before any sign-in, needs no stack
        return cmd_submit(token_api(args.api_url, shopper_token(args)), order, args.idempotency_key)
    if args.command == "up":
        return cmd_up(args)
    if args.command == "console":
        return run_console(args)
    if args.command == "login":
        return cmd_login(args)
    if args.command == "token":
        return cmd_token(args)
    if args.command == "ship":
        return cmd_ship(OrdersApi(args.api_url, warehouse_signature(args)), args)
    if args.command == "events":
        return cmd_events(args)
    if args.command == "products":
        return cmd_products(OrdersApi(args.api_url), args)
    return SHOPPER_COMMANDS[args.command](token_api(args.api_url, shopper_token(args)), args)


if __name__ == "__main__":
    sys.exit(main())
