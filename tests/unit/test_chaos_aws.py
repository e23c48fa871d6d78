"""The AWS-level chaos phase's own logic: each invariant it adds finds the violation it names, the storefront retries
a 503 as documented, and the fault rules are ones the endpoint accepts. Nothing here starts a stack."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from bench import chaos_aws, report
from bench.chaos import PLENTY_SKU, UNKNOWN_SKU, chaos_order, names_unknown_sku, submissions_for
from bench.chaos_aws import (
    EVENTS_KEEP_THEIR_FORM,
    EVENTS_PUBLISHED_OR_DEAD_LETTERED,
    NO_ORDER_STRANDED,
    NOTHING_PUBLISHED_OUTSIDE_TIMELINE,
    ONLY_503,
    PLANS,
    RETRY_AFTER_ON_503,
    aws_fault_rules,
    broken_caller_promises,
    broken_event_delivery,
    broken_order_promises,
    dead_lettered_entries,
    faults_by_operation,
    storefront_submit,
)
from bench.load import order_body
from bench.service import AnswerTally, ApiResponse
from local.endpoint.aws_faults import parse_aws_fault_rules
from local.testkit.invariants import STATUS_MATCHES_EXECUTION, TERMINAL
from tasks.adapters.dynamodb import to_item
from tasks.adapters.payments_ledger import LedgerEntryKind
from tasks.logic.events import status_changes

AT = "2026-12-06T10:00:00.000Z"
HAPPY = ("RECEIVED", "VALIDATED", "AUTHORIZED", "AWAITING_SHIPMENT", "SHIPPED", "COMPLETED")


def order(*statuses: str, **fields: Any) -> dict[str, Any]:
    return {
        "orderId": "ord-1",
        "customerId": "shopper-1",
        "status": statuses[-1],
        "totalCents": 2000,
        "currency": "USD",
        "trackingNumber": "1Z999",
        "timeline": [{"status": status, "at": AT} for status in statuses],
        **fields,
    }


def published(placed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The order's events as a subscriber reads their ``detail`` off the bus."""
    return [json.loads(event.model_dump_json()) for event in status_changes(None, placed)]


RECONCILED = order("RECEIVED", "FAILED", failure={"error": "OrderNotStartedError", "cause": "not started"})


def test_an_order_left_received_without_an_execution_is_stranded():
    assert broken_order_promises(order("RECEIVED"), set(), None) == [NO_ORDER_STRANDED]


def test_an_order_the_reconciler_failed_keeps_its_promises_without_an_execution():
    assert broken_order_promises(RECONCILED, set(), None) == []


@pytest.mark.parametrize(
    ("ledger", "fields", "execution"),
    [
        ({LedgerEntryKind.AUTHORIZATION}, {}, None),
        (set(), {"reservation": {"status": "RESERVED", "lines": []}}, None),
        (set(), {}, {"status": "RUNNING"}),
    ],
    ids=["charged", "reserved", "still-running"],
)
def test_a_reconciled_order_that_was_charged_reserved_or_still_runs_breaks_its_promise(ledger, fields, execution):
    assert broken_order_promises({**RECONCILED, **fields}, ledger, execution) == [NO_ORDER_STRANDED]


def test_a_failed_order_without_an_execution_that_the_reconciler_did_not_fail_is_stranded():
    failed = order("RECEIVED", "FAILED", failure={"error": "FAILED", "cause": "something"})

    assert broken_order_promises(failed, set(), None) == [NO_ORDER_STRANDED]


def test_an_order_with_an_execution_is_judged_by_the_order_invariants():
    completed = order(*HAPPY, reservation={"status": "RESERVED", "lines": []})
    ledger = {LedgerEntryKind.AUTHORIZATION, LedgerEntryKind.CAPTURE}

    assert broken_order_promises(completed, ledger, {"status": "SUCCEEDED"}, [{"status": "SUCCEEDED"}]) == []
    assert broken_order_promises(completed, ledger, {"status": "FAILED", "error": "X"}, [{"status": "SUCCEEDED"}]) == [
        STATUS_MATCHES_EXECUTION
    ]


def test_an_order_whose_execution_runs_but_never_ends_is_stranded_too():
    validated = order("RECEIVED", "VALIDATED")

    assert broken_order_promises(validated, set(), {"status": "RUNNING"}, [{"status": "RUNNING"}])[:2] == [
        NO_ORDER_STRANDED,
        TERMINAL,
    ]


def test_events_all_published_or_dead_lettered_keep_their_promise_duplicates_allowed():
    completed = order(*HAPPY)
    events = published(completed)

    assert broken_event_delivery(completed, events + events[:2], set()) == []
    assert (
        broken_event_delivery(completed, events[:3], {(4, "AWAITING_SHIPMENT"), (5, "SHIPPED"), (6, "COMPLETED")}) == []
    )


def test_an_event_neither_published_nor_dead_lettered_is_lost():
    completed = order(*HAPPY)
    events = published(completed)

    assert broken_event_delivery(completed, events[:-1], {(5, "SHIPPED")}) == [EVENTS_PUBLISHED_OR_DEAD_LETTERED]


