"""A page of another site fires every request a page can send at every listener of ``orders up``: nothing changes.

Chromium maps ``evil.test`` and ``shop.test`` to 127.0.0.1 (``--host-resolver-rules``), so the hostile page comes from
another *site*, not just another port (``127.0.0.1:<any port>`` is the same site as the listeners). The victim has
the console open. The page loads the listeners' routes as ``<img>``, ``<script>``, stylesheet and ``<iframe>``,
posts to them with no-cors fetches, credentialed fetches, beacons, forms in frames and top-level forms (URL-encoded
and ``text/plain`` bodies that read as JSON), and sends moto's ``/moto-api/`` routes, forged presigned AWS calls
and AWS actions as form bodies to the AWS endpoint.

Then nothing may have changed: the stack's tables and items, queues, executions, users, buses, and moto's request
recorder (no recording file). And each request the browser sent must be one its listener logged as refused, so the
test cannot pass because the browser sent nothing. ``shop.test`` is the storefront the API allows by CORS: its page
still reads the API, preflight included.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto3
import pytest
from botocore.config import Config

from local.stack import free_port
from local.testkit.fixtures import poll, sample_order
from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.integration.service import OrdersService, printed, start_local_service, stop_local_service

ATTACKER = "evil.test"
STOREFRONT = "shop.test"
PAGE_DEADLINE_MS = 20_000
ANSWERED_DEADLINE_SECONDS = 20.0
EVENTS_DEADLINE_SECONDS = 20.0
CANARY_QUEUE = "other-sites-canary"
REFUSAL = re.compile(r"(?P<who>the AWS endpoint|the API|the console) refused (?P<method>[A-Z]+) (?P<path>\S+): ")
"""A line ``local.endpoint.listener.log_refusal`` writes."""
FORGED_SIGNATURE = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=local%2F20261206%2Fus-east-1%2Fsqs%2Faws4_request"
FORGED_SIGNATURE += "&X-Amz-Signature=forged"

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": "us-east-1"}
SIGNATURE_V4 = Config(signature_version="v4")
"""botocore signs SimpleDB with version 2, in the query string, which the endpoint refuses; moto reads version 4."""
GET_WAYS = ("img", "script", "stylesheet", "iframe")
POST_WAYS = ("fetch-no-cors", "fetch-credentials", "beacon", "form-in-frame", "form")
ENCTYPES = ("application/x-www-form-urlencoded", "text/plain")


@dataclass(frozen=True)
class Attempt:
    """One request the hostile page sends; ``attempt=<number>`` in its URL tells it apart from the others."""

    number: int
    way: str
    url: str
    enctype: str = ""
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def body(self) -> str:
        """What a form with these fields sends, so a fetch or beacon sends the same bytes."""
        if self.enctype == "text/plain":
            return "".join(f"{name}={value}\r\n" for name, value in self.fields)
        return urlencode(self.fields)

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "way": self.way, "url": self.url, "enctype": self.enctype, "body": self.body}


def looks_like_json(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """One ``text/plain`` form field whose ``name=value`` is ``body`` as JSON, with a padding member for the ``=``."""
    text = json.dumps({**body, "pad": ""})
    return ((text[: -len('"}')], '"}'),)


def as_form(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value if isinstance(value, str) else json.dumps(value)) for name, value in body.items())


@dataclass(frozen=True)
class Listeners:
    """The three listeners of ``orders up`` and what each is called in its log."""

    aws: str
    api: str
    console: str

    def name_of(self, url: str) -> str | None:
        port = urlsplit(url).port
        names = {"the AWS endpoint": self.aws, "the API": self.api, "the console": self.console}
        return next((name for name, base in names.items() if urlsplit(base).port == port), None)


def attack_plan(listeners: Listeners, order_id: str, canary_queue_url: str) -> list[Attempt]:
    """Every way a page can send a request, at the routes of every listener that change state or look as if.

    GETs go out as ``<img>``, ``<script>``, stylesheet and ``<iframe>``; POSTs in both encodings a page can choose
    without a preflight, as a form field list (URL-encoded) and as a body that reads as JSON (``text/plain``).
    """
    aws, api, console = listeners.aws, listeners.api, listeners.console
    gets = [
        f"{aws}/moto-api/reset",
        f"{aws}/moto-api/seed?a=42",
        f"{aws}/moto-api/recorder/start-recording",
        f"{aws}/?Action=DeleteQueue&QueueUrl={canary_queue_url}&{FORGED_SIGNATURE}",
        f"{aws}/?Action=CreateDomain&DomainName=evil&Version=2009-04-15&{FORGED_SIGNATURE}",
        f"{api}/orders/{order_id}/cancel",
        f"{api}/orders",
        f"{api}/products",
        f"{console}/api/executions/{order_id}/stop",
        f"{console}/api/orders/{order_id}/cancel",
        f"{console}/api/session",
    ]
    cancel = {"reason": "cancelled by another site"}
    shipment = {"outcome": "SHIPPED", "trackingNumber": "EVIL-1"}
    task_success = {"taskToken": "guessed", "output": "{}"}
    posts: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        (f"{api}/orders", sample_order(), sample_order()),
        (f"{api}/orders/{order_id}/cancel", cancel, cancel),
        (f"{api}/orders/{order_id}/shipment", shipment, shipment),
        (f"{console}/api/executions/{order_id}/stop", {}, {"stop": "1"}),
        (f"{console}/api/orders/{order_id}/cancel", cancel, cancel),
        (f"{console}/api/orders/{order_id}/shipment", shipment, shipment),
        (f"{aws}/moto-api/reset", {}, {"reset": "1"}),
        (f"{aws}/", {"TableName": "orders"}, {"Action": "DeleteTable", "TableName": "orders"}),
        (f"{aws}/", task_success, {"Action": "SendTaskSuccess", "TaskToken": "guessed", "Output": "{}"}),
        (
            f"{aws}/?{FORGED_SIGNATURE}",
            {"QueueUrl": canary_queue_url, "MessageBody": "from another site"},
            {"Action": "SendMessage", "QueueUrl": canary_queue_url, "MessageBody": "from another site"},
        ),
        (
            f"{aws}/?{FORGED_SIGNATURE}",
            {"QueueUrl": canary_queue_url},
            {"Action": "DeleteQueue", "QueueUrl": canary_queue_url},
        ),
        (
            f"{aws}/?{FORGED_SIGNATURE}",
            {"DomainName": "evil"},
            {"Action": "CreateDomain", "DomainName": "evil", "Version": "2009-04-15"},
        ),
    ]
    attempts: list[Attempt] = []
    for url in gets:
        for way in GET_WAYS:
            attempts.append(Attempt(len(attempts), way, marked(url, len(attempts))))
    for url, json_body, form_body in posts:
        for way in POST_WAYS:
            for enctype in ENCTYPES:
                fields = looks_like_json(json_body) if enctype == "text/plain" else as_form(form_body)
                attempts.append(Attempt(len(attempts), way, marked(url, len(attempts)), enctype, fields))
    return attempts


def marked(url: str, number: int) -> str:
    return f"{url}{'&' if '?' in url else '?'}attempt={number}"


ATTACK_SCRIPT = """
const plan = %(plan)s;
window.problems = [];
window.pending = new Set();
const fired = [];
const track = (attempt, promise) => {
  pending.add(attempt.number);
  fired.push(promise.catch(() => null).then(() => pending.delete(attempt.number)));
};
const loaded = (element) => new Promise((done) => { element.onload = done; element.onerror = done; });
for (const attempt of plan) {
  const headers = { "Content-Type": attempt.enctype };
  if (attempt.way === "img") {
    const image = new Image(); track(attempt, loaded(image)); image.src = attempt.url;
  } else if (attempt.way === "script") {
    const script = document.createElement("script"); track(attempt, loaded(script));
    script.src = attempt.url; document.body.append(script);
  } else if (attempt.way === "stylesheet") {
    const link = document.createElement("link"); track(attempt, loaded(link));
    link.rel = "stylesheet"; link.href = attempt.url; document.head.append(link);
  } else if (attempt.way === "iframe") {
    const frame = document.createElement("iframe"); track(attempt, loaded(frame));
    frame.src = attempt.url; document.body.append(frame);
  } else if (attempt.way === "fetch-no-cors") {
    track(attempt, fetch(attempt.url, { method: "POST", mode: "no-cors", headers, body: attempt.body }));
  } else if (attempt.way === "fetch-credentials") {
    track(attempt, fetch(attempt.url, { method: "POST", credentials: "include", headers, body: attempt.body }));
  } else if (attempt.way === "beacon") {
    if (!navigator.sendBeacon(attempt.url, new Blob([attempt.body], { type: attempt.enctype }))) {
      problems.push("beacon " + attempt.number + " was not queued");
    }
  } else if (attempt.way === "form-in-frame") {
    const frame = document.createElement("iframe"); frame.name = "frame-" + attempt.number;
    document.body.append(frame);
    track(attempt, loaded(frame));
    document.getElementById("form-" + attempt.number).submit();
  }
}
const openForms = () => {
  for (const attempt of plan.filter((attempt) => attempt.way === "form")) {
    if (!window.open("/form/" + attempt.number, "_blank")) { problems.push("no window for " + attempt.number); }
  }
};
Promise.all(fired).then(openForms).then(() => { document.title = "fired"; });
"""

STOREFRONT_SCRIPT = """
const api = %(api)s;
Promise.all([
  fetch(api + "/products").then((answer) => answer.json()),
  fetch(api + "/orders", { headers: { Authorization: %(token)s } }).then((answer) => answer.json()),
])
  .then(([products, orders]) => { document.title = "read " + products.length + " products and " + typeof orders; })
  .catch((error) => { document.title = "refused"; });
