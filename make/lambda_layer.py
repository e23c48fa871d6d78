"""``make lambda-layer``: build the functions' dependencies layer from uv.lock, for the Lambda runtime and architecture.

The layer holds the ``lambda`` dependency group (Powertools with its parser and tracer extras, pydantic, the X-Ray
SDK) at exactly the versions uv.lock pins, so what runs in Lambda is what the suite tested. boto3 and its
dependencies stay out: the Lambda runtime provides them, and a copy in the layer would shadow the runtime's.

The Python version, the architecture and the output directory are read from ``stacks/constants.py`` without importing
it (it imports ``aws_cdk``, which needs node), so they are defined once, where the stack uses them. Wheels only:
nothing is compiled, and nothing is fetched at synth or deploy time, only here. Only the standard library is used.

Example
-------
    python3 make/lambda_layer.py --uv .tools/bin/uv
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONSTANTS = REPO_ROOT / "stacks" / "constants.py"
GROUP = "lambda"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six", "jmespath")
"""What the Lambda Python runtime already provides, left out as the public Powertools layer leaves it out."""
MANYLINUX = "manylinux_2_28"
"""Lambda's python3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34), so any wheel up to manylinux_2_28 loads."""
MACHINES = {"ARM_64": "aarch64", "X86_64": "x86_64"}
"""CDK's ``lambda_.Architecture`` attribute to the machine name wheels are tagged with."""
STAMP = ".stamp"
REQUIREMENTS = "requirements.txt"
SITE = "python"
"""Lambda puts ``/opt/python`` on ``sys.path``, so the layer's packages live under ``python/``."""


@dataclass(frozen=True)
class LambdaPlatform:
    """The runtime and architecture the layer is built for, as ``stacks/constants.py`` names them."""

    python_version: str
    machine: str
    layer_dir: str

    @property
    def uv_platform(self) -> str:
        return f"{self.machine}-{MANYLINUX}"


def read_platform(constants: Path = CONSTANTS) -> LambdaPlatform:
    """Read ``LAMBDA_RUNTIME``, ``LAMBDA_ARCHITECTURE`` and ``DEPENDENCIES_LAYER_DIR`` from the module's source.

    Parsing instead of importing keeps this script free of ``aws_cdk`` and node; a shape it does not recognise
    fails loudly rather than building for a guessed platform.

    Example
    -------
    >>> platform = read_platform()
    >>> platform.python_version, platform.uv_platform
    ('3.13', 'aarch64-manylinux_2_28')
    """
    assignments = {
        target.id: node.value
        for node in ast.parse(constants.read_text(), filename=str(constants)).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def attribute(name: str, owner: str) -> str:
        value = assignments.get(name)
        if not (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Attribute)):
            raise SystemExit(f"{constants}: expected {name} = lambda_.{owner}.<MEMBER>")
        if value.value.attr != owner:
            raise SystemExit(f"{constants}: expected {name} = lambda_.{owner}.<MEMBER>")
        return value.attr

    runtime = re.fullmatch(r"PYTHON_(\d+)_(\d+)", attribute("LAMBDA_RUNTIME", "Runtime"))
    architecture = attribute("LAMBDA_ARCHITECTURE", "Architecture")
    if runtime is None or architecture not in MACHINES:
        raise SystemExit(f"{constants}: no wheel platform for {runtime} on {architecture}")
    layer_dir = assignments.get("DEPENDENCIES_LAYER_DIR")
    if not (isinstance(layer_dir, ast.Constant) and isinstance(layer_dir.value, str)):
        raise SystemExit(f'{constants}: expected DEPENDENCIES_LAYER_DIR = "<directory>"')
    return LambdaPlatform(f"{runtime[1]}.{runtime[2]}", MACHINES[architecture], layer_dir.value)


def export_requirements(uv: str) -> str:
    """The lambda group's locked versions with their hashes, without the runtime's packages (``--frozen``: the lock
    is read as committed, never re-resolved)."""
    command = [uv, "export", "--frozen", "--only-group", GROUP, "--no-emit-project", "--no-header"]
    for package in RUNTIME_PACKAGES:
        command += ["--no-emit-package", package]
    return subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True, text=True).stdout


def install(uv: str, requirements: Path, site: Path, platform: LambdaPlatform) -> None:
    """Install the pinned wheels for the Lambda platform; ``--no-deps`` because the export is already the closure."""
    command = [
        uv, "pip", "install",
        "--python", sys.executable,  # uv needs an interpreter to run; the target platform comes from the two below
        "--target", str(site),
        "--python-platform", platform.uv_platform,
        "--python-version", platform.python_version,
        "--only-binary", ":all:",
        "--require-hashes",
        "--no-deps",
        "--quiet",
        "-r", str(requirements),
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=REPO_ROOT, check=True)
    for cache in sorted(site.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)


def build(uv: str, force: bool = False) -> Path:
    """Build the layer directory unless the same requirements were already installed there for the same platform."""
    platform = read_platform()
    layer = REPO_ROOT / platform.layer_dir
    site = layer / SITE
    requirements = layer / REQUIREMENTS
    stamp = layer / STAMP
    exported = export_requirements(uv)
    # the stamp covers what decides the layer's bytes: the pinned wheels (by hash) and the platform they are for
    fingerprint = hashlib.sha256(f"{platform}\n{exported}".encode()).hexdigest()
    if not force and site.is_dir() and stamp.is_file() and stamp.read_text().strip() == fingerprint:
        print(f"{layer.relative_to(REPO_ROOT)} is up to date with uv.lock")
        return layer
    layer.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)  # written last, so an interrupted install is redone
    shutil.rmtree(site, ignore_errors=True)  # --target would keep a package the lock no longer lists
    requirements.write_text(exported)
    install(uv, requirements, site, platform)
    stamp.write_text(fingerprint + "\n")
    size = sum(path.stat().st_size for path in site.rglob("*") if path.is_file())
    print(f"{layer.relative_to(REPO_ROOT)}: {size / 1e6:.1f} MB for python{platform.python_version} {platform.machine}")
    return layer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", required=True, help="the uv executable")
    parser.add_argument("--force", action="store_true", help="install again even when the stamp matches")
    arguments = parser.parse_args()
    build(arguments.uv, force=arguments.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
