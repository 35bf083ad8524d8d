"""The one sandbox process: both vendors, one clock, endpoints.json and the env helpers."""

from __future__ import annotations

import json
import time

from crm_sandbox.testing import Sandbox, cli_flags, launch

from .conftest import http_session


def test_cli_flags_keep_zero_and_drop_none_and_false() -> None:
    flags = cli_flags({"projects": 0, "tasks": 0, "accounts": None, "reseed": False, "x_y": True})
    assert flags == ["--projects", "0", "--tasks", "0", "--x-y"]


def test_launch_seeds_zero_sizes() -> None:
    with launch(
        contacts=50, projects=0, tasks=0, salesorders=7, profiles=30, campaign_projects=0
    ) as sb:
        dataverse = sb.admin.state()["counts"]
        campaign = sb.campaign.admin.state()["counts"]
    assert dataverse["salesorders"] == 7
    assert (dataverse["contacts"], dataverse["new_projects"], dataverse["new_projecttasks"]) == (
        50,
        0,
        0,
    )
    assert campaign == {"profile": 30, "service": 3, "cusProject": 0, "cusProjectTask": 0}


def test_campaign_profiles_default_to_contacts(sandbox: Sandbox) -> None:
    assert sandbox.campaign.admin.state()["counts"]["profile"] == 1200


def test_endpoints_file_has_both_vendors(sandbox: Sandbox) -> None:
    info = json.loads((sandbox.state_dir / "endpoints.json").read_text())
    assert info["api_url"] == sandbox.dataverse.api_url
    assert info["admin_url"] == sandbox.dataverse.admin_url
    assert info["campaign"]["api_base_url"] == sandbox.campaign.api_base_url
    assert sandbox.campaign.api_url == f"{sandbox.campaign.api_base_url}/sandbox-org/campaign"
    assert sandbox.dataverse.admin is sandbox.admin


def test_shift_clock_moves_both_vendors(sandbox: Sandbox) -> None:
    try:
        sandbox.admin.shift_clock(3600)
        assert sandbox.campaign.admin.clock()["offset"] == 3600
        sandbox.campaign.admin.shift_clock(-600)
        assert sandbox.admin.clock()["offset"] == 3000
    finally:
        sandbox.admin.shift_clock(-sandbox.admin.clock()["offset"])


def test_campaign_env_reaches_the_api(sandbox: Sandbox) -> None:
    env = sandbox.target_campaign_env()
    assert sorted(env) == sorted(
        f"TARGET_ADOBE_CAMPAIGN_{k}"
        for k in (
            "ORGANIZATION",
            "CLIENT_ID",
            "CLIENT_SECRET",
            "SCOPES",
            "IMS_URL",
            "API_BASE_URL",
            "CA_BUNDLE",
        )
    )
    tap = {k.removeprefix("TAP_"): v for k, v in sandbox.tap_campaign_env().items()}
    journal_url = tap.pop("ADOBE_CAMPAIGN_EVENTS_JOURNAL_URL")
    assert tap.pop("ADOBE_CAMPAIGN_IMS_ORG_ID") == "SANDBOXORG0000000000@AdobeOrg"
    c = sandbox.campaign
    sftp = {k: tap.pop(k) for k in [k for k in tap if "SFTP" in k or "OPT_OUT" in k]}
    assert sftp == {
        "ADOBE_CAMPAIGN_SFTP_HOST": "127.0.0.1",
        "ADOBE_CAMPAIGN_SFTP_PORT": str(c.sftp_port),
        "ADOBE_CAMPAIGN_SFTP_USERNAME": "campaign-sftp",
        "ADOBE_CAMPAIGN_SFTP_PASSWORD": "sandbox-sftp-secret",
        "ADOBE_CAMPAIGN_SFTP_HOST_KEY": c.sftp_host_key,
        "ADOBE_CAMPAIGN_OPT_OUT_EXPORTS_DIR": "d365_loads/exports",
    }
    assert c.sftp_host_key.startswith("ssh-ed25519 ")
    assert tap == {k.removeprefix("TARGET_"): v for k, v in env.items()}
    assert journal_url == sandbox.campaign.journal_url
    session = http_session(sandbox)
    token = session.post(
        env["TARGET_ADOBE_CAMPAIGN_IMS_URL"] + "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": env["TARGET_ADOBE_CAMPAIGN_CLIENT_ID"],
            "client_secret": env["TARGET_ADOBE_CAMPAIGN_CLIENT_SECRET"],
            "scope": env["TARGET_ADOBE_CAMPAIGN_SCOPES"],
        },
        timeout=30,
    ).json()["access_token"]
    org = env["TARGET_ADOBE_CAMPAIGN_ORGANIZATION"]
    resp = session.get(
        f"{env['TARGET_ADOBE_CAMPAIGN_API_BASE_URL']}/{org}/campaign/profileAndServices/profile",
        params={"_lineCount": 2},
        headers={
            "Authorization": f"Bearer {token}",
            "X-Api-Key": env["TARGET_ADOBE_CAMPAIGN_CLIENT_ID"],
        },
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["content"]) == 2


