"""A local stack for one benchmark phase: ``orders up`` in a subprocess on free ports, and clients for it.

The stack runs in its own process so the load generator never competes with it for the GIL; on two cores the stack
gets one core to itself, as a deployed service would have its own machines.

The benchmark calls the API as its real callers do: shoppers with a Cognito ID token of the stack's user pool (bench
shoppers it creates there, each signed in once and refreshed before the token expires), the warehouse and the health
probe with SigV4 signatures (``local.aws.sigv4``).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from local.aws.cognitoidp.identity import LOCAL_PASSWORD, SignedInUser, find_user_pool
from local.aws.sigv4 import OPERATOR, LocalPrincipal, sign
from local.endpoint.aws_faults import UNFAULTED_ACCESS_KEY_ID
from local.launcher import LaunchedStack, StackNotReadyError, launch, stop, wait_until_ready
from local.stack import HOST, free_port
from tasks.adapters.dynamodb import from_item, to_item

RESULTS_DIR = Path(__file__).resolve().parent / "results"
READY_DEADLINE_SECONDS = 90.0
STOP_DEADLINE_SECONDS = 15.0
REQUEST_TIMEOUT_SECONDS = 120.0
REGION = "us-east-1"
SHOPPERS = 32
"""Bench shoppers per stack: one per client of the acceptance phase; other phases spread their orders over them."""
BENCH_LIMITS = {
    "ORDERS_SHOPPER_ORDERS_PER_MINUTE": "100000",
    "ORDERS_SHOPPER_ORDERS_PER_DAY": "1000000",
    "ORDERS_STAGE_RATE_LIMIT": "10000",
    "ORDERS_STAGE_BURST_LIMIT": "10000",
}
"""The benchmark measures how fast the stack serves orders, so no limit of the API may be what stops it: a bench
shopper places far more than 10 orders a minute (the chaos run 1,000 orders over 32 shoppers, the acceptance phase
back to back), and the fuzz and acceptance phases may send more than the stage's 50 requests a second."""


class Shopper(SignedInUser):
    """A bench shopper of the stack's user pool: ``sub`` (read once, at sign-in) is the customerId of its orders."""

    def __init__(self, cognito: Any, client_id: str, email: str):
        super().__init__(cognito, client_id, email)
        self.sub = self.subject

    @property
    def token(self) -> str:
        return self.id_token()


Identity = Shopper | LocalPrincipal | None
"""Who sends a request: a shopper's token, a principal's SigV4 signature, or nobody (public routes)."""


@dataclass
class ApiResponse:
    status: int
    body: Any
    seconds: float
    headers: Mapping[str, str] = field(default_factory=dict)


class AnswerTally:
    """Every answer the API gave, counted by who asked (``caller_kind``) and HTTP status, the 503s that came without
    ``Retry-After``, and the first few answers of each caller and status other than 2xx (request and message): what
    the callers of a chaos run saw.

    Example
    -------
    >>> tally = AnswerTally()
    >>> tally.add("shopper", 503, {"Retry-After": "1"}, "POST /orders", {"message": "busy"})
    >>> tally.add("shopper", 503, {})
    >>> tally.figures()["statuses"], tally.figures()["unavailable_without_retry_after"]
    ({'shopper': {'503': 2}}, 1)
    >>> tally.figures()["examples"]
    {'shopper 503': ['POST /orders: busy', '?: ?']}
    """

    EXAMPLES = 3

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[str, Counter[int]] = {}
        self._without_retry_after = 0
        self._examples: dict[str, list[str]] = {}

    def add(self, caller: str, status: int, headers: Mapping[str, str], request: str = "?", body: Any = None) -> None:
        message = body.get("message", body) if isinstance(body, dict) else body
        with self._lock:
            self._statuses.setdefault(caller, Counter())[status] += 1
            if status == HTTPStatus.SERVICE_UNAVAILABLE and not _header(headers, "Retry-After"):
                self._without_retry_after += 1
            if not 200 <= status < 300:
                examples = self._examples.setdefault(f"{caller} {status}", [])
                if len(examples) < self.EXAMPLES:
                    examples.append(f"{request}: {str(message or '?')[:200]}")

    def figures(self) -> dict[str, Any]:
        with self._lock:
            return {
                "statuses": {
                    caller: {str(status): count for status, count in sorted(counts.items())}
                    for caller, counts in sorted(self._statuses.items())
                },
                "unavailable_without_retry_after": self._without_retry_after,
                "examples": {key: list(examples) for key, examples in sorted(self._examples.items())},
            }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def caller_kind(caller: Identity) -> str:
    """How a tally names a caller: every shopper is ``shopper``, a principal by the last part of its ARN.

    Example
    -------
    >>> caller_kind(WAREHOUSE), caller_kind(None)
    ('orders-local-warehouse', 'anonymous')
    """
    if isinstance(caller, Shopper):
        return "shopper"
    return "anonymous" if caller is None else caller.arn.rsplit("/", 1)[-1]