"""


def form(attempt: Attempt, target: str) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in attempt.fields
    )
    return (
        f'<form id="form-{attempt.number}" method="post" action="{escape(attempt.url)}" '
        f'enctype="{attempt.enctype}" target="{target}">{inputs}</form>'
    )


def page(title: str, body: str) -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


class OtherSites:
    """The hostile site and the storefront: one plain HTTP server on 127.0.0.1 that both names resolve to, serving
    the pages a test puts in ``pages`` by path. Browsers reach it as ``http://evil.test:<port>`` and
    ``http://shop.test:<port>``; it answers whatever the ``Host``, as any site answers its own name."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0], page("not here", "")).encode()
                self.send_response(200 if self.path.split("?")[0] in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Quiet: the test reads the browser's traffic, not this server's."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="other sites", daemon=True)

    def url(self, site: str, path: str) -> str:
        return f"http://{site}:{self.port}{path}"

    def __enter__(self) -> OtherSites:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class RunningStack:
    service: OrdersService
    listeners: Listeners
    recording: Path
    """Where moto's request recorder would write (``MOTO_RECORDER_FILEPATH``), were it ever switched on."""
    session: Any = field(default_factory=lambda: boto3.session.Session(**LOCAL_CREDENTIALS))
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, name: str) -> Any:
        """A signed client of the stack's AWS endpoint, made once, from one session (making one takes longer than
        a call)."""
        if name not in self.clients:
            config = SIGNATURE_V4 if name == "sdb" else None
            self.clients[name] = self.session.client(name, endpoint_url=self.listeners.aws, config=config)
        return self.clients[name]

    def refusals(self) -> Counter[tuple[str, str, str]]:
        """Every request the listeners logged as refused so far: (listener, method, path)."""
        return Counter(
            (found["who"], found["method"], found["path"]) for found in REFUSAL.finditer(printed(self.service))
        )


