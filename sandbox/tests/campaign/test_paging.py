"""Campaign list paging: 25 by default, `_lineCount`, opaque `_lineStart`, big tables, `_order`."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import RST, serve_campaign, url

PROFILES = 230


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(PROFILES, projects=40), seed=3)


@pytest.fixture(autouse=True)
def _default_settings(campaign: RunningCampaign) -> Iterator[None]:
    yield
    campaign.admin.set_config(big_table_threshold=100_000, absolute_hrefs=True)


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


def test_default_page_is_25_with_count_and_next(campaign, api):
    body = api.get(url(campaign, "profileAndServices/profile")).json()
    assert len(body["content"]) == 25
    assert body["serverSidePagination"] is True
    next_href = body["next"]["href"]
    query = parse_qs(urlsplit(next_href).query)
    assert query["_lineCount"] == ["25"]
    assert query["_lineStart"][0].startswith("@")
    count = api.get(body["count"]["href"]).json()
    assert count == {"count": PROFILES}


def test_following_next_reads_every_record_once(campaign, api):
    items, pages = read_all(api, url(campaign, "profileAndServices/profile?_lineCount=50"))
    pkeys = [p["PKey"] for p in items]
    assert len(pkeys) == PROFILES == len(set(pkeys))
    assert pages == 5  # 50+50+50+50+30, the last page has no next


def test_pkeys_are_opaque_and_not_sequential(campaign, api):
    items = api.get(url(campaign, "profileAndServices/profile?_lineCount=10")).json()["content"]
    pkeys = [p["PKey"] for p in items]
    assert all(k.startswith("@") and len(k) > 20 for k in pkeys)
    assert pkeys != sorted(pkeys)
    assert len({k[:6] for k in pkeys}) == 10  # no shared, counter-like prefix
    again = api.get(url(campaign, "profileAndServices/profile?_lineCount=10")).json()["content"]
    assert [p["PKey"] for p in again] == pkeys  # stable per record


@pytest.mark.parametrize("direction", ["", "%20desc"])
def test_order_by_a_sortable_field(campaign, api, direction):
    first = url(campaign, f"profileAndServices/profile?_order=lastName{direction}&_lineCount=40")
    items, _ = read_all(api, first)
    names = [p["lastName"] for p in items]
    assert len(items) == PROFILES
    assert names == sorted(names, reverse=bool(direction))


def test_next_href_keeps_order_and_filters(campaign, api):
    path = "profileAndServices/profile/byText?text=a&_order=email%20desc&_lineCount=5"
    first = url(campaign, path)
    body = api.get(first).json()
    href = body["next"]["href"]
    assert "/byText?" in href
    assert "_order=email%20desc" in href
    assert "text=a" in href


def test_order_on_a_field_that_is_not_sortable(campaign, api):
    resp = api.get(url(campaign, "profileAndServices/profile?_order=phone"))
    assert resp.status_code == 500
    assert resp.json()["message"].startswith(RST)


def test_projection_of_one_field(campaign, api):
    body = api.get(url(campaign, "profileAndServices/profile/email?_lineCount=10")).json()
    assert len(body["content"]) == 10
    assert all(isinstance(e, str) and "@" in e for e in body["content"])
    assert "/profile/email?" in body["next"]["href"]


@pytest.mark.parametrize("start", ["25", "@25", "@AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "abc"])
def test_hand_made_line_start_is_rejected(campaign, api, start):
    resp = api.get(url(campaign, f"profileAndServices/profile?_lineStart={start}"))
    assert resp.status_code == 500
    body = resp.json()
    assert body["code"] == 500
    assert "_lineStart" in body["message"]


def test_line_start_is_only_valid_in_its_own_listing(campaign, api):
    body = api.get(url(campaign, "profileAndServices/profile?_lineCount=5")).json()
    token = parse_qs(urlsplit(body["next"]["href"]).query)["_lineStart"][0]
    profiles = url(campaign, "profileAndServices/profile")
    elsewhere = api.get(f"{profiles}?_order=email&_lineStart={token}")
    assert elsewhere.status_code == 500
    edited = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert api.get(f"{profiles}?_lineStart={edited}").status_code == 500
    other_size = api.get(f"{profiles}?_lineCount=7&_lineStart={token}")
    assert other_size.status_code == 200  # same listing, another page size


def test_big_table_has_no_next_unless_forced(campaign, api):
    campaign.admin.set_config(big_table_threshold=100)
    body = api.get(url(campaign, "profileAndServices/profile")).json()
    assert len(body["content"]) == 25
    assert "next" not in body  # silently truncated, as Campaign does above XtkBigTableThreshold
    assert api.get(body["count"]["href"]).json() == {"count": PROFILES}
    forced, pages = read_all(
        api, url(campaign, "profileAndServices/profile?_forcePagination=true&_lineCount=100")
    )
    assert len(forced) == PROFILES
    assert pages == 3
    # A smaller table (cusProject, 40 rows) still pages normally.
    projects, _ = read_all(api, url(campaign, "profileAndServicesExt/cusProject?_lineCount=15"))
    assert len(projects) == 40


def test_threshold_is_on_table_size_not_on_the_result(campaign, api):
    campaign.admin.set_config(big_table_threshold=PROFILES - 1)
    body = api.get(url(campaign, "profileAndServices/profile/byText?text=&_lineCount=5")).json()
    assert "next" not in body
    campaign.admin.set_config(big_table_threshold=PROFILES)
    body = api.get(url(campaign, "profileAndServices/profile?_lineCount=5")).json()
    assert "next" in body  # exactly at the threshold is not "above"


def test_relative_hrefs(campaign, api):
    campaign.admin.set_config(absolute_hrefs=False)
    body = api.get(url(campaign, "profileAndServices/profile?_lineCount=2")).json()
    assert body["next"]["href"].startswith("/profileAndServices/profile?")
    assert body["content"][0]["href"].startswith("/profileAndServices/profile/@")
    resolved = campaign.info["api_url"] + body["next"]["href"]
    assert api.get(resolved).status_code == 200


def test_invalid_line_count(campaign, api):
    for bad in ("0", "-3", "ten"):
        resp = api.get(url(campaign, "profileAndServices/profile"), params={"_lineCount": bad})
        assert resp.status_code == 500


def test_json_suffix(campaign, api):
    body = api.get(url(campaign, "profileAndServices/profile.json?_lineCount=1")).json()
    assert len(body["content"]) == 1
