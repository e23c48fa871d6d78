"""The cost and quota model's pure functions: pricing a path, log bytes from a history, quota arithmetic.

Nothing here runs an order or reaches the network: paths are built by hand in the shape ``bench.cost.measure_run``
records, and the stack's settings the model mirrors are read from the CDK sources as text.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import cost, report
from bench.dynamodb_units import MeteredRequest, PartitionUnits
from workflows.resources import OPERATOR_SUBSCRIBER_SHARDS, STAGE_THROTTLE, STATUS_SHARDS, TABLES

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:states:us-east-1:123456789012:execution:order-workflow:o-1"


def lambda_task(event_id: int, previous: int, function: str) -> dict[str, Any]:
    parameters = json.dumps({"FunctionName": f"arn:aws:lambda:us-east-1:123456789012:function:{function}"})
    return {
        "id": event_id,
        "previousEventId": previous,
        "type": "TaskScheduled",
        "taskScheduledEventDetails": {"resourceType": "lambda", "resource": "invoke", "parameters": parameters},
    }


def entered(event_id: int, name: str, kind: str = "Task") -> dict[str, Any]:
    return {
        "id": event_id,
        "previousEventId": event_id - 1,
        "type": f"{kind}StateEntered",
        "stateEnteredEventDetails": {
            "name": name,
            "input": '{"order": "secret"}',
            "inputDetails": {"truncated": False},
        },
    }


def recorded_path(name: str = "happy", **changes: Any) -> dict[str, Any]:
    """A happy-path order as ``record_paths`` records it: 3 parent states, one child of two Lambda stages."""
    path = {
        "path": name,
        "status": "COMPLETED",
        "states_entered": ["PrepareOrder", "RequestShipment", "CapturePayment"],
        "standard_transitions": 3,
        "lambda_invocations": [
            *("RequestShipment", "CapturePayment"),
            *("ValidateOrder", "AuthorizePayment", "ReserveInventory"),
        ],
        "children": [
            {"states_entered": ["ValidateOrder"], "status": "SUCCEEDED", "moto_wall_ms": 900.0, "lambda_stages": 2}
        ],
        "stepfunctions_logs": {"parent": {"events": 19, "bytes": 6000}, "children": [{"events": 25, "bytes": 8000}]},
        "handler_output": {"CapturePayment": {"invocations": 1, "bytes": 250, "lines": 1}},
        "api_requests": [
            cost.api_request("POST", "/orders", "cognito", {"orderId": "o-1"}),
            cost.api_request("POST", "/orders/{orderId}/shipment", "iam", {"orderId": "o-1", "accepted": "SHIPPED"}),
        ],
        "dynamodb_requests": [["OrderApi", "PutItem", "orders", 3.0, 0.0], ["ValidateOrder", "GetItem", "p", 0, 1.0]],
        "stream_records": 6,
        "put_events_calls": 6,
        "put_events_entries": 6,
        "timeline_entries": 6,
    }
    path.update(changes)
    return path


class TestHistories:
    def test_every_state_entered_and_every_task_retry_is_a_transition(self) -> None:
        history = [
            {"id": 1, "type": "ExecutionStarted"},
            entered(2, "PrepareOrder"),
            lambda_task(3, 2, "ValidateOrder"),
            {"id": 4, "type": "TaskFailed"},
            lambda_task(5, 4, "ValidateOrder"),
            entered(6, "RoutePreparationFailure", kind="Choice"),
            entered(7, "OrderFailed", kind="Fail"),
        ]

        assert cost.billable_transitions(history) == 4
        assert cost.lambda_invocations(history) == ["ValidateOrder", "ValidateOrder"]

    def test_a_parallel_is_one_lambda_stage_whatever_its_branches_call(self) -> None:
        history = [
            lambda_task(3, 2, "ValidateOrder"),
            {"id": 7, "type": "ParallelStateStarted"},
            lambda_task(10, 9, "AuthorizePayment"),
            lambda_task(13, 12, "ReserveInventory"),
            {"id": 19, "type": "ParallelStateSucceeded"},
            lambda_task(22, 21, "RecordFailure"),
        ]

        assert cost.lambda_stages(history) == 3

    def test_log_events_have_the_documented_shape_without_execution_data(self) -> None:
        [event] = cost.stepfunctions_log_events([entered(2, "PrepareOrder")], ARN)

        logged = json.loads(event)
        assert list(logged) == [
            "id",
            "type",
            "details",
            "previous_event_id",
            "event_timestamp",
            "execution_arn",
            "redrive_count",
        ]
        assert logged["details"] == {"name": "PrepareOrder", "inputDetails": {"truncated": False}}
        assert (logged["id"], logged["previous_event_id"], logged["execution_arn"]) == ("2", "1", ARN)
        assert "secret" in cost.stepfunctions_log_events([entered(2, "X")], ARN, include_execution_data=True)[0]

    def test_log_levels_keep_only_their_event_types(self) -> None:
        history = [entered(2, "PrepareOrder"), {"id": 3, "type": "TaskFailed"}, {"id": 4, "type": "ExecutionFailed"}]

        assert len(cost.stepfunctions_log_events(history, ARN, level="ALL")) == 3
        assert len(cost.stepfunctions_log_events(history, ARN, level="ERROR")) == 2
        assert len(cost.stepfunctions_log_events(history, ARN, level="FATAL")) == 1
        assert cost.stepfunctions_log_events(history, ARN, level="OFF") == []

    def test_log_bytes_add_the_per_event_overhead(self) -> None:
        history = [entered(2, "PrepareOrder"), {"id": 3, "type": "TaskFailed"}]
        events = cost.stepfunctions_log_events(history, ARN)

        assert cost.stepfunctions_log_bytes(history, ARN) == {
            "events": 2,
            "bytes": sum(len(event) for event in events) + 2 * cost.LOG_EVENT_OVERHEAD_BYTES,
        }

    def test_an_express_execution_is_logged_under_its_express_arn(self) -> None:
        arn = cost.express_execution_arn("arn:aws:states:us-east-1:1:execution:order-preparation:run-1")

        assert re.fullmatch(r"arn:aws:states:us-east-1:1:express:order-preparation:run-1:[0-9a-f-]{36}", arn)


class TestModelledLines:
    def test_express_duration_rounds_each_child_up_to_100_ms(self) -> None:
        assert [cost.express_billed_ms(stages) for stages in (0, 1, 2, 3)] == [100, 200, 300, 400]

    def test_the_reservoir_records_nearly_every_request_at_low_rates_and_five_percent_at_high(self) -> None:
        fractions = [cost.sampled_fraction(rate) for rate in (0.001, 0.1, 1, 10, 10_000)]

        assert fractions[0] == pytest.approx(1, abs=0.001)
        assert fractions == sorted(fractions, reverse=True)
        assert fractions[-1] == pytest.approx(cost.XRAY_FIXED_RATE, abs=0.001)
        assert cost.sampled_fraction(0) == 0

    def test_a_reservoir_of_one_a_second_records_one_minus_e_to_the_minus_rate(self) -> None:
        rate = 2.0
        reserved = 1 - math.exp(-rate)

        assert cost.sampled_fraction(rate) == pytest.approx((reserved + 0.05 * (rate - reserved)) / rate)

    def test_the_access_log_renders_every_field_of_the_stage_format(self) -> None:
        request = cost.api_request("POST", "/orders/{orderId}/shipment", "iam", {"orderId": "o-1"})

        access, execution = cost.api_gateway_log_lines(request)

        logged = json.loads(access)
        assert "$context" not in access
        assert (logged["resourcePath"], logged["status"], logged["caller"]) == (
            "/orders/{orderId}/shipment",
            "202",
            cost.SAMPLE_IAM_CALLER,
        )
        assert logged["responseLength"] == str(request["response_length"])
        assert all(line.startswith(f"({logged['requestId']}) ") for line in execution)
        assert "HTTP Method: POST, Resource Path: /orders/ord-0123456789ab/shipment" in "\n".join(execution)

    def test_lambda_writes_three_platform_lines_with_the_xray_trace_in_the_report(self) -> None:
        start, end, report_line = cost.lambda_platform_lines(512)

        assert start.endswith("Version: $LATEST") and end.startswith("END RequestId: ")
        assert "Billed Duration: 100 ms\tMemory Size: 512 MB" in report_line
        assert "\nXRAY TraceId: 1-" in report_line

    def test_handler_output_is_counted_per_function_and_kept_out_of_the_console(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with cost.HandlerOutput() as output:
            with output.invocation("CapturePayment", records=0):
                print('{"_aws":{}}')
                print("warning", file=sys.stderr)
            print("the benchmark's own line")

        assert output.by_function()["CapturePayment"] == {"invocations": 1, "records": 0, "bytes": 20, "lines": 2}
        assert capsys.readouterr().out == "the benchmark's own line\n"


class TestPricing:
    def test_each_line_is_its_usage_times_its_price(self) -> None:
        usd = cost.price_usage(
            {"standard_transitions": 3, "wru": 20, "log_bytes_stepfunctions": cost.GB, "xray_traces_recorded": 2}
        )

        assert usd["stepfunctions_standard_transitions"] == pytest.approx(3 * 0.025 / 1000)
        assert usd["dynamodb_writes"] == pytest.approx(20 * 0.625 / 1_000_000)
        assert usd["logs_stepfunctions"] == pytest.approx(0.50)
        assert usd["logs_storage"] == pytest.approx(0.03 * cost.LOG_RETENTION_MONTHS)
        assert usd["xray_recorded"] == pytest.approx(10 / 1_000_000)
        assert usd["total"] == pytest.approx(sum(value for line, value in usd.items() if line != "total"))

    def test_a_path_is_priced_from_every_line_it_uses(self) -> None:
        path = recorded_path()

        usage = cost.path_usage(path)
        usd = cost.price_path(path)

        assert usage["lambda_requests"] == 5 + 2 + 6
        assert usage["express_requests"] == 1
        assert usage["express_gb_seconds"] == pytest.approx(0.3 * 64 / 1024)
        assert (usage["wru"], usage["rru"], usage["api_requests"], usage["custom_events"]) == (3, 1, 2, 6)
        assert usage["log_bytes_stepfunctions"] == 14_000
        assert usage["log_bytes_lambda"] > 250 + 13 * 3 * cost.LOG_EVENT_OVERHEAD_BYTES
        assert usd["stepfunctions_standard_transitions"] == 75.0
        assert usd["api_gateway_requests"] == 7.0
        assert all(usd[line] > 0 for line in cost.LINE_ITEMS)
        assert sum(cost.by_service(usd).values()) == pytest.approx(usd["total"], abs=0.1)

    def test_designs_differ_in_the_parent_and_the_child_only(self) -> None:
        paths = {"happy": recorded_path(), "rejected": recorded_path("rejected", states_entered=["PrepareOrder"])}

        designs = cost.design_comparison(paths)

        assert [designs[design]["happy"]["standard_transitions"] for design in cost.DESIGNS] == [7, 3, 2]
        assert designs["callback_child"]["rejected"]["standard_transitions"] == 3
        assert designs["standard_only_before"]["happy"]["express_requests"] == 0
        before, now = (designs[design]["happy"]["usd_per_million_orders"] for design in cost.DESIGNS[:2])
        assert before - now == pytest.approx(4 * 25 - 1 - 0.31, abs=0.02)


class TestQuotas:
    def test_each_quota_allows_its_refill_rate_over_the_orders_demand(self) -> None:
        limits = cost.quota_orders_per_s(cost.path_usage(recorded_path()))

        assert limits["large_regions"]["stepfunctions_state_transitions"] == 500
        assert limits["other_regions"]["stepfunctions_state_transitions"] == pytest.approx(166.7)
        assert limits["large_regions"]["stepfunctions_standard_start_execution"] == 300
        assert limits["large_regions"]["lambda_concurrency"] == pytest.approx(1000 / 1.3, abs=0.1)
        assert limits["other_regions"]["eventbridge_put_events"] == pytest.approx(400 / 6, abs=0.1)
        assert limits["large_regions"]["api_gateway_account_throttle"] == 5000

    def test_a_demand_of_nothing_sets_no_limit(self) -> None:
        assert cost.quota_orders_per_s({})["large_regions"]["lambda_concurrency"] == math.inf

    def test_the_binding_quota_is_the_lowest_per_region_class(self) -> None:
        now = cost.quota_summary(recorded_path())
        before = cost.quota_summary(recorded_path(), "standard_only_before")

        assert now["binding"]["large_regions"] == "stepfunctions_standard_start_execution"
        assert before["binding"]["large_regions"] == "stepfunctions_state_transitions"
        assert before["orders_per_s"]["large_regions"] == pytest.approx(1500 / 7, abs=0.1)
        assert now["binding"]["other_regions"] == before["binding"]["other_regions"] == "eventbridge_put_events"

    def test_the_summary_compares_the_as_built_quota_with_the_previous_design(self) -> None:
        summary = cost.summarize({"happy": recorded_path()})

        assert summary["aws_quota_ratio_to_before"] == pytest.approx(1.0)
        assert summary["state_transitions_binding_region_classes"] == 0
        assert summary["stage_throttle_orders_per_s"] == 25
        assert summary["dynamodb_wru_happy_path"] == 3
        assert summary["usd_per_million_orders"] == summary["paths"]["happy"]["usd_per_million_orders"]

    def test_the_report_explains_a_cost_target_from_the_figures(self) -> None:
        summary = {"cost": cost.summarize({"happy": recorded_path()})}

        reason = report._cost_shortfall(summary, "cost.usd_per_million_orders")

        assert reason.startswith(f"${summary['cost']['usd_per_million_orders']:,.2f} per million")
        assert "Step Functions: Standard transitions $75.00" in reason
        assert report._cost_shortfall(summary, "throughput.completed_per_s") is None


def partitions(status_wru: float = 2.0) -> list[list[Any]]:
    """What a happy order writes per partition key value, as ``measure_run`` records it: its own item, its shopper's
    by-customer entries, its products' stock items, and ``status_wru`` on each status shard it passes."""
    statuses = ("RECEIVED", "VALIDATED", "AUTHORIZED", "AWAITING_SHIPMENT")
    return [
        ["orders", "", "orderId", "o-1", 16.0, 4.0],
        ["orders", "by-customer", "customerId", "cust-42", 1.0, 0.0],
        ["orders", "by-customer-status", "customerId", "cust-42", 9.0, 0.0],
        ["products", "", "sku", "KB-TKL-01", 2.0, 0.5],
        *[["orders", "by-status-shard", "statusShard", f"{status}#3", status_wru, 0.0] for status in statuses],
        ["orders", "by-status-shard", "statusShard", "COMPLETED#3", 1.0, 0.0],
        ["orders", "awaiting-shipment-shard", "statusShard", "AWAITING_SHIPMENT#3", 2.0, 0.0],
    ]


