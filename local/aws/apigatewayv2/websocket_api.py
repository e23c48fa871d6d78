"""The WebSocket API of live order status, locally: API Gateway's routes and authorizer over a real socket.

``local.endpoint.websocket_listener`` serves the socket (``websockets``, behind the listeners' Host and Origin
guard); this module plays API Gateway behind it, with the deployed functions run in-process by the Lambda runner:

- ``$connect`` needs the identity source, ``?token=``, or is refused 401 without a call; then the REQUEST authorizer
  (WebSocketAuthorizer) runs: an error whose message is ``Unauthorized`` is 401, a Deny policy 403, any other error
  500. Its ``context`` and ``principalId`` reach the ``$connect`` route (WebSocketConnections), whose status code
  decides the handshake;
- each message the client sends goes to ``$default``, and the socket's end to ``$disconnect``;
- the functions post to connections through the ``@connections`` endpoint on the local AWS endpoint
  (``local.aws.apigatewaymanagementapi``).

The query string holds the ID token, so nothing here logs it, as the deployed stage's access log leaves it out.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from local.aws.apigatewaymanagementapi.connections import LocalConnections
from local.aws.awslambda.runner import LOCAL_ACCOUNT_ID, LOCAL_REGION, Invocation, LambdaRunner
from workflows.resources import WEBSOCKET_AUTHORIZER, WEBSOCKET_CONNECTIONS

LOG = logging.getLogger(__name__)

LOCAL_WEBSOCKET_API_ID = "local-ws"
STAGE = "local"
TOKEN_QUERY_PARAMETER = "token"
"""The authorizer's identity source (``route.request.querystring.token``)."""


@dataclass(frozen=True)
class Refusal:
    """The HTTP answer to a handshake that is refused before the socket opens."""

    status: HTTPStatus
    message: str


@dataclass(frozen=True)
class Handshake:
    """A handshake the ``$connect`` route accepted: the connection's id and what its routes receive."""

    connection_id: str
    headers: dict[str, str]
    query: dict[str, list[str]]
    source_ip: str