class ApiClient:
    """HTTP/1.1 keep-alive client of the order API, one connection per thread (as a pool of frontends would)."""

    def __init__(self, port: int):
        self._port = port
        self._local = threading.local()
        self.answers = AnswerTally()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(HOST, self._port, timeout=REQUEST_TIMEOUT_SECONDS)
            self._local.connection = connection
        return connection

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        caller: Identity = None,
    ) -> ApiResponse:
        """One request as ``caller``, retried once on a dropped keep-alive connection; ``seconds`` is its client-side
        latency (signing and token renewal happen before the clock starts). Every answer is counted in ``answers``."""
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if isinstance(caller, Shopper):
            all_headers["Authorization"] = caller.token
        elif isinstance(caller, LocalPrincipal):
            all_headers = sign(caller, method, f"http://{HOST}:{self._port}{path}", data, all_headers)
        for attempt in range(2):
            connection = self._connection()
            started = time.perf_counter()
            try:
                connection.request(method, path, body=data, headers=all_headers)
                response = connection.getresponse()
                raw = response.read()
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt == 1:
                    raise
                continue
            elapsed = time.perf_counter() - started
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            headers = dict(response.getheaders())
            self.answers.add(caller_kind(caller), response.status, headers, f"{method} {path}", parsed)
            return ApiResponse(response.status, parsed, elapsed, headers)
        raise AssertionError("unreachable")