def test_an_event_outside_the_timeline_is_found():
    validated = order("RECEIVED", "VALIDATED")
    events = published(validated)
    invented = {**events[1], "status": "AUTHORIZED"}

    assert broken_event_delivery(validated, [*events, invented], set()) == [NOTHING_PUBLISHED_OUTSIDE_TIMELINE]


def test_an_event_carrying_a_payment_token_breaks_its_form():
    received = order("RECEIVED")
    leaking = [{**published(received)[0], "failure": {"paymentToken": "tok_ok"}}]

    assert EVENTS_KEEP_THEIR_FORM in broken_event_delivery(received, leaking, set())


def test_callers_that_got_a_500_a_502_or_no_answer_break_the_503_promise():
    tally = AnswerTally()
    for caller, status in (("shopper", 202), ("shopper", 503), ("shopper", 500), ("shopper", 0), ("warehouse", 502)):
        tally.add(caller, status, {"retry-after": "1"})

    broken = broken_caller_promises(tally.figures())

    assert broken == {
        ONLY_503: ["shopper: 1 not answered", "shopper: 1 answered 500", "warehouse: 1 answered 502"],
        RETRY_AFTER_ON_503: [],
    }


def test_a_503_without_retry_after_is_found():
    tally = AnswerTally()
    tally.add("shopper", 503, {"Retry-After": "1"})
    tally.add("shopper", 503, {"Content-Type": "application/json"})

    assert broken_caller_promises(tally.figures()) == {ONLY_503: [], RETRY_AFTER_ON_503: ["1 503s without Retry-After"]}


def stream_record(shard: str, number: int, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = {"SequenceNumber": str(number), "NewImage": to_item(new)}
    if old is not None:
        change["OldImage"] = to_item(old)
    return {"shardId": shard, "dynamodb": change}


def dead_letter(shard: str, first: int, last: int) -> dict[str, Any]:
    return {"DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": str(first), "endSequenceNumber": str(last)}}


def test_dead_lettered_entries_are_the_new_timeline_entries_of_the_records_a_message_names():
    received, validated, authorized = order("RECEIVED"), order("RECEIVED", "VALIDATED"), order(*HAPPY[:3])
    other = {**order("RECEIVED"), "orderId": "ord-2"}
    records = [
        stream_record("shard-1", 100, None, received),
        stream_record("shard-1", 200, received, validated),
        stream_record("shard-1", 300, validated, authorized),
        stream_record("shard-2", 200, None, other),
    ]

    named = dead_lettered_entries([dead_letter("shard-1", 200, 300)], records)

    assert named == {"ord-1": {(2, "VALIDATED"), (3, "AUTHORIZED")}}


class ScriptedApi:
    """Answers POST /orders from a script, and records the headers each request was sent with."""

    def __init__(self, answers: list[ApiResponse | OSError]):
        self._answers = answers
        self.sent: list[dict[str, str]] = []
        self.answers = AnswerTally()

    def request(self, method: str, path: str, body: Any = None, headers: Any = None, *, caller: Any = None):
        self.sent.append(dict(headers))
        answer = self._answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer


class ScriptedStack:
    def __init__(self, answers: list[ApiResponse | OSError]):
        self.api = ScriptedApi(answers)


class Shopper:
    sub = "shopper-1"


def unavailable(retry_after: str) -> ApiResponse:
    return ApiResponse(503, {"message": "busy"}, 0.01, {"Retry-After": retry_after})


