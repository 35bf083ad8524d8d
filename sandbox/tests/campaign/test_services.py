"""Services and subscriptions of `profileAndServices`, as Adobe's API documentation drives them.

List services with `_lineCount` and `next`, read one, follow `subscriptions.href` of a service
and of a profile, subscribe (from either side) and unsubscribe.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from tests.campaign.conftest import serve_campaign, url


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(profiles=40, projects=0, tasks=0))


def get(api, href: str) -> dict:
    resp = api.get(href)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_services_list_pages_and_records(campaign, api):
    first = get(api, url(campaign, "profileAndServices/service/?_lineCount=2"))
    assert [s["name"] for s in first["content"]] == ["SVC1", "SVC2"]
    second = get(api, first["next"]["href"])
    assert [s["name"] for s in second["content"]] == ["SVC3"]
    assert "next" not in second
    service = first["content"][0]
    assert service["href"].endswith(f"/profileAndServices/service/{service['PKey']}")
    one = get(api, service["href"])
    assert (one["label"], one["messageType"], one["mode"]) == (
        "Sport Newsletter",
        "email",
        "newsletter",
    )
    assert (one["subScenarioEventType"], one["targetResource"]) == ("subscriptionEvent", "profile")
    assert one["subscriptions"]["href"] == service["href"] + "/subscriptions/"
    kinds = get(api, url(campaign, "profileAndServices/resourceType/service"))["content"]
    assert kinds["subscriptions"]["type"] == "collection"


def test_service_subscriptions_are_listed_with_their_subscriber(campaign, api):
    services = get(api, url(campaign, "profileAndServices/service"))["content"]
    sport = next(s for s in services if s["name"] == "SVC1")
    page = get(api, sport["subscriptions"]["href"] + "?_lineCount=5")
    assert len(page["content"]) == 5
    assert "next" in page
    item = page["content"][0]
    assert item["serviceName"] == "SVC1"
    assert item["service"]["title"] == "Sport Newsletter (SVC1)"
    assert item["href"] == sport["subscriptions"]["href"] + item["PKey"]
    profile = get(api, item["subscriber"]["href"])
    assert profile["email"] == item["subscriber"]["email"] == item["email"]
    seen = list(page["content"])
    while "next" in page:
        page = get(api, page["next"]["href"])
        seen += page["content"]
    assert len({s["PKey"] for s in seen}) == 40 // 3  # every 3rd of the 40 profiles


def test_subscribe_and_unsubscribe_a_profile(campaign, api):
    services = get(api, url(campaign, "profileAndServices/service"))["content"]
    sms = next(s for s in services if s["name"] == "SVC3")
    profile = get(api, url(campaign, "profileAndServices/profile?_lineCount=1"))["content"][0]
    mine = profile["subscriptions"]["href"]
    assert mine.endswith(f"/profile/{profile['PKey']}/subscriptions/")
    before = {s["serviceName"] for s in get(api, mine)["content"]}
    assert "SVC3" not in before
    created = api.post(mine, json={"service": {"PKey": sms["PKey"]}})
    assert created.status_code == 201, created.text
    assert created.json()["service"]["PKey"] == sms["PKey"]
    assert created.json()["subscriber"]["PKey"] == profile["PKey"]
    assert {s["serviceName"] for s in get(api, mine)["content"]} == before | {"SVC3"}
    on_service = get(api, sms["subscriptions"]["href"] + "?_lineCount=100")["content"]
    entry = next(s for s in on_service if s["subscriber"]["PKey"] == profile["PKey"])
    assert api.delete(entry["href"]).status_code == 204
    assert {s["serviceName"] for s in get(api, mine)["content"]} == before
    again = api.post(sms["subscriptions"]["href"], json={"subscriber": {"PKey": profile["PKey"]}})
    assert again.status_code == 201, again.text
    assert again.json()["serviceName"] == "SVC3"
    unknown = api.post(mine, json={"service": {"PKey": profile["PKey"]}})
    assert unknown.status_code == 404
