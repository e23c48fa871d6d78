"""Fault rules: read from ORDERS_FAULTS or a dict, checked against the ASL, applied before the handler."""

from __future__ import annotations

import time

import pytest

from local.stack import StackSettings
from local.testkit.faults import (
    FaultInjector,
    FaultRuleError,
    InjectedFatalError,
    InjectedTransientError,
    lambda_task_states,
    parse_fault_rules,
)
from tasks.errors import InventoryTransientError
from tools.cli import main as cli
from workflows.resources import CAPTURE_PAYMENT, RESERVE_INVENTORY, WORKFLOW_FUNCTIONS

TRANSIENT_ERRORS = {
    "ValidateOrder": "StorageTransientError",
    "AuthorizePayment": "PaymentProviderTransientError",
    "ReserveInventory": "InventoryTransientError",
    "RequestShipment": "StorageTransientError",
    "CapturePayment": "PaymentProviderTransientError",
    "VoidOrRefundPayment": "InjectedTransientError",
    "ReleaseInventory": "InjectedTransientError",
    "RecordFailure": "StorageTransientError",
}
RETRY_EVERYTHING = {"VoidOrRefundPayment", "ReleaseInventory"}


def fails(injector: FaultInjector, spec=RESERVE_INVENTORY) -> bool:
    try:
        injector(spec, {})
    except Exception:
        return True
    return False


def test_every_workflow_function_is_invoked_by_a_task_state_of_the_same_name():
    states = lambda_task_states()

    assert {name: state.function for name, state in states.items()} == {
        spec.logical_name: spec.logical_name for spec in WORKFLOW_FUNCTIONS
    }


def test_a_transient_fault_raises_an_error_the_state_retries():
    injector = FaultInjector({task: {"kind": "transient"} for task in TRANSIENT_ERRORS})
    states = lambda_task_states()

    assert injector.error_names == TRANSIENT_ERRORS
    for task, error in TRANSIENT_ERRORS.items():
        assert states[task].retries(error)


@pytest.mark.parametrize("task", sorted(TRANSIENT_ERRORS))
def test_a_fatal_fault_is_retried_only_where_the_state_retries_every_error(task):
    injector = FaultInjector({task: {"kind": "fatal"}})

    assert injector.error_names == {task: "InjectedFatalError"}
    assert lambda_task_states()[task].retries("InjectedFatalError") == (task in RETRY_EVERYTHING)


def test_faults_raise_classes_named_as_lambda_reports_them():
    with pytest.raises(InventoryTransientError, match="injected transient fault on ReserveInventory, invocation 1"):
        FaultInjector({"ReserveInventory": {"kind": "transient"}})(RESERVE_INVENTORY, {})
    with pytest.raises(InjectedFatalError):
        FaultInjector({"CapturePayment": {"kind": "fatal"}})(CAPTURE_PAYMENT, {})
    assert InjectedTransientError.__name__ == "InjectedTransientError"


def test_times_fails_only_the_first_invocations_of_its_task():
    injector = FaultInjector({"ReserveInventory": {"kind": "transient", "times": 2}})

    assert [fails(injector) for _ in range(4)] == [True, True, False, False]
    assert not fails(injector, CAPTURE_PAYMENT), "other tasks are untouched"
    assert injector.outcomes("ReserveInventory") == [True, True, False, False]
    assert injector.outcomes("CapturePayment") == []


def test_a_rule_without_times_or_rate_fails_every_invocation():
    injector = FaultInjector({"ReserveInventory": {"kind": "fatal"}})

    assert all(fails(injector) for _ in range(10))


def test_the_same_seed_gives_the_same_failures():
    rules = {"ReserveInventory": {"kind": "transient", "rate": 0.3, "seed": 7}}

    injector = FaultInjector(rules)
    first = [fails(injector) for _ in range(50)]
    injector = FaultInjector(rules)
    second = [fails(injector) for _ in range(50)]
    other_seed = FaultInjector({"ReserveInventory": {"kind": "transient", "rate": 0.3, "seed": 8}})

    assert first == second
    assert 5 < sum(first) < 25
    assert [fails(other_seed) for _ in range(50)] != first


@pytest.mark.parametrize(("rate", "expected"), [(0, False), (1, True)])
def test_rate_zero_never_fails_and_rate_one_always_fails(rate, expected):
    injector = FaultInjector({"ReserveInventory": {"kind": "fatal", "rate": rate, "seed": 1}})

    assert [fails(injector) for _ in range(5)] == [expected] * 5


def test_latency_delays_the_invocation_even_without_a_fault():
    injector = FaultInjector({"ReserveInventory": {"latency_ms": 50}})
    started = time.monotonic()

    assert not fails(injector)
    assert time.monotonic() - started >= 0.05


