"""Pure logic, no HTTP: retry waits, URL resolution, dates, Campaign error messages."""

from __future__ import annotations

import datetime

import pytest
import requests
from campaign_client.client import (
    CampaignAPIError,
    CampaignClient,
    RetriableCampaignError,
    RetryPolicy,
    never_sent,
)
from campaign_client.dates import from_campaign_datetime, to_campaign_date, to_campaign_datetime

RST = "RST-360011 An error has occurred - please contact your administrator."


def throttled(retry_after: str | None) -> RetriableCampaignError:
    response = requests.Response()
    response.status_code = 429
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return RetriableCampaignError("429", response)


def test_waits_honour_retry_after_else_grow_exponentially_up_to_the_cap() -> None:
    waits = RetryPolicy(base=1.0, cap=4.0).wait_generator()
    assert next(waits) == 0.0
    assert waits.send(throttled("7")) == 7.0
    exponential = [waits.send(throttled(None)) for _ in range(5)]
    assert 1.0 <= exponential[0] <= 2.0  # attempt 1: 2 s, jittered down to half
    assert all(2.0 <= w <= 4.0 for w in exponential[2:])  # capped at 4 s
    assert waits.send(throttled("Wed, 21 Oct 2026 07:28:00 GMT")) <= 4.0  # HTTP-date: backoff


def test_only_a_request_that_never_connected_counts_as_never_sent() -> None:
    assert never_sent(requests.exceptions.ConnectTimeout("connect"))
    assert not never_sent(requests.exceptions.ReadTimeout("read"))
    assert not never_sent(requests.exceptions.ConnectionError("reset by peer"))


def test_hrefs_resolve_under_the_api_root() -> None:
    client = CampaignClient(
        organization="org", client_id="c", client_secret="s", api_base_url="https://api.test"
    )
    root = "https://api.test/org/campaign/"
    assert client.url("/profileAndServices/profile?_lineStart=@x") == (
        root + "profileAndServices/profile?_lineStart=@x"
    )
    assert client.url("/org/campaign/profileAndServices/profile") == (
        root + "profileAndServices/profile"
    )
    assert client.url(root + "x", {"_order": "lastModified desc"}) == (
        root + "x?_order=lastModified%20desc"
    )


def test_campaign_dates_round_trip() -> None:
    moment = from_campaign_datetime("2019-09-25 23:20:35.007Z")
    assert moment == datetime.datetime(2019, 9, 25, 23, 20, 35, 7000, tzinfo=datetime.UTC)
    assert to_campaign_datetime(moment) == "2019-09-25 23:20:35.007Z"
    paris = datetime.timezone(datetime.timedelta(hours=2))
    assert to_campaign_datetime(datetime.datetime(2024, 6, 1, 2, 0, tzinfo=paris)) == (
        "2024-06-01 00:00:00.000Z"
    )
    assert to_campaign_date(datetime.datetime(2024, 6, 1, 23, 0)) == "2024-06-01"
    assert from_campaign_datetime("") is None


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (
            f"{RST} The value 'x' is not valid for the 'nms:recipient:gender' enumeration of the "
            "'@gender' field",
            "gender",
        ),
        (f"{RST} Cannot update the 'age' property that is read-only", "age"),
        (f"{RST} 'nope' property is not valid for the 'profile' resource.", "nope"),
        (f"{RST} The email address 'bad' is not valid ('email' field).", "email"),
        (
            f"{RST} Value too long for field 'First name' (firstName) of the 'profile' resource: "
            "31 characters, maximum 30.",
            "firstName",
        ),
        (
            f"{RST} The 'Name' (cusName) field of the 'cusProject' resource is mandatory and must "
            "be populated.",
            "cusName",
        ),
        (
            "'O5iRp40EGA' attribute unknown (see definition of 'Profiles (nms:recipient)' schema). "
            "XTK-170036 Unable to parse expression '@id = @O5iRp40EGA'.",
            None,
        ),
    ],
)
def test_the_offending_field_is_read_from_campaigns_message(message: str, field: str) -> None:
    assert CampaignAPIError(500, "500", message, "POST /x").field == field


def test_tls_errors_are_not_retried_but_connection_errors_are() -> None:
    policy = RetryPolicy(max_retries=3, base=0.0, cap=0.0)
    calls: list[type[Exception]] = []

    def send(error: type[Exception]) -> requests.Response:
        calls.append(error)
        raise error("failed")

    with pytest.raises(requests.exceptions.SSLError):
        policy.wrap(send)(requests.exceptions.SSLError)
    assert len(calls) == 1  # a wrong CA bundle is not fixed by waiting
    with pytest.raises(requests.exceptions.ConnectionError):
        policy.wrap(send)(requests.exceptions.ConnectionError)
    assert len(calls) == 1 + 4
