"""AWS-API fault rules: read from ORDERS_AWS_FAULTS or a dict, checked against botocore's models, and answered as AWS
answers, in-process (``mock_aws`` and the stack's own endpoint) and over the HTTP listener."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local.aws.awslambda.runner import LOCAL_REGION
from local.aws.moto import install_time_scale
from local.endpoint.aws_calls_only import AwsCallsOnly
from local.endpoint.aws_faults import (
    ENGINE_ACCESS_KEY_ID,
    UNFAULTED_ACCESS_KEY_ID,
    AwsFaultInjector,
    AwsFaultRuleError,
    AwsFaultsMiddleware,
    parse_aws_fault_rules,
    serve_aws_faults,
)
from local.endpoint.listener import LocalListener, LoopbackGuard
from local.stack import StackSettings
from tools.cli import main as cli

NO_RETRIES = {"mode": "standard", "total_max_attempts": 1}
TABLE = "faulted"


def client(service: str, access_key: str = "local", endpoint_url: str | None = None, **config):
    """A client as a caller of the stack makes one: its own credentials, one attempt (so each fault shows)."""
    return boto3.session.Session(
        region_name=LOCAL_REGION, aws_access_key_id=access_key, aws_secret_access_key="local"
    ).client(service, endpoint_url=endpoint_url, config=Config(retries=NO_RETRIES, **config))


@pytest.fixture
def moto() -> Iterator[None]:
    install_time_scale(1)
    with mock_aws():
        harness = client("dynamodb", UNFAULTED_ACCESS_KEY_ID)
        harness.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            yield
        finally:
            serve_aws_faults(None)


def faults(rules: dict) -> AwsFaultInjector:
    injector = AwsFaultInjector(rules)
    serve_aws_faults(injector)
    return injector


def put(dynamodb, item_id: str) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"id": {"S": item_id}})


def stored(item_id: str) -> bool:
    harness = client("dynamodb", UNFAULTED_ACCESS_KEY_ID)
    return "Item" in harness.get_item(TableName=TABLE, Key={"id": {"S": item_id}}, ConsistentRead=True)


@pytest.mark.parametrize(
    ("service", "operation", "kind", "code", "status"),
    [
        ("dynamodb", "PutItem", "throttling", "ProvisionedThroughputExceededException", 400),
        ("dynamodb", "PutItem", "server-error", "InternalServerError", 500),
        ("dynamodb", "PutItem", "unavailable", "ServiceUnavailable", 503),
        ("dynamodb", "PutItem", "conflict", "TransactionConflictException", 400),
        ("states", "ListStateMachines", "throttling", "ThrottlingException", 400),
        ("states", "ListStateMachines", "server-error", "InternalFailure", 500),
        ("events", "ListEventBuses", "throttling", "ThrottlingException", 400),
        ("events", "ListEventBuses", "server-error", "InternalException", 500),
        ("sqs", "ListQueues", "throttling", "ThrottlingException", 400),
        ("cognito-idp", "ListUserPools", "throttling", "TooManyRequestsException", 400),
    ],
)
def test_a_faulted_call_gets_the_services_own_error_code_and_status_and_does_nothing(
    moto, service, operation, kind, code, status
):
    injector = faults({f"{service}:{operation}": {"kind": kind, "times": 1}})
    caller = client({"states": "stepfunctions"}.get(service, service))
    call = {
        "PutItem": lambda: put(caller, "first"),
        "ListStateMachines": caller.list_state_machines if service == "states" else None,
        "ListEventBuses": caller.list_event_buses if service == "events" else None,
        "ListQueues": caller.list_queues if service == "sqs" else None,
        "ListUserPools": (lambda: caller.list_user_pools(MaxResults=10)) if service == "cognito-idp" else None,
    }[operation]

    with pytest.raises(ClientError) as refused:
        call()
    call()

    assert refused.value.response["Error"]["Code"] == code
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert injector.outcomes(f"{service}:{operation}") == [True, False]
    assert injector.report()[f"{service}:{operation}"] | {"kind": kind} == {
        "calls": 2,
        "faults": 1,
        "kind": kind,
        "error": code,
        "status": status,
    }
    if operation == "PutItem":
        assert stored("first"), "the second call went through"


def test_a_refused_call_never_reached_moto(moto):
    faults({"dynamodb:PutItem": {"kind": "server-error"}})

    with pytest.raises(ClientError):
        put(client("dynamodb"), "refused")

    assert not stored("refused")


def test_the_harness_and_the_engine_are_never_faulted_nor_counted(moto):
    injector = faults({"dynamodb:PutItem": {"kind": "throttling"}})

    put(client("dynamodb", UNFAULTED_ACCESS_KEY_ID), "harness")
    put(client("dynamodb", ENGINE_ACCESS_KEY_ID), "engine")
    with pytest.raises(ClientError):
        put(client("dynamodb", "a-function"), "function")

    assert stored("harness") and stored("engine") and not stored("function")
    assert injector.report()["dynamodb:PutItem"]["calls"] == 1


def test_a_transaction_conflict_names_one_reason_per_item_the_first_a_transaction_conflict(moto):
    faults({"dynamodb:TransactWriteItems": {"kind": "conflict", "times": 1}})
    items = [{"Put": {"TableName": TABLE, "Item": {"id": {"S": name}}}} for name in ("a", "b", "c")]

    with pytest.raises(ClientError) as cancelled:
        client("dynamodb").transact_write_items(TransactItems=items)

    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]] == [
        "TransactionConflict",
        "None",
        "None",
    ]
    assert not stored("a")


def test_a_rate_with_a_seed_fails_the_same_calls_every_time(moto):
    rules = {"dynamodb:PutItem": {"kind": "throttling", "rate": 0.5, "seed": 11}}

    def outcomes() -> list[bool]:
        injector = faults(rules)
        caller = client("dynamodb")
        for index in range(20):
            with contextlib.suppress(ClientError):
                put(caller, f"item-{index}")
        return injector.outcomes("dynamodb:PutItem")

    first, second = outcomes(), outcomes()

    assert first == second
    assert 0 < sum(first) < 20


def test_a_timeout_carries_the_call_out_and_loses_its_answer(moto):
    injector = faults({"dynamodb:PutItem": {"kind": "timeout", "times": 1}})

    with pytest.raises(ReadTimeoutError):
        put(client("dynamodb"), "carried-out")

    assert stored("carried-out"), "the request reached DynamoDB; only its answer was lost"
    assert injector.injected() == {"dynamodb:PutItem": 1}


def test_the_sdk_retries_injected_faults_as_it_retries_aws(moto):
    injector = faults({"dynamodb:PutItem": {"kind": "throttling", "times": 2}})
    retrying = boto3.session.Session(
        region_name=LOCAL_REGION, aws_access_key_id="local", aws_secret_access_key="local"
    ).client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3}))

    put(retrying, "third-attempt")

    assert injector.outcomes("dynamodb:PutItem") == [True, True, False]
    assert stored("third-attempt")


def subscribed_queue() -> str:
    harness_events, harness_sqs = client("events", UNFAULTED_ACCESS_KEY_ID), client("sqs", UNFAULTED_ACCESS_KEY_ID)
    queue_url = harness_sqs.create_queue(QueueName="bus-copy")["QueueUrl"]
    queue_arn = harness_sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    harness_events.put_rule(Name="everything", EventPattern=json.dumps({"source": ["test"]}))
    harness_events.put_targets(Rule="everything", Targets=[{"Id": "queue", "Arn": queue_arn["QueueArn"]}])
    return queue_url


def delivered(queue_url: str) -> list[str]:
    harness_sqs = client("sqs", UNFAULTED_ACCESS_KEY_ID)
    messages = harness_sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    return sorted(json.loads(message["Body"])["detail"]["n"] for message in messages)


def test_a_partial_put_events_refuses_every_second_entry_and_puts_only_the_others_on_the_bus(moto):
    queue_url = subscribed_queue()
    faults({"events:PutEvents": {"kind": "partial", "times": 1}})
    entries = [{"Source": "test", "DetailType": "t", "Detail": json.dumps({"n": str(n)})} for n in range(5)]

    answer = client("events").put_events(Entries=entries)

    assert answer["FailedEntryCount"] == 3
    assert [entry.get("ErrorCode") for entry in answer["Entries"]] == ["ThrottlingException", None] * 2 + [
        "ThrottlingException"
    ]
    assert all("EventId" in entry for entry in answer["Entries"][1::2])
    assert delivered(queue_url) == ["1", "3"], "the refused entries never reached the bus"


def test_a_partial_batch_get_leaves_every_second_key_unprocessed(moto):
    harness = client("dynamodb", UNFAULTED_ACCESS_KEY_ID)
    for name in ("a", "b", "c"):
        put(harness, name)
    faults({"dynamodb:BatchGetItem": {"kind": "partial", "times": 1}})
    keys = [{"id": {"S": name}} for name in ("a", "b", "c")]

    answer = client("dynamodb").batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})

    assert answer["Responses"][TABLE] == [{"id": {"S": "b"}}]
    assert answer["UnprocessedKeys"] == {TABLE: {"Keys": [keys[0], keys[2]], "ConsistentRead": True}}


@pytest.fixture
def listener(moto) -> Iterator[str]:
    """The AWS endpoint's HTTP listener as the local stack serves it."""
    app = LoopbackGuard(AwsCallsOnly(AwsFaultsMiddleware(DomainDispatcherApplication(create_backend_app))))
    served = LocalListener("the AWS endpoint", 0, app, threads=2)
    served.start()
    yield served.url
    served.stop()


