"""Pages of another origin attack the local listeners in headless Chromium, against a local stack: nothing may change.

The victim has the console open (so the browser holds its session cookie); then a page of another origin, served
by a listener of its own, sends what a hostile site can: fetches with and without CORS, and auto-submitted forms,
to the console's stop and cancel actions. Two attackers: ``127.0.0.1`` on another port (cross-origin but the same
site, so the SameSite cookie is sent) and ``localhost`` (another site). The execution must still be RUNNING and the
order AWAITING_SHIPMENT. The same holds for a request smuggled in a body, sent on a raw socket. The same pages
try the API's cancel route, and a page tries to read the orders table through the AWS endpoint.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.console.support import exchange, request_bytes, served

FETCH_ATTACKS = """
const targets = %(targets)s;
const attempts = [];
for (const url of targets) {
  attempts.push(fetch(url, { method: "POST", credentials: "include", body: "{}",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": "guessed", "X-Orders-Console": "1" } }));
  attempts.push(fetch(url, { method: "POST", mode: "no-cors", credentials: "include", body: "{}",
    headers: { "Content-Type": "text/plain" } }));
  attempts.push(fetch(url, { method: "POST", mode: "no-cors", credentials: "include",
    body: new URLSearchParams({ reason: "x" }) }));
}
Promise.allSettled(attempts).then(() => { document.title = "attacks sent"; });
"""

FORM_ATTACK = """<form id="attack" method="post" action="%(target)s" enctype="text/plain">
<input name='{"reason": "cancelled by another site", "pad": "' value='"}'>
</form>
<script>document.getElementById("attack").submit();</script>"""


class AttackerSite:
    """Serves the hostile pages: ``/fetch?target=…`` (several fetches) and ``/form?target=…`` (one form)."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        targets = parse_qs(environ.get("QUERY_STRING", "")).get("target", [])
        if environ["PATH_INFO"] == "/form":
            body = FORM_ATTACK % {"target": escape(targets[0])}
        elif environ["PATH_INFO"] == "/frame":
            body = f'<iframe id="framed" src="{escape(targets[0])}"></iframe>'
        else:
            body = "<script>" + FETCH_ATTACKS % {"targets": json.dumps(targets)} + "</script>"
        page = f"<!doctype html><html><head><title>a hostile page</title></head><body>{body}</body></html>".encode()
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(page)))])
        return [page]


@pytest.fixture(scope="module")
def attacker():
    with served(AttackerSite(), "the attacker's site") as listener:
        yield listener.port


@pytest.fixture(scope="module")
def waiting(console_stack) -> str:
    """An order waiting for the warehouse: its execution can be stopped, the order cancelled."""
    order_id = console_stack.submit()
    console_stack.service.wait_for_status(order_id, "AWAITING_SHIPMENT")
    return order_id


@pytest.fixture
def victim(browser, console_stack, waiting):
    """A browser with the console open on the waiting order, so it holds the console's session cookie."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    with page.expect_response(f"{console_stack.url}/api/session"):
        page.goto(f"{console_stack.url}/executions/{waiting}")
    page.wait_for_selector('#graph [data-state="RequestShipment"][data-status="running"]')
    assert [cookie["httpOnly"] for cookie in context.cookies()] == [True], "the console's session cookie is set"
    assert page.evaluate("document.cookie") == "", "and no script can read it"
    yield page
    context.close()


def targets(console_stack, order_id: str) -> list[str]:
    return [
        f"{console_stack.url}/api/executions/{order_id}/stop",
        f"{console_stack.url}/api/orders/{order_id}/cancel",
    ]


def assert_untouched(console_stack, order_id: str) -> None:
    assert console_stack.execution_status(order_id) == "RUNNING"
    assert console_stack.order_status(order_id) == "AWAITING_SHIPMENT"


def action_answers(page, console_stack) -> list[tuple[str, int]]:
    """Every answer to a POST to the console's actions that the page got, recorded from now on."""
    answers: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda response: (
            response.request.method == "POST"
            and response.url.startswith(f"{console_stack.url}/api/")
            and answers.append((response.url, response.status))
        ),
    )
    return answers


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_fetches_from_another_origin_change_nothing(console_stack, waiting, victim, attacker, host):
    answers = action_answers(victim, console_stack)
    query = "&".join(f"target={url}" for url in targets(console_stack, waiting))
    victim.goto(f"http://{host}:{attacker}/fetch?{query}")
    victim.wait_for_function("() => document.title === 'attacks sent'")
    assert_untouched(console_stack, waiting)
    assert answers, "the no-cors fetches reached the console"
    assert {status for _, status in answers} == {403}, answers


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("action", ["stop", "cancel"])
def test_a_form_from_another_origin_changes_nothing(console_stack, waiting, victim, attacker, host, action):
    target = targets(console_stack, waiting)[0 if action == "stop" else 1]
    with victim.expect_response(lambda response: response.url == target) as refused:
        victim.goto(f"http://{host}:{attacker}/form?target={target}")
    assert_untouched(console_stack, waiting)
    assert refused.value.status == 403


