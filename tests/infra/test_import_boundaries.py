"""Imports run one way: the Lambda code and the CDK app never import the local runtime, the runtime never imports a
tool, an AWS service's emulation imports only other services', nothing imports itself back, nothing below the CDK
imports it, and docs/architecture.md draws the packages and arrows the code has."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_FREE_PACKAGES = ("tasks", "local", "tools", "workflows")
CDK_MODULES = {"aws_cdk", "constructs", "cdk_nag", "jsii", "stacks"}
RUNTIME_FREE_PACKAGES = ("tasks", "stacks", "workflows")
ARCHITECTURE = REPO_ROOT / "docs" / "architecture.md"
CONTAINER_PACKAGES = ("local", "tools", "local.aws")
"""Packages that only hold others: no room of their own in the picture."""


def imported_top_level_modules(source: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(source)}


def imported_modules(source: Path) -> set[str]:
    """Every absolute import: ``package.module``, and ``package.module.name`` for ``from package.module import x``."""
    modules = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def module_name(source: Path) -> str:
    parts = list(source.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def runtime_and_tools() -> dict[str, set[str]]:
    """Each module under local/ and tools/, and the modules of local/ and tools/ it imports."""
    sources = {
        module_name(source): source for root in ("local", "tools") for source in (REPO_ROOT / root).rglob("*.py")
    }
    return {
        name: {imported for imported in imported_modules(source) if imported in sources}
        for name, source in sources.items()
    }


def room(module: str) -> str:
    """The package a module belongs to in the architecture picture: ``local/aws/<service>``, else two levels."""
    parts = module.split(".")
    return "/".join(parts[:3] if parts[:2] == ["local", "aws"] else parts[:2])


def offenders(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for package in packages:
        for source in sorted((REPO_ROOT / package).rglob("*.py")):
            bad = sorted(module for module in imported_modules(source) if module.split(".")[0] in forbidden)
            if bad:
                found[source.relative_to(REPO_ROOT).as_posix()] = bad
    return found


@pytest.mark.parametrize("package", CDK_FREE_PACKAGES)
def test_the_package_imports_nothing_from_the_cdk(package):
    sources = sorted((REPO_ROOT / package).rglob("*.py"))

    found = {
        source.relative_to(REPO_ROOT).as_posix(): sorted(imported_top_level_modules(source) & CDK_MODULES)
        for source in sources
        if imported_top_level_modules(source) & CDK_MODULES
    }

    assert sources
    assert found == {}


def test_the_lambda_code_the_cdk_app_and_the_workflows_import_neither_the_runtime_nor_a_tool():
    assert offenders(RUNTIME_FREE_PACKAGES, ("local", "tools")) == {}


def test_the_runtime_imports_no_tool():
    assert offenders(("local",), ("tools",)) == {}


def test_an_aws_service_emulation_imports_only_other_services():
    outside = {
        module: sorted(imported for imported in imports if not imported.startswith("local.aws."))
        for module, imports in runtime_and_tools().items()
        if module.startswith("local.aws.")
    }

    assert {module: imports for module, imports in outside.items() if imports} == {}


def test_no_module_imports_itself_back_through_another():
    graph = runtime_and_tools()
    state: dict[str, str] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])

    assert cycles == []


def drawn_architecture() -> tuple[set[str], set[tuple[str, str]]]:
    """The rooms (node labels) and arrows of the Mermaid graph in docs/architecture.md."""
    (diagram,) = re.findall(r"```mermaid\n(.*?)```", ARCHITECTURE.read_text(), flags=re.DOTALL)
    labels = dict(re.findall(r'^\s*(\w+)\["([^"]+)"\]', diagram, flags=re.MULTILINE))
    arrows = {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\w+) --> (\w+)", diagram, flags=re.MULTILINE)}
    return set(labels.values()), arrows


def rooms_and_arrows() -> tuple[set[str], set[tuple[str, str]]]:
    """The rooms of the code, and an arrow wherever a module of one imports a module of another (inside functions
    too: a deferred import is still a dependency)."""
    rooms: set[str] = set()
    arrows: set[tuple[str, str]] = set()
    for module, imports in runtime_and_tools().items():
        if module in CONTAINER_PACKAGES:
            continue
        rooms.add(room(module))
        arrows |= {
            (room(module), room(imported))
            for imported in imports
            if imported not in CONTAINER_PACKAGES and room(imported) != room(module)
        }
    return rooms, arrows


def test_no_room_depends_on_itself_through_another():
    _, arrows = rooms_and_arrows()
    reaches = {source: {target for start, target in arrows if start == source} for source, _ in arrows}
    changed = True
    while changed:
        changed = False
        for targets in reaches.values():
            further = set().union(*(reaches.get(target, set()) for target in targets)) - targets
            if further:
                targets |= further
                changed = True

    assert sorted(source for source, targets in reaches.items() if source in targets) == []


def test_the_architecture_picture_draws_the_rooms_and_arrows_the_code_has():
    rooms, arrows = rooms_and_arrows()
    drawn_rooms, drawn_arrows = drawn_architecture()

    assert drawn_rooms == rooms
    assert drawn_arrows == arrows
