"""Fixtures of the storefront tests: ``orders up --storefront`` in a subprocess, and headless Chromium.

The stack runs on free ports with the warehouse simulator on, shipping each order 10 s after it starts waiting: long
enough for a shopper to cancel an order awaiting shipment, short enough to watch another complete. The browser is
Debian's ``chromium`` driven by Playwright, as in the console's tests. A missing browser, Playwright or storefront
bundle fails the tests with how to install it: they never skip.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect

from local.stack import free_port
from tests.integration.service import OrdersService, printed, start_local_service, stop_local_service
from tools.storefront.server import bundle_missing

WAREHOUSE_DELAY_SECONDS = 10
"""How long an order awaits shipment before the warehouse simulator ships it (real seconds)."""
STOREFRONT_DEADLINE_SECONDS = 30
PAGE_TIMEOUT_MS = 20_000
LIVE_STATUS_TIMEOUT_MS = 60_000
"""Placing an order to COMPLETED: the workflow, the warehouse's delay, and the events' way to the socket."""


expect.set_options(timeout=PAGE_TIMEOUT_MS)


@dataclass
class Shop:
    """The running stack and where its storefront is served."""

    service: OrdersService
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def printed(self) -> str:
        """What ``orders up`` has printed so far: the listeners' refusals among it."""
        return printed(self.service)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Iterator[Shop]:
    missing = bundle_missing()
    if missing is not None:
        pytest.fail(missing, pytrace=False)
    port = free_port()
    log = tmp_path_factory.mktemp("storefront") / "orders-up.log"
    settings = {"ORDERS_STOREFRONT_PORT": str(port), "ORDERS_WAREHOUSE_DELAY_SECONDS": str(WAREHOUSE_DELAY_SECONDS)}
    service = start_local_service(settings, log=log, options=["--storefront"])
    try:
        shop = Shop(service, port)
        wait_until_served(shop)
        yield shop
    finally:
        assert stop_local_service(service) == 0


def wait_until_served(shop: Shop) -> None:
    """The API answers before the stack's companions start: wait for the storefront's ``config.json`` too."""
    give_up = time.monotonic() + STOREFRONT_DEADLINE_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{shop.url}config.json", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > give_up:
            deadline = STOREFRONT_DEADLINE_SECONDS
            raise AssertionError(f"the storefront did not answer within {deadline}s: {shop.printed()}")
        time.sleep(0.2)


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """Opens pages, each in a browser context of its own (its own shopper's storage); a script error or anything
    the Content-Security-Policy refused fails the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page() -> Any:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
        )
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"script errors or policy violations in the storefront: {errors}"
