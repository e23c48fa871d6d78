"""The ``orders`` CLI: sign-in and stored tokens, the global options, and what each command sends.

Cognito is moto's, in memory (``auth.cognito_client`` is replaced); what the CLI sends over HTTP is recorded by a
server on 127.0.0.1 in the test.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.cognitoidp.identity import (
    LOCAL_PASSWORD,
    SEEDED_USERS,
    SeededUser,
    Tokens,
    UserPool,
    provision_user_pool,
)
from local.aws.sigv4 import WAREHOUSE, LocalPrincipal, verify
from local.aws.stepfunctions.child_executions import EnteredState
from local.stack import StackSettings
from tasks.models.order import OrderRequest
from tools.cli import auth, output, stack
from tools.cli import main as cli
from tools.cli import orders as order_commands

ENDPOINT = "http://127.0.0.1:4566"
UNSEEDED = SeededUser("linus@example.com")
"""A user of the local pool who is not one of the documented seeded users: the CLI signs them in only by password."""
ORDERS_VARIABLES = (
    "ORDERS_API_URL",
    "ORDERS_API_PORT",
    "ORDERS_API_TOKEN",
    "ORDERS_USER",
    "ORDERS_AWS_PORT",
    "ORDERS_AWS_ENDPOINT",
    "ORDERS_PASSWORD",
    "ORDERS_CONFIG_DIR",
    "XDG_CONFIG_HOME",
)


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh config directory and none of the developer's own ``ORDERS_*`` settings."""
    for name in ORDERS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "config"
    monkeypatch.setenv("ORDERS_CONFIG_DIR", str(directory))
    return directory


@dataclass
class CognitoCalls:
    """The local pool in moto and the endpoints the CLI asked ``cognito_client`` for."""

    pool: UserPool
    client: Any
    endpoints: list[str | None] = field(default_factory=list)


@pytest.fixture(scope="module")
def cognito_client() -> Any:
    """One client for the module, as for DynamoDB in conftest: moto intercepts it inside each test's mock."""
    return boto3.client("cognito-idp", region_name=LOCAL_REGION)


@pytest.fixture
def cognito(cognito_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[CognitoCalls]:
    with mock_aws():
        client = cognito_client
        calls = CognitoCalls(provision_user_pool(client, LOCAL_REGION, (*SEEDED_USERS, UNSEEDED)), client)

        def factory(endpoint: str | None, region: str) -> Any:
            calls.endpoints.append(endpoint)
            return client

        monkeypatch.setattr(auth, "cognito_client", factory)
        yield calls


@pytest.fixture
def no_cognito(monkeypatch: pytest.MonkeyPatch) -> None:
    """For commands that must not sign in at all."""

    def refuse(endpoint: str | None, region: str) -> Any:
        raise AssertionError(f"asked for a Cognito client ({endpoint})")

    monkeypatch.setattr(auth, "cognito_client", refuse)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeApi:
    """An HTTP server on 127.0.0.1 that records each request and answers ``answer(request)``: (status, JSON)."""

    url: str
    received: list[Received]
    answer: Callable[[Received], tuple[int, Any]]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi("", [], lambda request: (202, {"orderId": "ord-1", "status": "RECEIVED"}))

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Received(self.command, self.path, dict(self.headers.items()), body)
            fake.received.append(request)
            status, answer = fake.answer(request)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _record  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``received`` instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def stored(user: str) -> dict[str, Any]:
    return json.loads(auth.token_path(user).read_text())


def store(user: str, pool: auth.PoolRef, tokens: Tokens) -> None:
    auth.save_login(auth.Login(user, pool, tokens), auth.token_path(user))


def forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make these Cognito calls of the CLI fail the test if they are made."""
    for name in names:

        def refuse(*args: Any, name: str = name) -> Any:
            raise AssertionError(f"the CLI called {name}")

        monkeypatch.setattr(auth, name, refuse)


def exit_code_of(argv: list[str]) -> int:
    """``cli.main``'s exit code, whether it returns it or argparse exits with it."""
    try:
        return cli.main(argv)
    except SystemExit as exit:
        return exit.code


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# login


def test_login_stores_the_tokens_in_a_0600_file_in_a_0700_directory(cognito, config, capsys):
    exit_code = cli.main(["login", "--user", "ada@example.com"])

    path = config / "tokens" / "ada@example.com.json"
    assert exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.stat().st_mode) == 0o700
    assert sorted(os.listdir(path.parent)) == ["ada@example.com.json"]
    saved = stored("ada@example.com")
    assert claims(saved["id_token"])["email"] == "ada@example.com"
    assert saved["refresh_token"]
    assert saved["expires_at"] > time.time() + 3000
    assert saved["pool"] == {"client_id": cognito.pool.client_id, "region": LOCAL_REGION, "endpoint": ENDPOINT}
    assert f"signed in as ada@example.com to the local user pool at {ENDPOINT}" in capsys.readouterr().out


def test_the_token_file_is_0600_before_it_is_renamed_into_place_even_with_umask_0(cognito, monkeypatch):
    modes = []
    rename = os.replace

    def checked_replace(source: str, target: Path) -> None:
        modes.append(stat.S_IMODE(os.stat(source).st_mode))
        rename(source, target)

    monkeypatch.setattr(os, "replace", checked_replace)
    previous = os.umask(0)
    try:
        assert cli.main(["login", "--user", "grace@example.com"]) == 0
    finally:
        os.umask(previous)

    assert modes == [0o600]
    assert stat.S_IMODE(auth.token_path("grace@example.com").stat().st_mode) == 0o600


def test_a_tokens_directory_left_open_is_closed_again(cognito, config):
    (config / "tokens").mkdir(parents=True, mode=0o755)
    os.chmod(config / "tokens", 0o755)

    assert cli.main(["login", "--user", "ada@example.com"]) == 0

    assert stat.S_IMODE((config / "tokens").stat().st_mode) == 0o700


def test_a_wrong_password_exits_1_with_one_line(cognito, capsys):
    exit_code = cli.main(["login", "--user", "ada@example.com", "--password", "not-the-password"])

    error = capsys.readouterr().err
    assert exit_code == cli.EXIT_REFUSED == 1
    assert error == "orders login: Cognito refused ada@example.com: Incorrect username or password.\n"
    assert not auth.token_path("ada@example.com").exists()