def test_stop_with_keep_alive_connections_is_quick_and_logs_no_error(tmp_path) -> None:
    """Idle pooled TLS connections used to hold shutdown for the graceful timeout (1 s per
    server) and log "ERROR: Cancel 0 running task(s), timeout graceful shutdown exceeded"."""
    sb = launch(tmp_path, contacts=20, profiles=10, projects=0, tasks=0, campaign_projects=0)
    try:
        assert sb.admin.state()["counts"]["contacts"] == 20  # pooled: Dataverse admin
        assert sb.campaign.admin.state()["counts"]["profile"] == 10  # pooled: gateway admin
        session = http_session(sb)
        assert session.get(sb.dataverse.api_url).status_code == 401  # pooled: Web API
    finally:
        started = time.perf_counter()
        sb.stop()
        elapsed = time.perf_counter() - started
    log = (tmp_path / "sandbox.log").read_text(errors="replace")
    assert "ERROR" not in log, log
    assert "graceful shutdown" not in log, log
    assert sb.process.returncode == 0
    assert elapsed < 0.9


def test_journal_listens_on_its_own_port(sandbox: Sandbox) -> None:
    c = sandbox.campaign
    info = json.loads((sandbox.state_dir / "endpoints.json").read_text())["campaign"]
    assert info["journal_url"] == c.journal_url
    assert info["ims_org_id"] == c.ims_org_id
    assert c.journal_url.endswith(
        "/events/organizations/98765/integrations/43210/a1e57c3e-0000-4000-8000-000000000001"
    )
    assert c.journal_url.split("/")[2] not in (
        c.api_base_url.split("/")[2],
        c.ims_url.split("/")[2],
    )
    session = http_session(sandbox)
    token = session.post(
        c.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "scope": c.scopes,
        },
        timeout=30,
    ).json()["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "x-api-key": c.client_id,
        "x-ims-org-id": c.ims_org_id,
    }
    resp = session.get(c.journal_url, headers=headers, timeout=30)
    assert resp.status_code in (200, 204), resp.text


def test_v8_env_names_the_soap_router_and_the_operator(sandbox: Sandbox) -> None:
    info = json.loads((sandbox.state_dir / "endpoints.json").read_text())["campaign"]
    env = sandbox.v8_env("TARGET_ADOBE_CAMPAIGN__V8", "login_password")
    assert env == {
        "TARGET_ADOBE_CAMPAIGN__V8_SOAP_URL": info["soap_url"],
        "TARGET_ADOBE_CAMPAIGN__V8_SOAP_AUTH": "login_password",
        "TARGET_ADOBE_CAMPAIGN__V8_SOAP_LOGIN": "sandbox-operator",
        "TARGET_ADOBE_CAMPAIGN__V8_SOAP_PASSWORD": "sandbox-operator-secret",
    }
    assert sandbox.campaign.soap_url == f"{sandbox.campaign.api_base_url}/nl/jsp/soaprouter.jsp"
    assert sorted(sandbox.v8_env("X")) == ["X_SOAP_AUTH", "X_SOAP_URL"]
