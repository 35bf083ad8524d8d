"""pytest plugin (entry point `crm_sandbox`): a session-wide `dataverse_sandbox` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import Sandbox, launch


@pytest.fixture(scope="session")
def dataverse_sandbox() -> Iterator[Sandbox]:
    """Return a sandbox with the default demo data, shared by the whole test session."""
    sandbox = launch()
    try:
        yield sandbox
    finally:
        sandbox.stop()
