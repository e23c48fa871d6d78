"""The customer's e-mail beside the sub: looked up in the user pool by sub, cached per sub, never failing the page.

The pool is moto's Cognito, in process with the order stack (``order_stack``); a client whose calls fail stands in
for a console without cognito-idp:ListUsers.
"""

from __future__ import annotations

import argparse
import base64
import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.aws.awslambda.runner import LOCAL_REGION
from local.testkit.fixtures import sample_order
from tests.console.support import FakeOperator
from tools.console import customers as customers_module
from tools.console.api_caller import OrderApiCaller
from tools.console.customers import CustomerEmails, pool_of_token, region_of_pool
from tools.console.server import add_console_arguments, console_from_arguments
from tools.console.service import ConsoleService


class Counting:
    """A cognito-idp client that counts its ListUsers calls and answers them with ``answer``: an error to raise, an
    answer to give, or a client to ask."""

    def __init__(self, answer: Any):
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def list_users(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer if isinstance(self.answer, dict) else self.answer.list_users(**request)


def users(*emails: str) -> dict[str, Any]:
    return {"Users": [{"Attributes": [{"Name": "email", "Value": email}]} for email in emails]}


def refused(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "ListUsers")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pool(order_stack) -> tuple[Any, str, dict[str, str]]:
    """A pool of moto's Cognito with two users: (client, pool id, sub → e-mail)."""
    cognito = boto3.client("cognito-idp", region_name=LOCAL_REGION)
    pool_id = cognito.create_user_pool(PoolName=f"shoppers-{uuid.uuid4().hex[:8]}", UsernameAttributes=["email"])[
        "UserPool"
    ]["Id"]
    emails = {}
    for email in ("ada@example.com", "grace@example.com"):
        user = cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}],
            MessageAction="SUPPRESS",
        )["User"]
        sub = next(attribute["Value"] for attribute in user["Attributes"] if attribute["Name"] == "sub")
        emails[sub] = email
    return cognito, pool_id, emails


@pytest.mark.workflow
def test_each_sub_is_looked_up_once_by_a_sub_filter(pool):
    cognito, pool_id, emails = pool
    client = Counting(cognito)
    customers = CustomerEmails(client, pool_id)
    subs = list(emails)

    assert customers.emails([*subs, subs[0]]) == emails
    assert customers.emails(subs) == emails

    assert [call["Filter"] for call in client.calls] == [f'sub = "{sub}"' for sub in subs], "one call per sub"
    assert {call["UserPoolId"] for call in client.calls} == {pool_id}


@pytest.mark.workflow
def test_a_sub_the_pool_does_not_know_has_no_email_and_is_remembered(pool):
    cognito, pool_id, _ = pool
    client = Counting(cognito)
    customers = CustomerEmails(client, pool_id)
    unknown = str(uuid.uuid4())

    assert customers.email(unknown) is None
    assert customers.email(unknown) is None
    assert len(client.calls) == 1


def test_a_failed_lookup_gives_no_email_and_is_tried_again_only_later(caplog):
    client, clock = Counting(refused("AccessDeniedException")), Clock()
    customers = CustomerEmails(client, "eu-west-1_AbC123", clock=clock)
    sub, other = str(uuid.uuid4()), str(uuid.uuid4())

    assert customers.emails([sub]) == {}
    assert customers.email(sub) is None
    assert len(client.calls) == 1, "not asked again on the next refresh of the list"
    assert customers.email(other) is None
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and "AccessDeniedException" in warnings[0].getMessage(), "said once, with why"

    clock.now += customers_module.FAILED_SECONDS + 1
    client.answer = users("ada@example.com")
    assert customers.email(sub) == "ada@example.com"
    assert len(client.calls) == 3


def test_an_answer_is_kept_for_a_while_then_asked_again():
    client, clock = Counting(users("a@example.com")), Clock()
    customers = CustomerEmails(client, "eu-west-1_AbC123", clock=clock)

    assert [customers.email("1234-abcd") for _ in range(3)] == ["a@example.com"] * 3
    clock.now += customers_module.KNOWN_SECONDS + 1
    assert customers.email("1234-abcd") == "a@example.com"
    assert len(client.calls) == 2


@pytest.mark.parametrize("customer", ['x" or sub ^= "', "ada@example.com", "", "a" * 129, None])
def test_what_cannot_be_a_sub_is_never_put_in_a_filter(customer):
    client = Counting(refused("InvalidParameterException"))

    assert CustomerEmails(client, "eu-west-1_AbC123").email(customer) is None
    assert client.calls == []


