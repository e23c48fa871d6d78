"""cdk-nag and cfn-lint accept the synthesized template; every accepted finding says why."""

from __future__ import annotations

import csv

import pytest

pytestmark = pytest.mark.infra

IGNORED_CFN_LINT_RULES = {
    "W3005": "CDK adds an explicit DependsOn on a function's role next to the GetAtt of its ARN, so the role's "
    "default policy exists before the function; the duplicate dependency is harmless.",
}


@pytest.mark.parametrize("variant", ["assembly", "storefronts_assembly", "storefront_assembly"])
def test_the_nag_report_has_no_unsuppressed_finding_and_every_suppression_gives_a_reason(request, variant):
    assembly = request.getfixturevalue(variant)
    with assembly.nag_report().open(newline="") as report:
        rows = list(csv.DictReader(report))

    non_compliant = [row for row in rows if row["Compliance"] == "Non-Compliant"]
    suppressed = [row for row in rows if row["Compliance"] == "Suppressed"]

    assert rows, "the AwsSolutions pack checked nothing"
    assert non_compliant == []
    assert all(len(row["Exception Reason"]) >= 40 for row in suppressed), suppressed


def test_cfn_lint_finds_nothing(assembly):
    from cfnlint.api import lint_file

    matches = lint_file(assembly.template_path())

    assert [str(match) for match in matches if match.rule.id not in IGNORED_CFN_LINT_RULES] == []