def test_a_user_who_is_not_seeded_signs_in_with_a_password(cognito, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)

    assert cli.main(["login", "--user", UNSEEDED.email]) == cli.EXIT_USAGE
    assert (
        capsys.readouterr().err == f"orders login: {UNSEEDED.email} needs a password: --password or ORDERS_PASSWORD\n"
    )

    monkeypatch.setenv("ORDERS_PASSWORD", LOCAL_PASSWORD)
    assert cli.main(["login", "--user", UNSEEDED.email]) == 0
    assert claims(stored(UNSEEDED.email)["id_token"])["email"] == UNSEEDED.email


def test_login_to_a_deployed_pool_records_its_client_and_region(cognito):
    options = ["--client-id", cognito.pool.client_id, "--region", "us-east-1", "--password", LOCAL_PASSWORD]

    assert cli.main(["login", "--user", UNSEEDED.email, *options]) == 0

    assert cognito.endpoints == [None]
    assert stored(UNSEEDED.email)["pool"] == asdict(auth.PoolRef(cognito.pool.client_id, "us-east-1"))


def test_an_unreachable_aws_endpoint_exits_2_and_says_how_to_start_the_stack(monkeypatch, capsys):
    port = closed_port()
    monkeypatch.setenv("ORDERS_AWS_PORT", str(port))

    exit_code = cli.main(["login"])

    error = capsys.readouterr().err
    assert exit_code == cli.EXIT_UNREACHABLE == 2
    assert error.count("\n") == 1
    assert error.startswith(f"orders login: cannot reach the local AWS endpoint at http://127.0.0.1:{port} (")
    assert error.endswith("start the stack with `make run`\n")


def test_an_endpoint_without_the_local_pool_exits_2(monkeypatch, capsys):
    with mock_aws():
        client = boto3.client("cognito-idp", region_name=LOCAL_REGION)
        monkeypatch.setattr(auth, "cognito_client", lambda endpoint, region: client)

        exit_code = cli.main(["token"])

    assert exit_code == 2
    assert (
        capsys.readouterr().err == f"orders token: no local user pool at {ENDPOINT}; start the stack with `make run`\n"
    )


# token


def test_token_for_a_seeded_user_needs_no_password_and_no_login(cognito, capsys):
    assert cli.main(["token", "--user", "grace@example.com"]) == 0

    token = capsys.readouterr().out.strip()
    assert claims(token)["email"] == "grace@example.com"
    assert stored("grace@example.com")["id_token"] == token


def test_token_prints_the_stored_token_while_it_is_valid(cognito, capsys, monkeypatch):
    assert cli.main(["login", "--user", "ada@example.com"]) == 0
    forbid(monkeypatch, "refresh", "sign_in")
    capsys.readouterr()

    assert cli.main(["token", "--user", "ada@example.com"]) == 0

    assert capsys.readouterr().out == stored("ada@example.com")["id_token"] + "\n"


@pytest.mark.parametrize("seconds_left", [-5.0, 30.0], ids=["expired", "expiring-within-a-minute"])
def test_token_refreshes_with_the_refresh_token(cognito, capsys, monkeypatch, seconds_left):
    pool = auth.PoolRef(cognito.pool.client_id, LOCAL_REGION, ENDPOINT)
    first = auth.sign_in_to(pool, UNSEEDED.email, LOCAL_PASSWORD, time.time())
    store(UNSEEDED.email, pool, Tokens("old-id-token", first.refresh_token, time.time() + seconds_left))
    forbid(monkeypatch, "sign_in")

    assert cli.main(["token", "--user", UNSEEDED.email]) == 0

    token = capsys.readouterr().out.strip()
    assert claims(token)["email"] == UNSEEDED.email
    saved = stored(UNSEEDED.email)
    assert saved["id_token"] == token
    assert saved["refresh_token"] == first.refresh_token
    assert saved["expires_at"] > time.time() + 3000


@pytest.mark.parametrize(
    "how",
    [
        ("env", ["token"]),
        ("option", ["token", "--password", "wrong"]),
        ("option before the command", ["--password", "wrong", "token"]),
    ],
    ids=lambda how: how[0],
)
def test_a_wrong_password_is_refused_even_with_a_stored_token(cognito, capsys, monkeypatch, how):
    _, argv = how
    assert cli.main(["login", "--user", "ada@example.com"]) == 0
    before = stored("ada@example.com")
    capsys.readouterr()
    monkeypatch.setenv("ORDERS_PASSWORD", "wrong")

    assert cli.main(argv) == cli.EXIT_REFUSED

    out, err = capsys.readouterr()
    assert out == ""
    assert err == "orders token: Cognito refused ada@example.com: Incorrect username or password.\n"
    assert stored("ada@example.com") == before


def test_a_given_password_signs_in_anew_and_stores_the_new_tokens(cognito, capsys, monkeypatch):
    pool = auth.PoolRef(cognito.pool.client_id, LOCAL_REGION, ENDPOINT)
    store(UNSEEDED.email, pool, Tokens("stored-id-token", "stored-refresh", time.time() + 3000))
    forbid(monkeypatch, "refresh")

    assert cli.main(["token", "--user", UNSEEDED.email, "--password", LOCAL_PASSWORD]) == 0

    token = capsys.readouterr().out.strip()
    assert claims(token)["email"] == UNSEEDED.email
    assert stored(UNSEEDED.email)["id_token"] == token


def test_a_shopper_command_with_a_wrong_password_sends_nothing(cognito, api, capsys):
    assert cli.main(["login", "--user", "ada@example.com"]) == 0
    capsys.readouterr()

    assert cli.main(["list", "--api-url", api.url, "--password", "wrong"]) == cli.EXIT_REFUSED

    assert capsys.readouterr().err == "orders list: Cognito refused ada@example.com: Incorrect username or password.\n"
    assert api.received == []


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["list", "--token", "t", "--password", "p"], {}),
        (["list"], {"ORDERS_API_TOKEN": "t", "ORDERS_PASSWORD": "p"}),
    ],
    ids=["options", "environment"],
)
def test_a_token_and_a_password_together_are_refused_as_contradictory(api, capsys, no_cognito, monkeypatch, argv, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert cli.main([*argv, "--api-url", api.url]) == cli.EXIT_USAGE

    assert capsys.readouterr().err == (
        "orders list: --token (or ORDERS_API_TOKEN) is sent as it is, so --password (or ORDERS_PASSWORD) would not "
        "be checked: give one of them\n"
    )
    assert api.received == []


def test_a_failed_refresh_of_a_seeded_user_signs_in_again(cognito, capsys):
    pool = auth.PoolRef(cognito.pool.client_id, LOCAL_REGION, ENDPOINT)
    store("ada@example.com", pool, Tokens("old-id-token", "revoked-refresh-token", time.time() - 5))

    assert cli.main(["token", "--user", "ada@example.com"]) == 0

    assert claims(capsys.readouterr().out.strip())["email"] == "ada@example.com"


def test_a_failed_refresh_of_another_user_says_to_log_in(cognito, capsys):
    pool = auth.PoolRef(cognito.pool.client_id, LOCAL_REGION, ENDPOINT)
    store(UNSEEDED.email, pool, Tokens("old-id-token", "revoked-refresh-token", time.time() - 5))

    assert cli.main(["token", "--user", UNSEEDED.email]) == 1

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"orders token: the refresh for {UNSEEDED.email} failed (")
    assert error.endswith(f"sign in with `orders login --user {UNSEEDED.email}`\n")


