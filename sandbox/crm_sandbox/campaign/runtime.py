"""The running Campaign instance: store, clock, settings, tokens, faults, counters, logs, runs."""

from __future__ import annotations

from pathlib import Path

from crm_sandbox.clock import Clock
from crm_sandbox.requestlog import RequestLog

from . import optout_export, sftp
from .config import (
    EVENTS_PORT,
    GATEWAY_PORT,
    IMS_PORT,
    JOURNAL_PATH,
    ORGANIZATION,
    SFTP_PORT,
    Settings,
)
from .engine_calls import EngineCalls
from .faults import TpsLimiter, new_faults
from .import_workflows import ImportTasks
from .journal import Journal
from .paging import LineStarts
from .pkeys import Sealer
from .store import Store
from .tokens import TokenService
from .v8.sessions import Sessions

DB_FILE = "campaign.sqlite3"


class Runtime:
    """Everything the IMS, gateway, I/O Events and SFTP servers share inside one process."""

    def __init__(
        self,
        state_dir: Path,
        *,
        ims_url: str = f"https://localhost:{IMS_PORT}",
        gateway_url: str = f"https://localhost:{GATEWAY_PORT}",
        events_url: str = f"https://localhost:{EVENTS_PORT}",
        sftp_address: tuple[str, int] = ("127.0.0.1", SFTP_PORT),
        settings: Settings | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Open the store and keys in `state_dir` (created if needed)."""
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.ims_url = ims_url
        self.gateway_url = gateway_url
        self.events_url = events_url
        self.sftp_address = sftp_address  # (host, port) of the SFTP storage area
        self.sftp_host_key = sftp.host_key(state_dir)
        self.drop_root = optout_export.drop_root(state_dir)
        self.clock = clock or Clock()
        self.settings = settings or Settings()
        self.sealer = Sealer(state_dir / "campaign-pkey-secret.bin")
        self.line_starts = LineStarts(self.sealer)
        self.store = Store(state_dir / DB_FILE, self.clock, self.sealer)
        self.tokens = TokenService(state_dir / "campaign-ims-key.bin", self.clock)
        self.faults = new_faults()
        self.tps = TpsLimiter(self.clock)
        self.engine_calls = EngineCalls()
        self.requests = RequestLog(self.clock, "client_id", extra_keys=("soap_action",))
        self.journal = Journal(self)
        self.sessions = Sessions()
        self.soap_tps = TpsLimiter(self.clock)
        self.imports = ImportTasks()  # runs of the import workflows in progress

    @property
    def api_url(self) -> str:
        """Absolute API base: `https://localhost:8446/sandbox-org/campaign`."""
        return f"{self.gateway_url}/{ORGANIZATION}/campaign"

    @property
    def journal_url(self) -> str:
        """The journaling endpoint of the sandbox's event registration (events.adobe.io)."""
        return f"{self.events_url}{JOURNAL_PATH}"

    @property
    def href_base(self) -> str:
        """Prefix of the hrefs in responses: the API base, or nothing for relative hrefs."""
        return self.api_url if self.settings.absolute_hrefs else ""

    def close(self) -> None:
        """Release the database."""
        self.store.close()
