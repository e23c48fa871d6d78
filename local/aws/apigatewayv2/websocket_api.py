"""The WebSocket API of live order status, locally: API Gateway's routes and authorizer over a real socket.

``websockets`` speaks the protocol (handshake, framing, pings, close); this module plays API Gateway around it, with
the deployed functions run in-process by the Lambda runner:

- the handshake passes the listeners' guard first (``LoopbackGuard``: the Host must be this listener, and an
  ``Origin`` must be this listener's or a storefront's, since a page of any other site could otherwise open a socket
  with the shopper's token in it);
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
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from local.aws.apigatewaymanagementapi.connections import MAX_MESSAGE_BYTES, LocalConnections
from local.aws.awslambda.runner import LOCAL_ACCOUNT_ID, LOCAL_REGION, Invocation, LambdaRunner
from local.endpoint.listener import HOST, LoopbackGuard, PortInUseError, log_refusal
from workflows.resources import WEBSOCKET_AUTHORIZER, WEBSOCKET_CONNECTIONS

LOG = logging.getLogger(__name__)

LOCAL_WEBSOCKET_API_ID = "local-ws"
STAGE = "local"
TOKEN_QUERY_PARAMETER = "token"
"""The authorizer's identity source (``route.request.querystring.token``)."""
STOP_SECONDS = 5.0
GOING_AWAY = 1001


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
        "domainName": handshake.headers.get("Host", HOST),
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
    """API Gateway's WebSocket API on 127.0.0.1: ``start()`` serves it in a thread, ``stop()`` closes every socket.

    Parameters
    ----------
    runner:
        Runs the authorizer and the routes' function.
    connections:
        The open connections, which the ``@connections`` endpoint posts to.
    port:
        0 picks a free port.
    guard:
        The listeners' Host and Origin guard, trusting the storefront origins.

    Example
    -------
    >>> api = WebSocketApiEmulation(runner, LocalConnections(), port=3001, guard=LoopbackGuard(trusted_origins=[]))
    ... # doctest: +SKIP
    >>> api.start(); api.url  # doctest: +SKIP
    'ws://127.0.0.1:3001'
    """

    def __init__(self, runner: LambdaRunner, connections: LocalConnections, *, port: int, guard: LoopbackGuard):
        self._runner = runner
        self._connections = connections
        self._guard = guard
        self._accepted: dict[ServerConnection, Handshake] = {}
        self._sockets: set[ServerConnection] = set()
        self._lock = threading.Lock()
        try:
            self._server: Server = serve(
                self._serve_socket,
                HOST,
                port,
                process_request=self._handshake,
                max_size=MAX_MESSAGE_BYTES,
                server_header=None,
                logger=LOG,
            )
        except OSError as error:
            raise PortInUseError(f"the WebSocket API cannot listen on {HOST}:{port}: {error.strerror}") from None
        self.port = int(self._server.socket.getsockname()[1])
        guard.serve_port(self.port, "the WebSocket API")
        self._thread = threading.Thread(target=self._server.serve_forever, name="the WebSocket API", daemon=True)

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, then close every open socket as API Gateway does on a redeploy (1001, going away)."""
        self._server.shutdown()
        self._thread.join(timeout=STOP_SECONDS)
        with self._lock:
            sockets = list(self._sockets)
        for socket in sockets:
            socket.close(GOING_AWAY, "the local stack is stopping")

    def _handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        """Refuse a handshake the guard, the authorizer or ``$connect`` refuses; accept it otherwise."""
        address = urlsplit(request.path)
        headers = {name: value for name, value in request.headers.raw_items()}
        origin = request.headers.get("Origin")
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": address.path, "HTTP_HOST": request.headers.get("Host", "")}
        for header, key in (("Origin", "HTTP_ORIGIN"), ("Sec-Fetch-Site", "HTTP_SEC_FETCH_SITE")):
            if header in request.headers:
                environ[key] = request.headers[header]
        reason = self._guard.refusal(environ) or self._guard.foreign_origin_refusal(origin)
        if reason is not None:
            log_refusal("the WebSocket API", environ, reason)
            return _refuse(socket, Refusal(HTTPStatus.FORBIDDEN, f"Forbidden: {reason}"))
        if address.path != "/":
            return _refuse(socket, Refusal(HTTPStatus.NOT_FOUND, "the socket is at /, with ?token=<ID token>"))
        query = parse_qs(address.query, keep_blank_values=True)
        if not query.get(TOKEN_QUERY_PARAMETER, [""])[-1]:
            return _refuse(socket, Refusal(HTTPStatus.UNAUTHORIZED, "Unauthorized"))
        source_ip = socket.remote_address[0] if socket.remote_address else HOST
        handshake = Handshake(new_connection_id(), headers, query, source_ip)
        authorized = authorized_context(
            self._runner.invoke(WEBSOCKET_AUTHORIZER.logical_name, json.dumps(authorizer_event(handshake)).encode())
        )
        if isinstance(authorized, Refusal):
            return _refuse(socket, authorized)
        self._connections.announce(handshake.connection_id, source_ip, headers.get("User-Agent", ""))
        status = self._route("$connect", handshake, authorizer=authorized)
        if not HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
            self._connections.refuse(handshake.connection_id)
            return _refuse(socket, Refusal(HTTPStatus(status), HTTPStatus(status).phrase))
        with self._lock:
            self._accepted[socket] = handshake
        return None

    def _serve_socket(self, socket: ServerConnection) -> None:
        """One accepted socket: its messages to ``$default`` until it closes, then ``$disconnect``."""
        with self._lock:
            handshake = self._accepted.pop(socket)
            self._sockets.add(socket)
        self._connections.open(handshake.connection_id, socket)
        try:
            for message in socket:
                self._connections.touch(handshake.connection_id)
                body = message if isinstance(message, str) else base64.b64encode(message).decode()
                self._route("$default", handshake, body=body, isBase64Encoded=not isinstance(message, str))
        except ConnectionClosed:
            pass
        finally:
            self._connections.refuse(handshake.connection_id)
            with self._lock:
                self._sockets.discard(socket)
            self._route(
                "$disconnect",
                handshake,
                disconnectStatusCode=socket.close_code,
                disconnectReason=socket.close_reason or "",
            )

    def _route(
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


def _refuse(socket: ServerConnection, refusal: Refusal) -> Response:
    response = socket.respond(refusal.status, json.dumps({"message": refusal.message}))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
