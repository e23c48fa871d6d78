"""ValidateOrder task: prices the order from the catalog."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.inventory_repository import inventory_repository
from tasks.adapters.orders_repository import order_repository
from tasks.handlers.runtime import task_handler
from tasks.logic.clock import now_iso
from tasks.logic.validation import price_order
from tasks.models.task_io import ValidateOrderInput, ValidateOrderOutput


@task_handler(ValidateOrderInput)
def handler(request: ValidateOrderInput, context: LambdaContext) -> ValidateOrderOutput:
    return price_order(request.order, orders=order_repository(), inventory=inventory_repository(), now=now_iso())
