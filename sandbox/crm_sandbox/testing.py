"""Start the sandbox in a subprocess for tests, the demo and benchmarks.

    with launch(contacts=500) as sandbox:
        env = sandbox.tap_env()          # for `meltano run`
        sandbox.admin.inject_429(2)      # test-only controls

Plain synchronous code, so it can run at import time of a conftest.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .dataverse.admin_client import DataverseAdmin
from .dataverse.server import ENDPOINTS_FILE


@dataclass(frozen=True)
class DataverseEndpoints:
    """Where the emulated services listen and how to authenticate."""

    url: str  # resource URL, e.g. https://localhost:8444 (also the token audience)
    api_url: str  # service root, …/api/data/v9.2/
    authority_host: str  # https://localhost:8443
    authority: str  # authority_host/tenant_id, for MSAL
    tenant_id: str
    client_id: str
    client_secret: str
    admin_url: str


class Sandbox:
    """A running sandbox process."""

    def __init__(
        self, process: subprocess.Popen[bytes], state_dir: Path, info: dict[str, Any], owned: bool
    ) -> None:
        """Wrap a started process and its endpoints.json content."""
        self.process = process
        self.state_dir = state_dir
        self.info = info
        self._owned_dir = owned
        self.ca_file = str(info["ca_file"])
        self.dataverse = DataverseEndpoints(
            url=info["resource_url"],
            api_url=info["api_url"],
            authority_host=info["authority_host"],
            authority=info["authority"],
            tenant_id=info["tenant_id"],
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            admin_url=info["admin_url"],
        )
        self.admin = DataverseAdmin(info["admin_url"], self.ca_file)

    def tap_env(self) -> dict[str, str]:
        """Environment variables configuring tap-dynamics365 for this sandbox."""
        d = self.dataverse
        return {
            "TAP_DYNAMICS365_TENANT_ID": d.tenant_id,
            "TAP_DYNAMICS365_CLIENT_ID": d.client_id,
            "TAP_DYNAMICS365_CLIENT_SECRET": d.client_secret,
            "TAP_DYNAMICS365_AUTHORITY_HOST": d.authority_host,
            "TAP_DYNAMICS365_RESOURCE_URL": d.url,
            "TAP_DYNAMICS365_CA_BUNDLE": self.ca_file,
        }

    def stop(self) -> None:
        """Terminate the process (it removes endpoints.json) and a temporary state dir."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._owned_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        """Use as a context manager."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on exit."""
        self.stop()


def launch(
    state_dir: str | Path | None = None,
    contacts: int = 2000,
    seed: int = 42,
    *,
    timeout: float = 180.0,
    entra_port: int = 0,
    dataverse_port: int = 0,
    **opts: Any,
) -> Sandbox:
    """Start `crm-sandbox serve` on free ports and wait until it listens.

    Extra keyword options map to CLI flags (`accounts=10` → `--accounts 10`, `reseed=True` →
    `--reseed`). Without `state_dir` a temporary directory is used and removed on stop().
    """
    owned = state_dir is None
    path = Path(tempfile.mkdtemp(prefix="crm-sandbox-")) if owned else Path(str(state_dir))
    path.mkdir(parents=True, exist_ok=True)
    endpoints = path / ENDPOINTS_FILE
    endpoints.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "crm_sandbox.cli",
        "serve",
        "--state-dir",
        str(path),
        "--contacts",
        str(contacts),
        "--seed",
        str(seed),
        "--entra-port",
        str(entra_port),
        "--dataverse-port",
        str(dataverse_port),
    ]
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            cmd.append(flag)
        elif value not in (None, False):
            cmd += [flag, str(value)]
    log = (path / "sandbox.log").open("ab")
    process = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    log.close()
    deadline = time.monotonic() + timeout
    while not endpoints.exists():
        if process.poll() is not None:
            tail = (path / "sandbox.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"crm-sandbox exited with {process.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"crm-sandbox did not start within {timeout} s")
        time.sleep(0.05)
    sandbox = Sandbox(process, path, json.loads(endpoints.read_text()), owned)
    atexit.register(sandbox.stop)
    return sandbox