class TestDynamoDBPartitions:
    def test_a_status_shard_takes_its_share_of_the_status_and_the_bare_status_all_of_it(self) -> None:
        path = recorded_path(dynamodb_partitions=partitions())

        sharded = {row["partition"]: row for row in cost.partition_loads(path)}
        unsharded = {row["partition"]: row for row in cost.partition_loads(path, sharded=False)}

        assert sharded["orders/by-status-shard statusShard=VALIDATED#n"]["wru"] == 2.0 / STATUS_SHARDS
        assert unsharded["orders/by-status-shard statusShard=VALIDATED"]["wru"] == 2.0
        assert sharded["orders/by-customer-status customerId=cust-42"]["scope"] == "one shopper"
        assert sharded["products sku=KB-TKL-01"]["wru"] == 2.0

    def test_only_keys_every_order_shares_load_the_partition_quota_and_each_table_counts_whole(self) -> None:
        usage = cost.path_usage(recorded_path(dynamodb_partitions=partitions()))

        assert usage["dynamodb_partition_wru"] == 2.0 / STATUS_SHARDS
        assert usage["dynamodb_table_wru"] == 16.0
        assert usage["dynamodb_table_rru"] == 4.0
        limits = cost.quota_orders_per_s(usage)["large_regions"]
        assert limits["dynamodb_partition_writes"] == 1000 / (2.0 / STATUS_SHARDS)
        assert limits["dynamodb_table_writes"] == 2500

    def test_the_binding_quota_is_a_partition_when_every_order_writes_one_key_hard_enough(self) -> None:
        path = recorded_path(dynamodb_partitions=partitions(status_wru=5.0))

        now = cost.quota_summary(path)
        unsharded = cost.quota_summary(path, sharded=False)

        assert now["binding"]["large_regions"] == "stepfunctions_standard_start_execution"
        assert unsharded["binding"] == {
            "large_regions": "dynamodb_partition_writes",
            "other_regions": "eventbridge_put_events",
        }
        assert unsharded["orders_per_s"]["large_regions"] == 200

    def test_the_summary_shows_the_partitions_before_and_after_sharding(self) -> None:
        summary = cost.summarize({"happy": recorded_path(dynamodb_partitions=partitions())})

        hottest = summary["dynamodb_hottest_shared_partition"]
        assert hottest["orders_per_s_unsharded"] == 500
        assert hottest["orders_per_s"] == 500 * STATUS_SHARDS
        assert summary["aws_quota_binding_unsharded"] == {
            "large_regions": "stepfunctions_standard_start_execution",
            "other_regions": "eventbridge_put_events",
        }
        rows = {row["partition"]: row for row in summary["dynamodb_partitions"]}
        assert rows["products sku=KB-TKL-01"]["orders_per_s"] == 500, "one product's stock item, shown, not binding"
        assert "orders orderId=o-1" not in rows, "an order's own item is no one else's"

    def test_the_status_indexes_have_the_shards_the_design_ceiling_needs(self) -> None:
        """Each status takes a put and a delete per order: 2 units at 1,000 orders/s over half a partition each."""
        path = recorded_path(dynamodb_partitions=partitions())

        assert cost.status_shards_needed(path) == 4
        assert cost.status_shards_needed(path) <= STATUS_SHARDS

    def test_every_partition_key_of_the_service_has_a_scope_in_the_model(self) -> None:
        keys = {spec.partition_key for spec in TABLES} | {
            index.partition_key for spec in TABLES for index in spec.indexes
        }

        assert keys <= set(cost.PARTITION_KEY_SCOPES)

    def test_the_benchmarks_own_reads_are_not_billed_to_any_partition(self) -> None:
        part = PartitionUnits("orders", "", "orderId", "o-1", 1.0, 0.5)
        billed = MeteredRequest("OrderApi", "UpdateItem", "orders", 1.0, 0.0, (part,))
        own = MeteredRequest("Client", "GetItem", "orders", 0.0, 0.5, (part,))

        assert cost.partition_units([billed, own, billed]) == [["orders", "", "orderId", "o-1", 2.0, 1.0]]


