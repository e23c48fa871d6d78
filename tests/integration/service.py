"""A client of the running service, and the start and stop of a local one, for the integration suite.

The integration suite drives the service over HTTP, as a frontend and a warehouse would.

By default it starts ``orders up`` in a subprocess on free ports (warehouse simulator off, so the tests play the
warehouse). With ``ORDERS_API_URL`` set (and ``ORDERS_API_TOKEN``, AWS credentials) it runs against that deployed
stack instead; the tests that need the local process itself are skipped then. There, the warehouse and health
routes are IAM-authorized, so those requests are SigV4-signed with the caller's AWS credentials, as a warehouse
would sign them; the shopper routes carry the Cognito token.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from local.launcher import StackNotReadyError, launch, stop, wait_until_ready

READY_DEADLINE_SECONDS = 90.0
STOP_DEADLINE_SECONDS = 10.0
INTEGRATION_TIME_SCALE = "100"
"""Retry backoff takes milliseconds; the one-day shipment heartbeat still lasts 14 real minutes."""
IAM_ROUTES = re.compile(r"^/(health|orders/[^/]+/shipment)$")
"""The deployed API authorizes these with IAM (README, "Deploy to AWS"); every other route with Cognito."""


@dataclass
class HttpResponse:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class OrdersService:
    api_url: str
    aws_endpoint: str | None
    token: str | None = None
    process: subprocess.Popen | None = None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> HttpResponse:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self.process is None and IAM_ROUTES.match(path.split("?", 1)[0]):
            all_headers = self._signed(method, path, data, all_headers)
        elif self.token:
            all_headers["Authorization"] = self.token
        request = urllib.request.Request(self.api_url + path, data=data, headers=all_headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return HttpResponse(response.status, _json(response.read()), dict(response.headers))
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, _json(error.read()), dict(error.headers))

    def _signed(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        session = boto3.session.Session()
        signed = AWSRequest(method=method, url=self.api_url + path, data=data, headers=headers)
        SigV4Auth(session.get_credentials(), "execute-api", session.region_name).add_auth(signed)
        return dict(signed.headers.items())

    def stepfunctions(self) -> Any:
        if self.aws_endpoint:
            return boto3.client(
                "stepfunctions",
                endpoint_url=self.aws_endpoint,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )
        return boto3.client("stepfunctions")

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


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def start_local_service(extra_env: dict[str, str] | None = None) -> OrdersService:
    settings = {
        "ORDERS_CONSOLE_PORT": "0",
        "ORDERS_WAREHOUSE_DELAY_SECONDS": "off",
        "ORDERS_TIME_SCALE": INTEGRATION_TIME_SCALE,
        **(extra_env or {}),
    }
    stack = launch(settings, os.environ, subprocess.PIPE)
    service = OrdersService(stack.api_url, stack.aws_endpoint, process=stack.process)
    try:
        wait_until_ready(stack, lambda: service.request("GET", "/health").status == 200, READY_DEADLINE_SECONDS)
    except StackNotReadyError as error:
        raise AssertionError(f"{error}: {stack.process.stdout.read()}") from error
    return service


def stop_local_service(service: OrdersService) -> int:
    """SIGTERM, as a process manager would; the stack must stop cleanly within a few seconds."""
    exit_code = stop(service.process, STOP_DEADLINE_SECONDS)
    if exit_code is None:
        raise AssertionError(f"orders up did not stop within {STOP_DEADLINE_SECONDS}s of SIGTERM")
    return exit_code
