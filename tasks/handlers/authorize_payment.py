"""AuthorizePayment task: one authorization per order, however often the workflow retries (the ledger says so)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.orders_repository import order_repository
from tasks.adapters.payment_provider import payment_provider
from tasks.adapters.payments_ledger import payments_ledger
from tasks.handlers.runtime import task_handler
from tasks.logic import payments
from tasks.logic.clock import now_iso
from tasks.models.task_io import AuthorizePaymentInput, AuthorizePaymentOutput


@task_handler(AuthorizePaymentInput)
def handler(request: AuthorizePaymentInput, context: LambdaContext) -> AuthorizePaymentOutput:
    return payments.authorize(
        request, provider=payment_provider(), ledger=payments_ledger(), orders=order_repository(), now=now_iso()
    )