def test_another_site_cannot_frame_the_console(console_stack, waiting, browser, attacker):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"http://localhost:{attacker}/frame?target={console_stack.url}/executions/{waiting}")
    page.wait_for_selector("#framed")
    page.wait_for_timeout(500)
    framed = [frame for frame in page.frames if frame != page.main_frame]
    assert framed and all(frame.url.startswith("chrome-error://") or frame.url == "about:blank" for frame in framed)
    context.close()


def test_a_request_smuggled_in_a_body_is_never_run(console_stack, waiting):
    """The review's attack on the real console: the inner request has a valid session and token of its own."""
    port = int(console_stack.url.rsplit(":", 1)[1])
    (session,) = exchange(port, request_bytes("GET", "/api/session", port))
    cookie = session.headers["set-cookie"].split(";", 1)[0]
    inner = request_bytes(
        "POST",
        f"/api/executions/{waiting}/stop",
        port,
        {"Cookie": cookie, "X-CSRF-Token": session.json()["csrfToken"], "Content-Type": "application/json"},
        b"{}",
    )
    carrier = request_bytes(
        "POST", f"/api/executions/{waiting}/stop", port, {"Cookie": cookie, "Connection": "keep-alive"}, inner
    )
    answers = exchange(port, carrier + request_bytes("GET", "/api/counts", port), answers=2)
    assert [answer.status for answer in answers] == [403, 200], answers
    assert "counts" in answers[1].json(), "the second answer is the read's, not the smuggled stop's"
    assert_untouched(console_stack, waiting)


AWS_ENDPOINT_READ = """
fetch(%(endpoint)s, { method: "POST", body: JSON.stringify({ TableName: "orders" }), headers: {
    "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.Scan",
    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20261201/us-east-1/dynamodb/aws4_request, " +
                     "SignedHeaders=host, Signature=0" } })
  .then((answer) => answer.text()).then((text) => { document.title = "read " + text.length; })
  .catch(() => { document.title = "refused"; });
"""


class EndpointReader:
    """A hostile page that tries to read the orders table through the AWS endpoint, as the review did."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        script = AWS_ENDPOINT_READ % {"endpoint": json.dumps(self.endpoint + "/")}
        page = f"<!doctype html><html><head><title>reading</title></head><body><script>{script}</script>".encode()
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(page)))])
        return [page]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_pages_of_another_origin_change_nothing_through_the_api(console_stack, waiting, victim, attacker, host):
    api_cancel = f"{console_stack.service.api_url}/orders/{waiting}/cancel"
    answers: list[int] = []
    victim.on("response", lambda response: response.url == api_cancel and answers.append(response.status))

    victim.goto(f"http://{host}:{attacker}/fetch?target={api_cancel}")
    victim.wait_for_function("() => document.title === 'attacks sent'")
    with victim.expect_response(lambda response: response.url == api_cancel):
        victim.goto(f"http://{host}:{attacker}/form?target={api_cancel}")

    assert_untouched(console_stack, waiting)
    assert answers and set(answers) == {403}, answers


def test_a_page_of_another_origin_cannot_read_the_aws_endpoint(console_stack, browser):
    with served(EndpointReader(console_stack.service.aws_endpoint), "a page that reads the endpoint") as reader:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"http://localhost:{reader.port}/")
        page.wait_for_function("() => document.title !== 'reading'")
        title = page.title()
        context.close()

    assert title == "refused"


def test_a_request_smuggled_in_a_body_is_never_run_by_the_api(console_stack, waiting):
    """The inner request carries an operator's real token: only a server that mis-frames the carrier would run it."""
    port = int(console_stack.service.api_url.rsplit(":", 1)[1])
    service = console_stack.service
    inner = request_bytes(
        "POST",
        f"/orders/{waiting}/cancel",
        port,
        {"Authorization": service.tokens.token(service.users.operator), "Content-Type": "application/json"},
        b'{"reason": "smuggled"}',
    )
    carrier = request_bytes(
        "POST",
        f"/orders/{waiting}/cancel",
        port,
        {"Content-Type": "application/json", "Connection": "keep-alive"},
        inner,
    )

    answers = exchange(port, carrier + request_bytes("GET", "/products", port), answers=2)

    assert [answer.status for answer in answers] == [401, 200], answers
    assert isinstance(answers[1].json(), list), "the second answer is the catalog's, not the smuggled cancel's"
    assert_untouched(console_stack, waiting)