def test_outside_clients_meet_the_same_faults_over_http(listener):
    injector = faults({"dynamodb:PutItem": {"kind": "unavailable", "times": 1}})
    outside = client("dynamodb", endpoint_url=listener)

    with pytest.raises(ClientError) as refused:
        put(outside, "over-http")
    put(outside, "over-http")

    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert injector.outcomes("dynamodb:PutItem") == [True, False]
    assert stored("over-http")


def test_a_partial_answer_over_http_delivers_only_the_kept_keys(listener):
    harness = client("dynamodb", UNFAULTED_ACCESS_KEY_ID)
    put(harness, "a")
    put(harness, "b")
    faults({"dynamodb:BatchGetItem": {"kind": "partial"}})
    keys = [{"id": {"S": "a"}}, {"id": {"S": "b"}}]

    answer = client("dynamodb", endpoint_url=listener).batch_get_item(RequestItems={TABLE: {"Keys": keys}})

    assert answer["Responses"][TABLE] == [{"id": {"S": "b"}}]
    assert answer["UnprocessedKeys"][TABLE]["Keys"] == [keys[0]]


def test_a_timeout_over_http_holds_the_answer_back_past_the_clients_read_timeout(listener):
    faults({"dynamodb:PutItem": {"kind": "timeout", "times": 1, "latency_ms": 1500}})
    impatient = client("dynamodb", endpoint_url=listener, read_timeout=0.5)

    with pytest.raises(ReadTimeoutError):
        put(impatient, "slow")

    assert stored("slow")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("{", "ORDERS_AWS_FAULTS is not valid JSON"),
        ("[]", "must be an object of '<service>:<Operation>' to rule"),
        ('{"PutItem": {"kind": "throttling"}}', "name a call as '<service>:<Operation>'"),
        ('{"s3:GetObject": {"kind": "throttling"}}', "serves no service 's3'; the services are cognito-idp, dynamodb"),
        ('{"lambda:Invoke": {"kind": "throttling"}}', "faulted per Task state by ORDERS_FAULTS"),
        ('{"dynamodb:PutItme": {"kind": "throttling"}}', "model has no operation PutItme; did you mean PutItem?"),
        ('{"states:StartExecution": {"kind": "slow"}}', "kind must be one of throttling, conflict, server-error"),
        ('{"states:StartExecution": {"kind": "conflict"}}', "a conflict is DynamoDB's answer to a transaction"),
        ('{"dynamodb:Query": {"kind": "conflict"}}', "a conflict is DynamoDB's answer to a transaction"),
        ('{"states:StartExecution": {"kind": "partial"}}', "partial answers exist for events:PutEvents"),
        (
            '{"states:StartExecution": {"kind": "throttling", "error": "ProvisionedThroughputExceededException"}}',
            "choose ThrottlingException",
        ),
        ('{"dynamodb:PutItem": {"kind": "timeout", "error": "X"}}', "choose none: this kind has no error code"),
        ('{"dynamodb:PutItem": {"kind": "throttling", "times": -1}}', "times must be a whole number >= 0"),
        ('{"dynamodb:PutItem": {"kind": "throttling", "rate": 0.5}}', "rate and seed go together"),
        ('{"dynamodb:PutItem": {"kind": "throttling", "rate": 2, "seed": 1}}', "rate must be a number between 0"),
        ('{"dynamodb:PutItem": {"kind": "throttling", "times": 1, "rate": 0.1, "seed": 1}}', "times or rate"),
        ('{"dynamodb:PutItem": {"kind": "throttling", "retries": 1}}', "unknown keys retries; allowed: kind, error"),
        ('{"dynamodb:PutItem": {"times": 1, "latency_ms": 5}}', "times, rate and error need a kind"),
        ('{"dynamodb:PutItem": {}}', "needs a kind (throttling, conflict"),
    ],
)
def test_bad_rules_are_refused_with_a_message_naming_the_rule(rules, message):
    with pytest.raises(AwsFaultRuleError) as refused:
        parse_aws_fault_rules(rules)

    assert message in str(refused.value)
    assert "\n" not in str(refused.value), "orders up prints it on one line"
    assert isinstance(refused.value, ValueError)


