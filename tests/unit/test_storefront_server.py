"""The sample storefront's server: the page under its policy, ``/config.json`` from the stack, and a clear message
when the bundle has not been built; ``orders up --storefront`` allows its origin and names its URL."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from werkzeug.test import Client

from local.aws.cognitoidp.identity import UserPool
from local.stack import PortInUseError, StackSettings
from tools.cli import main as cli
from tools.cli import stack as orders_up
from tools.storefront import server
from tools.storefront.server import StackStorefront, StorefrontApp, StorefrontConfig, StorefrontNotBuiltError

STACK = SimpleNamespace(
    api_url="http://127.0.0.1:3000",
    websocket_url="ws://127.0.0.1:3001",
    aws_endpoint="http://127.0.0.1:4566",
    user_pool=UserPool("us-east-1_pool", "app-client", "us-east-1"),
)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A storefront directory with its page and a bundle."""
    (tmp_path / "dist").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>shop</title>")
    (tmp_path / "dist" / "storefront.js").write_text("export {};")
    return tmp_path


def client(directory: Path) -> Client:
    return Client(StorefrontApp(StorefrontConfig.of_stack(STACK), directory))


def test_config_json_names_the_running_stacks_urls_and_pool(built):
    answer = client(built).get("/config.json")

    assert answer.status_code == 200
    assert json.loads(answer.data) == {
        "apiUrl": "http://127.0.0.1:3000",
        "websocketUrl": "ws://127.0.0.1:3001",
        "awsEndpoint": "http://127.0.0.1:4566",
        "userPoolId": "us-east-1_pool",
        "clientId": "app-client",
        "region": "us-east-1",
    }


def test_the_page_may_connect_only_to_the_api_the_socket_and_the_aws_endpoint(built):
    answer = client(built).get("/")

    assert answer.status_code == 200 and b"<title>shop</title>" in answer.data
    policy = dict(part.split(" ", 1) for part in answer.headers["Content-Security-Policy"].split("; "))
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self' http://127.0.0.1:3000 ws://127.0.0.1:3001 http://127.0.0.1:4566"


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/package.json", "/src/main.js", "/node_modules/x.js"])
def test_only_the_pages_own_files_are_served(built, path):
    (built / "package.json").write_text("{}")

    assert client(built).get(path).status_code == 404


def test_nothing_but_reads_is_answered(built):
    assert client(built).post("/config.json").status_code == 405


def test_a_missing_bundle_answers_with_the_make_target_that_builds_it(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html>")

    answer = client(tmp_path).get("/")

    assert answer.status_code == 503
    assert answer.data.decode().count("\n") == 1 and "make storefront" in answer.data.decode()


def test_the_companion_does_not_start_without_its_bundle(tmp_path):
    with pytest.raises(StorefrontNotBuiltError, match="run `make storefront`"):
        StackStorefront(5173, tmp_path).start(STACK)


class RecordingStack:
    """Records the settings and companions ``orders up`` starts a stack with, then reports a taken port."""

    started: ClassVar[list[tuple[Any, tuple[Any, ...]]]] = []

    def __init__(self, settings: Any, companions: Any = ()):
        RecordingStack.started.append((settings, tuple(companions)))

    def start(self) -> None:
        raise PortInUseError("the API cannot listen on 127.0.0.1:1: taken")

    def stop(self) -> None:
        """Nothing started."""


def test_orders_up_storefront_without_a_bundle_says_to_build_it_before_starting(monkeypatch, capsys):
    monkeypatch.setattr(server, "BUNDLE", Path("dist") / "not-built.js")
    monkeypatch.setattr("local.stack.LocalStack", RecordingStack)
    RecordingStack.started.clear()

    assert cli.main(["up", "--storefront"]) == cli.EXIT_UNREACHABLE

    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("orders up: the storefront is not built") and "make storefront" in line
    assert RecordingStack.started == []


def test_orders_up_storefront_allows_the_storefronts_origin_beside_the_configured_ones(monkeypatch):
    monkeypatch.setattr("local.stack.LocalStack", RecordingStack)
    monkeypatch.setenv("ORDERS_CORS_ORIGINS", "https://shop.example.com")
    monkeypatch.setenv("ORDERS_STOREFRONT_PORT", "5199")
    RecordingStack.started.clear()

    assert cli.main(["up", "--storefront"]) == cli.EXIT_UNREACHABLE

    [(settings, companions)] = RecordingStack.started
    assert settings.cors_origins == ("https://shop.example.com", "http://127.0.0.1:5199")
    assert [companion.port for companion in companions if companion.name == "the storefront"] == [5199]


def test_orders_up_without_storefront_allows_no_more_origins(monkeypatch):
    monkeypatch.setattr("local.stack.LocalStack", RecordingStack)
    monkeypatch.delenv("ORDERS_CORS_ORIGINS", raising=False)
    RecordingStack.started.clear()

    assert cli.main(["up"]) == cli.EXIT_UNREACHABLE

    [(settings, companions)] = RecordingStack.started
    assert settings.cors_origins == ()
    assert [companion.name for companion in companions] == ["the console"]


@pytest.mark.parametrize("value", ["0", "70000", "shop"])
def test_a_bad_storefront_port_is_named(monkeypatch, capsys, value):
    monkeypatch.setenv("ORDERS_STOREFRONT_PORT", value)

    assert cli.main(["up", "--storefront"]) == cli.EXIT_UNREACHABLE

    assert "ORDERS_STOREFRONT_PORT must be a port number" in capsys.readouterr().err


def test_the_banner_names_the_storefronts_url():
    stack = SimpleNamespace(
        **STACK.__dict__,
        settings=StackSettings(),
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:order-workflow",
    )

    banner = orders_up._banner(stack, "http://127.0.0.1:8233", "http://127.0.0.1:5173/").splitlines()

    assert "  Storefront     http://127.0.0.1:5173/   (sign in as ada@example.com)" in banner


def test_a_bad_storefront_port_option_is_named(capsys):
    assert cli.main(["up", "--storefront", "--storefront-port", "0"]) == cli.EXIT_UNREACHABLE

    assert "ORDERS_STOREFRONT_PORT must be a port number" in capsys.readouterr().err
