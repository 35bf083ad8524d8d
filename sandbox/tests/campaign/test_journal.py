"""The I/O Events journal (events.adobe.io): paging, end of journal, expiry, auth, faults."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from crm_sandbox.campaign.config import OTHER_CLIENT_ID, OTHER_CLIENT_SECRET
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import serve_campaign

PROFILES = 80
SEED = 5
DAY = 86400


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(PROFILES, projects=0), seed=SEED)


@pytest.fixture
def journal(campaign: RunningCampaign) -> requests.Session:
    return campaign.journal_session()


@pytest.fixture(autouse=True)
def _fresh(campaign: RunningCampaign) -> Iterator[None]:
    """Each test starts from fresh data (an empty journal) and leaves default controls."""
    campaign.admin.reset(PROFILES, SEED, projects=0)
    yield
    campaign.admin.clear_faults()
    campaign.admin.set_config(journal_retention_days=7, journal_absolute_links=False)
    campaign.admin.shift_clock(-campaign.admin.clock()["offset"])


def next_link(campaign: RunningCampaign, resp: requests.Response) -> str:
    """The `next` link, resolved against the journal URL (Adobe's links are host-relative)."""
    return urljoin(campaign.info["journal_url"], resp.links["next"]["url"])


def since_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["since"][0]


def read_to_end(campaign, journal, first: str) -> tuple[list[dict], list[dict], requests.Response]:
    """Follow `next` links until the 204; return the events, the pages and the 204."""
    events, pages, href = [], [], first
    while True:
        resp = journal.get(href)
        if resp.status_code == 204:
            return events, pages, resp
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body)
        events += body["events"]
        href = next_link(campaign, resp)


def send(campaign, name: str = "DM190", profiles: int = 10, **rates: float) -> dict:
    return campaign.admin.simulate_send(
        name, profiles=profiles, label=f"Label {name}", campaign="2019LoyaltyCamp", **rates
    )


def test_pages_follow_next_links_to_a_204(campaign, journal):
    sent = send(campaign, profiles=12, open_rate=0.5, click_rate=0.5)
    total = sent["journal_events"]
    assert total == sum(sent["counts"].values())
    first = f"{campaign.info['journal_url']}?limit=5"
    events, pages, end = read_to_end(campaign, journal, first)
    assert len(events) == total == campaign.admin.journal()["count"]
    positions = [e["position"] for e in events]
    assert len(set(positions)) == total
    for page in pages:
        assert 1 <= page["_page"]["count"] == len(page["events"]) <= 5
        assert page["_page"]["last"] == page["events"][-1]["position"]
    # the 204: retry-after, a next link at the same position (limit kept) and a validate link
    assert end.headers["retry-after"] == "10"
    assert not end.content
    link = end.links["next"]["url"]
    assert link.startswith("/events/organizations/98765/integrations/43210/")  # host-relative
    assert since_of(link) == positions[-1]
    assert parse_qs(urlsplit(link).query)["limit"] == ["5"]
    assert "/validate?since=" in end.links["validate"]["url"]
    # new events later show up on that same link
    send(campaign, "DM191", profiles=2)
    more = journal.get(next_link(campaign, end))
    assert more.status_code == 200
    assert {e["event"]["data"][NS + "deliveryName"] for e in more.json()["events"]} == {"DM191"}


NS = "https://ns.adobe.com/experience/campaign/"


def test_a_batch_never_spans_two_units_and_limit_is_an_upper_bound(campaign, journal):
    first = send(campaign, "DM1", profiles=3)
    send(campaign, "DM2", profiles=3)
    body = journal.get(campaign.info["journal_url"], params={"limit": 100}).json()
    assert body["_page"]["count"] == first["journal_events"] == 3


def test_oldest_by_default_latest_jumps_to_the_end(campaign, journal):
    send(campaign, "DM1", profiles=4)
    stats = campaign.admin.journal()
    oldest = journal.get(campaign.info["journal_url"]).json()["events"][0]["position"]
    assert oldest == stats["oldest_position"]
    latest = journal.get(campaign.info["journal_url"], params={"latest": "true", "limit": 3})
    assert latest.status_code == 204
    assert since_of(latest.links["next"]["url"]) == stats["newest_position"]
    send(campaign, "DM2", profiles=2)
    after = journal.get(next_link(campaign, latest)).json()
    assert [e["event"]["data"][NS + "deliveryName"] for e in after["events"]] == ["DM2"] * 2


def test_an_empty_journal_answers_204(campaign, journal):
    resp = journal.get(campaign.info["journal_url"])
    assert resp.status_code == 204
    assert resp.headers["retry-after"] == "10"
    send(campaign, "DM1", profiles=1)
    assert journal.get(next_link(campaign, resp)).status_code == 200


