"""Dataverse tests: every test leaves the session sandbox without faults or counted usage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_sandbox.testing import Sandbox


@pytest.fixture(autouse=True)
def _clean_dataverse_controls(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.admin.clear_faults()
    sandbox.admin.reset_limit_usage()
