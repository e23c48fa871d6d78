"""The WebSocket API of live order status, as a Python ``websockets`` client speaks it: connect with an ID token, and
receive each of your orders' status changes, and nobody else's.

Against the local stack every handshake passes the listeners' guard, the real authorizer and the ``$connect`` route;
the push function posts through ``@connections`` on the local AWS endpoint. With ``ORDERS_API_URL`` set the same
tests run against the deployed stage at ``ORDERS_WEBSOCKET_URL``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from socket import create_connection
from typing import Any

import boto3
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.testkit.fixtures import sample_order
from tasks.logic.live_status import customer_key
from tests.integration.service import STOREFRONT_ORIGIN, OrdersService, start_local_service, stop_local_service
from tests.integration.test_order_api import ship, submit
from workflows.resources import CONNECTIONS_TABLE

DEADLINE_SECONDS = 30.0
SHIPPED = {"outcome": "SHIPPED", "trackingNumber": "1Z999AA10123456784"}


def socket_url(service: OrdersService, token: str | None) -> str:
    if not service.websocket_url:
        pytest.fail("no WebSocket URL: set ORDERS_WEBSOCKET_URL to the deployed stage's URL")
    return f"{service.websocket_url}/" + (f"?token={token}" if token is not None else "")


@contextmanager
def live_status(service: OrdersService, user: str, **options: Any) -> Iterator[ClientConnection]:
    """A socket of ``user``'s, signed in with their ID token."""
    with connect(socket_url(service, service.tokens.token(user)), open_timeout=DEADLINE_SECONDS, **options) as socket:
        yield socket


def subject_of(token: str) -> str:
    """The ``sub`` claim of a token the pool issued (read, not verified: the server verified it)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def complete_up_to(received: list[dict[str, Any]], order_id: str, final_status: str) -> bool:
    """Whether ``received`` holds ``order_id``'s change to ``final_status`` and every change before it. EventBridge
    keeps no order, so a later change may arrive first: a page orders them by ``sequence``."""
    mine = {change["sequence"]: change["status"] for change in received if change["orderId"] == order_id}
    final = [sequence for sequence, status in mine.items() if status == final_status]
    return bool(final) and set(mine) >= set(range(1, final[0] + 1))


def changes_until(socket: ClientConnection, order_id: str, final_status: str) -> list[dict[str, Any]]:
    """Every change the socket receives until it has all of ``order_id``'s up to ``final_status``; other orders'
    changes too."""
    give_up = time.monotonic() + DEADLINE_SECONDS
    received: list[dict[str, Any]] = []
    while not complete_up_to(received, order_id, final_status):
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            statuses = [change["status"] for change in received if change["orderId"] == order_id]
            raise AssertionError(f"{order_id} did not reach {final_status} within {DEADLINE_SECONDS}s: {statuses}")
        received.append(json.loads(socket.recv(timeout=remaining)))
    return received


def already_received(socket: ClientConnection) -> list[dict[str, Any]]:
    """What the socket has received and not yet been read, without waiting for more."""
    received = []
    while True:
        try:
            received.append(json.loads(socket.recv(timeout=0)))
        except TimeoutError:
            return received


def refused_status(url: str, **options: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as refusal:
        connect(url, open_timeout=DEADLINE_SECONDS, **options).close()
    return refusal.value.response.status_code, refusal.value.response.body.decode(errors="replace")


def test_a_shopper_sees_every_status_change_of_their_order_up_to_completed(service):
    with live_status(service, service.users.shopper) as socket:
        order_id = submit(service)["orderId"]
        assert ship(service, order_id, **SHIPPED) == 202
        received = changes_until(socket, order_id, "COMPLETED")

    mine = sorted((change for change in received if change["orderId"] == order_id), key=lambda c: c["sequence"])
    statuses = [change["status"] for change in mine]
    assert statuses[0] == "RECEIVED" and statuses[-1] == "COMPLETED"
    assert {"AWAITING_SHIPMENT", "SHIPPED"} <= set(statuses)
    assert [change["sequence"] for change in mine] == list(range(1, len(mine) + 1)), "no gap, no duplicate"
    [shipped] = [change for change in mine if change["status"] == "SHIPPED"]
    assert shipped["trackingNumber"] == SHIPPED["trackingNumber"]


def test_a_shopper_receives_only_their_own_orders_and_an_operator_receives_everyones(service):
    """The operator's socket receives the first shopper's last change in the same push as the first shopper's, so
    by then the second shopper's socket would have received it too, if it ever were to."""
    shopper, other, operator = service.users.shopper, service.users.other_shopper, service.users.operator
    with (
        live_status(service, other) as others_socket,
        live_status(service, operator) as operators_socket,
        live_status(service, shopper) as shoppers_socket,
    ):
        order_id = submit(service)["orderId"]
        assert ship(service, order_id, **SHIPPED) == 202
        changes_until(shoppers_socket, order_id, "COMPLETED")
        changes_until(operators_socket, order_id, "COMPLETED")
        seen_by_other = already_received(others_socket)

    others_subject = subject_of(service.tokens.token(other))
    assert [change for change in seen_by_other if change["customerId"] != others_subject] == []