def test_position_past_retention_is_410_and_reading_resumes_at_the_oldest(campaign, journal):
    send(campaign, "DM1", profiles=6)
    page = journal.get(campaign.info["journal_url"], params={"limit": 2})
    stale = next_link(campaign, page)
    campaign.admin.shift_clock(8 * DAY)
    journal = campaign.journal_session()  # the old token expired too
    send(campaign, "DM2", profiles=3)
    gone = journal.get(stale)
    assert gone.status_code == 410
    assert gone.text == f"Events at position {since_of(stale)} have expired."
    validate = urljoin(campaign.info["journal_url"] + "/", f"validate?since={since_of(stale)}")
    assert journal.get(validate).status_code == 410
    oldest = journal.get(campaign.info["journal_url"]).json()["events"]
    assert {e["event"]["data"][NS + "deliveryName"] for e in oldest} == {"DM2"}
    # the last position read before the expiry stays usable when nothing after it was lost
    end = read_to_end(campaign, journal, campaign.info["journal_url"])[2]
    campaign.admin.shift_clock(8 * DAY)
    journal = campaign.journal_session()
    assert journal.get(campaign.info["journal_url"]).status_code == 204  # all expired
    assert journal.get(next_link(campaign, end)).status_code == 204
    assert campaign.admin.journal()["count"] == 0


def test_retention_is_a_setting(campaign, journal):
    send(campaign, "DM1", profiles=2)
    campaign.admin.set_config(journal_retention_days=1)
    campaign.admin.shift_clock(2 * DAY)
    assert campaign.journal_session().get(campaign.info["journal_url"]).status_code == 204


def test_positions_of_a_former_journal_are_gone(campaign, journal):
    send(campaign, "DM1", profiles=2)
    link = next_link(campaign, journal.get(campaign.info["journal_url"]))
    campaign.admin.reset(PROFILES, SEED, projects=0)  # a new journal
    assert journal.get(link).status_code == 410


@pytest.mark.parametrize(
    "params",
    [{"since": "not-a-position"}, {"limit": "0"}, {"limit": "-3"}, {"limit": "ten"}],
)
def test_malformed_since_or_limit_is_400(campaign, journal, params):
    assert journal.get(campaign.info["journal_url"], params=params).status_code == 400


def test_absolute_links_setting(campaign, journal):
    send(campaign, "DM1", profiles=1)
    campaign.admin.set_config(journal_absolute_links=True)
    resp = journal.get(campaign.info["journal_url"])
    assert resp.links["next"]["url"].startswith(campaign.info["journal_url"] + "?since=")


def plain(campaign: RunningCampaign, **headers: str) -> requests.Response:
    return requests.get(
        campaign.info["journal_url"],
        headers={k.replace("_", "-"): v for k, v in headers.items()},
        verify=campaign.info["ca_file"],
    )


def test_auth_failures(campaign):
    info = campaign.info
    token = campaign.token()
    org = info["ims_org_id"]
    key = info["client_id"]
    missing = plain(campaign, x_api_key=key, x_ims_org_id=org)
    assert missing.status_code == 401
    assert missing.json() == {"error_code": "401013", "message": "Oauth token is not valid"}
    bad = plain(campaign, authorization="Bearer nope", x_api_key=key, x_ims_org_id=org)
    assert bad.status_code == 401
    bearer = f"Bearer {token}"
    assert plain(campaign, authorization=bearer, x_ims_org_id=org).status_code == 403
    assert plain(campaign, authorization=bearer, x_api_key="x", x_ims_org_id=org).status_code == 403
    wrong_org = plain(campaign, authorization=bearer, x_api_key=key, x_ims_org_id="X@AdobeOrg")
    assert wrong_org.status_code == 403
    assert plain(campaign, authorization=bearer, x_api_key=key).status_code == 403
    other = campaign.token(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET)
    other_org = "OTHERORG0000000000@AdobeOrg"
    foreign = plain(
        campaign, authorization=f"Bearer {other}", x_api_key=OTHER_CLIENT_ID, x_ims_org_id=other_org
    )
    assert foreign.status_code == 403  # the registration belongs to the sandbox credential
    mixed = plain(campaign, authorization=f"Bearer {other}", x_api_key=key, x_ims_org_id=org)
    assert mixed.status_code == 403
    ok = plain(campaign, authorization=bearer, x_api_key=key, x_ims_org_id=org)
    assert ok.status_code == 204
    campaign.admin.shift_clock(2 * DAY)  # the token expired
    assert plain(campaign, authorization=bearer, x_api_key=key, x_ims_org_id=org).status_code == 401


def test_faults_on_the_journal(campaign, journal):
    send(campaign, "DM1", profiles=2)
    campaign.admin.inject_journal_fault("429", retry_after=3)
    throttled = journal.get(campaign.info["journal_url"])
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    campaign.admin.inject_journal_fault("503")
    assert journal.get(campaign.info["journal_url"]).status_code == 503
    assert journal.get(campaign.info["journal_url"]).status_code == 200
    logged = [r for r in campaign.admin.requests() if r["app"] == "events"]
    assert [r["status"] for r in logged][-3:] == [429, 503, 200]


ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
