"""The payment simulator: the token decides the outcome, deterministically, per order."""

from __future__ import annotations

import pytest

from tasks.adapters.payment_provider import (
    FLAKY_FAILURES_PER_ORDER,
    DynamoDBAttemptCounter,
    SimulatedPaymentProvider,
    payment_provider,
)
from tasks.errors import PaymentDeclinedError, PaymentProviderTransientError
from workflows.resources import PAYMENTS_TABLE

from .support import ORDER_ID, CountingAttempts


@pytest.fixture
def simulator() -> SimulatedPaymentProvider:
    return SimulatedPaymentProvider(CountingAttempts())


def authorize(provider: SimulatedPaymentProvider, token: str, order_id: str = ORDER_ID) -> str:
    return provider.authorize(order_id, 11597, "USD", token)


def outcomes(provider: SimulatedPaymentProvider, token: str, order_id: str, attempts: int) -> list[str]:
    """``"transient"`` or ``"approved"`` for each of ``attempts`` authorizations in a row."""
    results = []
    for _ in range(attempts):
        try:
            authorize(provider, token, order_id)
        except PaymentProviderTransientError:
            results.append("transient")
        else:
            results.append("approved")
    return results


def test_tok_ok_approves_with_an_authorization_id(simulator):
    assert authorize(simulator, "tok_ok").startswith("auth_")


def test_any_other_well_formed_token_approves(simulator):
    assert authorize(simulator, "tok_visa_4242").startswith("auth_")


def test_tok_declined_is_declined(simulator):
    with pytest.raises(PaymentDeclinedError, match=ORDER_ID):
        authorize(simulator, "tok_declined")


def test_tok_flaky_fails_transiently_exactly_twice_per_order_then_approves(simulator):
    assert FLAKY_FAILURES_PER_ORDER == 2
    assert outcomes(simulator, "tok_flaky", ORDER_ID, 4) == ["transient", "transient", "approved", "approved"]


def test_tok_flaky_counts_each_order_on_its_own(simulator):
    assert outcomes(simulator, "tok_flaky", "order-a", 2) == ["transient", "transient"]

    assert outcomes(simulator, "tok_flaky", "order-b", 1) == ["transient"]
    assert outcomes(simulator, "tok_flaky", "order-a", 1) == ["approved"]


def test_tok_unavailable_always_fails_transiently(simulator):
    assert outcomes(simulator, "tok_unavailable", ORDER_ID, 5) == ["transient"] * 5


def test_references_are_deterministic_per_order_and_operation(simulator):
    """A retried call names the same operation, so the ledger accepts it as a repeat and not as a second charge."""
    again = SimulatedPaymentProvider(CountingAttempts())
    for operation in (
        lambda provider, order_id: provider.authorize(order_id, 100, "USD", "tok_ok"),
        lambda provider, order_id: provider.capture(order_id, "auth_x", 100),
        lambda provider, order_id: provider.void(order_id, "auth_x"),
        lambda provider, order_id: provider.refund(order_id, "cap_x", 100),
    ):
        assert operation(simulator, "order-a") == operation(again, "order-a")
        assert operation(simulator, "order-a") != operation(simulator, "order-b")

    references = {
        simulator.authorize(ORDER_ID, 1, "USD", "tok_ok"),
        simulator.capture(ORDER_ID, "auth_x", 1),
        simulator.void(ORDER_ID, "auth_x"),
        simulator.refund(ORDER_ID, "cap_x", 1),
    }
    assert {reference.split("_", 1)[0] for reference in references} == {"auth", "cap", "void", "ref"}


def test_the_dynamodb_counter_makes_tok_flaky_behave_the_same_on_every_instance(tables):
    """Each Lambda instance builds its own provider; the count lives in the table, so retries on another see it."""
    instances = [
        SimulatedPaymentProvider(DynamoDBAttemptCounter(PAYMENTS_TABLE.local_name, client=tables)) for _ in range(2)
    ]

    assert outcomes(instances[0], "tok_flaky", ORDER_ID, 1) == ["transient"]
    assert outcomes(instances[1], "tok_flaky", ORDER_ID, 1) == ["transient"]
    assert outcomes(instances[0], "tok_flaky", ORDER_ID, 1) == ["approved"]
    assert outcomes(instances[1], "tok_flaky", "order-2", 1) == ["transient"]


def test_the_dynamodb_counter_stays_out_of_the_orders_ledger(tables, ledger):
    counter = DynamoDBAttemptCounter(PAYMENTS_TABLE.local_name, client=tables)

    assert [counter.increment(ORDER_ID) for _ in range(3)] == [1, 2, 3]
    assert ledger.entries(ORDER_ID) == {}


def test_only_the_simulator_can_be_chosen(monkeypatch):
    monkeypatch.setenv("PAYMENT_PROVIDER", "stripe")

    with pytest.raises(RuntimeError, match="only 'simulator' is implemented"):
        payment_provider()
