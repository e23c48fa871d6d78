"""Live order status over the WebSocket API: $connect records who is connected, the push function posts each
OrderStatusChanged event to its owner's and the operators' connections only, and a gone connection is deleted.

DynamoDB and API Gateway's ``@connections`` endpoint are moto's; moto keeps what each connection was sent.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from local.aws.awslambda.runner import LOCAL_REGION, LocalLambdaContext, function_arn
from tasks.adapters.connections_repository import ConnectionsRepository
from tasks.adapters.websocket_callbacks import ConnectionSender
from tasks.handlers import push_order_status, websocket_connections
from tasks.logic.access import Principal
from tasks.logic.live_status import ConnectionGoneError, new_connection, push_status_change
from tasks.models.events import OrderStatusChanged
from workflows.resources import (
    CONNECTIONS_TABLE,
    OPERATOR_SUBSCRIBER_SHARDS,
    PUSH_ORDER_STATUS,
    WEBSOCKET_CALLBACK_URL_ENV,
    WEBSOCKET_CONNECTION_TTL_SECONDS,
    WEBSOCKET_CONNECTIONS,
    FunctionSpec,
)

CALLBACK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
SHOPPER, OTHER_SHOPPER, OPERATOR = "sub-shopper", "sub-other", "sub-operator"


def context(spec: FunctionSpec) -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name=spec.logical_name,
        invoked_function_arn=function_arn(spec.logical_name),
        memory_limit_in_mb=spec.memory_mb,
        timeout_seconds=spec.timeout_seconds,
    )


def route_event(route: str, connection_id: str, authorizer: dict[str, str] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"routeKey": route, "connectionId": connection_id, "eventType": route.strip("$")}
    if authorizer is not None:
        request["authorizer"] = authorizer
    return {"requestContext": request}


def status_event(customer_id: str = SHOPPER, sequence: int = 3) -> dict[str, Any]:
    detail = OrderStatusChanged(
        orderId="ord-1",
        customerId=customer_id,
        status="SHIPPED",
        previousStatus="AWAITING_SHIPMENT",
        sequence=sequence,
        at="2026-12-06T10:00:00.000Z",
    )
    return {"source": "orders", "detail-type": "OrderStatusChanged", "detail": detail.model_dump(mode="json")}


def connect(connection_id: str, subject: str, operator: bool = False) -> dict[str, Any]:
    authorizer = {"principalId": subject, "subject": subject, "operator": str(operator).lower()}
    return websocket_connections.handler(
        route_event("$connect", connection_id, authorizer), context(WEBSOCKET_CONNECTIONS)
    )


def sent_to() -> dict[str, list[dict]]:
    """What moto's @connections endpoint delivered, connection by connection (messages back to back)."""
    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][LOCAL_REGION]
    decoder = json.JSONDecoder()
    delivered: dict[str, list[dict]] = {}
    for connection_id, connection in backend.connections.items():
        text, position = connection.data.decode(), 0
        while position < len(text):
            message, position = decoder.raw_decode(text, position)
            delivered.setdefault(connection_id, []).append(message)
    return delivered


@pytest.fixture
def connections(tables: Any, monkeypatch: pytest.MonkeyPatch) -> ConnectionsRepository:
    monkeypatch.setenv(WEBSOCKET_CALLBACK_URL_ENV, CALLBACK_URL)
    return ConnectionsRepository(CONNECTIONS_TABLE.local_name, client=tables)


def stored(tables: Any) -> dict[str, dict]:
    items = tables.scan(TableName=CONNECTIONS_TABLE.local_name)["Items"]
    return {item["connectionId"]["S"]: item for item in items}


def test_connect_records_the_callers_subject_operator_flag_and_an_expiry_two_hours_on(connections, tables):
    assert connect("c-shopper", SHOPPER) == {"statusCode": 200}
    assert connect("c-ops", OPERATOR, operator=True) == {"statusCode": 200}

    entries = stored(tables)
    assert entries["c-shopper"]["subject"] == {"S": SHOPPER}
    assert entries["c-shopper"]["subscriber"] == {"S": f"customer#{SHOPPER}"}
    assert entries["c-shopper"]["operator"] == {"BOOL": False}
    assert entries["c-ops"]["operator"] == {"BOOL": True}
    assert entries["c-ops"]["subscriber"]["S"].startswith("operators#")
    expires_in = int(entries["c-shopper"]["expiration"]["N"]) - time.time()
    assert WEBSOCKET_CONNECTION_TTL_SECONDS - 60 <= expires_in <= WEBSOCKET_CONNECTION_TTL_SECONDS
    assert new_connection("x", Principal(SHOPPER), 0, "t").expiration == WEBSOCKET_CONNECTION_TTL_SECONDS


