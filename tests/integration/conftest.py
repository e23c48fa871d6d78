"""Fixtures of the integration suite: a local ``orders up`` process, or a deployed stack (``ORDERS_API_URL``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.service import OrdersService, deployed_service, start_local_service, stop_local_service


@pytest.fixture(scope="session")
def service() -> Iterator[OrdersService]:
    deployed = os.environ.get("ORDERS_API_URL")
    if deployed:
        yield deployed_service(deployed)
        return
    local = start_local_service()
    yield local
    assert stop_local_service(local) == 0


@pytest.fixture
def local_only(service: OrdersService) -> OrdersService:
    if service.process is None:
        pytest.skip("needs the local stack process, not a deployed stack")
    return service
