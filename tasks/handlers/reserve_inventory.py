"""ReserveInventory task: all lines in one DynamoDB transaction, or none."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.inventory_repository import inventory_repository
from tasks.adapters.orders_repository import order_repository
from tasks.handlers.runtime import task_handler
from tasks.logic import inventory
from tasks.logic.clock import now_iso
from tasks.models.task_io import ReserveInventoryInput, ReserveInventoryOutput


@task_handler(ReserveInventoryInput)
def handler(request: ReserveInventoryInput, context: LambdaContext) -> ReserveInventoryOutput:
    return inventory.reserve(request, inventory=inventory_repository(), orders=order_repository(), now=now_iso())
