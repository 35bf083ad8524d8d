"""The Campaign client against the Campaign sandbox: auth, gateway errors, retries, paging."""

from __future__ import annotations

import logging
import time
import typing as t

import pytest
from campaign_client.auth import AuthenticationError
from campaign_client.client import (
    AccessDeniedError,
    AmbiguousWriteError,
    CampaignAPIError,
    CampaignClient,
    RecordRefusedError,
    RetriableCampaignError,
)
from sync_support.retry import RetryBudgetExceededError

from .conftest import connection, gateway_requests

if t.TYPE_CHECKING:
    from crm_sandbox.campaign.inprocess import RunningCampaign

PROFILES = "profileAndServicesExt/profile"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition: t.Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def make_client(campaign: RunningCampaign, **overrides: t.Any) -> CampaignClient:
    return CampaignClient.from_config(connection(campaign, **overrides))


def test_token_is_cached_and_renewed_before_expiry(campaign: RunningCampaign) -> None:
    campaign.admin.set_config(token_lifetime=3600)
    client = make_client(campaign)
    clock = Clock()
    client.authenticator._clock = clock
    client.get_json(PROFILES)
    client.get_json(PROFILES)
    assert len(gateway_requests(campaign, "ims")) == 1
    clock.now += 3600 - 360 + 1  # inside the 10 % margin (360 s) before expiry
    client.get_json(PROFILES)
    assert len(gateway_requests(campaign, "ims")) == 2
    assert [r["status"] for r in gateway_requests(campaign)] == [200, 200, 200]


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_401013_fetches_a_new_token_once_and_replays(campaign: RunningCampaign, how) -> None:
    client = make_client(campaign)
    client.get_json(PROFILES)
    if how == "revoked":
        campaign.admin.revoke_tokens()
    else:
        campaign.admin.shift_clock(86_400)  # the server's clock: the token is past expires_in
    assert len(client.get_json(PROFILES)["content"]) == 25
    assert [r["status"] for r in gateway_requests(campaign)] == [200, 401, 200]
    assert len(gateway_requests(campaign, "ims")) == 2


def test_wrong_secret_is_reported_without_the_secret(campaign: RunningCampaign) -> None:
    client = make_client(campaign, client_secret="wrong-secret-value")
    with pytest.raises(AuthenticationError, match="refused the client credentials") as info:
        client.get_json(PROFILES)
    assert "wrong-secret-value" not in str(info.value)


def test_a_token_of_another_organization_is_a_403023_with_a_hint(campaign) -> None:
    client = make_client(campaign, organization="other-org")
    with pytest.raises(AccessDeniedError, match="403023: Profile is not valid") as info:
        client.get_json(PROFILES)
    assert "projectedProductContext" in str(info.value)


def test_an_unknown_tenant_is_a_fatal_error_not_a_refused_record(campaign) -> None:
    client = make_client(campaign, organization="no-such-org")
    with pytest.raises(CampaignAPIError, match="Oops") as info:
        client.post(PROFILES, {"externalId": "c1"})
    assert not isinstance(info.value, RecordRefusedError)


def test_429_is_retried_after_retry_after(campaign: RunningCampaign, caplog) -> None:
    client = make_client(campaign)
    campaign.admin.inject_429(retry_after=1)
    with caplog.at_level(logging.WARNING):
        assert len(client.get_json(PROFILES)["content"]) == 25
    assert "Retrying in 1.0 s" in caplog.text
    first, second = gateway_requests(campaign)
    assert (first["status"], second["status"]) == (429, 200)
    assert second["time"] - first["time"] >= 1.0


def test_a_retry_after_longer_than_the_time_budget_fails_at_once(campaign) -> None:
    client = make_client(campaign, max_retries=None, max_retry_seconds=3)
    campaign.admin.inject_429(retry_after=5)
    with pytest.raises(RetryBudgetExceededError, match=r"waiting 5 s more \(Retry-After: 5\)"):
        client.get_json(PROFILES)
    # not retried before the server allows, nor slept past the budget
    assert [r["status"] for r in gateway_requests(campaign)] == [429]


def test_gets_give_up_after_max_retries(campaign: RunningCampaign) -> None:
    client = make_client(campaign, max_retries=1)
    campaign.admin.inject_5xx(502, count=None)
    with pytest.raises(RetriableCampaignError, match="502"):
        client.get_json(PROFILES)
    assert len(gateway_requests(campaign)) == 2


@pytest.mark.parametrize("absolute", [True, False])
def test_paging_follows_next_href_with_forced_pagination(campaign, absolute: bool) -> None:
    campaign.admin.set_config(absolute_hrefs=absolute, big_table_threshold=10)
    client = make_client(campaign)
    rows = list(client.iter_records(PROFILES, line_count=7))
    assert len({r["PKey"] for r in rows}) == 60
    pages = gateway_requests(campaign)
    assert len(pages) == 9
    assert all("_forcePagination=true" in p["query"] for p in pages)
    assert all("_lineStart=@" in p["query"] for p in pages[1:])


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"email": "not-an-email"}, "email", "email address 'not-an-email' is not valid"),
        ({"firstName": "x" * 31}, "firstName", "maximum 30"),
        ({"gender": "robot"}, "gender", "'nms:recipient:gender' enumeration"),
        ({"age": 3}, "age", "read-only"),
    ],
)
def test_refused_records_carry_field_and_reason(campaign, body, field, text) -> None:
    client = make_client(campaign)
    with pytest.raises(RecordRefusedError) as info:
        client.post(PROFILES, {"externalId": "c1", **body})
    assert (info.value.status, info.value.field) == (500, field)
    assert text in info.value.error_message
    assert info.value.error_message.startswith("RST-360011")


def test_a_post_answered_5xx_is_ambiguous_and_not_repeated(campaign: RunningCampaign) -> None:
    client = make_client(campaign)
    campaign.admin.add_fault("503", method="POST")
    with pytest.raises(AmbiguousWriteError):
        client.post(PROFILES, {"externalId": "c1"})
    assert [r["method"] for r in gateway_requests(campaign)] == ["POST"]


def test_a_post_timing_out_is_ambiguous(campaign: RunningCampaign) -> None:
    client = make_client(campaign, request_timeout=1)
    campaign.admin.add_fault("latency", method="POST", latency_ms=1500)
    with pytest.raises(AmbiguousWriteError):
        client.post(PROFILES, {"externalId": "c1"})
    wait_for(lambda: gateway_requests(campaign))  # the sandbox logs the POST when done


def test_a_throttled_post_is_sent_again(campaign: RunningCampaign) -> None:
    client = make_client(campaign)
    campaign.admin.add_fault("429", method="POST", retry_after=1)
    created = client.post(PROFILES, {"externalId": "c1"})
    assert created["PKey"].startswith("@")
    assert [r["status"] for r in gateway_requests(campaign)] == [429, 201]
    assert len(campaign.admin.find_rows("profile", externalId="c1")) == 1
