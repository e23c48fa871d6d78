"""The Lambda code and the local runtime never import the CDK: they must run without node or CDK installed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_FREE_PACKAGES = ("tasks", "local", "workflows")
CDK_MODULES = {"aws_cdk", "constructs", "cdk_nag", "jsii", "stacks"}


def imported_top_level_modules(source: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("package", CDK_FREE_PACKAGES)
def test_the_package_imports_nothing_from_the_cdk(package):
    sources = sorted((REPO_ROOT / package).rglob("*.py"))

    offenders = {
        source.relative_to(REPO_ROOT).as_posix(): sorted(imported_top_level_modules(source) & CDK_MODULES)
        for source in sources
        if imported_top_level_modules(source) & CDK_MODULES
    }

    assert sources
    assert offenders == {}
