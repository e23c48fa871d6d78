"""The ``orders`` CLI: sign-in and stored tokens, the global options, and what each command sends.

Cognito is moto's, in memory (``cli.cognito_client`` is replaced); what the CLI sends over HTTP is recorded by a
server on 127.0.0.1 in the test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import cli
from local.identity import LOCAL_PASSWORD, SEEDED_USERS, SeededUser, Tokens, UserPool, provision_user_pool
from local.lambda_runner import LOCAL_REGION
from local.sigv4 import WAREHOUSE, LocalPrincipal, verify
from local.stack import StackSettings
from tasks.models.order import OrderRequest

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

        monkeypatch.setattr(cli, "cognito_client", factory)
        yield calls


@pytest.fixture
def no_cognito(monkeypatch: pytest.MonkeyPatch) -> None:
    """For commands that must not sign in at all."""

    def refuse(endpoint: str | None, region: str) -> Any:
        raise AssertionError(f"asked for a Cognito client ({endpoint})")

    monkeypatch.setattr(cli, "cognito_client", refuse)


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
    return json.loads(cli.token_path(user).read_text())


def store(user: str, pool: cli.PoolRef, tokens: Tokens) -> None:
    cli.save_login(cli.Login(user, pool, tokens), cli.token_path(user))


def forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make these Cognito calls of the CLI fail the test if they are made."""
    for name in names:

        def refuse(*args: Any, name: str = name) -> Any:
            raise AssertionError(f"the CLI called {name}")

        monkeypatch.setattr(cli, name, refuse)


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
    assert stat.S_IMODE(cli.token_path("grace@example.com").stat().st_mode) == 0o600


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
    assert not cli.token_path("ada@example.com").exists()


def test_a_user_who_is_not_seeded_signs_in_with_a_password(cognito, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)

    assert cli.main(["login", "--user", UNSEEDED.email]) == 1
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
    assert stored(UNSEEDED.email)["pool"] == asdict(cli.PoolRef(cognito.pool.client_id, "us-east-1"))


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
        monkeypatch.setattr(cli, "cognito_client", lambda endpoint, region: client)

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
    pool = cli.PoolRef(cognito.pool.client_id, LOCAL_REGION, ENDPOINT)
    first = cli.sign_in_to(pool, UNSEEDED.email, LOCAL_PASSWORD, time.time())
    store(UNSEEDED.email, pool, Tokens("old-id-token", first.refresh_token, time.time() + seconds_left))
    forbid(monkeypatch, "sign_in")

    assert cli.main(["token", "--user", UNSEEDED.email]) == 0

    token = capsys.readouterr().out.strip()
    assert claims(token)["email"] == UNSEEDED.email
    saved = stored(UNSEEDED.email)
    assert saved["id_token"] == token
    assert saved["refresh_token"] == first.refresh_token
    assert saved["expires_at"] > time.time() + 3000


def test_a_failed_refresh_of_a_seeded_user_signs_in_again(cognito, capsys):
    pool = cli.PoolRef(cognito.pool.client_id, LOCAL_REGION, ENDPOINT)
    store("ada@example.com", pool, Tokens("old-id-token", "revoked-refresh-token", time.time() - 5))

    assert cli.main(["token", "--user", "ada@example.com"]) == 0

    assert claims(capsys.readouterr().out.strip())["email"] == "ada@example.com"


def test_a_failed_refresh_of_another_user_says_to_log_in(cognito, capsys):
    pool = cli.PoolRef(cognito.pool.client_id, LOCAL_REGION, ENDPOINT)
    store(UNSEEDED.email, pool, Tokens("old-id-token", "revoked-refresh-token", time.time() - 5))

    assert cli.main(["token", "--user", UNSEEDED.email]) == 1

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"orders token: the refresh for {UNSEEDED.email} failed (")
    assert error.endswith(f"sign in with `orders login --user {UNSEEDED.email}`\n")


def test_tokens_of_a_restarted_local_stack_are_replaced(cognito, capsys):
    """A new stack has a new pool: the stored token, though unexpired, is for one that is gone."""
    old_pool = cli.PoolRef("client-of-the-last-run", LOCAL_REGION, ENDPOINT)
    store("ada@example.com", old_pool, Tokens("old-id-token", "old-refresh", time.time() + 3000))

    assert cli.main(["token", "--user", "ada@example.com"]) == 0

    assert claims(capsys.readouterr().out.strip())["aud"] == cognito.pool.client_id
    assert stored("ada@example.com")["pool"]["client_id"] == cognito.pool.client_id


