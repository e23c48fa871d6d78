"""CapturePayment task: records the shipment, captures once, completes the order."""

from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.idempotency import idempotency_store, keyed_on_order_id
from tasks.adapters.orders_repository import order_repository
from tasks.adapters.payment_provider import payment_provider
from tasks.adapters.payments_ledger import payments_ledger
from tasks.handlers.runtime import metrics, task_handler
from tasks.logic import payments
from tasks.logic.clock import now_iso
from tasks.models.task_io import CapturePaymentInput, CapturePaymentOutput

IDEMPOTENCY = keyed_on_order_id(amount_must_match=True)


@idempotent_function(
    data_keyword_argument="request",
    persistence_store=idempotency_store(),
    config=IDEMPOTENCY,
    output_serializer=PydanticSerializer,
)
def capture_once(request: CapturePaymentInput) -> CapturePaymentOutput:
    return payments.capture(
        request, provider=payment_provider(), ledger=payments_ledger(), orders=order_repository(), now=now_iso()
    )


@task_handler(CapturePaymentInput)
def handler(request: CapturePaymentInput, context: LambdaContext) -> CapturePaymentOutput:
    IDEMPOTENCY.register_lambda_context(context)
    result = capture_once(request=request)
    metrics.add_metric(name="OrdersCompleted", unit="Count", value=1)
    return result
