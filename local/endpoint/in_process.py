"""Serve the stack's own calls to its AWS endpoint in-process, without a socket.

Inside the local stack every handler, the engine's service integrations, the console and the warehouse simulator
call the AWS endpoint (moto in server mode) that runs in the same process. Over loopback HTTP each of those calls
costs a connection, werkzeug's request parsing and a server thread, which was a third of the stack's CPU under load.
This botocore ``before-send`` hook hands a request addressed to the stack's own endpoint straight to moto's request
dispatcher, the one ``mock_aws`` uses, so it reaches the same backends the server does. Requests to any other
address, and anything moto does not recognise, still go over HTTP. Outside clients (the AWS CLI, the console with
``--aws``, tests) are unaffected: they call the server as before.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.handlers import BUILTIN_HANDLERS
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber

HOOK_ID = "orders-in-process-endpoint"
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


class InProcessEndpoint:
    """The ``before-send`` hook; ``serve(port)`` and ``forget(port)`` say which local endpoints it answers for.

    Example
    -------
    >>> IN_PROCESS_ENDPOINT.serve(4566)  # clients built from now on call 127.0.0.1:4566 without a socket
    >>> IN_PROCESS_ENDPOINT.forget(4566)
    """

    def __init__(self) -> None:
        self._ports: set[int] = set()
        self._lock = threading.Lock()
        self._registered = False

    def serve(self, port: int) -> None:
        """Answer for ``port`` in every session created from now on, and in boto3's default session if it exists."""
        with self._lock:
            if not self._registered:
                BUILTIN_HANDLERS.append(("before-send", self))
                self._registered = True
            if boto3.DEFAULT_SESSION is not None:
                boto3.DEFAULT_SESSION.events.register("before-send", self, unique_id=HOOK_ID)
            self._ports.add(port)

    def forget(self, port: int) -> None:
        with self._lock:
            self._ports.discard(port)

    def __call__(self, request: AWSPreparedRequest, **_: object) -> AWSResponse | None:
        address = urlsplit(request.url)
        if address.hostname not in ("127.0.0.1", "localhost") or address.port not in self._ports:
            return None
        scope = CREDENTIAL_SCOPE.search(_text(request.headers.get("Authorization", b"")))
        if scope is None:
            return None
        region, service = scope.groups()
        query = f"?{address.query}" if address.query else ""
        aws_request = AWSPreparedRequest(
            method=request.method,
            url=f"https://{_host(service, request)}.{region}.amazonaws.com{address.path or '/'}{query}",
            headers=request.headers,
            body=request.body,
            stream_output=False,
        )
        answer = botocore_stubber.process_request(aws_request)
        if answer is None:
            return None
        status, headers, body = answer
        return AWSResponse(request.url, status, headers, MockRawResponse(body))


def _host(service: str, request: AWSPreparedRequest) -> str:
    """The service's AWS host name. DynamoDB Streams signs as ``dynamodb``: its target header tells them apart,
    as moto's own server does."""
    if service == "dynamodb" and _text(request.headers.get("X-Amz-Target", b"")).startswith("DynamoDBStreams"):
        return "streams.dynamodb"
    return service


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


IN_PROCESS_ENDPOINT = InProcessEndpoint()
