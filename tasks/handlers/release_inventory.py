"""ReleaseInventory compensation: gives reserved stock back, or blocks a reservation still in flight."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.inventory_repository import inventory_repository
from tasks.handlers.runtime import task_handler
from tasks.logic import inventory
from tasks.logic.clock import now_iso
from tasks.models.task_io import CompensationInput, CompensationOutput


@task_handler(CompensationInput)
def handler(request: CompensationInput, context: LambdaContext) -> CompensationOutput:
    return inventory.release(request.orderId, inventory=inventory_repository(), now=now_iso())
