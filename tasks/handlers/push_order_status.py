"""PushOrderStatus: an ``OrderStatusChanged`` event from the ``orders`` bus, posted to the WebSocket connections of its
owner and of the operators (``tasks.logic.live_status``)."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.connections_repository import connections_repository
from tasks.adapters.websocket_callbacks import connection_sender
from tasks.logic.live_status import push_status_change
from tasks.models.events import OrderStatusChanged

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    change = OrderStatusChanged.model_validate(event["detail"])
    result = push_status_change(change, connections_repository(), connection_sender())
    logger.info("pushed", extra=result.model_dump())
    return result.model_dump()