def test_tokens_of_a_restarted_local_stack_are_replaced(cognito, capsys):
    """A new stack has a new pool: the stored token, though unexpired, is for one that is gone."""
    old_pool = auth.PoolRef("client-of-the-last-run", LOCAL_REGION, ENDPOINT)
    store("ada@example.com", old_pool, Tokens("old-id-token", "old-refresh", time.time() + 3000))

    assert cli.main(["token", "--user", "ada@example.com"]) == 0

    assert claims(capsys.readouterr().out.strip())["aud"] == cognito.pool.client_id
    assert stored("ada@example.com")["pool"]["client_id"] == cognito.pool.client_id


def test_a_user_who_is_not_seeded_logs_in_again_after_a_restart(cognito, capsys):
    old_pool = auth.PoolRef("client-of-the-last-run", LOCAL_REGION, ENDPOINT)
    store(UNSEEDED.email, old_pool, Tokens("old-id-token", "old-refresh", time.time() + 3000))

    assert cli.main(["token", "--user", UNSEEDED.email]) == 1

    assert capsys.readouterr().err == (
        f"orders token: the stored login of {UNSEEDED.email} is for a local user pool that is gone (was the stack "
        f"restarted?); sign in with `orders login --user {UNSEEDED.email}`\n"
    )


def test_token_follows_orders_aws_port(cognito, monkeypatch, capsys):
    monkeypatch.setenv("ORDERS_AWS_PORT", "4599")

    assert cli.main(["token"]) == 0

    assert set(cognito.endpoints) == {"http://127.0.0.1:4599"}
    assert stored("ada@example.com")["pool"]["endpoint"] == "http://127.0.0.1:4599"


def test_token_uses_a_deployed_login_unless_a_local_endpoint_is_named(cognito, monkeypatch, capsys):
    deployed = auth.PoolRef("deployed-client", "eu-west-1")
    store("ada@example.com", deployed, Tokens("deployed-id-token", "deployed-refresh", time.time() + 3000))

    assert cli.main(["token"]) == 0
    assert capsys.readouterr().out == "deployed-id-token\n"
    assert cognito.endpoints == []

    monkeypatch.setenv("ORDERS_AWS_PORT", "4566")
    assert cli.main(["token"]) == 0
    assert claims(capsys.readouterr().out.strip())["aud"] == cognito.pool.client_id
    assert stored("ada@example.com")["id_token"] == "deployed-id-token", "a local sign-in keeps the deployed login"


def test_a_refresh_asks_the_pool_the_login_came_from(cognito, capsys):
    deployed = auth.PoolRef(cognito.pool.client_id, "us-east-1")
    first = auth.sign_in_to(deployed, UNSEEDED.email, LOCAL_PASSWORD, time.time())
    store(UNSEEDED.email, deployed, Tokens("old-id-token", first.refresh_token, time.time() - 5))
    cognito.endpoints.clear()

    assert cli.main(["token", "--user", UNSEEDED.email]) == 0

    assert cognito.endpoints == [None]
    assert stored(UNSEEDED.email)["pool"]["endpoint"] is None


def test_no_user_name_leads_outside_the_tokens_directory(config):
    path = auth.token_path("../../etc/passwd")

    assert path.parent == config / "tokens"
    assert "/" not in path.name


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ORDERS_CONFIG_DIR": "/srv/orders"}, "/srv/orders"),
        ({"XDG_CONFIG_HOME": "/home/ada/.config"}, "/home/ada/.config/orders"),
        ({}, str(Path.home() / ".config" / "orders")),
    ],
)
def test_the_config_directory(env, expected):
    assert str(auth.config_dir(env)) == expected


# global options


@pytest.mark.parametrize(
    "argv",
    [
        ["--api-url", "http://127.0.0.1:9", "--user", "grace@example.com", "--token", "t", "status", "ord-1"],
        ["status", "ord-1", "--api-url", "http://127.0.0.1:9", "--user", "grace@example.com", "--token", "t"],
        ["--api-url", "http://127.0.0.1:9", "status", "ord-1", "--user", "grace@example.com", "--token", "t"],
    ],
    ids=["before", "after", "both"],
)
def test_global_options_go_before_or_after_the_subcommand(argv):
    args = cli.build_parser().parse_args(argv)

    assert (args.api_url, args.user, args.token, args.order_id) == (
        "http://127.0.0.1:9",
        "grace@example.com",
        "t",
        "ord-1",
    )


def test_global_options_default_to_the_environment(monkeypatch):
    args = cli.build_parser().parse_args(["list"])
    assert (args.api_url, args.user, args.token) == ("http://127.0.0.1:3000", "ada@example.com", None)

    monkeypatch.setenv("ORDERS_API_PORT", "3001")
    monkeypatch.setenv("ORDERS_USER", "ops@example.com")
    monkeypatch.setenv("ORDERS_API_TOKEN", "from-env")
    args = cli.build_parser().parse_args(["list"])
    assert (args.api_url, args.user, args.token) == ("http://127.0.0.1:3001", "ops@example.com", "from-env")

    monkeypatch.setenv("ORDERS_API_URL", "https://abc.execute-api.eu-west-1.amazonaws.com/prod")
    assert cli.build_parser().parse_args(["list", "--user", "grace@example.com"]).api_url.startswith("https://abc.")


def test_a_bad_orders_api_port_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("ORDERS_API_PORT", "three thousand")

    assert cli.main(["list"]) == 2
    assert capsys.readouterr().err == "orders: ORDERS_API_PORT must be a port number, got 'three thousand'\n"


# what the API commands send


