"""Fault placement on the gateway and IMS: "before" (never executed) and "after" (committed, then
the response is delayed, replaced or lost), and clients that give up during an injected delay."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import serve_campaign, url


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(20, projects=0))


@pytest.fixture(autouse=True)
def _no_faults(campaign: RunningCampaign) -> Iterator[None]:
    yield
    campaign.admin.clear_faults()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_log() -> Iterator[list[logging.LogRecord]]:
    """What uvicorn (its error logger: tracebacks, "Exception in ASGI application") and asyncio
    log while the test runs; the in-process server logs through these loggers."""
    handler = Records()
    loggers = [logging.getLogger(name) for name in ("uvicorn", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)


def post_profile(campaign: RunningCampaign, external_id: str, **kwargs) -> requests.Response:
    body = {"email": f"{external_id}@example.com", "externalId": external_id}
    return campaign.api_session().post(
        url(campaign, "profileAndServicesExt/profile"), json=body, **kwargs
    )


def logged(campaign: RunningCampaign, method: str = "POST", wait: float = 3.0) -> dict:
    """The last gateway request with `method` in the log (waiting for one still in flight)."""
    deadline = time.monotonic() + wait
    while True:
        rows = [
            r for r in campaign.admin.requests() if r["app"] == "gateway" and r["method"] == method
        ]
        if rows or time.monotonic() > deadline:
            assert rows, f"no {method} in the request log"
            return rows[-1]
        time.sleep(0.05)


def test_rules_default_to_before_and_validate_when(campaign):
    rules = campaign.admin.add_fault("503")
    assert rules[0]["when"] == "before"
    assert campaign.admin.add_fault("504", when="after")[1]["when"] == "after"
    resp = campaign.http_session().post(
        f"{campaign.info['admin_url']}/faults", json={"kind": "503", "when": "later"}
    )
    assert resp.status_code == 400
    assert len(campaign.admin.faults()) == 2


@pytest.mark.parametrize("status", [502, 503, 504])
def test_after_fault_post_is_committed_and_the_client_sees_the_fault(campaign, status):
    external_id = f"after-{status}-{uuid.uuid4().hex[:8]}"
    campaign.admin.inject_5xx(status, method="POST", when="after")
    resp = post_profile(campaign, external_id)
    assert resp.status_code == status
    assert resp.json()["code"] == status
    [row] = campaign.admin.find_rows("profile", externalId=external_id)
    assert row["email"] == f"{external_id}@example.com"
    # the rule fired once; a blind retry now hits the record the lost response had created
    retry = post_profile(campaign, external_id)
    assert retry.status_code == 500  # Campaign's duplicate-key validation error
    assert len(campaign.admin.find_rows("profile", externalId=external_id)) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_before_fault_post_is_not_committed(campaign, status):
    external_id = f"before-{status}-{uuid.uuid4().hex[:8]}"
    campaign.admin.inject_5xx(status, method="POST")
    assert post_profile(campaign, external_id).status_code == status
    assert campaign.admin.find_rows("profile", externalId=external_id) == []


def test_after_drop_commits_then_closes_the_connection(campaign, server_log):
    external_id = f"drop-{uuid.uuid4().hex[:8]}"
    campaign.admin.drop_connection(method="POST")
    campaign.admin.clear_requests()
    with pytest.raises(requests.ConnectionError):
        post_profile(campaign, external_id, timeout=10)
    assert len(campaign.admin.find_rows("profile", externalId=external_id)) == 1
    assert logged(campaign)["status"] == 444
    assert [r.getMessage() for r in server_log if r.levelno >= logging.WARNING] == []


def test_before_drop_does_not_commit(campaign):
    external_id = f"drop-before-{uuid.uuid4().hex[:8]}"
    campaign.admin.drop_connection(method="POST", when="before")
    with pytest.raises(requests.ConnectionError):
        post_profile(campaign, external_id, timeout=10)
    assert campaign.admin.find_rows("profile", externalId=external_id) == []


def test_after_latency_commits_and_a_client_timeout_loses_the_response(campaign, server_log):
    external_id = f"late-{uuid.uuid4().hex[:8]}"
    campaign.admin.add_latency(1500, count=1, method="POST", when="after")
    campaign.admin.clear_requests()
    with pytest.raises(requests.ReadTimeout):
        post_profile(campaign, external_id, timeout=0.5)
    assert len(campaign.admin.find_rows("profile", externalId=external_id)) == 1
    assert logged(campaign)["status"] == 499
    assert [r.getMessage() for r in server_log if r.levelno >= logging.WARNING] == []


def test_after_latency_delays_the_response(campaign):
    campaign.admin.add_latency(300, count=1, method="POST", when="after")
    started = time.perf_counter()
    resp = post_profile(campaign, f"slow-{uuid.uuid4().hex[:8]}")
    assert resp.status_code == 201
    assert time.perf_counter() - started >= 0.3


def test_client_disconnect_during_before_latency_is_logged_without_traceback(campaign, server_log):
    external_id = f"gone-{uuid.uuid4().hex[:8]}"
    campaign.admin.add_fault("latency", method="POST", latency_ms=1500)
    campaign.admin.clear_requests()
    with pytest.raises(requests.ReadTimeout):
        post_profile(campaign, external_id, timeout=1)
    entry = logged(campaign)
    assert entry["status"] == 499
    assert entry["duration_ms"] >= 1500
    # the request never reached Campaign: nothing was created
    assert campaign.admin.find_rows("profile", externalId=external_id) == []
    assert [r.getMessage() for r in server_log if r.levelno >= logging.WARNING] == []
    assert not any(r.exc_info for r in server_log)


def test_ims_after_fault_still_issues_the_token(campaign):
    campaign.admin.add_fault("503", app="ims", when="after")
    resp = campaign.http_session().post(
        campaign.info["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": campaign.info["client_id"],
            "client_secret": campaign.info["client_secret"],
            "scope": campaign.info["scopes"],
        },
    )
    assert resp.status_code == 503
    ims = [r for r in campaign.admin.requests() if r["app"] == "ims"]
    assert ims[-1]["status"] == 503
    assert ims[-1]["client_id"] == campaign.info["client_id"]  # it was handled


def test_stop_is_quick_and_quiet_with_idle_keep_alive_connections(tmp_path, server_log):
    from crm_sandbox.campaign.inprocess import start_in_thread
    from crm_sandbox.campaign.server import CampaignServeOptions

    running = start_in_thread(
        CampaignServeOptions(
            tmp_path,
            ims_port=0,
            gateway_port=0,
            events_port=0,
            sftp_port=0,
            sizes=SeedSizes(5, projects=0),
        )
    )
    # uvicorn configures its loggers when a server is created: listen from here on
    handler = Records()
    logging.getLogger("uvicorn").addHandler(handler)
    try:
        api = running.api_session()  # a pooled connection to IMS, then one to the gateway
        assert api.get(url(running, "profileAndServicesExt/profile")).status_code == 200
        started = time.perf_counter()
        running.stop()
        elapsed = time.perf_counter() - started
    finally:
        logging.getLogger("uvicorn").removeHandler(handler)
    assert [r.getMessage() for r in handler.records if r.levelno >= logging.WARNING] == []
    assert elapsed < 0.8
