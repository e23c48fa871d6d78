"""A pytest plugin, loaded with ``-p`` before any conftest, that stops a run on an untested moto with one line.

Conftests and the ``local.testkit.fixtures`` fixtures import the engine's adapters; checking here, before pytest loads
any of them, turns what would be an ImportError with a traceback into pytest's one-line usage error.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.aws.moto.versions import UnsupportedMotoError, require_supported_moto


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> Any:
    try:
        require_supported_moto()
    except UnsupportedMotoError as error:
        raise pytest.UsageError(str(error)) from None