def test_a_pool_that_is_gone_is_found_again():
    found = iter(["us-east-1_old", "us-east-1_new"])
    client = Counting(refused("ResourceNotFoundException"))
    customers = CustomerEmails(client, lambda: next(found), clock=Clock())

    assert customers.email("s-1") is None
    assert customers.email("s-2") is None

    assert [call["UserPoolId"] for call in client.calls] == ["us-east-1_old", "us-east-1_new"]


def token(claims: dict[str, Any]) -> str:
    return "e30." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + ".sig"


@pytest.mark.parametrize(
    ("id_token", "pool_id"),
    [
        (token({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"}), "eu-west-1_AbC123"),
        (token({"iss": "https://evil.example.com/eu-west-1_AbC123"}), None),
        (token({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/../x"}), None),
        (token({}), None),
        ("not.a-token", None),
        (None, None),
    ],
)
def test_the_pool_that_issued_a_token(id_token, pool_id):
    assert pool_of_token(id_token) == pool_id


def test_the_deployed_console_asks_the_pool_it_is_given_or_the_one_that_issued_its_token(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    parser = argparse.ArgumentParser()
    add_console_arguments(parser)
    parser.add_argument("--api-url", default="http://127.0.0.1:9")
    parser.add_argument("--token")
    aws = ["--aws", "--orders-table", "t", "--state-machine-arn", "arn:aws:states:eu-west-1:1:stateMachine:w"]

    given = console_from_arguments(parser.parse_args([*aws, "--user-pool-id", "eu-west-1_Given1"]))
    issued = console_from_arguments(
        parser.parse_args(
            [*aws, "--token", token({"iss": "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Tok"})]
        )
    )
    neither = console_from_arguments(parser.parse_args(aws))

    assert given.service.customers.find_pool() == "eu-west-1_Given1"
    assert given.service.customers.cognito.meta.region_name == region_of_pool("eu-west-1_Given1") == "eu-west-1"
    assert issued.service.customers.find_pool() == "eu-west-2_Tok"
    assert issued.service.customers.cognito.meta.region_name == "eu-west-2", "the pool's own region"
    assert neither.service.customers is None, "no pool to ask: the sub alone"


def service_with(order_stack, customers: CustomerEmails) -> ConsoleService:
    return ConsoleService(
        order_stack.stepfunctions,
        order_stack.dynamodb,
        order_stack.deployment.table_names["Orders"],
        order_stack.deployment.state_machine_arn,
        OrderApiCaller("http://127.0.0.1:9", FakeOperator()),
        customers=customers,
    )


@pytest.mark.workflow
def test_the_list_and_the_detail_show_each_customers_email_beside_the_sub(order_stack, pool):
    cognito, pool_id, emails = pool
    ada, grace = emails
    placed = {order_stack.submit(sample_order(), customer_id=sub)[0]: sub for sub in (ada, grace)}
    unknown, _ = order_stack.submit(sample_order())
    service = service_with(order_stack, CustomerEmails(cognito, pool_id))
    try:
        rows = {row["name"]: row for row in service.executions(page_size=10)["executions"]}
        detail = service.execution(next(iter(placed)))
    finally:
        service.close()

    for order_id, sub in placed.items():
        assert (rows[order_id]["customerId"], rows[order_id]["customerEmail"]) == (sub, emails[sub])
    assert (rows[unknown]["customerId"], rows[unknown]["customerEmail"]) == ("cust-42", None), "the sub alone"
    assert detail["customerEmail"] == emails[ada]


@pytest.mark.workflow
def test_a_pool_the_console_may_not_read_leaves_the_list_as_it_was(order_stack):
    order_id, _ = order_stack.submit(sample_order(), customer_id=str(uuid.uuid4()))
    service = service_with(order_stack, CustomerEmails(Counting(refused("AccessDeniedException")), "us-east-1_X"))
    try:
        rows = {row["name"]: row for row in service.executions(page_size=10)["executions"]}
        detail = service.execution(order_id)
    finally:
        service.close()

    assert rows[order_id]["customerEmail"] is None and rows[order_id]["customerId"]
    assert detail["customerEmail"] is None and detail["order"]["customerId"] == rows[order_id]["customerId"]
