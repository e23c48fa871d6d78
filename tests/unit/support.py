"""What the unit tests share besides fixtures: fixed timestamps, seed-catalog SKUs, an order factory, fakes."""

from __future__ import annotations

from typing import Any

from local.aws.awslambda.runner import LOCAL_ACCOUNT_ID, LOCAL_REGION
from local.testkit.fixtures import SAMPLE_CUSTOMER_ID, sample_order
from tasks.adapters.payment_provider import AttemptCounter, PaymentProvider, SimulatedPaymentProvider
from tasks.adapters.workflow import ExecutionStartError, OrderWorkflow, TaskAnswer
from tasks.models.order import PlacedOrder

NOW = "2026-03-01T10:00:00.000Z"
LATER = "2026-03-01T10:05:00.000Z"
ORDER_ID = "order-1"

KEYBOARD = "KB-TKL-01"
"""Seed catalog: 8999 cents, 40 in stock."""
CABLE = "CBL-USBC-2M"
"""Seed catalog: 1299 cents, 250 in stock."""
HEADSET = "HDST-ANC-BT"
"""Seed catalog: 14900 cents, only 3 in stock."""
SAMPLE_TOTAL_CENTS = 8999 + 2 * 1299
"""The total of ``placed_order()``: one keyboard and two cables."""


def placed_order(order_id: str = ORDER_ID, **overrides: Any) -> PlacedOrder:
    """A valid order for the seed catalog (see ``SAMPLE_TOTAL_CENTS``); pass request fields to override."""
    return PlacedOrder(orderId=order_id, **{"customerId": SAMPLE_CUSTOMER_ID, **sample_order(**overrides)})


class CountingAttempts(AttemptCounter):
    """In memory, like the DynamoDB counter but for one process."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def increment(self, key: str) -> int:
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]


class RecordingPaymentProvider(PaymentProvider):
    """The simulator's outcomes and references, plus a log of every call, to show what reached the provider."""

    def __init__(self) -> None:
        self._simulator = SimulatedPaymentProvider(CountingAttempts())
        self.calls: list[tuple[str, str]] = []

    def authorize(self, order_id: str, amount_cents: int, currency: str, token: str) -> str:
        self.calls.append(("authorize", order_id))
        return self._simulator.authorize(order_id, amount_cents, currency, token)

    def capture(self, order_id: str, authorization_id: str, amount_cents: int) -> str:
        self.calls.append(("capture", order_id))
        return self._simulator.capture(order_id, authorization_id, amount_cents)

    def void(self, order_id: str, authorization_id: str) -> str:
        self.calls.append(("void", order_id))
        return self._simulator.void(order_id, authorization_id)

    def refund(self, order_id: str, capture_id: str, amount_cents: int) -> str:
        self.calls.append(("refund", order_id))
        return self._simulator.refund(order_id, capture_id, amount_cents)


class FakeOrderWorkflow(OrderWorkflow):
    """Records the callbacks the shipment logic sends, instead of calling Step Functions."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.answers: dict[str, TaskAnswer] = {}
        """Order id to how its shipment wait ended, as ``shipment_answer`` reads it from the history."""

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        self.calls.append(("start", order_id))
        return f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:execution:order-workflow:{order_id}"

    def execution_status(self, order_id: str) -> str | None:
        self.calls.append(("execution_status", order_id))
        return "RUNNING" if ("start", order_id) in self.calls else None

    def complete_task(self, task_token: str, output: dict[str, Any]) -> None:
        self.calls.append(("complete_task", task_token, output))

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        self.calls.append(("fail_task", task_token, error, cause))

    def heartbeat(self, task_token: str) -> None:
        self.calls.append(("heartbeat", task_token))

    def shipment_answer(self, order_id: str) -> TaskAnswer | None:
        self.calls.append(("shipment_answer", order_id))
        return self.answers.get(order_id)


class WorkflowThatFailsFirst(FakeOrderWorkflow):
    """StartExecution is throttled once, then works: the client's retry must complete the start."""

    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        if self.failures_left:
            self.failures_left -= 1
            raise ExecutionStartError("ThrottlingException", may_have_started=False)
        return super().start(order_id, execution_input)