def test_submit_sends_the_users_token_and_no_customer_id(cognito, api):
    exit_code = cli.main(["submit", "--item", "KB-TKL-01=2", "--api-url", api.url, "--idempotency-key", "k-1"])

    [request] = api.received
    assert exit_code == 0
    assert (request.method, request.path) == ("POST", "/orders")
    assert claims(request.headers["Authorization"])["email"] == "ada@example.com"
    assert request.headers["Idempotency-Key"] == "k-1"
    assert "customerId" not in request.json
    assert OrderRequest.model_validate(request.json).items[0].quantity == 2


def test_submit_no_longer_takes_a_customer(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["submit", "--item", "KB-TKL-01=1", "--customer", "cust-42"])


def test_submit_refuses_an_order_file_that_names_the_customer(tmp_path, api, capsys, no_cognito):
    order = tmp_path / "order.json"
    order.write_text(json.dumps({"customerId": "cust-42", "items": []}))

    assert exit_code_of(["--api-url", api.url, "--token", "t", "submit", "--file", str(order)]) == cli.EXIT_USAGE

    assert api.received == []
    assert "remove customerId" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--user", "ops@example.com", "list", "--customer", "cust-42"],
        ["list", "--customer", "cust-42", "--user", "ops@example.com"],
    ],
)
def test_each_command_sends_the_token_of_user(cognito, api, argv):
    api.answer = lambda request: (200, {"orders": []})

    assert cli.main([*argv, "--api-url", api.url]) == 0

    [request] = api.received
    assert claims(request.headers["Authorization"])["cognito:groups"] == ["ops"]
    assert request.path == "/orders?customerId=cust-42&limit=20"


def test_an_explicit_token_wins_over_the_user(api, no_cognito):
    api.answer = lambda request: (200, {"orders": []})

    assert cli.main(["list", "--token", "explicit-token", "--user", "grace@example.com", "--api-url", api.url]) == 0

    assert api.received[0].headers["Authorization"] == "explicit-token"


def test_a_deployed_api_needs_a_deployed_login(no_cognito, capsys):
    url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod"

    assert cli.main(["status", "ord-1", "--api-url", url]) == 1

    assert capsys.readouterr().err == (
        f"orders status: ada@example.com has no login for {url}: run `orders login --user ada@example.com "
        "--client-id CLIENT_ID --region REGION`, or pass --token\n"
    )


CATALOG = [
    {"sku": "KB-TKL-01", "name": "Tenkeyless Mechanical Keyboard", "priceCents": 8999, "currency": "USD", "stock": 40},
    {"sku": "MON-27-4K", "name": '27" 4K IPS Monitor', "priceCents": 32900, "currency": "USD", "stock": 12},
]


def test_products_lists_the_catalog_without_signing_in(api, capsys, no_cognito):
    api.answer = lambda request: (200, CATALOG)

    assert cli.main(["products", "--api-url", api.url]) == 0

    [request] = api.received
    assert (request.method, request.path) == ("GET", "/products")
    assert "Authorization" not in request.headers
    assert capsys.readouterr().out.splitlines() == [
        "SKU        NAME                                 PRICE  STOCK",
        "KB-TKL-01  Tenkeyless Mechanical Keyboard   89.99 USD     40",
        'MON-27-4K  27" 4K IPS Monitor              329.00 USD     12',
    ]


def test_products_json_and_an_empty_catalog(api, capsys, no_cognito):
    api.answer = lambda request: (200, CATALOG)
    assert cli.main(["products", "--json", "--api-url", api.url]) == 0
    assert json.loads(capsys.readouterr().out) == CATALOG

    api.answer = lambda request: (200, [])
    assert cli.main(["products", "--api-url", api.url]) == 0
    assert capsys.readouterr().out == "no products\n"


@pytest.mark.parametrize("detail", ["message", "cause"])
def test_status_prints_the_failure_as_error_and_message(api, capsys, detail):
    order = {
        "orderId": "ord-1",
        "status": "FAILED",
        "totalCents": None,
        "timeline": [{"at": "2026-12-01T10:00:00Z", "status": "FAILED"}],
        "failure": {"error": "PaymentDeclined", detail: "the card was declined"},
    }
    api.answer = lambda request: (200, order)

    assert cli.main(["status", "ord-1", "--api-url", api.url, "--token", "t"]) == 0

    assert "  failure: PaymentDeclined: the card was declined\n" in capsys.readouterr().out


@pytest.mark.parametrize("message", ["", None])
def test_a_heartbeat_timeout_is_named_with_what_it_means_and_no_none(api, capsys, message):
    """The API gives a Step Functions timeout an empty message: its cause is empty."""
    order = {
        "orderId": "ord-1",
        "status": "FAILED",
        "customerId": "cust-1",
        "timeline": [{"at": "2026-12-01T10:00:00Z", "status": "FAILED"}],
        "failure": {"error": "States.HeartbeatTimeout", "message": message},
    }
    api.answer = lambda request: (200, order)

    assert cli.main(["watch", "ord-1", "--api-url", api.url, "--token", "t"]) == cli.EXIT_ORDER_FAILED
    assert cli.main(["status", "ord-1", "--api-url", api.url, "--token", "t"]) == 0

    out = capsys.readouterr().out
    assert "ended FAILED: States.HeartbeatTimeout (the warehouse sent no heartbeat in time)\n" in out
    assert "  failure: States.HeartbeatTimeout (the warehouse sent no heartbeat in time)\n" in out
    assert "None" not in out


def test_an_order_that_failed_without_a_failure_record_ends_with_its_status_alone(api, capsys):
    api.answer = lambda request: (200, {"orderId": "ord-1", "status": "FAILED", "timeline": []})

    assert cli.main(["watch", "ord-1", "--api-url", api.url, "--token", "t"]) == cli.EXIT_ORDER_FAILED

    assert capsys.readouterr().out == "ended FAILED\n"


def test_a_refusal_by_the_api_is_one_line_with_its_message(api, capsys):
    api.answer = lambda request: (404, {"message": "order ord-9 not found"})

    assert cli.main(["status", "ord-9", "--api-url", api.url, "--token", "t"]) == 1

    assert capsys.readouterr().err == "orders status: 404: order ord-9 not found\n"


