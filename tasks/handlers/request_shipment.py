"""RequestShipment task: runs under ``lambda:invoke.waitForTaskToken``; the workflow then waits for the warehouse."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.orders_repository import order_repository
from tasks.handlers.runtime import task_handler
from tasks.logic.clock import now_iso
from tasks.logic.shipment import request_shipment
from tasks.models.task_io import RequestShipmentInput, RequestShipmentOutput


@task_handler(RequestShipmentInput)
def handler(request: RequestShipmentInput, context: LambdaContext) -> RequestShipmentOutput:
    return request_shipment(request, orders=order_repository(), now=now_iso())
