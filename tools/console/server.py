"""The console's HTTP server (127.0.0.1 only), and ``run_console``, the entry point of ``orders console``.

``ConsoleApp`` is a WSGI application served by waitress (``local.endpoint.listener.LocalListener``) behind
``local.endpoint.listener.LoopbackGuard``. Each layer stops one way a page on another site could act through the
console:

- waitress frames requests itself and reads a whole body before the app runs, so a body is never read as a second
  request, and a malformed ``Content-Length`` is a 400;
- the guard refuses a ``Host`` other than the console's own (DNS rebinding), a POST from a foreign ``Origin``, and
  whatever a page of another site sends but a followed link (``Sec-Fetch-Site: cross-site``);
- an action needs the session's CSRF token in ``X-CSRF-Token`` and a JSON body (``tools.console.sessions``).

Pages and assets come from ``static/`` beside this file (nothing from a CDN), under a Content-Security-Policy that
allows nothing else and no framing; ``/api/...`` answers JSON from ``ConsoleService``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import mimetypes
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from local.aws.cognitoidp.identity import find_user_pool
from local.endpoint.listener import HOST, LocalListener, LoopbackGuard, PortInUseError
from local.provisioning import subscribe_queue
from tools.console.api_caller import DeployedOperator, LocalOperator, Operator, OrderApiCaller
from tools.console.customers import CustomerEmails, pool_of_token, region_of_pool
from tools.console.nested import ChildHistories, LogGroupHistories
from tools.console.render import STYLE
from tools.console.service import ConsoleService, NotFoundError
from tools.console.sessions import CSRF_HEADER, Sessions, cookie_name
from tools.events import EventLog

DEFAULT_PORT = 8233
EXIT_USAGE = 64
"""A missing option is a usage error, as for every ``orders`` command."""
STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 64 * 1024
LOCAL_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:order-workflow"
LOCAL_REGION = "us-east-1"
METHODS = ("GET", "HEAD", "POST")
SVG_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
"""The graph's SVG carries its own ``<style>`` (it must read the same opened on its own); the policy admits exactly
that one stylesheet by its hash, and no other inline style."""
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"style-src 'self' 'sha256-{SVG_STYLE_HASH}'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""On every answer of the app: no framing, no sniffing, no embedding by other sites, no caching of order data."""

URLS = Map(
    [
        Rule("/", endpoint="page", methods=["GET"]),
        Rule("/executions/<path:name>", endpoint="page", methods=["GET"]),
        Rule("/favicon.ico", endpoint="favicon", methods=["GET"]),
        Rule("/static/<name>", endpoint="static", methods=["GET"]),
        Rule("/api/session", endpoint="session", methods=["GET"]),
        Rule("/api/counts", endpoint="counts", methods=["GET"]),
        Rule("/api/executions", endpoint="executions", methods=["GET"]),
        Rule("/api/executions/<name>", endpoint="execution", methods=["GET"]),
        Rule("/api/executions/<name>/graph.svg", endpoint="graph", methods=["GET"]),
        Rule("/api/executions/<name>/stop", endpoint="stop", methods=["POST"]),
        Rule("/api/orders/<order_id>/<any(shipment, cancel):action>", endpoint="order", methods=["POST"]),
    ],
    strict_slashes=False,
    merge_slashes=False,
)

LOG = logging.getLogger(__name__)


class ConsolePortInUseError(PortInUseError):
    pass