@dataclass
class BenchStack(LaunchedStack):
    """One running ``orders up``: its API client, AWS clients on its endpoint, its bench shoppers and its log file."""

    name: str
    log_path: Path
    api: ApiClient = field(init=False)

    def __post_init__(self) -> None:
        self.api = ApiClient(self.api_port)
        session = boto3.session.Session(
            aws_access_key_id=UNFAULTED_ACCESS_KEY_ID, aws_secret_access_key="local", region_name=REGION
        )
        config = Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 3})
        self.dynamodb = session.client("dynamodb", endpoint_url=self.aws_endpoint, config=config)
        self.stepfunctions = session.client("stepfunctions", endpoint_url=self.aws_endpoint, config=config)
        self.cognito = session.client("cognito-idp", endpoint_url=self.aws_endpoint, config=config)
        self._shoppers: list[Shopper] = []
        self._shoppers_lock = threading.Lock()

    def shoppers(self, count: int = SHOPPERS) -> list[Shopper]:
        """``count`` signed-in bench shoppers, created in the stack's pool the first time they are asked for.

        The seeded users are left to the people using the stack; bench shoppers are ``bench-shopper-<n>@example.com``
        with the local password, so their orders are told apart from anyone else's by their ``sub``.
        """
        with self._shoppers_lock:
            missing = range(len(self._shoppers), count)
            if missing:
                pool = find_user_pool(self.cognito, REGION)
                with ThreadPoolExecutor(max_workers=8) as workers:
                    self._shoppers += workers.map(lambda n: self._new_shopper(pool.pool_id, pool.client_id, n), missing)
            return self._shoppers[:count]

    def _new_shopper(self, pool_id: str, client_id: str, number: int) -> Shopper:
        email = f"bench-shopper-{number}@example.com"
        self.cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
        self.cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=email, Password=LOCAL_PASSWORD, Permanent=True
        )
        return Shopper(self.cognito, client_id, email)

    def put_product(self, sku: str, stock: int, price_cents: int = 1000) -> None:
        """Seed a product of the benchmark's own straight into the products table, as an operator would."""
        product = {"sku": sku, "name": f"Benchmark product {sku}", "priceCents": price_cents, "currency": "USD"}
        self.dynamodb.put_item(TableName="products", Item=to_item({**product, "stock": stock}))

    def stock(self, sku: str) -> int:
        item = self.dynamodb.get_item(TableName="products", Key=to_item({"sku": sku}), ConsistentRead=True)["Item"]
        return int(from_item(item)["stock"])

    def scan(self, table: str, projection: str | None = None) -> list[dict[str, Any]]:
        """Every item of a table, paginated, with a bound on the pages read."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": table}
        if projection:
            request["ProjectionExpression"] = projection
        for _ in range(100_000):
            page = self.dynamodb.scan(**request)
            items += [from_item(item) for item in page.get("Items", [])]
            if not page.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        raise AssertionError(f"scan of {table} did not end")

    def stop(self) -> None:
        """SIGTERM, then a kill if it does not stop in time."""
        stop(self.process, STOP_DEADLINE_SECONDS)

    def __enter__(self) -> BenchStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_stack(
    name: str,
    *,
    warehouse_delay: str = "0",
    time_scale: float = 100.0,
    faults: Mapping[str, Any] | None = None,
    aws_faults: Mapping[str, Any] | None = None,
) -> BenchStack:
    """Start ``orders up`` on free ports and wait (with a deadline) until its API answers the signed ``/health``.

    Parameters
    ----------
    name:
        Names the stack's log file, ``bench/results/<name>.log.tmp``.
    warehouse_delay:
        ``ORDERS_WAREHOUSE_DELAY_SECONDS``: seconds, or ``"off"`` when the benchmark plays the warehouse.
    time_scale:
        ``ORDERS_TIME_SCALE``: retry backoff runs this many times faster.
    faults:
        ``ORDERS_FAULTS`` rules (see ``local.testkit.faults``).
    aws_faults:
        ``ORDERS_AWS_FAULTS`` rules (see ``local.endpoint.aws_faults``); the stack writes what they injected to
        ``aws_faults_report(name)`` when it stops.

    Example
    -------
    >>> with start_stack("throughput") as stack:  # doctest: +SKIP
    ...     stack.api.request("GET", "/health", caller=OPERATOR).status
    200
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    settings = {
        "ORDERS_CONSOLE_PORT": str(free_port()),
        "ORDERS_WAREHOUSE_DELAY_SECONDS": warehouse_delay,
        "ORDERS_TIME_SCALE": str(time_scale),
        "ORDERS_FAULTS": json.dumps(faults) if faults else "",
        "ORDERS_AWS_FAULTS": json.dumps(aws_faults) if aws_faults else "",
        "ORDERS_AWS_FAULTS_REPORT": str(aws_faults_report(name)) if aws_faults else "",
        **BENCH_LIMITS,
    }
    log_path = RESULTS_DIR / f"{name}.log.tmp"
    with log_path.open("w") as log:
        launched = launch(settings, os.environ, log)
    stack = BenchStack(launched.process, launched.api_port, launched.aws_port, launched.ws_port, name, log_path)
    try:
        wait_until_ready(launched, lambda: _healthy(stack), READY_DEADLINE_SECONDS)
    except StackNotReadyError as error:
        raise StackNotReadyError(f"{error} ({name}): see {log_path}") from error
    return stack


def aws_faults_report(name: str) -> Path:
    """Where the stack ``name`` writes, when it stops, the faults its ``ORDERS_AWS_FAULTS`` rules injected."""
    return RESULTS_DIR / f"{name}.aws-faults.json.tmp"


def _healthy(stack: BenchStack) -> bool:
    """The health probe is an IAM route: signed with the local operator's credentials, as a monitor would sign."""
    return stack.api.request("GET", "/health", caller=OPERATOR).status == 200
