"""CapturePayment task: captures once (the ledger says so), then records the shipment and completes the order."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.orders_repository import order_repository
from tasks.adapters.payment_provider import payment_provider
from tasks.adapters.payments_ledger import payments_ledger
from tasks.handlers.runtime import metrics, task_handler
from tasks.logic import payments
from tasks.logic.clock import now_iso
from tasks.models.task_io import CapturePaymentInput, CapturePaymentOutput


@task_handler(CapturePaymentInput)
def handler(request: CapturePaymentInput, context: LambdaContext) -> CapturePaymentOutput:
    result = payments.capture(
        request, provider=payment_provider(), ledger=payments_ledger(), orders=order_repository(), now=now_iso()
    )
    metrics.add_metric(name="OrdersCompleted", unit="Count", value=1)
    return result
