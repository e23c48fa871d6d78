"""The functions' dependencies layer holds exactly what uv.lock pins for the ``lambda`` group, for the Lambda platform.

What the layer should hold is computed here from uv.lock on its own (tomllib, walking the group's dependencies with
their extras and markers), not from ``uv export`` as ``make/lambda_layer.py`` does, so a mistake in the build script
cannot hide itself. The layer on disk is the one ``make lambda-layer`` built; a stale or missing one fails here.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
from email.parser import HeaderParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.markers import Marker

from tests.infra.conftest import CloudAssembly
from workflows.resources import ALL_FUNCTIONS

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "uv.lock"
GROUP = "lambda"
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "urllib3"}
"""Written out here: whatever the build script's list says, these come from the Lambda runtime and never the layer."""
RUNTIME_IMPORT_NAMES = {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six.py", "jmespath"}
PUBLIC_POWERTOOLS_ACCOUNT = "017000801446"
CDK_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
"""CDK's architecture name to the machine name in wheel tags and extension file names."""


def load_build_script() -> ModuleType:
    """``make/`` is no package: load the script from its file, as ``make lambda-layer`` runs it."""
    spec = importlib.util.spec_from_file_location("lambda_layer", REPO_ROOT / "make" / "lambda_layer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lambda_environment(python_version: str, machine: str) -> dict[str, str]:
    """The marker environment of the Lambda runtime (CPython on Amazon Linux)."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python_version}.0",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": f"{python_version}.0",
        "python_version": python_version,
        "sys_platform": "linux",
    }


def locked_group_closure(lock: dict[str, Any], group: str, environment: dict[str, str]) -> dict[str, str]:
    """Name to locked version for every package the project's dependency ``group`` needs on ``environment``."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in lock["package"]:
        packages.setdefault(package["name"], []).append(package)
    (project,) = [package for package in lock["package"] if {"editable", "virtual"} & package.get("source", {}).keys()]

    def applies(dependency: dict[str, Any]) -> bool:
        marker = dependency.get("marker")
        return marker is None or Marker(marker).evaluate({**environment, "extra": ""})

    def resolve(dependency: dict[str, Any]) -> dict[str, Any]:
        candidates = packages[dependency["name"]]
        if "version" in dependency:
            candidates = [package for package in candidates if package["version"] == dependency["version"]]
        (package,) = candidates
        return package

    closure: dict[str, str] = {}
    pending = [dependency for dependency in project["dev-dependencies"][group] if applies(dependency)]
    seen: set[tuple[str, str, str]] = set()
    while pending:
        dependency = pending.pop()
        package = resolve(dependency)
        closure[package["name"]] = package["version"]
        for extra in ["", *dependency.get("extra", [])]:
            key = (package["name"], package["version"], extra)
            if key in seen:
                continue
            seen.add(key)
            requirements = (
                package.get("optional-dependencies", {}).get(extra, []) if extra else package.get("dependencies", [])
            )
            pending.extend(requirement for requirement in requirements if applies(requirement))
    return closure


def installed_distributions(site: Path) -> dict[str, str]:
    """Name to version, from each ``*.dist-info/METADATA`` in the layer's ``python/`` directory."""
    distributions = {}
    for metadata in site.glob("*.dist-info/METADATA"):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8"))
        distributions[normalize(headers["Name"])] = headers["Version"]
    return distributions


@pytest.fixture(scope="module")
def build_script() -> ModuleType:
    return load_build_script()


@pytest.fixture(scope="module")
def platform(build_script: ModuleType) -> Any:
    return build_script.read_platform()


@pytest.fixture(scope="module")
def site(platform: Any) -> Path:
    """The layer's ``python/`` directory; missing means the suite ran without ``make lambda-layer``: a failure."""
    site = REPO_ROOT / platform.layer_dir / "python"
    if not site.is_dir():
        pytest.fail(f"{site} is missing: run 'make lambda-layer' (make test does)")
    return site


@pytest.fixture(scope="module")
def expected(build_script: ModuleType, platform: Any) -> dict[str, str]:
    """The group's locked closure on the Lambda platform, less what the runtime provides."""
    lock = tomllib.loads(LOCK.read_text())
    closure = locked_group_closure(lock, GROUP, lambda_environment(platform.python_version, platform.machine))
    runtime = {normalize(name) for name in build_script.RUNTIME_PACKAGES} | RUNTIME_PROVIDED
    return {normalize(name): version for name, version in closure.items() if normalize(name) not in runtime}


def test_the_layer_holds_every_locked_package_of_the_lambda_group_at_its_locked_version_and_nothing_else(
    site, expected
):
    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic", "pydantic-core"} <= expected.keys()
    assert installed_distributions(site) == expected


def test_no_package_the_lambda_runtime_provides_is_in_the_layer(site):
    """A copy in the layer would come first on ``sys.path`` and shadow the runtime's boto3 stack."""
    distributions = installed_distributions(site)
    top_level = {path.name for path in site.iterdir()}

    assert RUNTIME_PROVIDED.isdisjoint(distributions), sorted(RUNTIME_PROVIDED & distributions.keys())
    assert {"python-dateutil", "six", "jmespath"}.isdisjoint(distributions)
    assert RUNTIME_IMPORT_NAMES.isdisjoint(top_level), sorted(RUNTIME_IMPORT_NAMES & top_level)


def stable_abi_fits(tag: str, platform) -> bool:
    """A wheel of CPython's stable ABI (``cp311-abi3-manylinux…``: cryptography's) loads in every later CPython, so
    it fits when built for the runtime's version or an earlier one, on manylinux for the machine."""
    match = re.fullmatch(r"cp3(\d+)-abi3-(manylinux\w+)", tag)
    runtime_minor = int(platform.python_version.split(".")[1])
    return match is not None and int(match[1]) <= runtime_minor and match[2].endswith(f"_{platform.machine}")


def test_compiled_extensions_are_built_for_the_lambda_python_and_architecture(site, platform):
    """pydantic-core (and wrapt, for the X-Ray SDK) are compiled: a wheel for this machine would not load in Lambda.
    cryptography (joserfc's) is built once for CPython's stable ABI: its wheel tag is checked below."""
    tag = f"cpython-{platform.python_version.replace('.', '')}-{platform.machine}-linux-gnu"
    extensions = sorted(path.relative_to(site).as_posix() for path in site.rglob("*.so"))

    assert any(path.startswith("pydantic_core/_pydantic_core.") for path in extensions), extensions
    assert [path for path in extensions if not path.endswith((f".{tag}.so", ".abi3.so"))] == []


def test_every_wheel_tag_fits_the_lambda_platform(site, platform):
    """Each wheel is pure Python, or CPython of the runtime's version (or its stable ABI) on manylinux for its
    machine."""
    python = f"cp{platform.python_version.replace('.', '')}"
    wrong = {}
    for wheel in site.glob("*.dist-info/WHEEL"):
        headers = HeaderParser().parsestr(wheel.read_text(encoding="utf-8"))
        tags = headers.get_all("Tag") or []
        fits = [
            tag
            for tag in tags
            if tag.endswith("-none-any")
            or (tag.startswith(f"{python}-") and "manylinux" in tag and tag.endswith(f"_{platform.machine}"))
            or stable_abi_fits(tag, platform)
        ]
        if not tags or len(fits) != len(tags):
            wrong[wheel.parent.name] = tags

    assert wrong == {}


def test_the_layer_is_installed_from_the_hashed_requirements_uv_exported(site, platform):
    requirements = (REPO_ROOT / platform.layer_dir / "requirements.txt").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", requirements, re.MULTILINE))

    assert {normalize(name): version for name, version in pinned.items()} == installed_distributions(site)
    assert all("--hash=sha256:" in block for block in re.split(r"\n(?=\S)", requirements.strip()) if "==" in block)


def test_the_build_script_reads_the_runtime_and_architecture_the_stack_deploys(node, platform):
    from stacks import constants

    assert constants.LAMBDA_RUNTIME.name == f"python{platform.python_version}"
    assert CDK_MACHINES[constants.LAMBDA_ARCHITECTURE.name] == platform.machine
    assert platform.layer_dir == constants.DEPENDENCIES_LAYER_DIR


def test_the_build_script_refuses_a_runtime_it_cannot_read(build_script, tmp_path):
    constants = tmp_path / "constants.py"
    constants.write_text(
        "LAMBDA_RUNTIME = runtime_from_somewhere()\nLAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64\n"
    )

    with pytest.raises(SystemExit, match="LAMBDA_RUNTIME"):
        build_script.read_platform(constants)


def test_every_function_uses_the_dependencies_layer_and_no_public_layer(assembly: CloudAssembly, platform):
    (layer_id,) = assembly.of_type("AWS::Lambda::LayerVersion")
    layer = assembly.resources[layer_id]["Properties"]
    functions = assembly.of_type("AWS::Lambda::Function")

    assert layer_id == assembly.logical_id("Functions/DependenciesLayer/Resource")
    assert layer["CompatibleRuntimes"] == [f"python{platform.python_version}"]
    assert [CDK_MACHINES[name] for name in layer["CompatibleArchitectures"]] == [platform.machine]
    assert {assembly.function_id(spec.logical_name) for spec in ALL_FUNCTIONS} <= functions.keys()
    assert {key: function["Properties"].get("Layers") for key, function in functions.items()} == {
        key: [{"Ref": layer_id}] for key in functions
    }
    assert PUBLIC_POWERTOOLS_ACCOUNT not in json.dumps(assembly.template)
    assert "AWSLambdaPowertools" not in json.dumps(assembly.template)


def test_the_deployed_layer_asset_is_the_built_python_directory_alone(assembly: CloudAssembly, site):
    """The zip CDK uploads holds ``python/`` only (no requirements or stamp), with the same distributions."""
    layer = assembly.at("Functions/DependenciesLayer/Resource")["Properties"]
    asset = assembly.outdir / f"asset.{layer['Content']['S3Key'].removesuffix('.zip')}"

    assert sorted(path.name for path in asset.iterdir()) == ["python"]
    assert installed_distributions(asset / "python") == installed_distributions(site)