@pytest.mark.parametrize(
    "argv",
    [["status", "ord-1"], ["list"], ["submit", "--item", "KB-TKL-01=1"], ["cancel", "ord-1"]],
    ids=["status", "list", "submit", "cancel"],
)
def test_a_refused_token_says_to_get_a_fresh_one(api, capsys, argv):
    """A token of an earlier ``orders up`` is signed by a user pool that is gone: API Gateway answers 401."""
    api.answer = lambda request: (401, {"message": "Unauthorized"})

    assert cli.main([*argv, "--api-url", api.url, "--token", "token-of-an-earlier-run"]) == cli.EXIT_REFUSED

    assert capsys.readouterr().err == (
        f"orders {argv[0]}: 401: the token was refused (Unauthorized): it has expired, or comes from an earlier "
        "`orders up`; get a fresh one with `orders token` (or `orders login`)\n"
    )


def test_ship_signs_with_sigv4_as_the_warehouse(api, no_cognito):
    api.answer = lambda request: (202, {"orderId": "ord-1", "accepted": "SHIPPED"})

    assert cli.main(["ship", "ord-1", "--api-url", api.url, "--token", "ignored"]) == 0

    [request] = api.received
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=LOCALWAREHOUSEKEY/")
    assert verify(request.method, api.url + request.path, request.headers, request.body) == WAREHOUSE
    assert request.json == {"outcome": "SHIPPED", "trackingNumber": "1Z999AA10123456784"}


def test_ship_to_a_deployed_api_signs_with_your_own_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-example")
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    args = cli.build_parser().parse_args(["ship", "ord-1", "--api-url", url])
    body = b'{"outcome": "SHIPPED"}'

    headers = auth.warehouse_signature(args)("POST", f"{url}/orders/ord-1/shipment", body, {"Content-Type": "x"})

    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "session-example"
    sent = {**headers, "Host": "abc123.execute-api.eu-west-1.amazonaws.com"}  # urllib adds it
    mine = LocalPrincipal("arn:aws:iam::123456789012:user/me", "AKIDEXAMPLE", "secret-example")
    assert verify("POST", f"{url}/orders/ord-1/shipment", sent, body, principals=(mine,)) == mine


# orders up: taken ports


@pytest.fixture
def taken_ports() -> Iterator[list[int]]:
    """Three ports something else listens on."""
    sockets = [socket.socket() for _ in range(3)]
    for taken in sockets:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
    yield [taken.getsockname()[1] for taken in sockets]
    for taken in sockets:
        taken.close()


def test_up_names_every_taken_port_at_once_with_its_setting(taken_ports, capsys):
    api, aws, console = taken_ports

    argv = ["up", "--api-port", str(api), "--aws-port", str(aws), "--console-port", str(console), "--ws-port", "0"]
    assert cli.main(argv) == cli.EXIT_UNREACHABLE

    assert capsys.readouterr().err == (
        f"orders up: the API cannot listen on 127.0.0.1:{api}: Address already in use; the AWS endpoint cannot listen "
        f"on 127.0.0.1:{aws}: Address already in use; the console cannot listen on 127.0.0.1:{console}: Address "
        "already in use. Free them, or pick others: ORDERS_API_PORT, ORDERS_AWS_PORT, ORDERS_CONSOLE_PORT.\n"
    )


def test_up_names_one_taken_port_and_the_setting_that_moves_it(taken_ports, capsys):
    argv = ["up", "--api-port", "0", "--aws-port", str(taken_ports[1]), "--console-port", "0", "--ws-port", "0"]
    assert cli.main(argv) == cli.EXIT_UNREACHABLE

    assert capsys.readouterr().err.endswith("Address already in use. Free it, or pick another: ORDERS_AWS_PORT.\n")


def test_a_port_asked_for_twice_is_named_before_anything_starts(capsys):
    port = str(closed_port())

    argv = ["up", "--api-port", port, "--aws-port", port, "--console-port", "0", "--ws-port", "0"]
    assert cli.main(argv) == cli.EXIT_UNREACHABLE

    assert f"the AWS endpoint cannot listen on 127.0.0.1:{port}: the API asks for it too." in capsys.readouterr().err


# the banner of orders up


CONSOLE_URL = "http://127.0.0.1:8233"


def fake_stack(api_url: str, aws_port: int) -> SimpleNamespace:
    return SimpleNamespace(
        api_url=api_url,
        aws_endpoint=f"http://127.0.0.1:{aws_port}",
        websocket_url="ws://127.0.0.1:3001",
        settings=StackSettings(),
        user_pool=UserPool("us-east-1_pool", "app-client", LOCAL_REGION),
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:order-workflow",
    )


