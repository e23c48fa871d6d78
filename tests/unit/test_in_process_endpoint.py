"""The local stack's own AWS calls skip the socket: a client for a served port works with nothing listening on it."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from local.aws.awslambda.runner import LOCAL_REGION
from local.endpoint.in_process import IN_PROCESS_ENDPOINT
from local.stack import free_port


def dynamodb_at(port: int):
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name=LOCAL_REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@pytest.fixture
def unused_port():
    port = free_port()
    yield port
    IN_PROCESS_ENDPOINT.forget(port)


def test_a_served_port_is_answered_by_moto_in_process_with_nothing_listening(unused_port):
    IN_PROCESS_ENDPOINT.serve(unused_port)
    with mock_aws():
        client = dynamodb_at(unused_port)
        client.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="orders", Item={"orderId": {"S": "o-1"}})

        assert client.get_item(TableName="orders", Key={"orderId": {"S": "o-1"}})["Item"] == {"orderId": {"S": "o-1"}}
        assert boto3.client("dynamodb", region_name=LOCAL_REGION).list_tables()["TableNames"] == ["orders"]


def test_a_port_no_longer_served_goes_over_the_network_again(unused_port):
    IN_PROCESS_ENDPOINT.serve(unused_port)
    IN_PROCESS_ENDPOINT.forget(unused_port)
    client = dynamodb_at(unused_port)

    with pytest.raises(EndpointConnectionError):
        client.list_tables()
