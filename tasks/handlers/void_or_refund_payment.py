"""VoidOrRefundPayment compensation: the ledger decides between void, refund and nothing, also on a repeat."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.payment_provider import payment_provider
from tasks.adapters.payments_ledger import payments_ledger
from tasks.handlers.runtime import task_handler
from tasks.logic import payments
from tasks.logic.clock import now_iso
from tasks.models.task_io import CompensationInput, CompensationOutput


@task_handler(CompensationInput)
def handler(request: CompensationInput, context: LambdaContext) -> CompensationOutput:
    return payments.void_or_refund(
        request.orderId, provider=payment_provider(), ledger=payments_ledger(), now=now_iso()
    )