class ConsoleApp:
    """The console as a WSGI application: its pages, its JSON reads, and its actions behind the CSRF check.

    Parameters
    ----------
    service:
        What the answers come from; tests pass a fake.
    sessions:
        Issues the session cookies and checks CSRF tokens; a new secret by default.

    Example
    -------
    >>> from werkzeug.test import Client
    >>> client = Client(ConsoleApp(service))  # doctest: +SKIP
    >>> client.get("/api/session").json["csrfToken"][:4]  # doctest: +SKIP
    '3f9a'
    """

    def __init__(self, service: ConsoleService, sessions: Sessions | None = None):
        self.service = service
        self.sessions = sessions or Sessions()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        response = self._answer(Request(environ))
        response.headers.update(SECURITY_HEADERS)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        try:
            if request.method not in METHODS:
                raise MethodNotAllowed(list(METHODS))
            endpoint, values = URLS.bind_to_environ(request.environ).match()
            if request.method == "POST":
                refusal = self._refusal(request)
                return refusal if refusal is not None else self._act(endpoint, values, _json_body(request))
            return self._read(request, endpoint, values)
        except NotFound:
            return _json(404, {"message": f"no page at {request.path}"})
        except HTTPException as error:
            return _json(error.code or 500, {"message": error.description}, error.get_headers())
        except NotFoundError as error:
            return _json(404, {"message": str(error)})
        except ValueError as error:
            return _json(400, {"message": str(error)})
        except (ClientError, BotoCoreError) as error:
            return _json(502, {"message": f"AWS: {error}"})
        except Exception:
            LOG.exception("the console failed to answer %s %s", request.method, request.path)
            return _json(500, {"message": "the console failed to answer; its log says why"})

    def _read(self, request: Request, endpoint: str, values: dict[str, str]) -> Response:
        service, query = self.service, request.args
        if endpoint == "page":
            return _file("index.html")
        if endpoint == "static":
            return _file(values["name"])
        if endpoint == "favicon":
            return Response(status=204)
        if endpoint == "session":
            return self._session(request)
        if endpoint == "counts":
            return _json(200, service.counts())
        if endpoint == "executions":
            listed = service.executions(
                status=query.get("status") or None,
                order_status=query.get("orderStatus") or None,
                search=query.get("q") or None,
                page=query.get("page") or None,
            )
            return _json(200, listed)
        detail = service.execution(values["name"])
        if endpoint == "graph":
            return Response(detail["graphSvg"], content_type="image/svg+xml; charset=utf-8")
        return _json(200, detail)

    def _session(self, request: Request) -> Response:
        """The page's CSRF token; a new session (and cookie) when the browser has none this console issued."""
        name = cookie_name(request.environ["SERVER_PORT"])
        session = request.cookies.get(name)
        fresh = not self.sessions.is_valid(session)
        if fresh:
            session = self.sessions.new()
        response = _json(200, {"csrfToken": self.sessions.csrf_token(session)})
        if fresh:
            response.set_cookie(name, session, httponly=True, samesite="Strict", path="/")
        return response

    def _refusal(self, request: Request) -> Response | None:
        """Why an action is refused: no CSRF token of this session, or a body that is not JSON."""
        session = request.cookies.get(cookie_name(request.environ["SERVER_PORT"]))
        if not self.sessions.allows(session, request.headers.get(CSRF_HEADER)):
            message = f"actions need this console session's {CSRF_HEADER} header: reload the console's page"
            return _json(403, {"message": message, "error": "csrf"})
        if request.mimetype != "application/json":
            return _json(415, {"message": "actions take a JSON body (Content-Type: application/json)"})
        return None

    def _act(self, endpoint: str, values: dict[str, str], body: dict[str, Any]) -> Response:
        if endpoint == "stop":
            return _json(200, self.service.stop(values["name"]))
        status, answer = self.service.order_action(values["order_id"], values["action"], body)
        return _json(status, answer)


