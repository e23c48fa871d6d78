"""Synthesizes the CDK app once per test session and hands the tests its template, nag report and assets.

Synth takes seconds (node starts, cdk-nag walks every resource), so every infrastructure test shares one cloud
assembly per context: the default one, and the storefront (CORS) variants only the tests that need them synthesize.
The test modules import nothing from ``aws_cdk`` at import time: without node they are collected and skipped with
the reason below, instead of failing to import.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NODE_MISSING_REASON = "node is not on PATH: the AWS CDK (jsii) needs node to synthesize the app"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "infra: synthesizes the CDK app once per session (needs node)")


@dataclass(frozen=True)
class CloudAssembly:
    """The synthesized stack: its template, with helpers that find resources by their construct path."""

    outdir: Path
    stack_name: str
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.resources.items() if value["Type"] == resource_type}

    def logical_id(self, path: str) -> str:
        """The logical id of the resource at construct path ``<stack>/<path>``, such as ``Data/Orders/Resource``."""
        full_path = f"{self.stack_name}/{path}"
        matches = [
            key for key, value in self.resources.items() if value.get("Metadata", {}).get("aws:cdk:path") == full_path
        ]
        assert len(matches) == 1, f"expected one resource at {full_path}, found {matches}"
        return matches[0]

    def at(self, path: str) -> dict[str, Any]:
        return self.resources[self.logical_id(path)]

    def function_id(self, name: str) -> str:
        return self.logical_id(f"Functions/{name}/Function/Resource")

    def table_id(self, name: str) -> str:
        return self.logical_id(f"Data/{name}/Resource")

    def state_machine_id(self, name: str = "OrderWorkflow") -> str:
        """The state machine ``name`` of ``workflows.resources.STATE_MACHINES``; by default the parent."""
        return self.logical_id(f"Workflow/{name}/Resource")

    def state_machine_statements(self, name: str) -> list[dict[str, Any]]:
        """The statements of the state machine's role: CDK puts every grant into its default policy."""
        policy = self.at(f"Workflow/{name}/Role/DefaultPolicy/Resource")
        return policy["Properties"]["PolicyDocument"]["Statement"]

    def nag_report(self) -> Path:
        (report,) = self.outdir.glob(f"AwsSolutions-*{self.stack_name}-NagReport.csv")
        return report

    def template_path(self) -> Path:
        return self.outdir / f"{self.stack_name}.template.json"


@pytest.fixture(scope="session")
def node() -> None:
    """Skips a test that imports the CDK when node is missing; importing ``aws_cdk`` would fail instead."""
    if shutil.which("node") is None:
        pytest.skip(NODE_MISSING_REASON)


STOREFRONTS = "https://shop.example.com, https://m.example.com"
"""Two storefront origins, as ``-c corsOrigins=...`` passes them: one comma-separated string."""
STOREFRONT = ["https://shop.example.com"]
"""One storefront origin, as ``cdk.json`` would list it."""


def synthesize(tmp_path_factory: pytest.TempPathFactory, context: dict[str, Any] | None = None) -> CloudAssembly:
    """Synthesize the app as ``make synth`` does, with ``context`` on top of ``cdk.json``'s."""
    from stacks import constants
    from stacks.application import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    build_app(outdir=str(outdir), context=context).synth()
    template = json.loads((outdir / f"{constants.STACK_NAME}.template.json").read_text())
    return CloudAssembly(outdir=outdir, stack_name=constants.STACK_NAME, template=template)


@pytest.fixture(scope="session")
def assembly(node: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudAssembly]:
    """The app as deployed without context: no storefront origins."""
    yield synthesize(tmp_path_factory)


RAISED_ORDER_LIMIT = "1000/100000"
"""``-c shopperOrderLimit=...``, as a stack the integration suite runs against is deployed."""


@pytest.fixture(scope="session")
def storefronts_assembly(node: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudAssembly]:
    """The app deployed for two storefront origins, with a raised order limit: one synth for two contexts."""
    yield synthesize(tmp_path_factory, {"corsOrigins": STOREFRONTS, "shopperOrderLimit": RAISED_ORDER_LIMIT})


@pytest.fixture(scope="session")
def storefront_assembly(node: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudAssembly]:
    """The app deployed for one storefront origin: API Gateway's own error answers can carry it too."""
    yield synthesize(tmp_path_factory, {"corsOrigins": STOREFRONT})


@pytest.fixture(scope="session")
def cdk_template(assembly: CloudAssembly) -> Any:
    """The same template as ``aws_cdk.assertions.Template``, for its matchers."""
    from aws_cdk.assertions import Template

    return Template.from_json(assembly.template)
