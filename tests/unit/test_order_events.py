"""Which events a change of an order record stands for, and the schema downstream teams code against."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from local.testkit.invariants import EVENT_SCHEMA_FILE
from tasks.logic.events import status_changes
from tasks.models.events import OrderStatusChanged

RECEIVED = {"status": "RECEIVED", "at": "t1"}
VALIDATED = {"status": "VALIDATED", "at": "t2"}
ORDER = {"orderId": "o-1", "customerId": "sub-1", "paymentToken": "tok_ok", "shippingAddress": {"city": "London"}}


def test_an_insert_publishes_each_entry_it_holds_and_a_modify_only_the_new_ones():
    created = {**ORDER, "timeline": [RECEIVED]}
    priced = {**created, "timeline": [RECEIVED, VALIDATED], "totalCents": 1299, "currency": "USD"}

    assert [(e.status.value, e.sequence, e.previousStatus) for e in status_changes(None, created)] == [
        ("RECEIVED", 1, None)
    ]
    (validated,) = status_changes(created, priced)
    assert (validated.status.value, validated.sequence, validated.previousStatus.value) == ("VALIDATED", 2, "RECEIVED")
    assert (validated.totalCents, validated.currency) == (1299, "USD")


def test_a_change_without_a_new_timeline_entry_publishes_nothing():
    waiting = {**ORDER, "timeline": [RECEIVED, VALIDATED]}

    assert status_changes(waiting, {**waiting, "shipment": {"taskToken": "secret"}}) == []
    assert status_changes(waiting, None) == []
    assert status_changes(None, {"orderId": "health-check"}) == []


def test_failures_are_published_by_name_and_message_and_nothing_sensitive_ever():
    cause = json.dumps({"errorMessage": "card declined", "stackTrace": ["/var/task/x.py"]})
    failed = {
        **ORDER,
        "timeline": [RECEIVED, VALIDATED, {"status": "PAYMENT_DECLINED", "at": "t3"}],
        "failure": {"error": "PaymentDeclinedError", "cause": cause},
    }

    (declined,) = status_changes({**ORDER, "timeline": [RECEIVED, VALIDATED]}, failed)
    text = declined.model_dump_json()

    assert declined.failure.model_dump() == {"error": "PaymentDeclinedError", "message": "card declined"}
    assert "tok_" not in text and "London" not in text and "stackTrace" not in text


def test_the_committed_schema_is_the_models_schema_and_every_event_fits_it():
    committed = json.loads(Path(EVENT_SCHEMA_FILE).read_text())
    model = OrderStatusChanged.model_json_schema()

    assert {key: committed[key] for key in model if key not in ("title", "description")} == {
        key: value for key, value in model.items() if key not in ("title", "description")
    }
    validator = Draft202012Validator(committed)
    (event,) = status_changes(None, {**ORDER, "timeline": [RECEIVED]})
    assert validator.is_valid(json.loads(event.model_dump_json()))
    assert not validator.is_valid({**json.loads(event.model_dump_json()), "paymentToken": "tok_ok"})
