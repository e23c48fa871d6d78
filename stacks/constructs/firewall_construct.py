"""The web ACL in front of the API's stage: a per-IP rate limit on the public routes, and AWS's common rule set."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from stacks import constants
from workflows.resources import ROUTES, Caller

PUBLIC_ROUTES_RULE = "PublicRoutesPerIp"
COMMON_RULES = "AwsCommonRuleSet"
TOO_MANY_REQUESTS_BODY = "TooManyRequests"
"""The key of the web ACL's custom body for a rate-limited request: the body API Gateway's own throttle answers."""


def public_paths() -> tuple[str, ...]:
    """The paths anyone may call without signing in, from ``workflows.resources.ROUTES``.

    Example
    -------
    >>> public_paths()
    ('/products', '/openapi.json', '/docs')
    """
    return tuple(route.path for route in ROUTES if route.caller is Caller.PUBLIC)


class FirewallConstruct(Construct):
    """A regional web ACL associated with the REST API's stage.

    - ``PublicRoutesPerIp``: each IP address may send ``PUBLIC_ROUTES_PER_IP_LIMIT`` requests to the public routes
      per ``PUBLIC_ROUTES_EVALUATION_WINDOW_SECONDS``; past that its requests to them are answered 429, with the
      body API Gateway's throttle sends. Signed-in routes are not limited per IP: shoppers behind one carrier or
      office NAT share an address, and they are limited per shopper instead (``workflows.resources``).
    - ``AwsCommonRuleSet``: AWS's managed common rule set, which blocks (403) well-known attack patterns in any
      request before API Gateway authorizes it; its 8 KB body limit only counts (the API answers 413 itself).

    Requests no rule matches are allowed. Every rule reports CloudWatch metrics and sampled requests.

    Example
    -------
    >>> FirewallConstruct(stack, "Firewall", stage=api.rest_api.deployment_stage)  # doctest: +SKIP
    """

    def __init__(self, scope: Construct, construct_id: str, *, stage: apigw.Stage) -> None:
        super().__init__(scope, construct_id)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("OrdersApiWebAcl"),
            custom_response_bodies={
                TOO_MANY_REQUESTS_BODY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content='{"message":"Too Many Requests"}'
                )
            },
            rules=[self._public_routes_per_ip(), self._common_rule_set()],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "StageAssociation", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )

    @staticmethod
    def _public_routes_per_ip() -> wafv2.CfnWebACL.RuleProperty:
        """Counted per source IP, on requests whose path ends with a public route (with or without the stage in
        front, as on the execute-api URL or a custom domain)."""
        matches = [
            wafv2.CfnWebACL.StatementProperty(
                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                    positional_constraint="ENDS_WITH",
                    search_string=path,
                    text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
                )
            )
            for path in public_paths()
        ]
        scope_down = (
            matches[0]
            if len(matches) == 1
            else wafv2.CfnWebACL.StatementProperty(or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=matches))
        )
        return wafv2.CfnWebACL.RuleProperty(
            name=PUBLIC_ROUTES_RULE,
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(
                block=wafv2.CfnWebACL.BlockActionProperty(
                    custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                        response_code=429, custom_response_body_key=TOO_MANY_REQUESTS_BODY
                    )
                )
            ),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP",
                    limit=constants.PUBLIC_ROUTES_PER_IP_LIMIT,
                    evaluation_window_sec=constants.PUBLIC_ROUTES_EVALUATION_WINDOW_SECONDS,
                    scope_down_statement=scope_down,
                )
            ),
            visibility_config=_visibility(PUBLIC_ROUTES_RULE),
        )

    @staticmethod
    def _common_rule_set() -> wafv2.CfnWebACL.RuleProperty:
        """The group's own actions apply (``override_action: none``): its rules block what they match, but for its
        8 KB body limit, which only counts: the API answers a body past its own 64 KB limit with 413, as its
        contract says, and a valid order is smaller than 8 KB (about 5.5 KB at its largest in ASCII)."""
        return wafv2.CfnWebACL.RuleProperty(
            name=COMMON_RULES,
            priority=1,
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS",
                    name=constants.COMMON_RULE_SET,
                    rule_action_overrides=[
                        wafv2.CfnWebACL.RuleActionOverrideProperty(
                            name=constants.COMMON_RULE_SET_COUNTED_RULE,
                            action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                        )
                    ],
                )
            ),
            visibility_config=_visibility(COMMON_RULES),
        )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )
