"""The Campaign client against the in-process fake: auth, retries, paging, errors, POSTs."""

from __future__ import annotations

import pytest
import requests
from tap_adobe_campaign.auth import AuthenticationError
from tap_adobe_campaign.client import (
    AmbiguousWriteError,
    CampaignAPIError,
    CampaignClient,
    RetriableCampaignError,
)
from tap_adobe_campaign.testing import FakeCampaign, Fault

PROFILES = "profileAndServicesExt/profile"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeCampaign:
    return FakeCampaign()


def make_client(fake: FakeCampaign, **overrides) -> CampaignClient:
    settings = {
        "organization": "test-org",
        "client_id": "client",
        "client_secret": "secret",
        "ims_url": fake.ims_url,
        "api_base_url": fake.api_base_url,
        "max_retries": 3,
        **overrides,
    }
    client = CampaignClient.from_config(settings)
    client.retry = type(client.retry)(max_retries=3, base=0.001, cap=0.01)
    client._send = client.retry.wrap(client._send_once)
    client._send_post = client.retry.wrap(
        client._send_once, giveup=lambda exc: not client.retry.safe_to_repeat_post(exc)
    )
    fake.install(client)
    return client


def test_token_is_cached_and_renewed_before_expiry(fake: FakeCampaign) -> None:
    client = make_client(fake)
    clock = Clock()
    client.authenticator._clock = clock
    fake.expires_in = 3600
    client.get_json(PROFILES)
    client.get_json(PROFILES)
    assert fake.tokens_issued == 1
    clock.now += 3600 - 360 + 1  # inside the 10 % margin (360 s) before expiry
    client.get_json(PROFILES)
    assert fake.tokens_issued == 2


def test_a_401_fetches_a_new_token_once_and_replays(fake: FakeCampaign) -> None:
    client = make_client(fake)
    client.get_json(PROFILES)
    fake.revoke_tokens()
    assert client.get_json(PROFILES) == {"content": []}
    assert fake.tokens_issued == 2


def test_wrong_secret_is_reported_without_the_secret(fake: FakeCampaign) -> None:
    client = make_client(fake, client_secret="wrong-secret-value")
    with pytest.raises(AuthenticationError, match="invalid_client") as info:
        client.get_json(PROFILES)
    assert "wrong-secret-value" not in str(info.value)


def test_429_is_retried_after_retry_after(fake: FakeCampaign) -> None:
    client = make_client(fake)
    waits = []
    client._send = client.retry.wrap(
        client._send_once, on_backoff=lambda details: waits.append(details["wait"])
    )
    fake.fail_next(
        Fault(
            "GET",
            429,
            {"error_code": "429050", "message": "Too many requests"},
            {"Retry-After": "0.05"},
        )
    )
    assert client.get_json(PROFILES) == {"content": []}
    assert waits == [0.05]


def test_paging_follows_next_href_and_forces_pagination(fake: FakeCampaign) -> None:
    for i in range(7):
        fake.add(PROFILES, externalId=f"c{i}")
    client = make_client(fake)
    rows = list(client.iter_records(PROFILES, line_count=3))
    assert [r["externalId"] for r in rows] == [f"c{i}" for i in range(7)]
    gets = [url for method, url, _ in fake.requests if method == "GET"]
    assert len(gets) == 3
    assert "_forcePagination=true" in gets[0]
    assert "_lineCount=3" in gets[0]
    assert gets[1].startswith("https://campaign.test/test-org/campaign/profileAndServicesExt/")


def test_campaign_error_carries_code_message_and_field(fake: FakeCampaign) -> None:
    client = make_client(fake)
    with pytest.raises(CampaignAPIError) as info:
        client.post(PROFILES, {"gender": "robot"})
    assert info.value.status == 500
    assert info.value.field == "gender"
    assert "enumeration" in info.value.error_message


def test_post_is_not_repeated_after_an_ambiguous_failure(fake: FakeCampaign) -> None:
    client = make_client(fake)
    fake.fail_next(Fault("POST", 503, {"code": 503, "message": "busy"}, apply_first=True))
    with pytest.raises(AmbiguousWriteError):
        client.post(PROFILES, {"externalId": "c1"})
    assert len(fake.writes()) == 1
    assert len(fake.records[PROFILES]) == 1  # it was created after all


def test_post_is_repeated_after_429_and_after_a_refused_connection(fake: FakeCampaign) -> None:
    client = make_client(fake)
    fake.fail_next(Fault("POST", 429, {"error_code": "429050", "message": "Too many requests"}))
    fake.fail_next(Fault("POST", exception=requests.exceptions.ConnectTimeout("connect timed out")))
    created = client.post(PROFILES, {"externalId": "c1"})
    assert created["PKey"].startswith("@")
    assert len(fake.records[PROFILES]) == 1


def test_a_read_timeout_on_post_is_ambiguous(fake: FakeCampaign) -> None:
    client = make_client(fake)
    fake.fail_next(Fault("POST", exception=requests.exceptions.ReadTimeout("read timed out")))
    with pytest.raises(AmbiguousWriteError):
        client.post(PROFILES, {"externalId": "c1"})


def test_gets_give_up_after_max_retries(fake: FakeCampaign) -> None:
    client = make_client(fake)
    for _ in range(4):
        fake.fail_next(Fault("GET", 502, {"code": 502, "message": "bad gateway"}))
    with pytest.raises(RetriableCampaignError):
        client.get_json(PROFILES)


def test_relative_and_absolute_hrefs_resolve_under_the_api_root(fake: FakeCampaign) -> None:
    client = make_client(fake)
    root = "https://campaign.test/test-org/campaign/"
    assert client.url("/profileAndServices/profile?_lineStart=@x") == (
        root + "profileAndServices/profile?_lineStart=@x"
    )
    assert client.url("/test-org/campaign/profileAndServices/profile") == (
        root + "profileAndServices/profile"
    )
    assert client.url(root + "x", {"_order": "lastModified desc"}) == (
        root + "x?_order=lastModified%20desc"
    )