@pytest.mark.parametrize(
    "token",
    [None, "", "not-a-token", "tampered"],
    ids=["no-token", "empty-token", "not-a-jwt", "tampered-signature"],
)
def test_a_missing_or_bad_token_is_refused_at_connect_with_401(service, token):
    if token == "tampered":
        header, payload, signature = service.tokens.token(service.users.shopper).split(".")
        token = f"{header}.{payload}.{signature[::-1]}"

    status, _ = refused_status(socket_url(service, token))

    assert status == 401


def test_a_page_of_a_foreign_origin_is_refused_and_an_allowed_storefront_connects(local_only):
    token = local_only.tokens.token(local_only.users.shopper)

    status, body = refused_status(socket_url(local_only, token), origin="http://evil.example")
    assert status == 403
    assert "http://evil.example" in body and "ORDERS_CORS_ORIGINS" in body

    with connect(socket_url(local_only, token), origin=STOREFRONT_ORIGIN, open_timeout=DEADLINE_SECONDS):
        pass


def test_a_foreign_host_is_refused(local_only):
    token = local_only.tokens.token(local_only.users.shopper)

    port = int(local_only.websocket_url.rsplit(":", 1)[1])
    with create_connection(("127.0.0.1", port)) as to_the_listener:
        status, body = refused_status(f"ws://attacker.example:{port}/?token={token}", sock=to_the_listener)

    assert status == 403
    assert "Host" in body


def connection_ids(service: OrdersService, subject: str) -> set[str]:
    """The connections the connections table holds for a shopper (what ``$connect`` wrote, ``$disconnect`` deletes)."""
    items = service.aws_client("dynamodb").scan(TableName=CONNECTIONS_TABLE.local_name, ConsistentRead=True)["Items"]
    return {item["connectionId"]["S"] for item in items if item["subscriber"]["S"] == customer_key(subject)}


def wait_for_connection_ids(service: OrdersService, subject: str, until: Any) -> set[str]:
    give_up = time.monotonic() + DEADLINE_SECONDS
    while not until(found := connection_ids(service, subject)):
        if time.monotonic() > give_up:
            raise AssertionError(f"connections {found} within {DEADLINE_SECONDS}s")
        time.sleep(0.05)
    return found


def management_api(service: OrdersService) -> Any:
    """The ``@connections`` endpoint as a function calls it: locally, the AWS endpoint."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=service.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_connections_are_recorded_at_connect_posted_to_over_the_aws_endpoint_and_forgotten_at_disconnect(local_only):
    subject = subject_of(local_only.tokens.token(local_only.users.shopper))
    before = connection_ids(local_only, subject)
    management = management_api(local_only)

    with live_status(local_only, local_only.users.shopper) as socket:
        [connection_id] = wait_for_connection_ids(local_only, subject, lambda found: found - before) - before
        management.post_to_connection(ConnectionId=connection_id, Data=b'{"hello": "socket"}')
        assert json.loads(socket.recv(timeout=DEADLINE_SECONDS)) == {"hello": "socket"}
        described = management.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"

    wait_for_connection_ids(local_only, subject, lambda found: connection_id not in found)
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"{}")


def test_an_order_placed_while_connected_is_pushed_within_the_deadline_with_its_owner(service):
    """Each change carries ``orderId`` and ``sequence``, so a page that reconnects can tell what it missed and read
    the order (GET /orders/{id}) to fill the gap."""
    with live_status(service, service.users.shopper) as socket:
        order_id = submit(service, paymentToken="tok_declined")["orderId"]
        received = changes_until(socket, order_id, "PAYMENT_DECLINED")

    [final] = [change for change in received if (change["orderId"], change["status"]) == (order_id, "PAYMENT_DECLINED")]
    order = service.request("GET", f"/orders/{order_id}").body
    assert final["sequence"] == len(order["timeline"])
    assert final["customerId"] == subject_of(service.tokens.token(service.users.shopper))
    assert sample_order()["items"][0]["sku"] in json.dumps(order)


def test_stopping_the_stack_closes_open_sockets_as_going_away(local_only):
    """A stack of its own: SIGTERM closes each socket with 1001, as API Gateway does on a redeploy, and still stops
    cleanly."""
    own = start_local_service()
    try:
        with live_status(own, own.users.shopper) as socket:
            assert stop_local_service(own) == 0
            with pytest.raises(ConnectionClosed):
                socket.recv(timeout=DEADLINE_SECONDS)
            assert socket.close_code == 1001
    finally:
        stop_local_service(own)
