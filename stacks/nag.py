"""cdk-nag wiring: the AwsSolutions checks on every synth, and one way to write a reasoned suppression."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Aspects, IAspect
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

RULE_PACK = "AwsSolutions"


def add_nag_checks(scope: IConstruct) -> None:
    """Run the AwsSolutions rule pack over everything under ``scope`` when it synthesizes.

    The pack writes ``AwsSolutions-<stack>-NagReport.csv`` next to the template and turns each finding into an
    error or warning annotation on the resource.

    Example
    -------
    >>> from aws_cdk import App
    >>> app = App()
    >>> add_nag_checks(app)
    """
    checks: IAspect = AwsSolutionsChecks(verbose=True, reports=True)
    Aspects.of(scope).add(checks)


def suppress(construct: IConstruct, rule: str, reason: str, applies_to: Sequence[str | RegexAppliesTo] = ()) -> None:
    """Accept one AwsSolutions finding on ``construct`` and its children, saying why next to the resource.

    Parameters
    ----------
    construct:
        The resource (or the construct that owns it, such as a function's role and its default policy).
    rule:
        The rule's suffix, such as ``"IAM5"``.
    reason:
        Why the finding is acceptable here; it is written into the nag report.
    applies_to:
        For rules with findings (IAM4, IAM5), exactly which ones: ``"Resource::*"`` or a ``RegexAppliesTo``.
        Empty accepts every finding of the rule on the construct.

    Example
    -------
    >>> from aws_cdk import App, Stack, aws_iam as iam
    >>> role = iam.Role(Stack(App(), "Example"), "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    >>> suppress(role, "IAM5", "X-Ray has no resource-level permissions", applies_to=["Resource::*"])
    """
    suppression = NagPackSuppression(id=f"{RULE_PACK}-{rule}", reason=reason, applies_to=list(applies_to) or None)
    NagSuppressions.add_resource_suppressions(construct, [suppression], apply_to_children=True)


def arn_with_suffix(suffix: str) -> RegexAppliesTo:
    """An IAM5 finding on any resource ARN that ends with ``suffix``, such as ``:*`` (a function's versions).

    Example
    -------
    >>> arn_with_suffix(":*").regex
    '/^Resource::<.+\\\\.Arn>:\\\\*$/'
    """
    return RegexAppliesTo(regex=f"/^Resource::<.+\\.Arn>{re.escape(suffix)}$/")
