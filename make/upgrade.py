"""``make upgrade``: move uv.lock to the newest releases pyproject.toml allows, and keep it only if the suite passes.

The old lock is put back, and installed again, when the suite fails, so an upgrade is never half done: either the
new lock is green and ready to commit, or nothing changed. Only the standard library is used, since this runs with
the machine's Python before (and while) the virtualenv changes.

Example
-------
    python3 make/upgrade.py --uv .tools/bin/uv -- make test
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

LOCK = Path("uv.lock")


def locked_versions(lock: Path) -> dict[str, str]:
    """Package name to version, for every package the lock file pins."""
    packages = tomllib.loads(lock.read_text())["package"]
    return {package["name"]: package.get("version", "") for package in packages}


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """One line per package that moved, appeared or went away, sorted by name.

    Example
    -------
    >>> changes({"moto": "5.2.5", "six": "1.16.0"}, {"moto": "5.2.6", "idna": "3.10"})
    ['idna  (new) -> 3.10', 'moto  5.2.5 -> 5.2.6', 'six   1.16.0 -> (removed)']
    """
    moved = [name for name in sorted(before.keys() | after.keys()) if before.get(name) != after.get(name)]
    width = max(map(len, moved), default=0)
    return [f"{name:<{width}}  {before.get(name, '(new)')} -> {after.get(name, '(removed)')}" for name in moved]


def run(command: list[str]) -> bool:
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", required=True, help="the uv executable")
    parser.add_argument("suite", nargs=argparse.REMAINDER, help="the command that must pass, after --")
    arguments = parser.parse_args()
    suite = [part for part in arguments.suite if part != "--"]
    backup = LOCK.with_name("uv.lock.before-upgrade")
    shutil.copyfile(LOCK, backup)
    before = locked_versions(LOCK)
    try:
        if not run([arguments.uv, "lock", "--upgrade"]):
            print("uv could not resolve an upgrade; uv.lock is unchanged.")
            shutil.copyfile(backup, LOCK)
            return 1
        moved = changes(before, locked_versions(LOCK))
        print(f"\n{len(moved)} package(s) change:" if moved else "\nEvery package is at the newest allowed release.")
        print("\n".join(moved))
        if not moved:
            return 0
        if run([arguments.uv, "sync", "--frozen", "--all-extras", "--quiet"]) and run(suite):
            print(f"\nThe suite passed on the upgraded lock: commit uv.lock ({len(moved)} package(s) moved).")
            return 0
        print("\nThe suite failed on the upgraded lock: the previous uv.lock is back and installed again.")
        shutil.copyfile(backup, LOCK)
        run([arguments.uv, "sync", "--frozen", "--all-extras", "--quiet"])
        return 1
    finally:
        backup.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