def test_rules_read_from_json_and_from_a_dict_agree():
    as_json = (
        '{"ReserveInventory": {"kind": "transient", "times": 2}, '
        '"CapturePayment": {"kind": "fatal", "rate": 0.1, "seed": 7}}'
    )
    as_dict = {
        "ReserveInventory": {"kind": "transient", "times": 2},
        "CapturePayment": {"kind": "fatal", "rate": 0.1, "seed": 7},
    }

    assert parse_fault_rules(as_json) == parse_fault_rules(as_dict)
    assert [rule.task for rule in parse_fault_rules(as_json)] == ["ReserveInventory", "CapturePayment"]


@pytest.mark.parametrize("empty", [None, "", "  ", "{}"])
def test_no_rules(empty):
    assert parse_fault_rules(empty) == ()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("{not json", "ORDERS_FAULTS is not valid JSON"),
        ("[1, 2]", "ORDERS_FAULTS must be an object of task name to rule, got list"),
        ('{"Reserve": {"kind": "fatal"}}', "ORDERS_FAULTS rule 'Reserve': no Lambda Task state of that name"),
        ('{"RecordFailureDirectly": {"kind": "fatal"}}', "rule 'RecordFailureDirectly': no Lambda Task state"),
        ('{"OrderApi": {"kind": "fatal"}}', "rule 'OrderApi': no Lambda Task state"),
        ('{"ReserveInventory": "fatal"}', "rule 'ReserveInventory': must be an object"),
        ('{"ReserveInventory": {"kind": "flaky"}}', "rule 'ReserveInventory': kind must be one of transient, fatal"),
        ('{"ReserveInventory": {"kind": "fatal", "times": -1}}', "times must be a whole number >= 0, got -1"),
        ('{"ReserveInventory": {"kind": "fatal", "times": 1.5}}', "times must be a whole number >= 0, got 1.5"),
        ('{"ReserveInventory": {"kind": "fatal", "times": true}}', "times must be a whole number >= 0, got True"),
        ('{"ReserveInventory": {"kind": "fatal", "rate": 1.5, "seed": 1}}', "rate must be a number between 0 and 1"),
        ('{"ReserveInventory": {"kind": "fatal", "rate": -0.1, "seed": 1}}', "rate must be a number between 0 and 1"),
        ('{"ReserveInventory": {"kind": "fatal", "rate": 0.5}}', "rate and seed go together"),
        ('{"ReserveInventory": {"kind": "fatal", "seed": 3}}', "rate and seed go together"),
        ('{"ReserveInventory": {"kind": "fatal", "rate": 0.5, "seed": "x"}}', "seed must be a whole number"),
        ('{"ReserveInventory": {"kind": "fatal", "times": 1, "rate": 0.5, "seed": 1}}', "times or rate, not both"),
        ('{"ReserveInventory": {"kind": "fatal", "retries": 1}}', "unknown keys retries; allowed: kind, times"),
        ('{"ReserveInventory": {"kind": "fatal", "latency_ms": -5}}', "latency_ms must be a number >= 0"),
        ('{"ReserveInventory": {"times": 1, "latency_ms": 5}}', "times and rate need a kind"),
        ('{"ReserveInventory": {}}', "needs a kind (transient or fatal) or a latency_ms"),
    ],
)
def test_bad_rules_are_refused_with_a_message_naming_the_rule(rules, message):
    with pytest.raises(FaultRuleError) as refused:
        parse_fault_rules(rules)

    assert message in str(refused.value)
    assert "\n" not in str(refused.value), "orders up prints it on one line"
    assert isinstance(refused.value, ValueError)


def test_an_unknown_task_error_lists_the_tasks_there_are():
    with pytest.raises(FaultRuleError) as refused:
        parse_fault_rules({"Capture": {"kind": "fatal"}}, source="faults")

    assert str(refused.value).startswith("faults rule 'Capture'")
    assert "AuthorizePayment, CapturePayment, RecordFailure" in str(refused.value)


def test_the_stack_reads_its_faults_from_orders_faults():
    settings = StackSettings.from_environment({"ORDERS_FAULTS": '{"CapturePayment": {"kind": "fatal", "times": 1}}'})

    assert settings.faults == parse_fault_rules({"CapturePayment": {"kind": "fatal", "times": 1}})
    assert StackSettings.from_environment({}).faults == ()


def test_orders_up_refuses_bad_faults_with_one_line_and_exit_code_2(monkeypatch, capsys):
    monkeypatch.setenv("ORDERS_FAULTS", '{"ReserveInventory": {"kind": "transient", "times": -2}}')

    exit_code = cli.main(["up"])

    error = capsys.readouterr().err
    assert exit_code == cli.EXIT_UNREACHABLE == 2
    assert error.count("\n") == 1
    assert error.startswith("orders up: ORDERS_FAULTS rule 'ReserveInventory': times must be a whole number")