def _json_body(request: Request) -> dict[str, Any]:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ValueError(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _file(name: str) -> Response:
    resolved = (STATIC_DIR / name).resolve()
    if resolved.parent != STATIC_DIR or not resolved.is_file():
        raise NotFoundError(f"no file {name}")
    content_type = mimetypes.guess_type(resolved.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return Response(resolved.read_bytes(), content_type=content_type)


def _json(status: int, value: Any, headers: Any = None) -> Response:
    response = Response(json.dumps(value, default=str), status=status, mimetype="application/json")
    for name, header in headers or ():
        if name.lower() != "content-type":
            response.headers[name] = header
    return response


class ConsoleServer:
    """The ops console over HTTP. ``start()`` binds and serves in a thread; ``stop()`` returns within a second.

    Parameters
    ----------
    sfn_client, dynamodb_client:
        boto3 clients, for the local stack's endpoint or for AWS.
    orders_table_name, state_machine_arn:
        What to read: the orders table and the order workflow.
    api_url:
        The order API that actions go through.
    api_token:
        An ops user's ID token, for a deployed stack: without ``operator`` or ``cognito``, the console then acts
        as that user and signs shipments with the default AWS credentials.
    host, port:
        Where to listen: 127.0.0.1 only; port 0 picks a free one (see ``url``).
    cognito:
        A ``cognito-idp`` client for the local stack's AWS endpoint: the console signs in there as the local
        operator. Without it (and without a token) it builds one for the endpoint ``sfn_client`` talks to.
    operator:
        Who the actions are sent as (``tools.console.api_caller``); wins over ``api_token`` and ``cognito``.
    order_events:
        The orders bus's events for each order, shown beside its timeline.
    child_histories:
        Where child executions' events come from (``tools.console.nested``); GetExecutionHistory by default.
    customers:
        Where the customers' e-mails come from (``tools.console.customers``); by default the local pool on
        ``cognito``'s endpoint, or with a token alone the pool that issued it; otherwise none are shown.

    Example
    -------
    >>> console = ConsoleServer(sfn, dynamodb, "orders", arn, "http://127.0.0.1:3000", port=0, cognito=cognito)
    ... # doctest: +SKIP
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
        *,
        cognito: Any = None,
        operator: Operator | None = None,
        order_events: EventLog | None = None,
        child_histories: ChildHistories | None = None,
        customers: CustomerEmails | None = None,
    ):
        if host != HOST:
            raise ValueError(f"the console listens on {HOST} only, not {host}")
        region = sfn_client.meta.region_name
        if operator is None and cognito is None and not api_token:
            cognito = _local_session(region).client("cognito-idp", endpoint_url=sfn_client.meta.endpoint_url)
        self.operator = operator or _default_operator(sfn_client, api_token, cognito)
        if customers is None and cognito is not None:
            customers = local_customers(cognito, region)
        elif customers is None and operator is None:
            customers = deployed_customers(None, api_token, boto3.session.Session(region_name=region))
        self.service = ConsoleService(
            sfn_client,
            dynamodb_client,
            orders_table_name,
            state_machine_arn,
            OrderApiCaller(api_url, self.operator),
            order_events,
            child_histories,
            customers,
        )
        self._order_events = order_events
        self._port = port
        self._listener: LocalListener | None = None

    @property
    def url(self) -> str:
        if self._listener is None:
            raise RuntimeError("the console is not started")
        return self._listener.url

    def start(self) -> None:
        try:
            self._listener = LocalListener("the console", self._port, LoopbackGuard(ConsoleApp(self.service)))
        except PortInUseError as error:
            raise ConsolePortInUseError(str(error)) from None
        self._listener.start()
        if self._order_events is not None:
            self._order_events.start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self.service.close()

    def __enter__(self) -> ConsoleServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _default_operator(sfn_client: Any, api_token: str | None, cognito: Any) -> Operator:
    """A token alone means a deployed stack; otherwise the local operator, on the endpoint the console reads (its
    ``cognito`` client)."""
    region = sfn_client.meta.region_name
    if cognito is None:
        return DeployedOperator(api_token, boto3.session.Session(region_name=region))
    return LocalOperator(cognito, region)


def local_customers(cognito: Any, region: str = LOCAL_REGION) -> CustomerEmails:
    """The local stack's customers, in its pool on ``cognito``'s endpoint, found again when the stack made a new one."""
    return CustomerEmails(cognito, lambda: find_user_pool(cognito, region).pool_id)


def deployed_customers(pool_id: str | None, api_token: str | None, session: Any) -> CustomerEmails | None:
    """A deployed stack's customers: in ``pool_id``, else in the pool that issued ``api_token``; None without either.

    Example
    -------
    >>> deployed_customers(None, None, boto3.session.Session()) is None
    True
    """
    pool_id = pool_id or pool_of_token(api_token)
    if not pool_id:
        return None
    return CustomerEmails(session.client("cognito-idp", region_name=region_of_pool(pool_id)), pool_id)


def _local_session(region: str = LOCAL_REGION) -> Any:
    return boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=region)


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
    parser.add_argument(
        "--port",
        type=int,
        default=int(env.get("ORDERS_CONSOLE_PORT", DEFAULT_PORT)),
        help=f"the console's port on 127.0.0.1 (default ORDERS_CONSOLE_PORT or {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--aws-endpoint",
        default=env.get("ORDERS_AWS_ENDPOINT", f"http://{HOST}:{env.get('ORDERS_AWS_PORT', '4566')}"),
        help="the local stack's AWS endpoint (ignored with --aws)",
    )
    parser.add_argument(
        "--region",
        default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        help="with --aws: the stack's region (default AWS_REGION or AWS_DEFAULT_REGION)",
    )
    parser.add_argument(
        "--state-machine-arn",
        default=env.get("ORDERS_STATE_MACHINE_ARN"),
        help="required with --aws; locally the stack's order-workflow",
    )
    parser.add_argument(
        "--orders-table", default=env.get("ORDERS_TABLE_NAME"), help="required with --aws; locally 'orders'"
    )
    parser.add_argument(
        "--preparation-log-group",
        default=env.get("ORDERS_PREPARATION_LOG_GROUP"),
        help="with --aws: the log group of the Express order-preparation child (the stack output "
        "PreparationLogGroupName), where its events are; by default the one its state machine logs to",
    )
    parser.add_argument(
        "--user-pool-id",
        default=env.get("ORDERS_USER_POOL_ID"),
        help="with --aws: the shoppers' user pool (the stack output UserPoolId), whose e-mails the console shows "
        "beside each customer's sub (cognito-idp:ListUsers); by default the pool that issued --token",
    )
    parser.add_argument(
        "--events-queue-url",
        default=env.get("ORDERS_EVENTS_QUEUE_URL"),
        help="a queue subscribed to the orders bus, whose events the console shows beside each timeline "
        "(locally the console subscribes one of its own)",
    )


CONSOLE_EVENTS_QUEUE = "orders-console-events"
"""The queue the console subscribes on the local stack's bus, to show each order's events beside its timeline."""


class StackConsole:
    """The console as a companion of ``orders up``'s stack (``local.stack.Companion``): it reads the stack's AWS
    endpoint and acts as the local pool's operator.

    Example
    -------
    >>> console = StackConsole(port=0)
    >>> with LocalStack(StackSettings(aws_port=0, api_port=0), companions=[console]):  # doctest: +SKIP
    ...     print(console.url)
    """

    name = "the console"

    def __init__(self, port: int = DEFAULT_PORT):
        self.port = port
        self.server: ConsoleServer | None = None

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else ""

    def start(self, stack: Any) -> None:
        sqs, events = stack.client("sqs"), stack.client("events")
        self.server = ConsoleServer(
            stack.client("stepfunctions"),
            stack.client("dynamodb"),
            stack.deployment.table_names["Orders"],
            stack.deployment.state_machine_arn,
            stack.api_url,
            port=self.port,
            cognito=stack.client("cognito-idp"),
            order_events=EventLog(sqs, subscribe_queue(events, sqs, CONSOLE_EVENTS_QUEUE)),
        )
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def run_console(args: argparse.Namespace) -> int:
    """Serve the console until Ctrl-C or SIGTERM, against the local stack or (``--aws``) a deployed one.

    ``args`` holds ``add_console_arguments``' options plus ``api_url`` and ``token`` (an ops user's ID token, for
    ``--aws``). Returns the exit code: 0 after a clean stop, 64 for a missing option, 2 when the port is taken.

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> add_console_arguments(parser)
    >>> run_console(parser.parse_args(["--aws"]))  # doctest: +SKIP
    orders console: --aws needs --state-machine-arn (or ORDERS_STATE_MACHINE_ARN)
    64
    """
    try:
        console = console_from_arguments(args)
        console.start()
    except ValueError as error:
        print(f"orders console: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConsolePortInUseError as error:
        print(f"orders console: {error}", file=sys.stderr)
        return 2
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    target = "AWS" if args.aws else args.aws_endpoint
    print(
        f"Ops console on {console.url} (reading {target}; actions through {args.api_url} as {console.operator.who})",
        flush=True,
    )
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
        operator: Operator = DeployedOperator(args.token, session)
        sqs = session.client("sqs")
        events_queue = args.events_queue_url
        child_histories: ChildHistories | None = LogGroupHistories(
            session.client("logs"), clients[0], args.preparation_log_group
        )
        customers = deployed_customers(args.user_pool_id, args.token, session)
    else:
        session = _local_session()
        clients = (
            session.client("stepfunctions", endpoint_url=args.aws_endpoint),
            session.client("dynamodb", endpoint_url=args.aws_endpoint),
        )
        cognito = session.client("cognito-idp", endpoint_url=args.aws_endpoint)
        operator = LocalOperator(cognito, LOCAL_REGION)
        customers = local_customers(cognito)
        sqs = session.client("sqs", endpoint_url=args.aws_endpoint)
        events = session.client("events", endpoint_url=args.aws_endpoint)
        events_queue = args.events_queue_url or (
            lambda: subscribe_queue(events, sqs, f"orders-console-{args.port}-events")
        )
        child_histories = None
    return ConsoleServer(
        *clients,
        orders_table_name=args.orders_table or "orders",
        state_machine_arn=args.state_machine_arn or LOCAL_STATE_MACHINE_ARN,
        api_url=args.api_url,
        port=args.port,
        operator=operator,
        order_events=EventLog(sqs, events_queue) if events_queue else None,
        child_histories=child_histories,
        customers=customers,
    )
