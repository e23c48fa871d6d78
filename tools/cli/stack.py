"""``orders up``: run the local stack in the foreground, say which setting moves a taken port, and print the banner."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
import threading
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any

from local.aws.cognitoidp.identity import LOCAL_PASSWORD, SEEDED_USERS, SHOPPER_ADA
from local.aws.moto.versions import UnsupportedMotoError, require_supported_moto
from tools.cli.endpoints import DEFAULT_API_PORT, DEFAULT_AWS_PORT
from tools.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, CliError
from tools.cli.orders import FIRST_ORDER
from tools.console.server import StackConsole
from tools.storefront.server import PORT_SETTING as STOREFRONT_PORT_SETTING
from tools.storefront.server import StackStorefront, bundle_missing, storefront_port

PORT_SETTINGS = {
    "the API": "ORDERS_API_PORT",
    "the AWS endpoint": "ORDERS_AWS_PORT",
    "the WebSocket API": "ORDERS_WS_PORT",
    StackConsole.name: "ORDERS_CONSOLE_PORT",
    StackStorefront.name: STOREFRONT_PORT_SETTING,
}
"""The setting that moves each listener of ``orders up``, by the name the stack reports a taken port with."""


def cmd_up(args: argparse.Namespace) -> int:
    """Run the local stack in the foreground until Ctrl-C or SIGTERM."""
    try:
        require_supported_moto()
    except UnsupportedMotoError as error:
        raise CliError(EXIT_USAGE, str(error)) from None
    from local.stack import LocalStack, PortInUseError, StackSettings

    try:
        settings = StackSettings.from_environment()
    except ValueError as error:
        print(f"orders up: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    overrides = {
        "aws_port": args.aws_port,
        "api_port": args.api_port,
        "console_port": args.console_port,
        "ws_port": args.ws_port,
    }
    settings = StackSettings(
        **{**settings.__dict__, **{key: value for key, value in overrides.items() if value is not None}}
    )
    console = StackConsole(settings.console_port)
    companions: list[Any] = [console]
    storefront = None
    if args.storefront:
        try:
            port = storefront_port() if args.storefront_port is None else args.storefront_port
            storefront = StackStorefront(port)
        except ValueError as error:
            print(f"orders up: {error}", file=sys.stderr)
            return EXIT_UNREACHABLE
        missing = bundle_missing(storefront.directory)
        if missing is not None:
            print(f"orders up: {missing}", file=sys.stderr)
            return EXIT_UNREACHABLE
        companions.append(storefront)
        if storefront.origin not in settings.cors_origins:
            settings = replace(settings, cors_origins=(*settings.cors_origins, storefront.origin))
    stack = LocalStack(settings, companions=companions)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())  # the API answers before start() returns
    try:
        stack.start()
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        stack.stop()
        raise CliError(EXIT_INTERRUPTED, "interrupted during start-up; stopped what had started") from None
    except PortInUseError as error:
        named = [PORT_SETTINGS[busy.what] for busy in getattr(error, "busy", ()) if busy.what in PORT_SETTINGS]
        advice = "Free them, or pick others" if len(named) > 1 else "Free it, or pick another"
        print(f"orders up: {error}. {advice}: {', '.join(named or PORT_SETTINGS.values())}.", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(_banner(stack, console.url, storefront.url if storefront else None), flush=True)
    stopped.wait()
    print("stopping…", flush=True)
    stack.stop()
    return EXIT_OK


def _banner(stack: Any, console_url: str, storefront_url: str | None = None) -> str:
    """What ``orders up`` prints: the URLs, the users, and commands that work as pasted, whatever the ports."""
    warehouse = (
        f"confirms shipments after {stack.settings.warehouse_delay_seconds:g}s"
        if stack.settings.warehouse_delay_seconds is not None
        else "off: ship with `orders ship ID` or a SigV4-signed POST /orders/{id}/shipment"
    )
    ports = {
        "ORDERS_AWS_PORT": (urllib.parse.urlsplit(stack.aws_endpoint).port, DEFAULT_AWS_PORT),
        "ORDERS_API_PORT": (urllib.parse.urlsplit(stack.api_url).port, DEFAULT_API_PORT),
    }
    prefix = "".join(f"{name}={port} " for name, (port, default) in ports.items() if port != default)
    orders = f"{prefix}{_orders_script()}"
    users = ", ".join(
        user.email + (f" (group {', '.join(user.groups)})" if user.groups else "") for user in SEEDED_USERS
    )
    curl = (
        f"curl -s -X POST {stack.api_url}/orders -H \"Authorization: $TOKEN\" -H 'Content-Type: application/json' "
        f"-H 'Idempotency-Key: my-first-order' -d {shlex.quote(json.dumps(FIRST_ORDER))}"
    )
    return "\n".join(
        [
            "Order service is ready.",
            f"  API            {stack.api_url}   (docs: {stack.api_url}/docs; /health and shipments take SigV4)",
            f"  Live status    {stack.websocket_url}/?token=<ID token>   (each of your orders' status changes)",
            f"  Console        {console_url}",
            *([f"  Storefront     {storefront_url}   (sign in as {SHOPPER_ADA.email})"] if storefront_url else []),
            f"  AWS endpoint   {stack.aws_endpoint}   (aws --endpoint-url {stack.aws_endpoint} stepfunctions ...)",
            "                 (test-state, start-sync-execution: export AWS_DISABLE_HOST_PREFIX_INJECTION=true)",
            f"  User pool      {stack.user_pool.pool_id}, app client {stack.user_pool.client_id}",
            f"  Users          {users}; password {LOCAL_PASSWORD}",
            f"  State machine  {stack.state_machine_arn}",
            f"  Warehouse      {warehouse}",
            f"  Time scale     {stack.settings.time_scale:g}x",
            f"  Fault rules    {', '.join(rule.task for rule in stack.settings.faults) or 'none'}",
            f"Submit an order as {SHOPPER_ADA.email}:",
            f"  TOKEN=$({orders} token --user {SHOPPER_ADA.email})",
            f"  {curl}",
            f"Then watch it:  {orders} watch <orderId>      Stop with Ctrl-C.",
        ]
    )


def _orders_script() -> str:
    """This installation's ``orders``, relative to the working directory when it is below it (``.venv/bin/orders``)."""
    script = Path(sys.executable).with_name("orders")
    if not script.exists():
        return "orders"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)