def test_the_banner_gets_a_token_with_a_command_that_works_as_printed(cognito, monkeypatch, capsys):
    banner = stack._banner(fake_stack("http://127.0.0.1:3001", 4567), CONSOLE_URL)

    [command] = re.findall(r"^  TOKEN=\$\((.*)\)$", banner, flags=re.MULTILINE)
    words = shlex.split(command)
    assert words[:2] == ["ORDERS_AWS_PORT=4567", "ORDERS_API_PORT=3001"]
    assert words[2] == "orders" or Path(words[2]).is_file()
    for assignment in words[:2]:
        monkeypatch.setenv(*assignment.split("=", 1))
    assert cli.main(words[3:]) == 0
    assert claims(capsys.readouterr().out.strip())["email"] == "ada@example.com"
    assert set(cognito.endpoints) == {"http://127.0.0.1:4567"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_banners_curl_submits_an_order_without_a_customer(api):
    banner = stack._banner(fake_stack(api.url, 4566), CONSOLE_URL)

    [curl] = [line.strip() for line in banner.splitlines() if line.strip().startswith("curl ")]
    subprocess.run(["bash", "-c", curl], env={**os.environ, "TOKEN": "the-token"}, check=True, timeout=30)

    [request] = api.received
    assert request.headers["Authorization"] == "the-token"
    assert request.headers["Idempotency-Key"] == "my-first-order"
    assert "customerId" not in request.json
    OrderRequest.model_validate(request.json)


def test_the_banner_lists_the_seeded_users_and_the_password_once():
    banner = stack._banner(fake_stack("http://127.0.0.1:3000", 4566), CONSOLE_URL)

    assert "TOKEN=$(" in banner and "ORDERS_AWS_PORT=" not in banner and "ORDERS_API_PORT=" not in banner
    assert all(user.email in banner for user in SEEDED_USERS)
    assert "ops@example.com (group ops)" in banner
    assert banner.count(LOCAL_PASSWORD) == 1
    assert "us-east-1_pool, app client app-client" in banner


# console: the global options and the default API URL hold for it too


@pytest.mark.parametrize(
    "argv",
    [
        ["console", "--aws", "--orders-table", "Orders", "--api-url", "https://api.example/prod", "--token", "ops"],
        ["--api-url", "https://api.example/prod", "console", "--aws", "--token", "ops", "--orders-table", "Orders"],
    ],
    ids=["after", "before"],
)
def test_console_takes_the_global_options_before_or_after(argv):
    args = cli.build_parser().parse_args(argv)

    assert (args.command, args.aws, args.orders_table) == ("console", True, "Orders")
    assert (args.api_url, args.token) == ("https://api.example/prod", "ops")


def test_the_readme_console_example_parses():
    """The ``orders console --aws`` example of the operators' page (docs/operating.md, linked from the README)."""
    operating = (Path(cli.__file__).resolve().parents[2] / "docs" / "operating.md").read_text()
    [example] = re.findall(r"^orders console --aws .*?\)\"$", operating, flags=re.MULTILINE | re.DOTALL)

    args = cli.build_parser().parse_args(shlex.split(example.replace("\\\n", " "))[1:])

    assert args.aws and args.state_machine_arn and args.orders_table
    assert args.api_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
    assert args.token.startswith("$(orders token --user ops@example.com")


def test_the_consoles_api_url_follows_orders_api_port(monkeypatch):
    monkeypatch.setenv("ORDERS_API_PORT", "3001")

    assert cli.build_parser().parse_args(["console"]).api_url == "http://127.0.0.1:3001"


# list: paging


def order_row(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "orderId": f"ord-{number:05d}",
        "createdAt": f"2026-12-01T10:00:{number % 60:02d}Z",
        "status": "COMPLETED",
        "totalCents": 8999,
        "currency": "USD",
        **fields,
    }


def paged(orders: list[dict[str, Any]], size: int) -> Callable[[Received], tuple[int, Any]]:
    """An API answering ``size`` orders a page; a page's nextToken is where the next page starts."""

    def answer(request: Received) -> tuple[int, Any]:
        start = int(query_of(request).get("nextToken", 0))
        end = start + size
        return 200, {"orders": orders[start:end], "nextToken": str(end) if end < len(orders) else None}

    return answer


def query_of(request: Received) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query))


def test_list_passes_the_next_token_on_and_says_how_to_go_on(api, capsys):
    api.answer = paged([order_row(n) for n in range(5)], 2)

    assert cli.main(["list", "--api-url", api.url, "--token", "t", "--status", "COMPLETED"]) == 0
    *rows, more = capsys.readouterr().out.splitlines()
    assert [row.split()[1] for row in rows] == ["ord-00000", "ord-00001"]
    assert more == "(more: --next-token 2)"

    assert cli.main(["list", "--api-url", api.url, "--token", "t", "--status", "COMPLETED", "--next-token", "2"]) == 0
    assert [row.split()[1] for row in capsys.readouterr().out.splitlines()[:-1]] == ["ord-00002", "ord-00003"]
    assert query_of(api.received[-1]) == {"status": "COMPLETED", "limit": "20", "nextToken": "2"}


def test_list_all_follows_the_pages_to_the_last(api, capsys):
    api.answer = paged([order_row(n) for n in range(250)], 100)

    assert cli.main(["list", "--api-url", api.url, "--token", "t", "--customer", "cust-42", "--all"]) == 0

    rows = capsys.readouterr().out.splitlines()
    assert [row.split()[1] for row in rows] == [f"ord-{n:05d}" for n in range(250)]
    assert [query_of(request) for request in api.received] == [
        {"customerId": "cust-42", "limit": "100"},
        {"customerId": "cust-42", "limit": "100", "nextToken": "100"},
        {"customerId": "cust-42", "limit": "100", "nextToken": "200"},
    ]


def test_list_all_stops_at_its_page_limit_and_says_where_to_go_on(api, capsys, monkeypatch):
    monkeypatch.setattr(order_commands, "MAX_PAGES", 3)
    api.answer = paged([order_row(n) for n in range(50)], 5)

    assert cli.main(["list", "--api-url", api.url, "--token", "t", "--all", "--limit", "5"]) == cli.EXIT_TIMEOUT

    out, err = capsys.readouterr()
    assert len(api.received) == 3
    assert out.splitlines()[-1] == "(more: --next-token 15)"
    assert err == "orders list: stopped after 3 pages; go on with the --next-token above\n"


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([], "no orders"),
        (["--status", "FAILED"], "no orders matching --status FAILED"),
        (["--status", "FAILED", "--customer", "cust-42"], "no orders matching --status FAILED --customer cust-42"),
    ],
)
@pytest.mark.parametrize("all_pages", [[], ["--all"]], ids=["one-page", "all"])
def test_an_empty_list_says_so(api, capsys, filters, message, all_pages):
    api.answer = lambda request: (200, {"orders": []})

    assert cli.main(["list", "--api-url", api.url, "--token", "t", *filters, *all_pages]) == 0

    assert capsys.readouterr().out == message + "\n"


# exit codes


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["list", "--bogus"],
        ["list", "--status", "LOST"],
        ["list", "--limit", "0"],
        ["list", "--limit", "101"],
        ["list", "--limit", "ten"],
        ["status"],
        ["submit"],
        ["submit", "--item", "KB-TKL-01"],
        ["submit", "--item", "KB-TKL-01=two"],
        ["submit", "--item", "=2"],
        ["submit", "--file", "ORDER_FILE", "--item", "KB-TKL-01=1"],
        ["submit", "--file", "/nonexistent/order.json"],
        ["watch", "ord-1", "--timeout", "-5"],
        ["watch", "ord-1", "--interval", "0"],
        ["watch", "ord-1", "--interval", "nan"],
        ["ship", "ord-1", "--fail", "lost in transit", "--tracking", "1Z"],
        ["login", "--client-id", "client", "--aws-endpoint", ENDPOINT],
        ["token", "--client-id", "client", "--aws-endpoint", ENDPOINT],
    ],
)
def test_a_usage_error_exits_64_and_sends_nothing(argv, api, capsys, no_cognito, tmp_path):
    order = tmp_path / "order.json"
    order.write_text(json.dumps({"items": [{"sku": "KB-TKL-01", "quantity": 1}]}))
    argv = [str(order) if word == "ORDER_FILE" else word for word in argv]

    assert exit_code_of(["--api-url", api.url, "--token", "t", *argv]) == cli.EXIT_USAGE == 64

    error = capsys.readouterr().err
    assert error.startswith("usage: orders")
    assert re.search(r"^orders( \w+)?: error: ", error, flags=re.MULTILINE)
    assert api.received == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["submit", "--file", "ORDER_FILE", "--name", "Grace Hopper", "--country", "US"],
            "orders submit: --file holds the whole order: drop --name --country\n",
        ),
        (["login", "--client-id", "client"], "orders login: --client-id needs --region (or AWS_REGION)\n"),
    ],
)
def test_a_contradictory_or_missing_option_found_after_parsing_exits_64(
    argv, message, api, capsys, no_cognito, tmp_path, monkeypatch
):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    order = tmp_path / "order.json"
    order.write_text(json.dumps({"items": [{"sku": "KB-TKL-01", "quantity": 1}]}))
    argv = [str(order) if word == "ORDER_FILE" else word for word in argv]

    assert cli.main(["--api-url", api.url, "--token", "t", *argv]) == cli.EXIT_USAGE

    assert capsys.readouterr().err == message
    assert api.received == []