def test_the_storefront_sends_a_503d_order_again_with_its_key_after_retry_after(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(chaos_aws.time, "sleep", waits.append)
    stack = ScriptedStack([unavailable("2"), OSError("reset"), ApiResponse(202, {"orderId": "ord-1"}, 0.01)])

    submission = storefront_submit(stack, Shopper(), {"items": []}, {"Idempotency-Key": "k-1"}, "test")

    assert (submission.status, submission.order_id, submission.attempts) == (202, "ord-1", 3)
    assert waits == [2.0, chaos_aws.DEFAULT_RETRY_AFTER_SECONDS]
    assert stack.api.sent == [{"Idempotency-Key": "k-1"}] * 3
    assert stack.api.answers.figures()["statuses"] == {"shopper": {"0": 1}}


def test_the_storefront_gives_up_at_its_deadline(monkeypatch):
    monkeypatch.setattr(chaos_aws.time, "sleep", lambda seconds: None)
    stack = ScriptedStack([unavailable("1"), unavailable(str(chaos_aws.STOREFRONT_DEADLINE_SECONDS + 1))])

    submission = storefront_submit(stack, Shopper(), {"items": []}, {"Idempotency-Key": "k-1"}, "test")

    assert (submission.status, submission.attempts) == (503, 2)


def test_faults_are_merged_per_operation_and_kind():
    reports = [
        {"dynamodb:UpdateItem": {"calls": 100, "faults": 10, "kind": "throttling"}},
        {"dynamodb:UpdateItem": {"calls": 50, "faults": 1, "kind": "timeout"}},
        {"dynamodb:UpdateItem": {"calls": 10, "faults": 2, "kind": "throttling"}},
    ]

    assert faults_by_operation(reports) == {
        "dynamodb:UpdateItem": {"calls": 160, "faults": {"throttling": 12, "timeout": 1}}
    }


@pytest.mark.parametrize("stack", sorted(PLANS))
def test_every_plan_is_a_rule_set_the_endpoint_accepts(stack):
    plan, seed = PLANS[stack]

    rules = parse_aws_fault_rules(aws_fault_rules(plan, seed))

    assert len({rule.seed for rule in rules}) == len(rules)


def test_both_plans_fault_every_operation_the_stack_calls_each_with_a_kind_of_its_own():
    throttled, failing = (dict(PLANS[name][0]) for name in sorted(PLANS, reverse=True))
    called = {
        "dynamodb:TransactWriteItems",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "states:StartExecution",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
        "states:DescribeExecution",
        "events:PutEvents",
    }

    assert called <= throttled.keys() and called <= failing.keys()
    assert all(throttled[operation]["kind"] != failing[operation]["kind"] for operation in called)


def test_benchmarks_md_shows_the_faults_by_operation_and_kind_the_answers_and_a_failed_invariant():
    summary = {
        "chaos_aws": {
            "orders": 1000,
            "accepted": 998,
            "retried_orders": 12,
            "storefront_gave_up": 2,
            "statuses": {"COMPLETED": 700},
            "reconciled": 1,
            "seconds": 240.0,
            "faults": {
                "dynamodb:UpdateItem": {"calls": 9000, "faults": {"throttling": 450, "timeout": 90}},
                "events:PutEvents": {"calls": 5000, "faults": {"partial": 250, "timeout": 100}},
            },
            "answers": {"shopper": {"202": 998, "503": 14}, "orders-local-warehouse": {"202": 700, "409": 2}},
            "answer_examples": {"orders-local-warehouse 409": ["POST /orders/o-1/shipment: no longer waits"]},
            "refused_though_taken": ["o-1: SHIPPED answered 409, order COMPLETED"],
            "events": {
                "expected": 5,
                "received": 6,
                "dead_lettered": 1,
                "missing": 0,
                "duplicates": 2,
                "other_orders": 0,
            },
            "invariants": {NO_ORDER_STRANDED: False, ONLY_503: True},
            "violations": {NO_ORDER_STRANDED: 1, ONLY_503: 0},
            "examples": {NO_ORDER_STRANDED: ["ord-9 (never accepted): RECEIVED"]},
        }
    }
    lines: list[str] = []

    report._chaos_aws(summary, lines.append)

    assert "| operation | calls | throttling | timeout | partial |" in lines
    assert "| `dynamodb:UpdateItem` | 9000 | 450 | 90 |  |" in lines
    assert "| `events:PutEvents` | 5000 |  | 100 | 250 |" in lines
    assert "| caller | 202 | 409 | 503 |" in lines
    assert "| shopper | 998 |  | 14 |" in lines
    assert f"| {NO_ORDER_STRANDED} | **FAIL** | 1 |" in lines
    assert f"{NO_ORDER_STRANDED}: ord-9 (never accepted): RECEIVED" in lines
    assert any(line.startswith("1 callbacks were answered 409 although the workflow took them") for line in lines)


class OrdersTable:
    def __init__(self, statuses: Mapping[str, str]):
        self._statuses = statuses

    def get_item(self, TableName: str, Key: Mapping[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        order_id = Key["orderId"]["S"]
        found = order_id in self._statuses
        return {"Item": to_item({"orderId": order_id, "status": self._statuses[order_id]})} if found else {}


class TableStack:
    def __init__(self, statuses: Mapping[str, str]):
        self.dynamodb = OrdersTable(statuses)


def test_a_refused_callback_counts_as_taken_only_when_the_order_ended_as_it_asked():
    stack = TableStack({"ord-1": "COMPLETED", "ord-2": "COMPLETED", "ord-3": "CANCELLED"})
    refused = {"ord-1": "SHIPPED", "ord-2": "CANCEL", "ord-3": "CANCEL", "ord-4": "FAILED"}

    assert chaos_aws.refused_though_taken(stack, refused) == [
        "ord-1: SHIPPED answered 409, order COMPLETED",
        "ord-3: CANCEL answered 409, order CANCELLED",
    ]


def test_only_an_order_for_an_unknown_sku_may_be_refused():
    valid, unknown = order_body(PLENTY_SKU), order_body(UNKNOWN_SKU)

    assert [chaos_aws.refused_wrongly(valid, status) for status in (202, 422, 409, 503)] == [False, True, True, False]
    assert not chaos_aws.refused_wrongly(unknown, 422)


def test_enough_orders_are_sent_for_the_valid_ones_to_reach_the_count():
    sent = submissions_for(500)

    valid = [index for index in range(sent) if not names_unknown_sku(chaos_order(index))]
    assert len(valid) == 500 and valid[-1] == sent - 1
