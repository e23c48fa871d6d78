"""The console's HTTP server (127.0.0.1 only), and ``run_console``, the entry point of ``orders console``.

Pages and assets come from ``static/`` beside this file (nothing from a CDN); ``/api/...`` answers JSON from
``ConsoleService``. State-changing requests must carry ``X-Orders-Console: 1``: a browser only sends such a header
from the console's own pages, so another site cannot stop executions or ship orders through it.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local.console.service import ConsoleService, NotFoundError

HOST = "127.0.0.1"
DEFAULT_PORT = 8233
STATIC_DIR = Path(__file__).resolve().parent / "static"
ACTION_HEADER = "X-Orders-Console"
MAX_BODY_BYTES = 64 * 1024
LOCAL_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:order-workflow"
LOCAL_REGION = "us-east-1"


class ConsolePortInUseError(RuntimeError):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser closing a connection mid-answer is normal; anything else is still reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ConsoleServer:
    """The ops console over HTTP. ``start()`` binds and serves in a thread; ``stop()`` returns within a second.

    Parameters
    ----------
    sfn_client, dynamodb_client:
        boto3 clients, for the local stack's endpoint or for AWS.
    orders_table_name, state_machine_arn:
        What to read: the orders table and the order workflow.
    api_url, api_token:
        The order API that actions go through, and its Authorization header when deployed.
    host, port:
        Where to listen; port 0 picks a free one (see ``url``).

    Example
    -------
    >>> console = ConsoleServer(sfn, dynamodb, "orders", arn, "http://127.0.0.1:3000", port=0)  # doctest: +SKIP
    >>> console.start()  # doctest: +SKIP
    >>> console.url  # doctest: +SKIP
    'http://127.0.0.1:54021'
    """

    def __init__(
        self,
        sfn_client: Any,
        dynamodb_client: Any,
        orders_table_name: str,
        state_machine_arn: str,
        api_url: str,
        api_token: str | None = None,
        host: str = HOST,
        port: int = DEFAULT_PORT,
    ):
        self.service = ConsoleService(
            sfn_client, dynamodb_client, orders_table_name, state_machine_arn, api_url, api_token
        )
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the console is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        try:
            self._server = _Server(self._address, _handler_class(self.service))
        except OSError as error:
            host, port = self._address
            raise ConsolePortInUseError(f"the console cannot listen on {host}:{port}: {error.strerror}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.service.close()

    def __enter__(self) -> ConsoleServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_class(service: ConsoleService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "orders-console"

        def do_GET(self) -> None:
            self._answer(self._get)

        def do_POST(self) -> None:
            self._answer(self._post)

        def _answer(self, route: Any) -> None:
            url = urlsplit(self.path)
            try:
                route(url.path, {key: values[-1] for key, values in parse_qs(url.query).items()})
            except NotFoundError as error:
                self._json(HTTPStatus.NOT_FOUND, {"message": str(error)})
            except ValueError as error:
                self._json(HTTPStatus.BAD_REQUEST, {"message": str(error)})
            except (ClientError, BotoCoreError) as error:
                self._json(HTTPStatus.BAD_GATEWAY, {"message": f"AWS: {error}"})

        def _get(self, path: str, query: dict[str, str]) -> None:
            parts = [unquote(part) for part in path.strip("/").split("/")]
            if path == "/" or parts[0] == "executions":
                self._file(STATIC_DIR / "index.html")
            elif parts[0] == "static" and len(parts) == 2:
                self._file(STATIC_DIR / parts[1])
            elif parts == ["api", "executions"]:
                self._json(
                    HTTPStatus.OK,
                    service.executions(
                        status=query.get("status") or None,
                        order_status=query.get("orderStatus") or None,
                        search=query.get("q") or None,
                        page=query.get("page") or None,
                    ),
                )
            elif parts == ["api", "counts"]:
                self._json(HTTPStatus.OK, service.counts())
            elif parts[:2] == ["api", "executions"] and len(parts) == 3:
                self._json(HTTPStatus.OK, service.execution(parts[2]))
            elif parts[:2] == ["api", "executions"] and len(parts) == 4 and parts[3] == "graph.svg":
                svg = service.execution(parts[2])["graphSvg"].encode()
                self._send(HTTPStatus.OK, "image/svg+xml; charset=utf-8", svg)
            else:
                raise NotFoundError(f"no page at {path}")

        def _post(self, path: str, query: dict[str, str]) -> None:
            if self.headers.get(ACTION_HEADER) != "1":
                self._json(HTTPStatus.FORBIDDEN, {"message": f"actions need the {ACTION_HEADER}: 1 header"})
                return
            body = self._body()
            parts = [unquote(part) for part in path.strip("/").split("/")]
            if parts[:2] == ["api", "executions"] and len(parts) == 4 and parts[3] == "stop":
                self._json(HTTPStatus.OK, service.stop(parts[2]))
            elif parts[:2] == ["api", "orders"] and len(parts) == 4:
                status, answer = service.order_action(parts[2], parts[3], body)
                self._json(status, answer)
            else:
                raise NotFoundError(f"no action at {path}")

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                raise ValueError("the body is too large")
            raw = self.rfile.read(length) if length else b"{}"
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return body

        def _file(self, path: Path) -> None:
            resolved = path.resolve()
            if resolved.parent != STATIC_DIR or not resolved.is_file():
                raise NotFoundError(f"no file {path.name}")
            content_type = mimetypes.guess_type(resolved.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith("javascript"):
                content_type += "; charset=utf-8"
            self._send(HTTPStatus.OK, content_type, resolved.read_bytes())

        def _json(self, status: int, value: Any) -> None:
            self._send(status, "application/json", json.dumps(value, default=str).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Polling would flood the terminal; errors still reach the JSON answers."""

    return Handler


