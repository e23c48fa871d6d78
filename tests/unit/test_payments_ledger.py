"""The payments ledger holds one entry per kind and order: the record that makes a double charge detectable."""

from __future__ import annotations

import pytest

from tasks.adapters.payments_ledger import LedgerEntry, LedgerEntryKind
from tasks.errors import InvalidOrderStateError

from .support import LATER, NOW, ORDER_ID


def entry(kind: LedgerEntryKind = LedgerEntryKind.AUTHORIZATION, reference: str = "auth_1", **changes) -> LedgerEntry:
    values = {"order_id": ORDER_ID, "amount_cents": 11597, "currency": "USD", "at": NOW, **changes}
    return LedgerEntry(kind=kind, reference=reference, **values)


def test_record_stores_the_entry_and_entries_returns_it_by_kind(ledger):
    ledger.record(entry())

    assert ledger.entries(ORDER_ID) == {LedgerEntryKind.AUTHORIZATION: entry()}


def test_entries_keeps_each_kind_and_each_order_apart(ledger):
    authorization = entry()
    capture = entry(LedgerEntryKind.CAPTURE, "cap_1", at=LATER)
    other_order = entry(order_id="order-2", reference="auth_2")
    for each in (authorization, capture, other_order):
        ledger.record(each)

    assert ledger.entries(ORDER_ID) == {LedgerEntryKind.AUTHORIZATION: authorization, LedgerEntryKind.CAPTURE: capture}
    assert ledger.entries("order-2") == {LedgerEntryKind.AUTHORIZATION: other_order}
    assert ledger.entries("order-without-payments") == {}


def test_a_repeat_with_the_same_reference_is_accepted(ledger):
    ledger.record(entry())

    ledger.record(entry())

    assert ledger.entries(ORDER_ID) == {LedgerEntryKind.AUTHORIZATION: entry()}


def test_an_entry_of_the_same_kind_with_another_reference_is_refused(ledger):
    ledger.record(entry(reference="auth_1"))

    with pytest.raises(InvalidOrderStateError, match=f"order {ORDER_ID} already has a different AUTHORIZATION"):
        ledger.record(entry(reference="auth_2"))

    assert ledger.entries(ORDER_ID)[LedgerEntryKind.AUTHORIZATION].reference == "auth_1"


def test_a_repeat_with_the_same_reference_keeps_the_first_entry_unchanged(ledger):
    """Written once: a retry must not move the recorded time, nor turn 115.97 into 1.00 without anyone noticing."""
    ledger.record(entry(amount_cents=11597, at=NOW))

    ledger.record(entry(amount_cents=100, at=LATER))

    assert ledger.entries(ORDER_ID)[LedgerEntryKind.AUTHORIZATION] == entry(amount_cents=11597, at=NOW)