def test_a_user_who_is_not_seeded_logs_in_again_after_a_restart(cognito, capsys):
    old_pool = cli.PoolRef("client-of-the-last-run", LOCAL_REGION, ENDPOINT)
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
    deployed = cli.PoolRef("deployed-client", "eu-west-1")
    store("ada@example.com", deployed, Tokens("deployed-id-token", "deployed-refresh", time.time() + 3000))

    assert cli.main(["token"]) == 0
    assert capsys.readouterr().out == "deployed-id-token\n"
    assert cognito.endpoints == []

    monkeypatch.setenv("ORDERS_AWS_PORT", "4566")
    assert cli.main(["token"]) == 0
    assert claims(capsys.readouterr().out.strip())["aud"] == cognito.pool.client_id
    assert stored("ada@example.com")["id_token"] == "deployed-id-token", "a local sign-in keeps the deployed login"


def test_a_refresh_asks_the_pool_the_login_came_from(cognito, capsys):
    deployed = cli.PoolRef(cognito.pool.client_id, "us-east-1")
    first = cli.sign_in_to(deployed, UNSEEDED.email, LOCAL_PASSWORD, time.time())
    store(UNSEEDED.email, deployed, Tokens("old-id-token", first.refresh_token, time.time() - 5))
    cognito.endpoints.clear()

    assert cli.main(["token", "--user", UNSEEDED.email]) == 0

    assert cognito.endpoints == [None]
    assert stored(UNSEEDED.email)["pool"]["endpoint"] is None


def test_no_user_name_leads_outside_the_tokens_directory(config):
    path = cli.token_path("../../etc/passwd")

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
    assert str(cli.config_dir(env)) == expected


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

    assert cli.main(["--api-url", api.url, "--token", "t", "submit", "--file", str(order)]) == 1

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


def test_a_refusal_by_the_api_is_one_line_with_its_message(api, capsys):
    api.answer = lambda request: (404, {"message": "order ord-9 not found"})

    assert cli.main(["status", "ord-9", "--api-url", api.url, "--token", "t"]) == 1

    assert capsys.readouterr().err == "orders status: 404: order ord-9 not found\n"


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

    headers = cli.warehouse_signature(args)("POST", f"{url}/orders/ord-1/shipment", body, {"Content-Type": "x"})

    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "session-example"
    sent = {**headers, "Host": "abc123.execute-api.eu-west-1.amazonaws.com"}  # urllib adds it
    mine = LocalPrincipal("arn:aws:iam::123456789012:user/me", "AKIDEXAMPLE", "secret-example")
    assert verify("POST", f"{url}/orders/ord-1/shipment", sent, body, principals=(mine,)) == mine


# the banner of orders up


def fake_stack(api_url: str, aws_port: int) -> SimpleNamespace:
    return SimpleNamespace(
        api_url=api_url,
        aws_endpoint=f"http://127.0.0.1:{aws_port}",
        console=SimpleNamespace(url="http://127.0.0.1:8233"),
        settings=StackSettings(),
        user_pool=UserPool("us-east-1_pool", "app-client", LOCAL_REGION),
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:order-workflow",
    )


def test_the_banner_gets_a_token_with_a_command_that_works_as_printed(cognito, monkeypatch, capsys):
    banner = cli._banner(fake_stack("http://127.0.0.1:3001", 4567))

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
    banner = cli._banner(fake_stack(api.url, 4566))

    [curl] = [line.strip() for line in banner.splitlines() if line.strip().startswith("curl ")]
    subprocess.run(["bash", "-c", curl], env={**os.environ, "TOKEN": "the-token"}, check=True, timeout=30)

    [request] = api.received
    assert request.headers["Authorization"] == "the-token"
    assert request.headers["Idempotency-Key"] == "my-first-order"
    assert "customerId" not in request.json
    OrderRequest.model_validate(request.json)


def test_the_banner_lists_the_seeded_users_and_the_password_once():
    banner = cli._banner(fake_stack("http://127.0.0.1:3000", 4566))

    assert "TOKEN=$(" in banner and "ORDERS_AWS_PORT=" not in banner and "ORDERS_API_PORT=" not in banner
    assert all(user.email in banner for user in SEEDED_USERS)
    assert "ops@example.com (group ops)" in banner
    assert banner.count(LOCAL_PASSWORD) == 1
    assert "us-east-1_pool, app client app-client" in banner
