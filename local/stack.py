"""The local stack: the whole order service on this machine, with no AWS account, Docker or Java.

- moto in server mode is the AWS endpoint (Step Functions executing state machines, DynamoDB, the rest);
- the state machine is built from the ASL file and ``workflows.resources``, through ``local.provisioning``;
- the in-process Lambda runner runs every function's real handler;
- a Cognito user pool on the AWS endpoint holds the seeded users (``local.aws.cognitoidp.identity``);
- an API Gateway emulation serves the order API, verifying tokens and signatures as API Gateway does;
- a WebSocket API emulation pushes each shopper's order status changes live, through the real authorizer, connection
  and push functions (``local.aws.apigatewayv2``, ``local.aws.apigatewaymanagementapi``); the ``orders`` bus invokes
  the push function as EventBridge does (``local.aws.events``);
- the orders table's stream feeds the ``orders`` EventBridge bus through the real PublishOrderEvents handler
  (``local.aws.dynamodbstreams.event_source_mapping`` plays the event source mapping);
- a warehouse simulator confirms shipments through the callback API, signing as the warehouse role;
- ReconcileOrders runs on its schedule, scaled by the time scale (``local.aws.scheduler.schedule``), and starts or
  fails orders stranded in RECEIVED;
- companions (``Companion``) start beside it once it runs: ``orders up`` adds the ops console this way, so the
  runtime never imports a tool.

Every listener is on 127.0.0.1 only, behind ``local.endpoint.listener.LoopbackGuard``: waitress for HTTP, and
``websockets`` for the WebSocket API.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from moto.core.config import default_user_config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local.aws.apigateway.authorizer import CognitoAuthorizer, fetch_jwks
from local.aws.apigateway.gateway import ApiGatewayEmulation
from local.aws.apigatewaymanagementapi.connections import (
    MAX_MESSAGE_BYTES,
    ConnectionsMiddleware,
    LocalConnections,
    serve_connections,
)
from local.aws.apigatewayv2.websocket_api import WebSocketApiEmulation
from local.aws.awslambda.runner import LOCAL_REGION, LambdaRunner
from local.aws.cognitoidp.identity import UserPool, provision_user_pool
from local.aws.dynamodbstreams.event_source_mapping import StreamPoller
from local.aws.events.lambda_targets import LambdaRuleTargets
from local.aws.moto import install_time_scale, quiet_engine_logs
from local.aws.scheduler.schedule import LocalSchedule, reconciler_schedule
from local.aws.stepfunctions.endpoint import serve_sync_executions_and_test_state
from local.endpoint.aws_calls_only import AwsCallsOnly, browser_sign_in
from local.endpoint.aws_faults import (
    AWS_FAULTS_ENV,
    AWS_FAULTS_REPORT_ENV,
    UNFAULTED_ACCESS_KEY_ID,
    AwsFaultInjector,
    AwsFaultRule,
    AwsFaultsMiddleware,
    parse_aws_fault_rules,
    serve_aws_faults,
)
from local.endpoint.in_process import IN_PROCESS_ENDPOINT
from local.endpoint.listener import HOST, LocalListener, LoopbackGuard, PortInUseError
from local.endpoint.websocket_listener import WebSocketListener
from local.provisioning import local_function_environment, provision, provision_order_events
from local.simulators.catalog import catalog_items
from local.simulators.warehouse import WarehouseSimulator
from local.testkit.faults import FAULTS_ENV, FaultInjector, FaultRule, parse_fault_rules
from tasks.adapters.orders_repository import DynamoDBOrderRepository
from workflows.resources import (
    ALL_FUNCTIONS,
    API,
    CORS_ALLOWED_ORIGINS_ENV,
    SHOPPER_ORDER_LIMIT,
    STAGE_THROTTLE,
    TOKEN_AUDIENCE_ENV,
    TOKEN_ISSUER_ENV,
    TOKEN_KEYS_URL_ENV,
    WEBSOCKET_CALLBACK_URL_ENV,
    OrderRateLimit,
    StageThrottle,
)

__all__ = [
    "HOST",
    "BusyPort",
    "Companion",
    "LocalStack",
    "PortInUseError",
    "PortsInUseError",
    "StackSettings",
    "free_port",
    "free_ports",
]

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": LOCAL_REGION}
CORS_ORIGINS_SETTING = "ORDERS_CORS_ORIGINS"
STAGE_RATE_LIMIT_SETTING, STAGE_BURST_LIMIT_SETTING = "ORDERS_STAGE_RATE_LIMIT", "ORDERS_STAGE_BURST_LIMIT"
ORDERS_PER_MINUTE_SETTING, ORDERS_PER_DAY_SETTING = "ORDERS_SHOPPER_ORDERS_PER_MINUTE", "ORDERS_SHOPPER_ORDERS_PER_DAY"
API_THREADS = 32
"""The API waits on the engine and the Lambda runner, not on the CPU: enough threads for a burst of clients."""


@dataclass(frozen=True)
class StackSettings:
    aws_port: int = 4566
    api_port: int = 3000
    warehouse_delay_seconds: float | None = 2.0
    time_scale: float = 1.0
    faults: tuple[FaultRule, ...] = ()
    aws_faults: tuple[AwsFaultRule, ...] = ()
    """AWS-API fault rules (``local.endpoint.aws_faults``), applied once the stack is provisioned."""
    aws_faults_report: str | None = None
    """Where ``stop()`` writes what the AWS-API fault rules injected, per operation (JSON), if anywhere."""
    console_port: int = 8233
    ws_port: int = 3001
    """The WebSocket API of live order status."""
    cors_origins: tuple[str, ...] = ()
    """Storefront origins allowed to call the API from a browser; none by default."""
    stage_throttle: StageThrottle = STAGE_THROTTLE
    """The API's stage throttle, AWS's numbers by default; tests and benchmarks that exceed them on purpose raise it."""
    order_limit: OrderRateLimit = SHOPPER_ORDER_LIMIT
    """New orders per shopper and minute, and day; the deployed defaults unless raised for a test or benchmark."""

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> StackSettings:
        """Read ``ORDERS_AWS_PORT``, ``ORDERS_API_PORT``, ``ORDERS_CONSOLE_PORT``, ``ORDERS_WS_PORT``,
        ``ORDERS_WAREHOUSE_DELAY_SECONDS``
        (or ``off``), ``ORDERS_TIME_SCALE``, ``ORDERS_FAULTS`` (see ``local.testkit.faults``), ``ORDERS_AWS_FAULTS``
        and ``ORDERS_AWS_FAULTS_REPORT`` (see ``local.endpoint.aws_faults``),
        ``ORDERS_CORS_ORIGINS`` (comma-separated origins such as ``http://localhost:5173``), the stage's throttle
        (``ORDERS_STAGE_RATE_LIMIT``, ``ORDERS_STAGE_BURST_LIMIT``) and the shoppers' order limit
        (``ORDERS_SHOPPER_ORDERS_PER_MINUTE``, ``ORDERS_SHOPPER_ORDERS_PER_DAY``).

        Example
        -------
        >>> StackSettings.from_environment({"ORDERS_WAREHOUSE_DELAY_SECONDS": "off"}).warehouse_delay_seconds is None
        True
        """
        env = os.environ if environ is None else environ
        delay = env.get("ORDERS_WAREHOUSE_DELAY_SECONDS", "2")
        return cls(
            aws_port=_port(env, "ORDERS_AWS_PORT", cls.aws_port),
            api_port=_port(env, "ORDERS_API_PORT", cls.api_port),
            console_port=_port(env, "ORDERS_CONSOLE_PORT", cls.console_port),
            ws_port=_port(env, "ORDERS_WS_PORT", cls.ws_port),
            warehouse_delay_seconds=None if delay.strip().lower() == "off" else _positive(delay, "delay"),
            time_scale=_positive(env.get("ORDERS_TIME_SCALE", "1"), "ORDERS_TIME_SCALE"),
            faults=parse_fault_rules(env.get(FAULTS_ENV, "")),
            aws_faults=parse_aws_fault_rules(env.get(AWS_FAULTS_ENV, "")),
            aws_faults_report=env.get(AWS_FAULTS_REPORT_ENV) or None,
            cors_origins=_origins(env.get(CORS_ORIGINS_SETTING, "")),
            stage_throttle=StageThrottle(
                rate_limit=_count(env, STAGE_RATE_LIMIT_SETTING, STAGE_THROTTLE.rate_limit),
                burst_limit=_count(env, STAGE_BURST_LIMIT_SETTING, STAGE_THROTTLE.burst_limit),
            ),
            order_limit=_order_limit(env),
        )


def _count(env: Any, name: str, default: int) -> int:
    value = env.get(name, str(default)).strip()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def _order_limit(env: Any) -> OrderRateLimit:
    per_minute = _count(env, ORDERS_PER_MINUTE_SETTING, SHOPPER_ORDER_LIMIT.per_minute)
    per_day = _count(env, ORDERS_PER_DAY_SETTING, SHOPPER_ORDER_LIMIT.per_day)
    if per_minute > per_day:
        raise ValueError(
            f"{ORDERS_PER_MINUTE_SETTING} ({per_minute}) must not exceed {ORDERS_PER_DAY_SETTING} ({per_day})"
        )
    return OrderRateLimit(per_minute=per_minute, per_day=per_day)


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(item.strip().rstrip("/") for item in value.split(",") if item.strip())
    for origin in origins:
        if origin == "*" or not origin.startswith(("http://", "https://")):
            raise ValueError(f"{CORS_ORIGINS_SETTING}: {origin!r} is not an origin like https://shop.example.com")
    return origins


def _port(env: Any, name: str, default: int) -> int:
    value = env.get(name, str(default))
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise ValueError(f"{name} must be a port number, got {value!r}")
    return int(value)


def _positive(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number (or 'off'), got {value!r}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return number


@dataclass(frozen=True)
class BusyPort:
    """A fixed port the stack cannot listen on, what wanted it, and why."""

    what: str
    port: int
    reason: str


class PortsInUseError(PortInUseError):
    """Every fixed port that is taken, named at once: freeing one and trying again should not find the next."""

    def __init__(self, busy: Sequence[BusyPort]):
        self.busy = tuple(busy)
        super().__init__("; ".join(f"{port.what} cannot listen on {HOST}:{port.port}: {port.reason}" for port in busy))


def check_ports_free(wanted: Sequence[tuple[str, int]]) -> None:
    """Raise ``PortsInUseError`` naming every fixed port that is taken, or asked for twice; port 0 always binds.

    The probe binds as waitress does (``SO_REUSEADDR``), so a port a stopped stack left in TIME_WAIT counts as free.

    Example
    -------
    >>> check_ports_free([("the API", 3000), ("the AWS endpoint", 4566)])  # doctest: +SKIP
    Traceback (most recent call last):
    local.stack.PortsInUseError: the API cannot listen on 127.0.0.1:3000: Address already in use; the AWS ...
    """
    busy: list[BusyPort] = []
    claimed: dict[int, str] = {}
    for what, port in wanted:
        if port == 0:
            continue
        if port in claimed:
            busy.append(BusyPort(what, port, f"{claimed[port]} asks for it too"))
            continue
        claimed[port] = what
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError as error:
                busy.append(BusyPort(what, port, error.strerror or str(error)))
    if busy:
        raise PortsInUseError(busy)


class Companion(Protocol):
    """A service started beside the stack once it runs, and stopped before it: the ops console is one."""

    name: str
    port: int
    """Checked free with the stack's own ports, before anything starts."""

    def start(self, stack: LocalStack) -> None: ...

    def stop(self) -> None: ...


class LocalStack:
    """Start with ``start()`` (or as a context manager); ``stop()`` shuts everything down within seconds.

    Example
    -------
    >>> with LocalStack(StackSettings(aws_port=0, api_port=0)) as stack:  # doctest: +SKIP
    ...     print(stack.api_url)
    """

    def __init__(self, settings: StackSettings, companions: Sequence[Companion] = ()):
        self.settings = settings
        self.companions = tuple(companions)
        self._started_companions: list[Companion] = []
        self.runner: LambdaRunner | None = None
        self.api: ApiGatewayEmulation | None = None
        self.warehouse: WarehouseSimulator | None = None
        self.user_pool: UserPool | None = None
        self.stream_poller: StreamPoller | None = None
        self.reconciler: LocalSchedule | None = None
        self.aws_fault_injector: AwsFaultInjector | None = None
        self._websocket_listener: WebSocketListener | None = None
        self.rule_targets: LambdaRuleTargets | None = None
        self.state_machine_arn = ""
        self._api_listener: LocalListener | None = None
        self._aws_listener: LocalListener | None = None

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def aws_endpoint(self) -> str:
        return self._aws_listener.url

    @property
    def api_url(self) -> str:
        return self._api_listener.url

    @property
    def websocket_url(self) -> str:
        """Where storefronts connect for live order status, with ``?token=<ID token>``."""
        return self._websocket_listener.url

    def client(self, service: str) -> Any:
        """A boto3 client of the stack's AWS endpoint, for what runs beside it."""
        return boto3.session.Session(region_name=LOCAL_REGION).client(service, endpoint_url=self.aws_endpoint)

    def start(self) -> None:
        """Check every port, then bind the stack's own, so that all taken ones are reported at once before anything
        starts; then provision and serve."""
        check_ports_free(
            [
                ("the API", self.settings.api_port),
                ("the AWS endpoint", self.settings.aws_port),
                ("the WebSocket API", self.settings.ws_port),
                *((companion.name, companion.port) for companion in self.companions),
            ]
        )
        self._api_guard = LoopbackGuard(
            trusted_origins=self.settings.cors_origins, origins_setting=CORS_ORIGINS_SETTING
        )
        self._api_listener = LocalListener("the API", self.settings.api_port, self._api_guard, threads=API_THREADS)
        try:
            moto_server = AwsCallsOnly(
                AwsFaultsMiddleware(ConnectionsMiddleware(DomainDispatcherApplication(create_backend_app)))
            )
            aws_app = LoopbackGuard(
                moto_server,
                same_origin_only=True,
                browser_calls=browser_sign_in(self.settings.cors_origins),
                origins_setting=CORS_ORIGINS_SETTING,
            )
            self._aws_listener = LocalListener("the AWS endpoint", self.settings.aws_port, aws_app, threads=16)
        except PortInUseError:
            self._api_listener.stop()
            self._api_listener = None
            raise
        quiet_engine_logs()
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        install_time_scale(self.settings.time_scale)
        serve_sync_executions_and_test_state()
        self._serve_aws_endpoint()
        self._provision_and_run()

    def _serve_aws_endpoint(self) -> None:
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        os.environ.update(FAKE_CREDENTIALS)
        os.environ["MOTO_PORT"] = str(self._aws_listener.port)
        os.environ["AWS_ENDPOINT_URL"] = self.aws_endpoint
        IN_PROCESS_ENDPOINT.serve(self._aws_listener.port)
        self._aws_listener.start()

    def _provision_and_run(self) -> None:
        session = boto3.session.Session(region_name=LOCAL_REGION)
        dynamodb = session.client("dynamodb", endpoint_url=self.aws_endpoint)
        stepfunctions = session.client("stepfunctions", endpoint_url=self.aws_endpoint)
        cognito = session.client("cognito-idp", endpoint_url=self.aws_endpoint)
        deployment = self.deployment = provision(dynamodb, stepfunctions, catalog_items())
        self.user_pool = provision_user_pool(cognito, LOCAL_REGION)
        self.state_machine_arn = deployment.state_machine_arn
        environment = {
            **local_function_environment(ALL_FUNCTIONS, deployment.state_machine_arn),
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            CORS_ALLOWED_ORIGINS_ENV: ",".join(self.settings.cors_origins),
            **self.settings.order_limit.environment(),
            **self._websocket_environment(),
        }
        self.runner = LambdaRunner(ALL_FUNCTIONS, environment)
        if self.settings.faults:
            self.runner.before_invoke.append(FaultInjector(self.settings.faults))
        self.runner.install()
        self._serve_websocket_api()
        self._start_order_events(session, dynamodb)
        if self.settings.aws_faults:
            self.aws_fault_injector = AwsFaultInjector(self.settings.aws_faults)
            serve_aws_faults(self.aws_fault_injector)
        authorizer = CognitoAuthorizer(self.user_pool, fetch_jwks(self.aws_endpoint, self.user_pool))
        self.api = ApiGatewayEmulation(
            self.runner, API.logical_name, authorizer, self.settings.cors_origins, self.settings.stage_throttle
        )
        self._api_guard.app = self.api
        self._api_listener.start()
        if self.settings.warehouse_delay_seconds is not None:
            orders = DynamoDBOrderRepository(deployment.table_names["Orders"], dynamodb)
            self.warehouse = WarehouseSimulator(orders, self.api_url, self.settings.warehouse_delay_seconds)
            self.warehouse.start()
        self.reconciler = reconciler_schedule(self.runner, at_least_seconds=API.timeout_seconds)
        self.reconciler.start()
        for companion in self.companions:
            companion.start(self)
            self._started_companions.append(companion)

    def _websocket_environment(self) -> dict[str, str]:
        """The WebSocket functions' settings: the pool whose tokens the authorizer accepts (its keys served by the
        local AWS endpoint) and the ``@connections`` endpoint, which is the local AWS endpoint too."""
        pool = self.user_pool
        return {
            TOKEN_ISSUER_ENV: pool.issuer,
            TOKEN_AUDIENCE_ENV: pool.client_id,
            TOKEN_KEYS_URL_ENV: f"{self.aws_endpoint}/{pool.pool_id}/.well-known/jwks.json",
            WEBSOCKET_CALLBACK_URL_ENV: self.aws_endpoint,
        }

    def _serve_websocket_api(self) -> None:
        """The socket, its connections' ``@connections`` endpoint, and the rule's invocations of the push function."""
        connections = LocalConnections()
        serve_connections(connections)
        self.rule_targets = LambdaRuleTargets(self.runner)
        self.rule_targets.start()
        guard = LoopbackGuard(trusted_origins=self.settings.cors_origins, origins_setting=CORS_ORIGINS_SETTING)
        self._websocket_listener = WebSocketListener(
            "the WebSocket API",
            self.settings.ws_port,
            guard,
            WebSocketApiEmulation(self.runner, connections),
            max_message_bytes=MAX_MESSAGE_BYTES,
        )
        self._websocket_listener.start()

    def _start_order_events(self, session: Any, dynamodb: Any) -> None:
        """The ``orders`` bus and its archive, and the stream poller feeding it. ``orders events`` subscribes its queue
        on first use: an unread queue would grow, and moto's SQS scans a queue's messages on every send.

        The poller plays Lambda's event source mapping, which is AWS's machinery and no client of it: it signs as
        ``UNFAULTED_ACCESS_KEY_ID``, so AWS-API faults reach the publisher it invokes, not its own reads."""
        events = session.client("events", endpoint_url=self.aws_endpoint)
        sqs = session.client("sqs", endpoint_url=self.aws_endpoint)
        self.order_events = provision_order_events(dynamodb, events, sqs)
        machinery = boto3.session.Session(
            region_name=LOCAL_REGION, aws_access_key_id=UNFAULTED_ACCESS_KEY_ID, aws_secret_access_key="local"
        )
        self.stream_poller = StreamPoller(
            machinery.client("dynamodbstreams", endpoint_url=self.aws_endpoint),
            self.order_events.stream_arn,
            self.runner,
            machinery.client("sqs", endpoint_url=self.aws_endpoint),
            self.order_events.dead_letter_queue_url,
        )
        self.stream_poller.start()

    def stop(self) -> None:
        """Stop whatever has started, also after a start that failed or was interrupted half-way (Ctrl-C)."""
        if self.reconciler is not None:
            self.reconciler.stop()
        if self.stream_poller is not None:
            self.stream_poller.stop()
        if self.aws_fault_injector is not None:
            serve_aws_faults(None)
            if self.settings.aws_faults_report:
                with open(self.settings.aws_faults_report, "w", encoding="utf-8") as report:
                    json.dump(self.aws_fault_injector.report(), report, indent=2)
        for companion in reversed(self._started_companions):
            companion.stop()
        if self._websocket_listener is not None:
            self._websocket_listener.stop()
            serve_connections(None)
        if self.rule_targets is not None:
            self.rule_targets.stop()
        if self.warehouse is not None:
            self.warehouse.stop()
        if self._api_listener is not None:
            self._api_listener.stop()
        if self.runner is not None:
            self.runner.uninstall()
        if self._aws_listener is not None:
            IN_PROCESS_ENDPOINT.forget(self._aws_listener.port)
            self._aws_listener.stop()


def free_port() -> int:
    """A port the OS says is free now (tests start stacks on these)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` different ports the OS says are free now: all are held at once while chosen, since a port released
    by one probe may be handed to the next (two listeners of one stack once got the same port).

    Example
    -------
    >>> len(set(free_ports(3)))
    3
    """
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()
