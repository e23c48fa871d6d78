"""API Gateway's ``@connections`` endpoint of the WebSocket stage: PostToConnection, with 410 Gone made an error of
its own so the logic can forget the connection."""

from __future__ import annotations

import functools
import os
from typing import Any

from botocore.exceptions import ClientError

from tasks.adapters.aws_sdk import STREAM_CALLS
from tasks.adapters.dynamodb import error_code
from tasks.logic.live_status import ConnectionGoneError
from workflows.resources import WEBSOCKET_CALLBACK_URL_ENV

GONE = "GoneException"


@functools.cache
def management_client(endpoint_url: str) -> Any:
    """One client per stage endpoint and process; boto3 is imported on first use (cold init)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "apigatewaymanagementapi", endpoint_url=endpoint_url, config=Config(**STREAM_CALLS.config())
    )


class ConnectionSender:
    """Posts messages to connections of one stage.

    Example
    -------
    >>> ConnectionSender(client).post("c-1", b'{"orderId": "o"}')  # doctest: +SKIP
    """

    def __init__(self, client: Any):
        self._client = client

    def post(self, connection_id: str, message: bytes) -> None:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=message)
        except ClientError as error:
            if error_code(error) == GONE:
                raise ConnectionGoneError(connection_id) from error
            raise


def connection_sender() -> ConnectionSender:
    try:
        endpoint = os.environ[WEBSOCKET_CALLBACK_URL_ENV]
    except KeyError:
        raise RuntimeError(f"{WEBSOCKET_CALLBACK_URL_ENV} is not set: deployed without its WebSocket stage") from None
    return ConnectionSender(management_client(endpoint))
