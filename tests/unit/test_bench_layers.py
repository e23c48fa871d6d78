"""The benchmark's per-layer split of a py-spy sample, and the suite timings it reads from pytest's JUnit report."""

from __future__ import annotations

import pytest

from bench.inprocess import layer_of, layer_shares
from bench.suite import junit_times

STUBBER = "process_request (moto/core/botocore_stubber.py:80)"


@pytest.mark.parametrize(
    ("frames", "layer"),
    [
        (
            [
                "run (local/testkit/fixtures.py:1)",
                "_make_api_call (botocore/client.py:1)",
                STUBBER,
                "get (moto/dynamodb/x.py:1)",
            ],
            "moto dynamodb",
        ),
        (
            ["t (threading.py:1)", STUBBER, "put_events (moto/events/models.py:1)", "parse (jsonpath_ng/parser.py:1)"],
            "moto events",
        ),
        (
            ["t (threading.py:1)", STUBBER, "x (moto/dynamodb/r.py:1)", "get_value (moto/core/serialize.py:359)"],
            "moto response serializer",
        ),
        (["t (threading.py:1)", STUBBER, "dispatch (moto/core/responses.py:1)"], "moto, other services"),
        (
            [
                "run (local/testkit/fixtures.py:1)",
                "_make_api_call (botocore/client.py:1)",
                "serialize (botocore/x.py:1)",
            ],
            "botocore, client side",
        ),
        (["t (threading.py:1)", "eval (moto/stepfunctions/parser/asl/component/x.py:1)"], "engine evaluation"),
        (
            ["invoke (local/aws/awslambda/runner.py:1)", "handler (tasks/handlers/api.py:1)", "v (pydantic/main.py:1)"],
            "our handlers (pydantic, Powertools)",
        ),
        (
            ["t (threading.py:1)", "_run (local/aws/dynamodbstreams/event_source_mapping.py:1)"],
            "local runtime (runner, poller, harness)",
        ),
        (["t (threading.py:1)"], "other"),
    ],
)
def test_each_sample_lands_in_the_layer_it_spends_its_time_in(frames, layer):
    assert layer_of(frames) == layer


def test_shares_add_up_over_the_layers_seen():
    raw = f"a (local/testkit/fixtures.py:1);{STUBBER};g (moto/dynamodb/t.py:1) 3\nb (tasks/handlers/api.py:1) 1\n"

    assert layer_shares(raw) == {"moto dynamodb": 0.75, "our handlers (pydantic, Powertools)": 0.25}


def test_a_tests_time_is_read_with_its_setup_and_teardown():
    report = (
        '<testsuites><testsuite><testcase classname="tests.workflow.test_a" name="one" time="0.125"/>'
        '<testcase classname="tests.unit.test_b" name="two[x]" time="0.002"/></testsuite></testsuites>'
    )

    assert junit_times(report) == {"tests.workflow.test_a::one": 0.125, "tests.unit.test_b::two[x]": 0.002}