def test_a_service_with_several_codes_for_a_kind_takes_the_one_asked_for():
    rules = parse_aws_fault_rules(
        {
            "dynamodb:UpdateItem": {"kind": "throttling", "error": "ThrottlingException"},
            "events:PutEvents": {"kind": "partial", "error": "InternalFailure"},
            "dynamodb:GetRecords": {"kind": "server-error"},
        }
    )

    assert [(rule.key, rule.error, rule.status) for rule in rules] == [
        ("dynamodb:UpdateItem", "ThrottlingException", 400),
        ("events:PutEvents", "InternalFailure", None),
        ("dynamodb:GetRecords", "InternalServerError", 500),
    ]


def test_the_stack_reads_its_aws_faults_and_where_to_report_them_from_the_environment():
    settings = StackSettings.from_environment(
        {
            "ORDERS_AWS_FAULTS": '{"states:StartExecution": {"kind": "throttling", "times": 3}}',
            "ORDERS_AWS_FAULTS_REPORT": "/tmp/report.json",
        }
    )

    assert settings.aws_faults == parse_aws_fault_rules({"states:StartExecution": {"kind": "throttling", "times": 3}})
    assert settings.aws_faults_report == "/tmp/report.json"
    assert StackSettings.from_environment({}).aws_faults == ()


def test_orders_up_refuses_bad_aws_faults_with_one_line_and_exit_code_2(monkeypatch, capsys):
    monkeypatch.setenv("ORDERS_AWS_FAULTS", '{"dynamodb:PutItem": {"kind": "throttling", "rate": 0.1}}')

    exit_code = cli.main(["up"])

    error = capsys.readouterr().err
    assert exit_code == cli.EXIT_UNREACHABLE == 2
    assert error.count("\n") == 1
    assert error.startswith("orders up: ORDERS_AWS_FAULTS rule 'dynamodb:PutItem': rate and seed go together")