def test_submit_with_items_and_address_options(api):
    argv = ["submit", "--item", "KB-TKL-01=2", "--item", "MS-ERG-02=1", "--name", "Grace Hopper", "--country", "US"]

    assert cli.main([*argv, "--api-url", api.url, "--token", "t"]) == 0

    sent = api.received[0].json
    assert sent["items"] == [{"sku": "KB-TKL-01", "quantity": 2}, {"sku": "MS-ERG-02", "quantity": 1}]
    assert sent["paymentToken"] == "tok_ok"
    assert sent["shippingAddress"] == {
        **order_commands.FIRST_ORDER["shippingAddress"],
        "name": "Grace Hopper",
        "country": "US",
    }


def test_an_unreachable_api_still_exits_2(capsys):
    url = f"http://127.0.0.1:{closed_port()}"

    assert cli.main(["list", "--api-url", url, "--token", "t"]) == cli.EXIT_UNREACHABLE == 2

    assert capsys.readouterr().err.startswith(f"orders list: cannot reach the API at {url}: ")


def test_the_exit_codes_are_documented_in_the_help(capsys):
    assert exit_code_of(["--help"]) == 0

    help_text = " ".join(capsys.readouterr().out.split())
    for code in (0, 1, 2, 3, 4, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED, cli.EXIT_OUTPUT_CLOSED):
        assert f"; {code} " in help_text or f": {code} " in help_text
    assert "64 a usage error" in help_text


# a closed pipe


