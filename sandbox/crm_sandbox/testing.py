"""Start the sandbox (Dataverse + Campaign) in a subprocess for tests, the demo and benchmarks.

    with launch(contacts=500) as sandbox:
        env = sandbox.tap_env()                      # tap-dynamics365, for `meltano run`
        env |= sandbox.target_campaign_env()         # target-adobe-campaign
        sandbox.admin.inject_429(2)                  # Dataverse test-only controls
        sandbox.campaign.admin.inject_5xx(503)       # Campaign test-only controls

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .campaign.admin_client import CampaignAdmin
from .dataverse.admin_client import DataverseAdmin
from .server import ENDPOINTS_FILE
from .serving import StopOnExit


@dataclass(frozen=True)
class DataverseEndpoints:
    """Where Entra and Dataverse listen, how to authenticate, and the admin client."""

    url: str  # resource URL, e.g. https://localhost:8444 (also the token audience)
    api_url: str  # service root, …/api/data/v9.2/
    authority_host: str  # https://localhost:8443
    authority: str  # authority_host/tenant_id, for MSAL
    tenant_id: str
    client_id: str
    client_secret: str
    admin_url: str
    admin: DataverseAdmin = field(compare=False, repr=False)


@dataclass(frozen=True)
class CampaignEndpoints:
    """Where IMS and the Campaign gateway listen, how to authenticate, and the admin client."""

    ims_url: str  # https://localhost:8445 (token endpoint: token_url)
    token_url: str  # ims_url/ims/token/v3
    api_base_url: str  # gateway root, https://localhost:8446
    api_url: str  # API base, api_base_url/<organization>/campaign
    organization: str
    client_id: str  # also the X-Api-Key
    client_secret: str
    scopes: str  # comma-separated
    admin_url: str
    journal_url: str  # I/O Events journaling endpoint (own port), needs x-ims-org-id
    ims_org_id: str  # IMS org of the credential (`…@AdobeOrg`)
    sftp_host: str  # the SFTP storage area (own port), 127.0.0.1
    sftp_port: int
    sftp_username: str
    sftp_password: str
    sftp_host_key: str  # OpenSSH public key line of the SFTP host key, to pin
    opt_out_exports_dir: str  # d365_loads/exports, relative to the SFTP login's root
    soap_url: str  # the v8 instance's SOAP router, api_base_url/nl/jsp/soaprouter.jsp
    operator_login: str  # the v8 operator of `xtk:session#Logon`
    operator_password: str
    admin: CampaignAdmin = field(compare=False, repr=False)


class Sandbox(StopOnExit):
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
            admin=DataverseAdmin(info["admin_url"], self.ca_file),
        )
        self.admin = self.dataverse.admin
        cp = info["campaign"]
        self.campaign = CampaignEndpoints(
            ims_url=cp["ims_url"],
            token_url=cp["token_url"],
            api_base_url=cp["api_base_url"],
            api_url=cp["api_url"],
            organization=cp["organization"],
            client_id=cp["client_id"],
            client_secret=cp["client_secret"],
            scopes=cp["scopes"],
            admin_url=cp["admin_url"],
            journal_url=cp["journal_url"],
            ims_org_id=cp["ims_org_id"],
            sftp_host=cp["sftp_host"],
            sftp_port=int(cp["sftp_port"]),
            sftp_username=cp["sftp_username"],
            sftp_password=cp["sftp_password"],
            sftp_host_key=cp["sftp_host_key"],
            opt_out_exports_dir=cp["opt_out_exports_dir"],
            soap_url=cp["soap_url"],
            operator_login=cp["operator_login"],
            operator_password=cp["operator_password"],
            admin=CampaignAdmin(cp["admin_url"], self.ca_file),
        )

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

    def _campaign_env(self, prefix: str) -> dict[str, str]:
        c = self.campaign
        values = {
            "ORGANIZATION": c.organization,
            "CLIENT_ID": c.client_id,
            "CLIENT_SECRET": c.client_secret,
            "SCOPES": c.scopes,
            "IMS_URL": c.ims_url,
            "API_BASE_URL": c.api_base_url,
            "CA_BUNDLE": self.ca_file,
        }
        return {f"{prefix}_{key}": value for key, value in values.items()}

    def tap_campaign_env(self) -> dict[str, str]:
        """Environment variables configuring tap-adobe-campaign (`TAP_ADOBE_CAMPAIGN_*`).

        The target's plus the I/O Events journal URL, the IMS org id and the SFTP storage area
        of the opt-out exports (host, port, login, pinned host key, folder).
        """
        c = self.campaign
        env = self._campaign_env("TAP_ADOBE_CAMPAIGN")
        env["TAP_ADOBE_CAMPAIGN_EVENTS_JOURNAL_URL"] = c.journal_url
        env["TAP_ADOBE_CAMPAIGN_IMS_ORG_ID"] = c.ims_org_id
        env["TAP_ADOBE_CAMPAIGN_SFTP_HOST"] = c.sftp_host
        env["TAP_ADOBE_CAMPAIGN_SFTP_PORT"] = str(c.sftp_port)
        env["TAP_ADOBE_CAMPAIGN_SFTP_USERNAME"] = c.sftp_username
        env["TAP_ADOBE_CAMPAIGN_SFTP_PASSWORD"] = c.sftp_password
        env["TAP_ADOBE_CAMPAIGN_SFTP_HOST_KEY"] = c.sftp_host_key
        env["TAP_ADOBE_CAMPAIGN_OPT_OUT_EXPORTS_DIR"] = c.opt_out_exports_dir
        return env

    def target_campaign_env(self) -> dict[str, str]:
        """Environment variables configuring target-adobe-campaign (`TARGET_ADOBE_CAMPAIGN_*`)."""
        return self._campaign_env("TARGET_ADOBE_CAMPAIGN")

    def v8_env(self, prefix: str, auth: str = "ims_bearer") -> dict[str, str]:
        """Return the v8 SOAP settings of a Campaign plugin: `<prefix>_SOAP_URL`, `_SOAP_AUTH`, ….

        `prefix` names the plugin's variables, e.g. `TARGET_ADOBE_CAMPAIGN__V8` for the
        inheriting `target-adobe-campaign--v8` (whose own settings win over the parent's
        `TARGET_ADOBE_CAMPAIGN_*`). `auth`: `ims_bearer` and `bearer_logon` use the IMS
        credential of `_campaign_env`; `login_password` adds the sandbox's operator.
        """
        c = self.campaign
        env = {f"{prefix}_SOAP_URL": c.soap_url, f"{prefix}_SOAP_AUTH": auth}
        if auth == "login_password":
            env[f"{prefix}_SOAP_LOGIN"] = c.operator_login
            env[f"{prefix}_SOAP_PASSWORD"] = c.operator_password
        return env

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


def cli_flags(opts: dict[str, Any]) -> list[str]:
    """`{"accounts": 0, "reseed": True, "tasks": None}` → `["--accounts", "0", "--reseed"]`."""
    flags: list[str] = []
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif not (value is None or value is False):
            flags += [flag, str(value)]
    return flags


def launch(
    state_dir: str | Path | None = None,
    contacts: int = 2000,
    seed: int = 42,
    *,
    timeout: float = 180.0,
    entra_port: int = 0,
    dataverse_port: int = 0,
    ims_port: int = 0,
    gateway_port: int = 0,
    events_port: int = 0,
    sftp_port: int = 0,
    **opts: Any,
) -> Sandbox:
    """Start `crm-sandbox serve` (both vendors) on free ports and wait until it listens.

    Extra keyword options map to CLI flags (`accounts=10` → `--accounts 10`, `profiles=500` →
    `--profiles 500`, `reseed=True` → `--reseed`, `no_activity_tables=True` →
    `--no-activity-tables`, an org without the four `acs_email*` tables,
    `opt_out_export_interval=60` → a scheduled opt-out export every 60 s; None and False are
    left out). Campaign profiles default to `contacts`. Without `state_dir` a temporary
    directory is used and removed on stop().
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
        "--ims-port",
        str(ims_port),
        "--gateway-port",
        str(gateway_port),
        "--events-port",
        str(events_port),
        "--sftp-port",
        str(sftp_port),
    ]
    cmd += cli_flags(opts)
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
