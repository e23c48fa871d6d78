"""VoidOrRefundPayment compensation: the ledger decides between void, refund and nothing."""

from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext

from tasks.adapters.idempotency import idempotency_store, keyed_on_order_id
from tasks.adapters.payment_provider import payment_provider
from tasks.adapters.payments_ledger import payments_ledger
from tasks.handlers.runtime import task_handler
from tasks.logic import payments
from tasks.logic.clock import now_iso
from tasks.models.task_io import CompensationInput, CompensationOutput

IDEMPOTENCY = keyed_on_order_id()


@idempotent_function(
    data_keyword_argument="request",
    persistence_store=idempotency_store(),
    config=IDEMPOTENCY,
    output_serializer=PydanticSerializer,
)
def void_or_refund_once(request: CompensationInput) -> CompensationOutput:
    return payments.void_or_refund(
        request.orderId, provider=payment_provider(), ledger=payments_ledger(), now=now_iso()
    )


@task_handler(CompensationInput)
def handler(request: CompensationInput, context: LambdaContext) -> CompensationOutput:
    IDEMPOTENCY.register_lambda_context(context)
    return void_or_refund_once(request=request)
