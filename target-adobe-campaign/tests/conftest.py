"""One Campaign sandbox (crm-sandbox's emulator) for the session, on free ports.

It starts when this module is imported: the SDK's standard target tests take their config
(the sandbox's endpoints) when they are collected. It stops at the end of the session.
"""

from __future__ import annotations

import typing as t

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign, start_temporary

if t.TYPE_CHECKING:
    from collections.abc import Iterator

PROFILES = 40
SANDBOX = start_temporary(PROFILES)


@pytest.fixture(scope="session", autouse=True)
def running() -> Iterator[RunningCampaign]:
    """The session's sandbox; stopped (and its files removed) when the session ends."""
    yield SANDBOX
    SANDBOX.stop()


@pytest.fixture
def campaign(running: RunningCampaign) -> RunningCampaign:
    """The sandbox with fresh data, default settings, no faults and empty logs."""
    running.restore()
    return running
