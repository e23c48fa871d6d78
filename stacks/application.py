"""Builds the CDK app the same way for ``app.py``, ``make synth`` and the infrastructure tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App

from stacks import constants
from stacks.nag import add_nag_checks
from stacks.order_stack import OrderServiceStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
PATH_METADATA_ENABLE_CONTEXT = "aws:cdk:enable-path-metadata"
"""The context key the cdk CLI sets to keep construct paths in the template; the Python API does not export it."""


def build_app(outdir: str | None = None, context: Mapping[str, Any] | None = None) -> App:
    """The app with the order stack and the cdk-nag checks, its feature flags read from ``cdk.json``.

    Resources carry their construct path (``aws:cdk:path``) as under the cdk CLI, so a template from
    ``make synth`` reads the same as one from ``cdk synth``.

    The stack is environment-agnostic (account and region are CloudFormation pseudo parameters), so synth needs
    no credentials and makes no AWS lookups.

    Parameters
    ----------
    outdir:
        Where ``app.synth()`` writes the cloud assembly; ``None`` leaves it to ``CDK_OUTDIR`` (set by the cdk
        CLI) or a temporary directory.
    context:
        Context values on top of ``cdk.json``'s, as ``cdk synth -c key=value`` passes them (the cdk CLI's own
        ``-c`` values still arrive through ``CDK_CONTEXT_JSON`` and win).

    Example
    -------
    >>> app = build_app(outdir="cdk.out")
    >>> assembly = app.synth()
    >>> assembly.get_stack_by_name("OrderOrchestration").template["Description"][:5]
    'Order'
    """
    defaults = json.loads(CDK_JSON.read_text())["context"]
    app = App(outdir=outdir, context={**defaults, PATH_METADATA_ENABLE_CONTEXT: True, **(context or {})})
    OrderServiceStack(app, constants.STACK_NAME)
    add_nag_checks(app)
    return app
