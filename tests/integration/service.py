"""A client of the running service, and the start and stop of a local one, for the integration suite.

The integration suite drives the service over HTTP, as frontends, operators and a warehouse would: as two shoppers
and an operator, each with a real Cognito ID token, and the warehouse with SigV4-signed calls.

By default it starts ``orders up`` in a subprocess on free ports (warehouse simulator off, so the tests play the
warehouse) and signs in as the seeded local users. With ``ORDERS_API_URL`` set it runs against that deployed stack
instead; the tests that need the local process itself are skipped then. There it signs in with the users named by
``ORDERS_TEST_SHOPPER``, ``ORDERS_TEST_OTHER_SHOPPER`` and ``ORDERS_TEST_OPERATOR`` (one password,
``ORDERS_TEST_PASSWORD``) through the app client ``ORDERS_USER_POOL_CLIENT_ID``, and signs the IAM routes with the
caller's AWS credentials (assuming ``ORDERS_WAREHOUSE_ROLE_ARN`` for the shipment route when it is set).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local.aws.cognitoidp.identity import (
    LOCAL_PASSWORD,
    OPERATOR,
    SHOPPER_ADA,
    SHOPPER_GRACE,
    SignedInUser,
    find_user_pool,
)
from local.aws.sigv4 import WAREHOUSE, LocalPrincipal, sign
from local.endpoint.aws_faults import UNFAULTED_ACCESS_KEY_ID
from local.launcher import StackNotReadyError, launch, stop, wait_until_ready
from workflows.resources import Caller, route_for

READY_DEADLINE_SECONDS = 90.0
STOP_DEADLINE_SECONDS = 10.0
INTEGRATION_TIME_SCALE = "100"
"""Retry backoff takes milliseconds; the one-day shipment heartbeat still lasts 14 real minutes."""
STOREFRONT_ORIGIN = "http://storefront.localhost:5173"
"""The one origin the suite's local stack allows by CORS (``ORDERS_CORS_ORIGINS``)."""
RAISED_LIMITS = {
    "ORDERS_SHOPPER_ORDERS_PER_MINUTE": "10000",
    "ORDERS_SHOPPER_ORDERS_PER_DAY": "100000",
    "ORDERS_STAGE_RATE_LIMIT": "1000",
    "ORDERS_STAGE_BURST_LIMIT": "2000",
}
"""The suite's stack lets its few shoppers place hundreds of orders a minute and polls as fast as it likes: the
tests measure orders, not limits. The limits at their defaults have tests of their own (``test_limits.py``)."""


@dataclass
class HttpResponse:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Users:
    """Who the suite acts as: two shoppers (to show one cannot touch the other's orders) and an operator."""

    shopper: str
    other_shopper: str
    operator: str


LOCAL_USERS = Users(SHOPPER_ADA.email, SHOPPER_GRACE.email, OPERATOR.email)


class TokenSource:
    """ID tokens per user of one pool and password, each kept current by ``SignedInUser``."""

    def __init__(self, cognito: Any, client_id: str, password: str):
        self._cognito, self._client_id, self._password = cognito, client_id, password
        self._users: dict[str, SignedInUser] = {}
        self._lock = threading.Lock()

    def token(self, email: str) -> str:
        with self._lock:
            user = self._users.setdefault(email, SignedInUser(self._cognito, self._client_id, email, self._password))
        return user.id_token()


@dataclass
class OrdersService:
    """The API as one caller sees it; ``as_user``, ``anonymous`` and ``signed_by`` give the other callers."""

    api_url: str
    aws_endpoint: str | None
    users: Users = LOCAL_USERS
    tokens: TokenSource | None = None
    process: subprocess.Popen | None = None
    user: str | None = field(default=None)
    principal: LocalPrincipal | None = WAREHOUSE
    """Who signs the IAM routes locally (None: sent unsigned)."""
    log: Path | None = None
    """Where the local process writes what it prints, when a test reads it while the process runs."""
    websocket_url: str | None = None
    """The WebSocket API of live order status (``ORDERS_WEBSOCKET_URL`` for a deployed stack: its stage's URL)."""

    def __post_init__(self) -> None:
        if self.user is None:
            self.user = self.users.shopper

    def as_user(self, email: str | None) -> OrdersService:
        """The same service, as another signed-in user (None: no token at all)."""
        return dataclasses.replace(self, user=email)

    def anonymous(self) -> OrdersService:
        return dataclasses.replace(self, user="", principal=None)

    def signed_by(self, principal: LocalPrincipal | None) -> OrdersService:
        return dataclasses.replace(self, principal=principal)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> HttpResponse:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        route = route_for(method, path.split("?", 1)[0])
        if route is not None and route.caller is Caller.SERVICE:
            all_headers = self._signed(method, path, data, all_headers)
        elif self.user and self.tokens is not None and "Authorization" not in all_headers:
            all_headers["Authorization"] = self.tokens.token(self.user)
        request = urllib.request.Request(self.api_url + path, data=data, headers=all_headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return HttpResponse(response.status, _json(response.read()), dict(response.headers))
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, _json(error.read()), dict(error.headers))

    def _signed_by_warehouse(self, method: str, path: str, data: bytes | None) -> dict[str, str]:
        """The headers of a request the warehouse signed, to replay with something else (a forged body)."""
        return sign(WAREHOUSE, method, self.api_url + path, data, {"Content-Type": "application/json"})

    def _signed(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        if self.process is not None:
            if self.principal is None:
                return headers
            return sign(self.principal, method, self.api_url + path, data, headers)
        session = _warehouse_session() if path.endswith("/shipment") else boto3.session.Session()
        return sign(session.get_credentials(), method, self.api_url + path, data, headers, region=session.region_name)

    def stepfunctions(self) -> Any:
        return self.aws_client("stepfunctions")

    def aws_client(self, service: str) -> Any:
        """A client of the stack's AWS endpoint for the suite's own reads: locally it signs as
        ``UNFAULTED_ACCESS_KEY_ID``, so AWS-API fault rules never fault what a test asserts with."""
        if self.aws_endpoint:
            return boto3.client(
                service,
                endpoint_url=self.aws_endpoint,
                region_name="us-east-1",
                aws_access_key_id=UNFAULTED_ACCESS_KEY_ID,
                aws_secret_access_key="local",
            )
        return boto3.client(service)

    def wait_for(self, order_id: str, predicate: Callable[[dict], bool], what: str, deadline: float = 60) -> dict:
        give_up = time.monotonic() + deadline
        while True:
            order = self.request("GET", f"/orders/{order_id}").body
            if predicate(order):
                return order
            if time.monotonic() > give_up:
                raise AssertionError(f"order {order_id}: {what} not within {deadline}s; last seen {order}")
            time.sleep(0.1)

    def wait_for_status(self, order_id: str, *statuses: str, deadline: float = 60) -> dict:
        return self.wait_for(order_id, lambda o: o.get("status") in statuses, f"status in {statuses}", deadline)


def _warehouse_session() -> Any:
    """The warehouse role's session when the suite is told which it is; the caller's own session otherwise."""
    role_arn = os.environ.get("ORDERS_WAREHOUSE_ROLE_ARN")
    if not role_arn:
        return boto3.session.Session()
    credentials = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="orders-integration")
    return boto3.session.Session(
        aws_access_key_id=credentials["Credentials"]["AccessKeyId"],
        aws_secret_access_key=credentials["Credentials"]["SecretAccessKey"],
        aws_session_token=credentials["Credentials"]["SessionToken"],
    )


def deployed_service(api_url: str) -> OrdersService:
    """The suite against a deployed stack, signed in as the users the environment names."""
    env = os.environ
    users = Users(env["ORDERS_TEST_SHOPPER"], env["ORDERS_TEST_OTHER_SHOPPER"], env["ORDERS_TEST_OPERATOR"])
    cognito = boto3.client("cognito-idp")
    tokens = TokenSource(cognito, env["ORDERS_USER_POOL_CLIENT_ID"], env["ORDERS_TEST_PASSWORD"])
    websocket_url = env.get("ORDERS_WEBSOCKET_URL")
    return OrdersService(api_url.rstrip("/"), None, users=users, tokens=tokens, websocket_url=websocket_url)


def local_token_source(aws_endpoint: str) -> TokenSource:
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id=UNFAULTED_ACCESS_KEY_ID,
        aws_secret_access_key="local",
    )
    return TokenSource(cognito, find_user_pool(cognito, "us-east-1").client_id, LOCAL_PASSWORD)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def start_local_service(
    extra_env: dict[str, str] | None = None, log: Path | None = None, options: Sequence[str] = ()
) -> OrdersService:
    """``orders up`` (with ``options``) on free ports; what it prints goes to ``log`` when given (to read while it
    runs), else a pipe."""
    settings = {
        "ORDERS_CONSOLE_PORT": "0",
        "ORDERS_WAREHOUSE_DELAY_SECONDS": "off",
        "ORDERS_TIME_SCALE": INTEGRATION_TIME_SCALE,
        "ORDERS_CORS_ORIGINS": STOREFRONT_ORIGIN,
        **RAISED_LIMITS,
        **(extra_env or {}),
    }
    if log is None:
        stack = launch(settings, os.environ, subprocess.PIPE, options)
    else:
        with log.open("w") as output:
            stack = launch(settings, os.environ, output, options)
    service = OrdersService(
        stack.api_url, stack.aws_endpoint, process=stack.process, log=log, websocket_url=stack.websocket_url
    )
    try:
        wait_until_ready(stack, lambda: service.request("GET", "/health").status == 200, READY_DEADLINE_SECONDS)
    except StackNotReadyError as error:
        raise AssertionError(f"{error}: {printed(service)}") from error
    return dataclasses.replace(service, tokens=local_token_source(stack.aws_endpoint))


def stop_local_service(service: OrdersService) -> int:
    """SIGTERM, as a process manager would; the stack must stop cleanly within a few seconds, and nothing it
    logged may carry a payment token."""
    exit_code = stop(service.process, STOP_DEADLINE_SECONDS)
    if exit_code is None:
        raise AssertionError(f"orders up did not stop within {STOP_DEADLINE_SECONDS}s of SIGTERM")
    logged = printed(service)
    leaked = [
        line
        for line in logged.splitlines()
        if ("tok_" in line or "paymentToken" in line) and "curl " not in line  # the banner's example order
    ]
    assert leaked == [], f"orders up logged payment tokens: {leaked[:3]}"
    return exit_code


def printed(service: OrdersService) -> str:
    """What the local process printed (all of it once it has exited)."""
    if service.log is not None:
        return service.log.read_text()
    return service.process.stdout.read()