def add_console_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``orders console``; the CLI's global ``--api-url`` and ``--token`` apply too.

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> add_console_arguments(parser)
    >>> parser.parse_args(["--aws", "--orders-table", "t"]).orders_table
    't'
    """
    env = os.environ
    parser.add_argument("--aws", action="store_true", help="read a deployed stack with your own credentials")
    parser.add_argument("--port", type=int, default=int(env.get("ORDERS_CONSOLE_PORT", DEFAULT_PORT)))
    parser.add_argument(
        "--aws-endpoint",
        default=env.get("ORDERS_AWS_ENDPOINT", f"http://{HOST}:{env.get('ORDERS_AWS_PORT', '4566')}"),
        help="the local stack's AWS endpoint (ignored with --aws)",
    )
    parser.add_argument("--region", default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"))
    parser.add_argument(
        "--state-machine-arn",
        default=env.get("ORDERS_STATE_MACHINE_ARN"),
        help="required with --aws; locally the stack's order-workflow",
    )
    parser.add_argument(
        "--orders-table", default=env.get("ORDERS_TABLE_NAME"), help="required with --aws; locally 'orders'"
    )


def run_console(args: argparse.Namespace) -> int:
    """Serve the console until Ctrl-C or SIGTERM, against the local stack or (``--aws``) a deployed one.

    ``args`` holds ``add_console_arguments``' options plus ``api_url`` and ``token``. Returns the exit code: 0 after a
    clean stop, 2 when the console cannot start (a missing option, or the port is taken).

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> add_console_arguments(parser)
    >>> run_console(parser.parse_args(["--aws"]))  # doctest: +SKIP
    orders console: --aws needs --state-machine-arn (or ORDERS_STATE_MACHINE_ARN)
    2
    """
    try:
        console = console_from_arguments(args)
        console.start()
    except (ValueError, ConsolePortInUseError) as error:
        print(f"orders console: {error}", file=sys.stderr)
        return 2
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    target = "AWS" if args.aws else args.aws_endpoint
    print(f"Ops console on {console.url} (reading {target}; actions through {args.api_url})", flush=True)
    stopped.wait()
    console.stop()
    return 0


def console_from_arguments(args: argparse.Namespace) -> ConsoleServer:
    """Build the clients and the server ``run_console`` serves; separate so a caller can start it its own way."""
    if args.aws:
        for option, value in (("--state-machine-arn", args.state_machine_arn), ("--orders-table", args.orders_table)):
            if not value:
                variable = "ORDERS_STATE_MACHINE_ARN" if option == "--state-machine-arn" else "ORDERS_TABLE_NAME"
                raise ValueError(f"--aws needs {option} (or {variable})")
        session = boto3.session.Session(region_name=args.region)
        clients = session.client("stepfunctions"), session.client("dynamodb")
    else:
        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=LOCAL_REGION
        )
        clients = (
            session.client("stepfunctions", endpoint_url=args.aws_endpoint),
            session.client("dynamodb", endpoint_url=args.aws_endpoint),
        )
    return ConsoleServer(
        *clients,
        orders_table_name=args.orders_table or "orders",
        state_machine_arn=args.state_machine_arn or LOCAL_STATE_MACHINE_ARN,
        api_url=args.api_url,
        api_token=args.token,
        port=args.port,
    )
