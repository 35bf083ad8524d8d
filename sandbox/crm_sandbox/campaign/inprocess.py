"""Run the Campaign sandbox on a background thread of this process (tests, notebooks).

`start_in_thread(CampaignServeOptions(tmp, ims_port=0, gateway_port=0, events_port=0,
sftp_port=0))` returns once the IMS, gateway, I/O Events and SFTP ports listen; `api_session()`
then gives a `requests.Session` with a fresh token and the API key, `journal_session()` one
for the journal, and `admin` the test-only controls. `start_temporary(profiles)` does the same
in a temporary state directory that `stop()` removes, and `restore()` gives a test fresh data,
default settings, no faults and an empty request log: what a plugin's test session needs.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path
from typing import Any

import requests

from crm_sandbox.serving import StopOnExit

from .admin_client import CampaignAdmin
from .config import Settings
from .seed import SeedSizes
from .server import CampaignServeOptions, serve


class RunningCampaign(StopOnExit):
    """A Campaign sandbox served by a thread of this process."""

    def __init__(
        self,
        options: CampaignServeOptions,
        owned_dir: tempfile.TemporaryDirectory[str] | None = None,
    ) -> None:
        """Prepare (not start) the server thread; `owned_dir` is removed by `stop()`."""
        self.options = options
        self._owned_dir = owned_dir
        self.info: dict[str, Any] = {}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="campaign-sandbox", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(self.options, stop=self._stop, on_ready=self._on_ready)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    def _on_ready(self, info: dict[str, Any]) -> None:
        self.info = info
        self._ready.set()

    def start(self, timeout: float = 120.0) -> RunningCampaign:
        """Start serving and wait until both ports listen."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the Campaign sandbox did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError("the Campaign sandbox failed to start") from self._error
        self.admin = CampaignAdmin(self.info["admin_url"], self.info["ca_file"])
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)
        if self._owned_dir is not None:
            self._owned_dir.cleanup()
            self._owned_dir = None

    def restore(self) -> None:
        """Fresh seed data (the sizes it started with), default settings, no faults, empty log."""
        sizes = self.options.sizes
        self.admin.reset(sizes.profiles, self.options.seed, projects=sizes.projects)
        self.admin.clear_faults()
        self.admin.set_config(**Settings().as_dict())
        self.admin.clear_requests()

    def http_session(self) -> requests.Session:
        """Return a `requests` session trusting the sandbox CA (and ignoring REQUESTS_CA_BUNDLE)."""
        session = requests.Session()
        session.verify = self.info["ca_file"]
        session.trust_env = False
        return session

    def token(self, client_id: str | None = None, secret: str | None = None) -> str:
        """Return a fresh IMS access token (default credential and scope)."""
        resp = self.http_session().post(
            self.info["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": client_id or self.info["client_id"],
                "client_secret": secret or self.info["client_secret"],
                "scope": self.info["scopes"],
            },
            timeout=30,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def journal_session(self) -> requests.Session:
        """Return a session with the headers the I/O Events journaling API wants."""
        session = self.http_session()
        session.headers.update(
            {
                "Authorization": f"Bearer {self.token()}",
                "x-api-key": self.info["client_id"],
                "x-ims-org-id": self.info["ims_org_id"],
            }
        )
        return session

    def api_session(self) -> requests.Session:
        """Return a session carrying a fresh token, the API key and Adobe's sample headers."""
        session = self.http_session()
        session.headers.update(
            {
                "Authorization": f"Bearer {self.token()}",
                "X-Api-Key": self.info["client_id"],
                "Cache-Control": "no-cache",
                "Content-Type": "application/json;charset=utf-8",
            }
        )
        return session


def start_in_thread(options: CampaignServeOptions, timeout: float = 120.0) -> RunningCampaign:
    """Serve IMS + gateway on a background thread; returns once both listen."""
    return RunningCampaign(options).start(timeout)


def start_temporary(profiles: int, timeout: float = 120.0) -> RunningCampaign:
    """Serve on free ports from a temporary state directory that `stop()` removes."""
    owned = tempfile.TemporaryDirectory(prefix="campaign-sandbox-")
    options = CampaignServeOptions(
        Path(owned.name),
        ims_port=0,
        gateway_port=0,
        events_port=0,
        sftp_port=0,
        sizes=SeedSizes(profiles=profiles),
    )
    return RunningCampaign(options, owned).start(timeout)
