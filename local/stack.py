"""The local stack: the whole order service on this machine, with no AWS account, Docker or Java.

- moto in server mode is the AWS endpoint (Step Functions executing state machines, DynamoDB, the rest);
- the state machine is built from the ASL file and ``workflows.resources``, through ``local.provisioning``;
- the in-process Lambda runner runs every function's real handler;
- an API Gateway emulation serves the order API;
- a warehouse simulator confirms shipments through the callback API;
- the ops console shows the executions and the orders (``local.console``).

Everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import warnings
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import boto3
from moto.core.config import default_user_config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from local.api_gateway import ApiGatewayEmulation
from local.catalog import catalog_items
from local.console.server import ConsoleServer
from local.engine import install_time_scale, quiet_engine_logs
from local.faults import FAULTS_ENV, FaultInjector, FaultRule, parse_fault_rules
from local.in_process_endpoint import IN_PROCESS_ENDPOINT
from local.lambda_runner import LOCAL_REGION, LambdaRunner
from local.provisioning import local_function_environment, provision
from local.warehouse import WarehouseSimulator
from tasks.adapters.orders_repository import DynamoDBOrderRepository
from workflows.resources import ALL_FUNCTIONS, API

HOST = "127.0.0.1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": LOCAL_REGION}


class PortInUseError(RuntimeError):
    pass


@dataclass(frozen=True)
class StackSettings:
    aws_port: int = 4566
    api_port: int = 3000
    warehouse_delay_seconds: float | None = 2.0
    time_scale: float = 1.0
    faults: tuple[FaultRule, ...] = ()
    console_port: int = 8233

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> StackSettings:
        """Read ``ORDERS_AWS_PORT``, ``ORDERS_API_PORT``, ``ORDERS_CONSOLE_PORT``, ``ORDERS_WAREHOUSE_DELAY_SECONDS``
        (or ``off``), ``ORDERS_TIME_SCALE`` and ``ORDERS_FAULTS`` (see ``local.faults``).

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
            warehouse_delay_seconds=None if delay.strip().lower() == "off" else _positive(delay, "delay"),
            time_scale=_positive(env.get("ORDERS_TIME_SCALE", "1"), "ORDERS_TIME_SCALE"),
            faults=parse_fault_rules(env.get(FAULTS_ENV, "")),
        )


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


class LocalHttpServer(ThreadingHTTPServer):
    """A deeper listen backlog than the standard library's 5, so bursts of concurrent clients are not reset."""

    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up early is normal (a health probe timing out); anything else is still reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _bind_http(port: int, what: str) -> ThreadingHTTPServer:
    try:
        return LocalHttpServer((HOST, port), None)
    except OSError as error:
        raise PortInUseError(f"{what} cannot listen on {HOST}:{port}: {error.strerror}") from None


def _bind_aws_endpoint(port: int) -> BaseWSGIServer:
    """Check the port first: werkzeug prints its own advice and exits when the port is taken."""
    _bind_http(port, "the AWS endpoint").server_close()
    return make_server(
        HOST, port, DomainDispatcherApplication(create_backend_app), True, request_handler=MotoRequestHandler
    )


class LocalStack:
    """Start with ``start()`` (or as a context manager); ``stop()`` shuts everything down within seconds.

    Example
    -------
    >>> with LocalStack(StackSettings(aws_port=0, api_port=0)) as stack:  # doctest: +SKIP
    ...     print(stack.api_url)
    """

    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.runner: LambdaRunner | None = None
        self.api: ApiGatewayEmulation | None = None
        self.warehouse: WarehouseSimulator | None = None
        self.console: ConsoleServer | None = None
        self.state_machine_arn = ""

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def aws_endpoint(self) -> str:
        return f"http://{HOST}:{self._aws_server.server_port}"

    @property
    def api_url(self) -> str:
        return self.api.url

    def start(self) -> None:
        api_socket = _bind_http(self.settings.api_port, "the API")
        try:
            _bind_http(self.settings.console_port, "the console").server_close()
            self._aws_server = _bind_aws_endpoint(self.settings.aws_port)
        except PortInUseError:
            api_socket.server_close()
            raise
        quiet_engine_logs()
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        install_time_scale(self.settings.time_scale)
        self._serve_aws_endpoint()
        self._provision_and_run(api_socket)

    def _serve_aws_endpoint(self) -> None:
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        os.environ.update(FAKE_CREDENTIALS)
        os.environ["MOTO_PORT"] = str(self._aws_server.server_port)
        os.environ["AWS_ENDPOINT_URL"] = self.aws_endpoint
        IN_PROCESS_ENDPOINT.serve(self._aws_server.server_port)
        threading.Thread(target=self._aws_server.serve_forever, name="aws-endpoint", daemon=True).start()

    def _provision_and_run(self, api_socket: ThreadingHTTPServer) -> None:
        session = boto3.session.Session(region_name=LOCAL_REGION)
        dynamodb = session.client("dynamodb", endpoint_url=self.aws_endpoint)
        stepfunctions = session.client("stepfunctions", endpoint_url=self.aws_endpoint)
        deployment = provision(dynamodb, stepfunctions, catalog_items())
        self.state_machine_arn = deployment.state_machine_arn
        environment = {
            **local_function_environment(ALL_FUNCTIONS, deployment.state_machine_arn),
            "AWS_ENDPOINT_URL": self.aws_endpoint,
        }
        self.runner = LambdaRunner(ALL_FUNCTIONS, environment)
        if self.settings.faults:
            self.runner.before_invoke.append(FaultInjector(self.settings.faults))
        self.runner.install()
        self.api = ApiGatewayEmulation(self.runner, API.logical_name, api_socket)
        self.api.start()
        self.console = ConsoleServer(
            stepfunctions,
            dynamodb,
            deployment.table_names["Orders"],
            deployment.state_machine_arn,
            self.api_url,
            port=self.settings.console_port,
        )
        self.console.start()
        if self.settings.warehouse_delay_seconds is not None:
            orders = DynamoDBOrderRepository(deployment.table_names["Orders"], dynamodb)
            self.warehouse = WarehouseSimulator(orders, self.api_url, self.settings.warehouse_delay_seconds)
            self.warehouse.start()

    def stop(self) -> None:
        if self.console is not None:
            self.console.stop()
        if self.warehouse is not None:
            self.warehouse.stop()
        if self.api is not None:
            self.api.stop()
        if self.runner is not None:
            self.runner.uninstall()
        IN_PROCESS_ENDPOINT.forget(self._aws_server.server_port)
        self._aws_server.shutdown()
        self._aws_server.server_close()


def free_port() -> int:
    """A port the OS says is free now (tests start stacks on these)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
