"""Campaign's workflow REST API on WKF_OPTOUT_EXPORT, and its schedule."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import RST, serve_campaign, url

WORKFLOW = "workflow/execution/WKF_OPTOUT_EXPORT"
COMMANDS = f"{WORKFLOW}/commands"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(30, projects=0))


@pytest.fixture(autouse=True)
def fresh(campaign: RunningCampaign) -> None:
    campaign.restore()


def command(api: requests.Session, campaign: RunningCampaign, method: str) -> requests.Response:
    return api.post(url(campaign, COMMANDS), json={"method": method})


def files(campaign: RunningCampaign) -> list[str]:
    result: list[str] = campaign.admin.opt_out_export_status()["files"]
    return result


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_get_describes_the_workflow(campaign: RunningCampaign, api: requests.Session) -> None:
    resp = api.get(url(campaign, WORKFLOW))
    assert resp.status_code == 200
    body = resp.json()
    assert body["internalName"] == "WKF_OPTOUT_EXPORT"
    assert body["label"] == "Opt-out export for Dynamics 365"
    assert body["state"] == "started"
    assert body["lastStart"] is None
    assert body["PKey"].startswith("@")
    assert body["href"] == url(campaign, WORKFLOW)
    assert list(body["activities"]["activity"]) == [
        "scheduler",
        "incrementalQuery",
        "extractFile",
        "transferFile",
        "end",
    ]


def test_start_runs_the_export(campaign: RunningCampaign, api: requests.Session) -> None:
    resp = command(api, campaign, "start")
    assert resp.status_code == 200
    assert resp.json()["state"] == "started"
    assert resp.json()["lastStart"]
    (first,) = files(campaign)
    assert command(api, campaign, "start").status_code == 200  # nothing new: no file
    assert files(campaign) == [first]
    pkey = next(p["PKey"] for p in campaign.admin.find_rows("profile") if not p["blackListMobile"])
    campaign.admin.update_row("profile", pkey, {"blackListMobile": True})
    command(api, campaign, "start")
    assert len(files(campaign)) == 2


def test_pause_resume_stop(campaign: RunningCampaign, api: requests.Session) -> None:
    assert command(api, campaign, "pause").json()["state"] == "paused"
    assert command(api, campaign, "pause").status_code == 400
    assert command(api, campaign, "resume").json()["state"] == "started"
    resp = command(api, campaign, "resume")
    assert resp.status_code == 400
    assert resp.json()["message"].startswith(RST)
    assert "it is started" in resp.json()["message"]
    assert command(api, campaign, "stop").json()["state"] == "stopped"
    assert api.get(url(campaign, WORKFLOW)).json()["state"] == "stopped"
    assert command(api, campaign, "start").json()["state"] == "started"


def test_errors(campaign: RunningCampaign, api: requests.Session) -> None:
    resp = api.get(url(campaign, "workflow/execution/WKF_UNKNOWN"))
    assert resp.status_code == 404
    assert resp.json() == {
        "code": 404,
        "message": f"{RST} Unable to find document with path 'Workflow' from key 'WKF_UNKNOWN'",
    }
    assert (
        api.post(url(campaign, "workflow/execution/WKF_UNKNOWN/commands"), json={}).status_code
        == 404
    )
    bad = command(api, campaign, "restart")
    assert bad.status_code == 400
    assert bad.json()["message"].startswith(RST)
    assert api.post(url(campaign, COMMANDS), data="not json").status_code == 400
    assert api.get(url(campaign, COMMANDS)).status_code == 405
    assert api.delete(url(campaign, WORKFLOW)).status_code == 405
    assert files(campaign) == []


def test_the_gateway_checks_apply(campaign: RunningCampaign) -> None:
    anonymous = campaign.http_session()
    resp = anonymous.post(url(campaign, COMMANDS), json={"method": "start"})
    assert resp.status_code == 403
    assert resp.json()["error_code"] == "403000"
    no_token = campaign.http_session()
    no_token.headers["X-Api-Key"] = campaign.info["client_id"]
    resp = no_token.get(url(campaign, WORKFLOW))
    assert resp.status_code == 401
    assert resp.json()["error_code"] == "401013"
    assert files(campaign) == []


def test_the_schedule_runs_while_started(campaign: RunningCampaign) -> None:
    api = campaign.api_session()
    campaign.admin.set_config(opt_out_export_interval=3600)
    command(api, campaign, "start")
    assert len(files(campaign)) == 1
    profiles = campaign.admin.find_rows("profile")
    pkey = next(p["PKey"] for p in profiles if not p["blackListPushnotification"])
    campaign.admin.update_row("profile", pkey, {"blackListPushnotification": True})
    time.sleep(1.5)  # a few scheduler ticks: not due yet
    assert len(files(campaign)) == 1
    command(api, campaign, "pause")
    campaign.admin.shift_clock(3600)
    time.sleep(1.5)  # due, but paused
    assert len(files(campaign)) == 1
    command(api, campaign, "resume")
    assert wait_for(lambda: len(files(campaign)) == 2)
    last_run = campaign.admin.opt_out_export_status()["last_run"]
    campaign.admin.shift_clock(3600)  # due again: an empty increment writes nothing
    assert wait_for(lambda: campaign.admin.opt_out_export_status()["last_run"] != last_run)
    assert len(files(campaign)) == 2