def test_disconnect_forgets_the_connection_and_default_answers_a_short_error(connections, tables):
    connect("c-1", SHOPPER)

    disconnected = websocket_connections.handler(route_event("$disconnect", "c-1"), context(WEBSOCKET_CONNECTIONS))
    default = websocket_connections.handler(route_event("$default", "c-2"), context(WEBSOCKET_CONNECTIONS))

    assert disconnected == {"statusCode": 200}
    assert stored(tables) == {}
    assert default["statusCode"] == 400
    assert "send nothing" in default["body"]


def test_only_the_owners_connections_receive_an_event(connections):
    connect("c-owner-phone", SHOPPER)
    connect("c-owner-laptop", SHOPPER)
    connect("c-other", OTHER_SHOPPER)

    result = push_order_status.handler(status_event(SHOPPER), context(PUSH_ORDER_STATUS))

    delivered = sent_to()
    assert delivered.keys() == {"c-owner-phone", "c-owner-laptop"}
    assert delivered["c-owner-phone"] == [status_event(SHOPPER)["detail"]]
    assert delivered["c-owner-phone"][0]["orderId"] == "ord-1"
    assert delivered["c-owner-phone"][0]["sequence"] == 3
    assert result == {"orderId": "ord-1", "sequence": 3, "delivered": 2, "gone": 0}


def test_an_operator_receives_every_customers_events(connections):
    operators = [f"c-ops-{n}" for n in range(3 * OPERATOR_SUBSCRIBER_SHARDS)]
    for connection_id in operators:
        connect(connection_id, OPERATOR, operator=True)
    connect("c-other", OTHER_SHOPPER)

    push_order_status.handler(status_event(SHOPPER, sequence=1), context(PUSH_ORDER_STATUS))
    push_order_status.handler(status_event(OTHER_SHOPPER, sequence=2), context(PUSH_ORDER_STATUS))

    delivered = sent_to()
    assert delivered.keys() == {*operators, "c-other"}
    assert all([m["customerId"] for m in delivered[c]] == [SHOPPER, OTHER_SHOPPER] for c in operators)
    assert [m["customerId"] for m in delivered["c-other"]] == [OTHER_SHOPPER]


class GoneFor:
    """A @connections client whose given connections answer 410 Gone, as API Gateway does for a closed socket."""

    def __init__(self, *gone: str):
        self.gone = set(gone)
        self.posted: list[str] = []

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:  # noqa: N803
        if ConnectionId in self.gone:
            raise ClientError({"Error": {"Code": "GoneException", "Message": "gone"}}, "PostToConnection")
        self.posted.append(ConnectionId)


def test_a_gone_connection_is_deleted_and_the_others_still_receive_the_event(connections, tables):
    connect("c-closed", SHOPPER)
    connect("c-open", SHOPPER)
    client = GoneFor("c-closed")
    event = OrderStatusChanged.model_validate(status_event(SHOPPER)["detail"])

    result = push_status_change(event, connections, ConnectionSender(client))

    assert client.posted == ["c-open"]
    assert stored(tables).keys() == {"c-open"}
    assert (result.delivered, result.gone) == (1, 1)


def test_another_refusal_of_a_post_is_raised_so_eventbridge_retries_the_event(connections):
    connect("c-1", SHOPPER)

    class Throttled:
        def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:  # noqa: N803
            raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "slow"}}, "PostToConnection")

    event = OrderStatusChanged.model_validate(status_event(SHOPPER)["detail"])
    with pytest.raises(ClientError):
        push_status_change(event, connections, ConnectionSender(Throttled()))


def test_the_sender_turns_410_into_connection_gone():
    with pytest.raises(ConnectionGoneError):
        ConnectionSender(GoneFor("c-1")).post("c-1", b"{}")


def test_an_event_without_a_customer_reaches_operators_only(connections):
    connect("c-shopper", SHOPPER)
    connect("c-ops", OPERATOR, operator=True)

    push_order_status.handler(status_event(customer_id=None), context(PUSH_ORDER_STATUS))

    assert sent_to().keys() == {"c-ops"}
