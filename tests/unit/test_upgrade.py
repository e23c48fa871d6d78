"""``make upgrade`` keeps a new lock only when the suite passes on it, and says what moved, package by package.

A stand-in for uv rewrites the lock the way ``uv lock --upgrade`` would, so these tests need no registry.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

UPGRADE = Path(__file__).resolve().parents[2] / "make" / "upgrade.py"


def lock_with(moto: str) -> str:
    packages = {"moto": moto, "six": "1.16.0"}
    return "version = 1\n" + "".join(
        f'\n[[package]]\nname = "{name}"\nversion = "{version}"\n' for name, version in packages.items()
    )


OLD_LOCK, NEW_LOCK = lock_with("5.2.6"), lock_with("5.2.7")

FAKE_UV = f"""
import sys
from pathlib import Path
if sys.argv[1:3] == ["lock", "--upgrade"]:
    Path("uv.lock").write_text({NEW_LOCK!r})
with open("uv-calls.txt", "a") as calls:
    calls.write(" ".join(sys.argv[1:]) + "\\n")
"""


def upgrade(workdir: Path, suite_passes: bool, lock: str = OLD_LOCK) -> subprocess.CompletedProcess[str]:
    (workdir / "uv.lock").write_text(lock)
    uv = workdir / "fake-uv"
    uv.write_text(f"#!{sys.executable}\n{FAKE_UV}")
    uv.chmod(0o755)
    suite = [sys.executable, "-c", f"raise SystemExit({0 if suite_passes else 1})"]
    return subprocess.run(
        [sys.executable, str(UPGRADE), "--uv", str(uv), "--", *suite],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_green_suite_keeps_the_new_lock_and_names_what_moved(tmp_path):
    finished = upgrade(tmp_path, suite_passes=True)

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert (tmp_path / "uv.lock").read_text() == NEW_LOCK
    assert "moto  5.2.6 -> 5.2.7" in finished.stdout and "six" not in finished.stdout.split("change:")[1]
    assert "commit uv.lock" in finished.stdout
    assert not (tmp_path / "uv.lock.before-upgrade").exists()


def test_a_red_suite_puts_the_old_lock_back_and_installs_it_again(tmp_path):
    finished = upgrade(tmp_path, suite_passes=False)

    assert finished.returncode == 1
    assert (tmp_path / "uv.lock").read_text() == OLD_LOCK
    assert "previous uv.lock is back" in finished.stdout
    assert (tmp_path / "uv-calls.txt").read_text().splitlines()[-1].startswith("sync --frozen")


@pytest.mark.parametrize("suite_passes", [True, False])
def test_nothing_to_move_runs_no_suite(tmp_path, suite_passes):
    finished = upgrade(tmp_path, suite_passes, lock=NEW_LOCK)

    assert finished.returncode == 0
    assert "newest allowed release" in finished.stdout
    assert (tmp_path / "uv-calls.txt").read_text().splitlines() == ["lock --upgrade"]