@pytest.mark.parametrize(("options", "page_size"), [([], 5000), (["--all"], 100)], ids=["one-long-page", "all"])
def test_a_closed_pipe_ends_the_listing_quietly(api, tmp_path, options, page_size):
    """5,000 rows are far more than a pipe holds, so ``orders`` is still writing when ``head`` goes away."""
    api.answer = paged([order_row(n) for n in range(5000)], page_size)
    errors = tmp_path / "stderr"
    script = '"$@" 2>"$ERRORS" | head -1; echo "${PIPESTATUS[*]}"'
    orders = [sys.executable, "-m", "tools.cli.main", "list", "--api-url", api.url, "--token", "t", *options]

    done = subprocess.run(
        ["bash", "-c", script, "bash", *orders],
        env={**os.environ, "ERRORS": str(errors)},
        cwd=Path(cli.__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    first, statuses = done.stdout.splitlines()
    assert first.split()[1] == "ord-00000"
    assert statuses == f"{cli.EXIT_OUTPUT_CLOSED} 0"
    assert errors.read_text() == ""


# help


def every_parser(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                yield from every_parser(command, (*path, name))


def test_every_option_and_command_has_help():
    for path, parser in every_parser(cli.build_parser()):
        assert parser.description, path
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, (path, action.option_strings or action.dest)
            for command in getattr(action, "_choices_actions", []):
                assert command.help, (path, command.dest)


def test_help_has_no_markup(capsys):
    paths = [path for path, _ in every_parser(cli.build_parser())]
    assert len(paths) == 13, "the top parser and every command"

    for path in paths:
        assert exit_code_of([*path, "--help"]) == 0
        help_text = capsys.readouterr().out
        assert help_text.startswith(f"usage: {' '.join(['orders', *path])} ")
        assert "`" not in help_text, path


# terminal control characters in data


NASTY = "\x1b[2J\x1b[31mred\r\u202eevil\x9b6n\x7f\u2066\x07\nnext"
"""Clears the screen, recolours, overwrites the line, reverses it, asks for the cursor, rings, breaks the line."""
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_visible_escapes_controls_and_bidi_overrides():
    assert output.visible(NASTY) == r"\x1b[2J\x1b[31mred\x0d\u202eevil\x9b6n\x7f\u2066\x07\x0anext"
    assert output.visible("a\nb", newlines=True) == "a\nb"
    assert output.visible("Zürich 12 Analytical Row\t") == r"Zürich 12 Analytical Row\x09"


@pytest.mark.parametrize(
    ("character", "escape"),
    [
        ("\u200b", r"\u200b"),
        ("\u200e", r"\u200e"),
        ("\u061c", r"\u061c"),
        ("\u2028", r"\u2028"),
        ("\u2029", r"\u2029"),
        ("\U000e0041", r"\U000e0041"),
    ],
    ids=[
        "zero-width-space",
        "left-to-right-mark",
        "arabic-letter-mark",
        "line-separator",
        "paragraph-separator",
        "tag",
    ],
)
def test_visible_escapes_invisible_and_line_breaking_characters(character, escape):
    """Format characters (Cf) hide in a name or reorder it, separators (Zl, Zp) break the line, as the API refuses."""
    assert output.visible(f"Ada{character}Lovelace") == f"Ada{escape}Lovelace"
    assert output.visible(f"Ada{character}Lovelace", newlines=True) == f"Ada{escape}Lovelace"


def test_status_prints_invisible_and_line_breaking_characters_as_their_escapes(api, capsys):
    failure = {"error": "PaymentDeclined", "message": "declined\u2028approved\u200b"}
    api.answer = lambda request: (200, {**nasty_order("PAYMENT_DECLINED"), "failure": failure})

    cli.main(["status", "ord-1", "--api-url", api.url, "--token", "t"])

    printed = capsys.readouterr().out
    assert "\u2028" not in printed and "\u200b" not in printed
    assert r"declined\u2028approved\u200b" in printed


def nasty_order(status: str = "FAILED") -> dict[str, Any]:
    return {
        "orderId": "ord-1",
        "status": status,
        "customerId": NASTY,
        "createdAt": NASTY,
        "totalCents": 8999,
        "currency": NASTY,
        "trackingNumber": NASTY,
        "shippingAddress": {"name": NASTY, "line1": NASTY},
        "timeline": [{"at": NASTY, "status": "RECEIVED"}, {"at": NASTY, "status": status}],
        "failure": {"error": NASTY, "message": NASTY},
        "cancelReason": NASTY,
    }


@pytest.mark.parametrize(
    ("argv", "answer", "lines"),
    [
        (["status", "ord-1"], (200, nasty_order()), 4),
        (["list"], (200, {"orders": [nasty_order()], "nextToken": NASTY}), 2),
        (["watch", "ord-1", "--interval", "0.01"], (200, nasty_order()), 3),
        (["watch", "ord-1", "--interval", "0.01"], (200, nasty_order("COMPLETED")), 3),
        (["status", "ord-1", "--json"], (200, nasty_order()), None),
        (["cancel", "ord-1", "--reason", "changed my mind"], (200, nasty_order("CANCELLED")), None),
        (["submit", "--item", "KB-TKL-01=1"], (202, nasty_order("RECEIVED")), None),
        (["cancel", "ord-1"], (409, {"message": NASTY, "problems": [NASTY]}), 0),
        (["products"], (200, [{"sku": NASTY, "name": NASTY, "priceCents": 1, "currency": NASTY, "stock": 1}]), 2),
    ],
    ids=["status", "list", "watch-failed", "watch-completed", "status-json", "cancel", "submit", "refused", "products"],
)
def test_data_cannot_drive_the_terminal(api, capsys, argv, answer, lines):
    api.answer = lambda request: answer

    cli.main([*argv, "--api-url", api.url, "--token", "t"])

    out, err = capsys.readouterr()
    printed = out + err
    assert not RAW_CONTROL.search(printed)
    assert "[2J" in printed and ("\\x1b[2J" in printed or "\\u001b[2J" in printed)
    if lines is None:
        assert json.loads(out) == answer[1]
    else:
        assert len(out.splitlines()) == lines
        assert r"\x1b[2J\x1b[31mred\x0d\u202eevil\x9b6n\x7f\u2066\x07\x0anext" in printed


def test_watch_reports_a_status_it_does_not_know_without_a_traceback(api, capsys):
    api.answer = lambda request: (200, {"orderId": "ord-1", "status": "TELEPORTED", "timeline": []})

    code = cli.main(["watch", "ord-1", "--interval", "0.01", "--api-url", api.url, "--token", "t"])

    _, err = capsys.readouterr()
    assert code == cli.EXIT_REFUSED
    assert "does not know" in err and "TELEPORTED" in err
    assert "Traceback" not in err


# watch --states: the execution's states and the order's timeline, in the order they happened


class ScriptedTrail:
    """An ``ExecutionTrail`` whose polls answer the given new states, then nothing."""

    def __init__(self, *polls: list[EnteredState]):
        self.polls = list(polls)

    def new_states(self) -> list[EnteredState]:
        return self.polls.pop(0) if self.polls else []


def scripted_api(api: FakeApi, *orders: dict[str, Any]) -> None:
    answers = list(orders)
    api.answer = lambda request: (200, answers.pop(0) if len(answers) > 1 else answers[0])


def at(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def watched(status: str, *entries: tuple[str, datetime]) -> dict[str, Any]:
    timeline = [{"status": name, "at": at(moment)} for name, moment in entries]
    return {"orderId": "ord-1", "status": status, "timeline": timeline, "totalCents": 8999, "currency": "USD"}


def test_watch_states_prints_states_and_timeline_in_the_order_they_happened(api, capsys, monkeypatch):
    t = [datetime(2026, 12, 6, 4, 20, 52, tzinfo=UTC) + timedelta(milliseconds=10 * n) for n in range(10)]
    monkeypatch.setattr(
        order_commands,
        "_execution_trail",
        lambda args: ScriptedTrail(
            [EnteredState(t[1], 0, "PrepareOrder"), EnteredState(t[2], 1, "ValidateOrder")],
            [
                EnteredState(t[4], 1, "AuthorizeAndReserve"),
                EnteredState(t[6], 0, "RequestShipment"),
                EnteredState(t[8], 0, "CapturePayment"),
            ],
        ),
    )
    first = [("RECEIVED", t[0]), ("VALIDATED", t[3])]
    rest = [("AUTHORIZED", t[5]), ("AWAITING_SHIPMENT", t[7]), ("SHIPPED", t[9]), ("COMPLETED", t[9])]
    scripted_api(api, watched("VALIDATED", *first), watched("COMPLETED", *first, *rest))

    argv = ["watch", "ord-1", "--states", "--interval", "0.01", "--api-url", api.url, "--token", "t"]
    assert cli.main(argv) == 0

    printed = [
        line.split()[-1] if "state" in line else line.split()[1] for line in capsys.readouterr().out.splitlines()
    ]
    assert printed == [
        "RECEIVED",
        "PrepareOrder",
        "ValidateOrder",
        "VALIDATED",
        "AuthorizeAndReserve",
        "AUTHORIZED",
        "RequestShipment",
        "AWAITING_SHIPMENT",
        "CapturePayment",
        "SHIPPED",
        "COMPLETED",
        "tracking",
    ]


def test_watch_states_holds_a_timeline_entry_until_the_states_before_it_are_read(api, capsys, monkeypatch):
    """A poll reads the execution before the order: an entry stamped after that read may still have states before
    it, which the next poll reads. (The clock here is ahead, so every line is later than the first poll.)"""
    ahead = datetime.now(UTC) + timedelta(hours=1)
    monkeypatch.setattr(
        order_commands, "_execution_trail", lambda args: ScriptedTrail([], [EnteredState(ahead, 0, "PrepareOrder")])
    )
    received = ("RECEIVED", ahead + timedelta(seconds=1))
    completed = ("COMPLETED", ahead + timedelta(seconds=2))
    scripted_api(api, watched("RECEIVED", received), watched("COMPLETED", received, completed))

    argv = ["watch", "ord-1", "--states", "--interval", "0.01", "--api-url", api.url, "--token", "t"]
    assert cli.main(argv) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] if "state" in line else line.split()[1] for line in lines[:3]] == [
        "PrepareOrder",
        "RECEIVED",
        "COMPLETED",
    ]