@pytest.fixture(scope="module")
def sites() -> Iterator[OtherSites]:
    with OtherSites() as served:
        yield served


@pytest.fixture(scope="module")
def stack(sites: OtherSites, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """``orders up`` with its own console on a port we know, and the storefront of ``shop.test`` allowed by CORS."""
    folder = tmp_path_factory.mktemp("other-sites")
    console_port = free_port()
    service = start_local_service(
        {
            "ORDERS_CONSOLE_PORT": str(console_port),
            "ORDERS_CORS_ORIGINS": sites.url(STOREFRONT, ""),
            "MOTO_RECORDER_FILEPATH": str(folder / "moto_recording"),
        },
        log=folder / "orders-up.log",
    )
    try:
        listeners = Listeners(service.aws_endpoint or "", service.api_url, f"http://127.0.0.1:{console_port}")
        yield RunningStack(service, listeners, folder / "moto_recording")
    finally:
        assert stop_local_service(service) == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium in which ``evil.test`` and ``shop.test`` are names of 127.0.0.1."""
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    rules = f"--host-resolver-rules=MAP {ATTACKER} 127.0.0.1, MAP {STOREFRONT} 127.0.0.1"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
        yield chromium
        chromium.close()


def snapshot(stack: RunningStack) -> dict[str, Any]:
    """What the stack holds, read with signed calls: tables and items, queues and their messages, executions,
    users, buses and rules, and what moto would hold for services the stack does not use (SimpleDB, S3), which an
    unsigned form body can reach when it is let through."""
    dynamodb, sqs, stepfunctions = stack.client("dynamodb"), stack.client("sqs"), stack.client("stepfunctions")
    cognito, events = stack.client("cognito-idp"), stack.client("events")
    tables = {
        name: sorted(
            json.dumps(item, sort_keys=True)
            for page_of_items in dynamodb.get_paginator("scan").paginate(TableName=name)
            for item in page_of_items["Items"]
        )
        for name in dynamodb.list_tables()["TableNames"]
    }
    counts = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )
    queues = {
        url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(counts))["Attributes"]
        for url in sqs.list_queues().get("QueueUrls", [])
    }
    executions = {
        machine["name"]: sorted(
            (execution["name"], execution["status"])
            for listed in stepfunctions.get_paginator("list_executions").paginate(
                stateMachineArn=machine["stateMachineArn"]
            )
            for execution in listed["executions"]
        )
        for machine in stepfunctions.list_state_machines()["stateMachines"]
    }
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    users = {
        pool["Id"]: sorted(
            json.dumps(user, sort_keys=True, default=str) for user in cognito.list_users(UserPoolId=pool["Id"])["Users"]
        )
        for pool in pools
    }
    buses = {
        bus["Name"]: sorted(rule["Name"] for rule in events.list_rules(EventBusName=bus["Name"])["Rules"])
        for bus in events.list_event_buses()["EventBuses"]
    }
    return {
        "tables": tables,
        "queues": queues,
        "executions": executions,
        "users": users,
        "buses": buses,
        "simpledb": stack.client("sdb").list_domains().get("DomainNames", []),
        "buckets": [bucket["Name"] for bucket in stack.client("s3").list_buckets()["Buckets"]],
    }


@pytest.fixture(scope="module")
def waiting(stack: RunningStack) -> str:
    """An order waiting for the warehouse: an execution to stop, an order to cancel or to ship. Its last event has
    reached the console's queue and been read, so nothing is still on its way when the test takes its snapshots."""
    answer = stack.service.request("POST", "/orders", sample_order())
    assert answer.status == 202, answer.body
    order_id = answer.body["orderId"]
    stack.service.wait_for_status(order_id, "AWAITING_SHIPMENT")

    def statuses_the_console_received() -> list[str]:
        with urllib.request.urlopen(f"{stack.listeners.console}/api/executions/{order_id}", timeout=10) as read:
            return [event["status"] for event in json.load(read)["orderEvents"]]

    poll(
        lambda: "AWAITING_SHIPMENT" in statuses_the_console_received(),
        deadline=EVENTS_DEADLINE_SECONDS,
        what="the console to receive the order's events",
        describe=statuses_the_console_received,
    )
    return order_id


class Traffic:
    """What the browser sent to the listeners and whether each request ended (answered, or blocked after it)."""

    def __init__(self, context: Any, listeners: Listeners):
        self.sent: dict[int, tuple[str, str, str]] = {}
        self.ended: set[int] = set()
        self._listeners = listeners
        context.on("request", self._request)
        context.on("requestfinished", lambda request: self._ended(request.url))
        context.on("requestfailed", lambda request: self._ended(request.url))

    @staticmethod
    def number(url: str) -> int | None:
        found = re.search(r"[?&]attempt=(\d+)$", url)
        return int(found.group(1)) if found else None

    def _request(self, request: Any) -> None:
        number, who = self.number(request.url), self._listeners.name_of(request.url)
        if number is not None and who is not None:
            self.sent[number] = (who, request.method, urlsplit(request.url).path)

    def _ended(self, url: str) -> None:
        number = self.number(url)
        if number is not None:
            self.ended.add(number)


def test_a_page_of_another_site_changes_nothing_on_any_listener(stack, sites, browser, waiting):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    listeners = stack.listeners
    canary = stack.client("sqs").create_queue(QueueName=CANARY_QUEUE)["QueueUrl"]
    plan = attack_plan(listeners, waiting, canary)
    sites.pages["/attack"] = page(
        "a hostile page",
        "".join(form(attempt, f"frame-{attempt.number}") for attempt in plan if attempt.way == "form-in-frame")
        + "<script>"
        + ATTACK_SCRIPT % {"plan": json.dumps([attempt.as_json() for attempt in plan])}
        + "</script>",
    )
    for attempt in plan:
        if attempt.way == "form":
            sites.pages[f"/form/{attempt.number}"] = page(
                "a hostile form",
                form(attempt, "_self") + f'<script>document.getElementById("form-{attempt.number}").submit();</script>',
            )
    context = browser.new_context()
    victim = context.new_page()
    with victim.expect_response(f"{listeners.console}/api/session") as session:
        victim.goto(f"{listeners.console}/executions/{waiting}")
    assert session.value.status == 200, "the console's own page works"
    before = snapshot(stack)
    refused_before = stack.refusals()
    traffic = Traffic(context, listeners)

    attacker = context.new_page()
    attacker.goto(sites.url(ATTACKER, "/attack"))
    try:
        attacker.wait_for_function("() => document.title === 'fired'", timeout=PAGE_DEADLINE_MS)
    except PlaywrightTimeoutError:
        pending = [plan[number] for number in attacker.evaluate("[...pending]")]
        raise AssertionError(f"the page never finished firing; still pending: {pending}") from None
    assert attacker.evaluate("problems") == []
    give_up = time.monotonic() + ANSWERED_DEADLINE_SECONDS
    while len(traffic.ended) < len(plan) and time.monotonic() < give_up:
        attacker.wait_for_timeout(100)
    after = snapshot(stack)
    refused = stack.refusals() - refused_before
    context.close()

    assert sorted(traffic.sent) == [attempt.number for attempt in plan], "the browser sent every request"
    assert sorted(traffic.ended) == sorted(traffic.sent), "and each one ended"
    assert after == before
    assert not stack.recording.exists(), "moto's request recorder wrote nothing: it was never switched on"
    sent = Counter(traffic.sent.values())
    assert sent - refused == Counter(), "every request the page sent was refused by the listener it reached"
    assert {who for who, _, _ in sent} == {"the AWS endpoint", "the API", "the console"}


def test_the_storefront_the_api_allows_still_reads_it_and_another_site_cannot(stack, sites, browser):
    token = stack.service.tokens.token(stack.service.users.shopper)
    sites.pages["/storefront"] = page(
        "reading",
        "<script>"
        + STOREFRONT_SCRIPT % {"api": json.dumps(stack.listeners.api), "token": json.dumps(token)}
        + "</script>",
    )
    titles = {}
    for site in (STOREFRONT, ATTACKER):
        context = browser.new_context()
        shop = context.new_page()
        shop.goto(sites.url(site, "/storefront"))
        shop.wait_for_function("() => document.title !== 'reading'", timeout=PAGE_DEADLINE_MS)
        titles[site] = shop.title()
        context.close()

    assert re.fullmatch(r"read [1-9]\d* products and object", titles[STOREFRONT]), titles
    assert titles[ATTACKER] == "refused"
