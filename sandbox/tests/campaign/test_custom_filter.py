"""The tenant's custom filter `byLastModified` (lastModified >= parameter) with ordered paging."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import RST, serve_campaign, url

PROFILES = 150
FILTER = "profileAndServicesExt/profile/byLastModified"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(PROFILES, projects=0), seed=11)


@pytest.fixture(autouse=True)
def _default_settings(campaign: RunningCampaign) -> Iterator[None]:
    yield
    campaign.admin.set_config(big_table_threshold=100_000)


def read_all(api, first: str) -> tuple[list, int]:
    items, pages, href = [], 0, first
    while href:
        resp = api.get(href)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items += body["content"]
        pages += 1
        href = body.get("next", {}).get("href")
    return items, pages


def all_modified(campaign, api) -> list[str]:
    items, _ = read_all(api, url(campaign, "profileAndServicesExt/profile?_lineCount=500"))
    return sorted(p["lastModified"] for p in items)


def test_filter_is_listed_with_the_custom_filters(campaign, api):
    meta = api.get(url(campaign, "profileAndServicesExt/resourceType/profile")).json()
    filters = api.get(meta["filters"]["href"]).json()["content"]
    entry = next(f for f in filters if f["name"] == "byLastModified")
    assert entry["category"] == "Custom filters"
    assert entry["data"] == (
        "/profileAndServicesExt/profile/byLastModified?lastModified_parameter=$value"
    )
    assert entry["metadata"]["lastModified_parameter"]["type"] == "datetime"
    plain = api.get(url(campaign, "profileAndServices/resourceType/profile")).json()
    names = [f["name"] for f in api.get(plain["filters"]["href"]).json()["content"]]
    assert "byLastModified" not in names  # a custom filter: Ext endpoint only


def test_ascending_forced_pages_return_every_match_once_in_order(campaign, api):
    stamps = all_modified(campaign, api)
    since = stamps[len(stamps) // 3]
    expected = [s for s in stamps if s >= since]
    campaign.admin.set_config(big_table_threshold=20)  # the table is "big": next needs forcing
    first = url(
        campaign,
        f"{FILTER}?lastModified_parameter={since.replace(' ', '%20')}"
        "&_order=lastModified&_forcePagination=true&_lineCount=9",
    )
    items, pages = read_all(api, first)
    got = [p["lastModified"] for p in items]
    assert got == expected  # ascending, nothing skipped or repeated
    assert len({p["PKey"] for p in items}) == len(items)
    assert pages == -(-len(expected) // 9)  # the last page has no next


def test_big_table_without_forcing_has_no_next(campaign, api):
    stamps = all_modified(campaign, api)
    campaign.admin.set_config(big_table_threshold=20)
    resp = api.get(
        url(campaign, FILTER),
        params={"lastModified_parameter": stamps[0], "_order": "lastModified", "_lineCount": 5},
    )
    body = resp.json()
    assert len(body["content"]) == 5
    assert "next" not in body  # silently cut, as Campaign does


def test_parameter_takes_t_separator_and_plain_dates(campaign, api):
    stamps = all_modified(campaign, api)
    pivot = stamps[len(stamps) // 2]
    with_t = api.get(
        url(campaign, f"{FILTER}/_count"),
        params={"lastModified_parameter": pivot.replace(" ", "T")},
    ).json()
    assert with_t == {"count": sum(s >= pivot for s in stamps)}
    day = pivot[:10]
    by_day = api.get(url(campaign, f"{FILTER}/_count"), params={"lastModified_parameter": day})
    assert by_day.json() == {"count": sum(s >= f"{day} 00:00:00.000Z" for s in stamps)}


def test_bad_parameter_and_plain_endpoint_are_refused(campaign, api):
    resp = api.get(url(campaign, FILTER), params={"lastModified_parameter": "yesterday"})
    assert resp.status_code == 500
    assert resp.json()["message"].startswith(RST)
    plain = api.get(
        url(campaign, "profileAndServices/profile/byLastModified"),
        params={"lastModified_parameter": "2024-01-01"},
    )
    assert plain.status_code == 500  # unknown segment on the plain endpoint: "Oops"
