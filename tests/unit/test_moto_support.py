"""The moto version gate: the locked moto passes; any other stops ``orders up``, pytest and the bench with one line.

The end-to-end cases put a fake ``moto-X.dist-info`` first on ``PYTHONPATH``, which is what
``importlib.metadata`` finds first: the same as installing that release into the venv, without touching the venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.aws.moto import versions as moto_support
from local.aws.moto.versions import SUPPORTED_MOTO_VERSIONS, UnsupportedMotoError, require_supported_moto

REPO = Path(__file__).resolve().parents[2]


def test_the_installed_moto_is_the_supported_one():
    require_supported_moto()


@pytest.mark.parametrize("installed", ["5.2.5", "9.9.9"])
def test_another_moto_is_refused_with_the_versions_and_the_command(monkeypatch, installed):
    monkeypatch.setattr(moto_support, "installed_moto_version", lambda: installed)

    with pytest.raises(UnsupportedMotoError) as refused:
        require_supported_moto()

    message = str(refused.value)
    assert f"moto {installed} is installed" in message and "\n" not in message
    assert all(supported in message for supported in SUPPORTED_MOTO_VERSIONS)
    assert "`make install`" in message


def test_a_missing_moto_is_refused(monkeypatch):
    monkeypatch.setattr(moto_support, "installed_moto_version", lambda: None)

    with pytest.raises(UnsupportedMotoError, match="moto is not installed"):
        require_supported_moto()


@pytest.fixture
def fake_moto(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``importlib.metadata`` reports moto 9.9.9."""
    dist_info = tmp_path / "moto-9.9.9.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: moto\nVersion: 9.9.9\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}


@pytest.mark.parametrize(
    ("command", "exit_code"),
    [
        (["-m", "tools.cli.main", "up", "--api-port", "0"], 64),
        (["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_order_models.py"], 4),
        (["-m", "bench"], 1),
    ],
    ids=["orders up", "pytest", "make bench"],
)
def test_an_unsupported_moto_stops_each_entry_point_with_one_line(fake_moto, command, exit_code):
    finished = subprocess.run(
        [sys.executable, *command], cwd=REPO, env=fake_moto, capture_output=True, text=True, timeout=60, check=False
    )

    lines = (finished.stdout + finished.stderr).strip().splitlines()
    assert finished.returncode == exit_code
    assert len(lines) == 1, lines
    assert "moto 9.9.9 is installed, but the local runtime supports moto" in lines[0]
    assert "Traceback" not in lines[0] and "ImportError" not in lines[0]
