"""Start one Dataverse sandbox for the whole test session.

It is launched at import time: `get_tap_test_class` instantiates the tap (and so runs
discovery) while pytest collects the tests, before any fixture runs.
"""

from __future__ import annotations

import pytest
from crm_sandbox.testing import launch

SANDBOX = launch(contacts=60, seed=11)
CONFIG = {
    "tenant_id": SANDBOX.dataverse.tenant_id,
    "client_id": SANDBOX.dataverse.client_id,
    "client_secret": SANDBOX.dataverse.client_secret,
    "authority_host": SANDBOX.dataverse.authority_host,
    "resource_url": SANDBOX.dataverse.url,
    "ca_bundle": SANDBOX.ca_file,
}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    SANDBOX.stop()


@pytest.fixture
def admin():
    """The sandbox admin client, with faults and the request log cleared around each test."""
    SANDBOX.admin.clear_faults()
    SANDBOX.admin.clear_requests()
    yield SANDBOX.admin
    SANDBOX.admin.clear_faults()
