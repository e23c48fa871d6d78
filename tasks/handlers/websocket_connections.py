"""WebSocketConnections: the $connect, $disconnect and $default routes of the live order status API.

$connect runs after the authorizer, so the caller is the ``subject`` it put in the context, never anything the client
sent; the connection is recorded with a TTL. $disconnect forgets it. Clients send nothing: $default answers 400.
"""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.connections_repository import connections_repository
from tasks.logic.access import Principal
from tasks.logic.clock import now_iso
from tasks.logic.live_status import new_connection

logger = Logger()

DEFAULT_ROUTE_ANSWER = "this socket only sends order status changes; send nothing"


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    request = event["requestContext"]
    route, connection_id = request["routeKey"], request["connectionId"]
    if route == "$connect":
        authorizer = request.get("authorizer") or {}
        principal = Principal(subject=authorizer["subject"], is_operator=authorizer.get("operator") == "true")
        connection = new_connection(connection_id, principal, int(time.time()), now_iso())
        connections_repository().record(connection.model_dump())
        logger.info("connected", extra={"connectionId": connection_id, "operator": principal.is_operator})
        return {"statusCode": 200}
    if route == "$disconnect":
        connections_repository().forget(connection_id)
        return {"statusCode": 200}
    return {"statusCode": 400, "body": DEFAULT_ROUTE_ANSWER}