def new_connection_id() -> str:
    """An id shaped like API Gateway's (16 characters of base64), URL-safe so that it fits a path unquoted.

    Example
    -------
    >>> len(new_connection_id())
    16
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(12)).decode()


def route_event(
    route: str, handshake: Handshake, *, authorizer: Mapping[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """The event API Gateway sends a WebSocket route's Lambda integration.

    Example
    -------
    >>> handshake = Handshake("c-1", {"Host": "127.0.0.1:3001"}, {"token": ["t"]}, "127.0.0.1")
    >>> route_event("$disconnect", handshake)["requestContext"]["eventType"]
    'DISCONNECT'
    """
    event_types = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
    now = time.time()
    context: dict[str, Any] = {
        "routeKey": route,
        "eventType": event_types.get(route, "MESSAGE"),
        "messageDirection": "IN",
        "connectionId": handshake.connection_id,
        "requestId": str(uuid.uuid4()),
        "requestTimeEpoch": int(now * 1000),
        "stage": STAGE,
        "apiId": LOCAL_WEBSOCKET_API_ID,
        "domainName": handshake.headers.get("Host", ""),
        "identity": {"sourceIp": handshake.source_ip, "userAgent": handshake.headers.get("User-Agent")},
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if route == "$connect":
        event.update(
            headers=handshake.headers,
            multiValueHeaders={name: [value] for name, value in handshake.headers.items()},
            queryStringParameters={name: values[-1] for name, values in handshake.query.items()} or None,
            multiValueQueryStringParameters=handshake.query or None,
        )
    event.update(extra)
    return event


def authorizer_event(handshake: Handshake) -> dict[str, Any]:
    """The REQUEST authorizer's event for ``$connect``: the route's event plus its type and method ARN."""
    method_arn = f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{LOCAL_WEBSOCKET_API_ID}/{STAGE}/$connect"
    return {**route_event("$connect", handshake), "type": "REQUEST", "methodArn": method_arn}


def authorized_context(invocation: Invocation) -> dict[str, Any] | Refusal:
    """What the authorizer's answer means: the context for ``$connect`` (with ``principalId``), or the refusal.

    Example
    -------
    >>> authorized_context(Invocation(b'{"errorMessage": "Unauthorized"}', function_error="Unhandled")).status
    <HTTPStatus.UNAUTHORIZED: 401>
    """
    if invocation.status_code != HTTPStatus.OK:
        return Refusal(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
    answer = json.loads(invocation.payload or b"null")
    if invocation.function_error:
        if isinstance(answer, dict) and answer.get("errorMessage") == "Unauthorized":
            return Refusal(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        return Refusal(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
    statements = ((answer or {}).get("policyDocument") or {}).get("Statement") or []
    if not statements or any(statement.get("Effect") != "Allow" for statement in statements):
        return Refusal(HTTPStatus.FORBIDDEN, "Forbidden")
    return {**(answer.get("context") or {}), "principalId": answer.get("principalId")}


class WebSocketApiEmulation:
    """API Gateway's WebSocket API: each handshake through the authorizer and ``$connect``, then the socket's
    messages to ``$default`` and its end to ``$disconnect``. ``local.endpoint.websocket_listener`` serves it.

    Example
    -------
    >>> api = WebSocketApiEmulation(runner, LocalConnections())  # doctest: +SKIP
    >>> WebSocketListener("the WebSocket API", 3001, guard, api, max_message_bytes=MAX_MESSAGE_BYTES)  # doctest: +SKIP
    """

    def __init__(self, runner: LambdaRunner, connections: LocalConnections):
        self._runner = runner
        self._connections = connections

    def handshake(
        self, *, path: str, query: str, headers: dict[str, str], source_ip: str
    ) -> AcceptedConnection | Refusal:
        """Refuse what the identity source, the authorizer or ``$connect`` refuses; accept the rest."""
        if path != "/":
            return Refusal(HTTPStatus.NOT_FOUND, "the socket is at /, with ?token=<ID token>")
        parameters = parse_qs(query, keep_blank_values=True)
        if not parameters.get(TOKEN_QUERY_PARAMETER, [""])[-1]:
            return Refusal(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        handshake = Handshake(new_connection_id(), headers, parameters, source_ip)
        authorized = authorized_context(
            self._runner.invoke(WEBSOCKET_AUTHORIZER.logical_name, json.dumps(authorizer_event(handshake)).encode())
        )
        if isinstance(authorized, Refusal):
            return authorized
        self._connections.announce(handshake.connection_id, source_ip, headers.get("User-Agent", ""))
        status = self.route("$connect", handshake, authorizer=authorized)
        if not HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
            self._connections.refuse(handshake.connection_id)
            return Refusal(HTTPStatus(status), HTTPStatus(status).phrase)
        return AcceptedConnection(self, self._connections, handshake)

    def route(
        self, route: str, handshake: Handshake, *, authorizer: Mapping[str, Any] | None = None, **extra: Any
    ) -> int:
        """Invoke the route's function; its status code (500 if it failed, as API Gateway answers then)."""
        event = route_event(route, handshake, authorizer=authorizer, **extra)
        invocation = self._runner.invoke(WEBSOCKET_CONNECTIONS.logical_name, json.dumps(event).encode())
        if invocation.status_code != HTTPStatus.OK or invocation.function_error:
            LOG.warning("the WebSocket API's %s route failed (%s)", route, invocation.function_error or "throttled")
            return HTTPStatus.INTERNAL_SERVER_ERROR
        answer = json.loads(invocation.payload or b"null")
        return int((answer or {}).get("statusCode", HTTPStatus.OK)) if isinstance(answer, dict) else HTTPStatus.OK


@dataclass(frozen=True)
class AcceptedConnection:
    """A socket ``$connect`` accepted: open to posts until it closes, then ``$disconnect``."""

    api: WebSocketApiEmulation
    connections: LocalConnections
    handshake: Handshake

    def serve(self, socket: ServerConnection) -> None:
        connection_id = self.handshake.connection_id
        self.connections.open(connection_id, socket)
        try:
            for message in socket:
                self.connections.touch(connection_id)
                body = message if isinstance(message, str) else base64.b64encode(message).decode()
                self.api.route("$default", self.handshake, body=body, isBase64Encoded=not isinstance(message, str))
        except ConnectionClosed:
            pass
        finally:
            self.connections.refuse(connection_id)
            self.api.route(
                "$disconnect",
                self.handshake,
                disconnectStatusCode=socket.close_code,
                disconnectReason=socket.close_reason or "",
            )
