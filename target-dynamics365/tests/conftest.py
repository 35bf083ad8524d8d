"""One Dataverse sandbox (crm-sandbox) for the session, on free ports, reseeded per test.

It starts when this module is imported, so the SDK's standard target tests can take their
config (the sandbox's endpoints) when they are collected; it stops at the end of the session.
"""

from __future__ import annotations

import typing as t

import pytest
from crm_sandbox.testing import launch

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from crm_sandbox.dataverse.admin_client import DataverseAdmin

CONTACTS = 40
SANDBOX = launch(contacts=CONTACTS, seed=5, projects=0, profiles=0)
CONNECTION = {
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
def admin() -> Iterator[DataverseAdmin]:
    """The sandbox admin client: fresh data, no faults and an empty request log per test."""
    admin = SANDBOX.admin
    admin.reset(contacts=CONTACTS, seed=5, projects=0)
    admin.clear_faults()
    admin.clear_requests()
    yield admin
    admin.clear_faults()
