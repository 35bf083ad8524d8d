"""pytest plugin (entry point `crm_sandbox`): one session-wide sandbox process serving both vendors.

`crm_sandbox` is the `Sandbox` handle; `dataverse_sandbox` and `campaign_sandbox` are the same
handle under the names tests of either vendor read best with.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import Sandbox, launch


@pytest.fixture(scope="session")
def crm_sandbox() -> Iterator[Sandbox]:
    """Return a sandbox with the default demo data, shared by the whole test session."""
    sandbox = launch()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def dataverse_sandbox(crm_sandbox: Sandbox) -> Sandbox:
    """Return the session sandbox (Dataverse: `.dataverse`, `.admin`, `.tap_env()`)."""
    return crm_sandbox


@pytest.fixture(scope="session")
def campaign_sandbox(crm_sandbox: Sandbox) -> Sandbox:
    """Return the session sandbox (Campaign: `.campaign`, `.tap_campaign_env()`, …)."""
    return crm_sandbox