class TestTheStackAsTheModelSeesIt:
    """The model mirrors settings it cannot import (the CDK sources start node); these keep the two in step."""

    def test_both_state_machines_log_every_event_without_data(self) -> None:
        constants = (ROOT / "stacks" / "constants.py").read_text()

        assert f"STATE_MACHINE_LOG_LEVEL = sfn.LogLevel.{cost.STATE_MACHINE_LOG_LEVEL}" in constants
        assert f"STATE_MACHINE_LOG_EXECUTION_DATA = {cost.STATE_MACHINE_LOG_EXECUTION_DATA}" in constants

    def test_the_stage_throttle_is_the_one_the_stack_and_the_local_gateway_set(self) -> None:
        assert STAGE_THROTTLE.rate_limit == cost.STAGE_THROTTLE_RPS

    def test_the_access_log_format_has_the_fields_the_stage_turns_on(self) -> None:
        source = (ROOT / "stacks" / "constructs" / "api_construct.py").read_text()
        arguments = re.search(r"json_with_standard_fields\((.*?)\)", source, re.DOTALL).group(1)
        enabled = re.findall(r"(\w+)=True", arguments)
        camel = {name: re.sub(r"_(\w)", lambda match: match.group(1).upper(), name) for name in enabled}

        assert set(json.loads(cost.API_ACCESS_LOG_FORMAT)) == {"requestId", *camel.values()}
        assert "logging_level=apigw.MethodLoggingLevel.INFO" in source

    def test_the_stack_defines_no_sampling_rule_of_its_own(self) -> None:
        sources = "\n".join(path.read_text() for path in (ROOT / "stacks").rglob("*.py"))

        assert "SamplingRule" not in sources


class TestLiveStatus:
    def test_a_million_connection_minutes_and_messages_cost_what_api_gateway_charges(self) -> None:
        usd = cost.live_status_usd(connection_minutes=1_000_000, events=1_000_000, messages_per_event=2)

        assert usd["websocket_connection_minutes"] == pytest.approx(0.25)
        assert usd["websocket_messages"] == pytest.approx(2.00)
        assert usd["push_lambda_requests"] == pytest.approx(0.20)

    def test_each_event_queries_the_owner_and_every_operator_shard(self) -> None:
        usd = cost.live_status_usd(connection_minutes=0, events=1_000_000)

        assert usd["push_dynamodb_queries"] == pytest.approx((1 + OPERATOR_SUBSCRIBER_SHARDS) * 0.5 * 0.125)
