"""The running organisation: store, clock, settings, tokens, limits, faults and request log."""

from __future__ import annotations

import asyncio
from pathlib import Path

from crm_sandbox.clock import Clock
from crm_sandbox.requestlog import RequestLog

from .config import Settings
from .faults import new_faults
from .limits import Limiter
from .schema import EMAIL_EVENT_TABLES, TABLES, Table
from .store import Store
from .tokens import TokenService

DB_FILE = "dataverse.sqlite3"


def seeded_tables(no_activity_tables: bool = False) -> tuple[Table, ...]:
    """Return the tables of a fresh org (without the `acs_email*` activities when asked)."""
    if not no_activity_tables:
        return TABLES
    return tuple(t for t in TABLES if t not in EMAIL_EVENT_TABLES)


class Runtime:
    """Everything both emulated services share inside one process."""

    def __init__(
        self,
        state_dir: Path,
        *,
        entra_url: str = "https://localhost:8443",
        resource_url: str = "https://localhost:8444",
        settings: Settings | None = None,
        clock: Clock | None = None,
        no_activity_tables: bool = False,
    ) -> None:
        """Open the store and token key in `state_dir` (`clock` may be shared with Campaign).

        `no_activity_tables`: an org without Adobe's AppSource solution, i.e. without the four
        seeded `acs_email*` activity tables (a provisioning tool has to create them).
        """
        self.state_dir = state_dir
        self.entra_url = entra_url
        self.resource_url = resource_url
        self.clock = clock or Clock()
        self.settings = settings or Settings()
        self.store = Store(state_dir / DB_FILE, self.clock, seeded_tables(no_activity_tables))
        self.tokens = TokenService(state_dir / "token-signing-key.pem", self.clock)
        self.limits = Limiter(self.settings.limits, self.clock)
        self.faults = new_faults()
        self.requests = RequestLog(self.clock, "app_id")
        self._write_lock: asyncio.Lock | None = None

    @property
    def write_lock(self) -> asyncio.Lock:
        """Serialises writes (and whole `$batch` requests) on the event loop."""
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    @property
    def service_root(self) -> str:
        """Base URL of the Web API."""
        return f"{self.resource_url}/api/data/v9.2/"
