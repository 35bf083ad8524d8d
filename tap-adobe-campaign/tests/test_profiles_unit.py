"""profiles without a server: the "modified since" custom filter URL and its settings."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

import pytest
from sync_support.settings_check import ConfigError
from tap_adobe_campaign.tap import TapAdobeCampaign

from .fakes import FakeAdapter, query
from .journal_fakes import CONFIG, install

pytestmark = pytest.mark.usefixtures("no_profile_metadata")

RESOURCE = "/org/campaign/profileAndServicesExt/profile"
FILTERED = {
    "modified_since_filter": "byLastModified",
    "modified_since_parameter": "lastModified_parameter",
}
ROWS = [
    {"PKey": "@a", "externalId": "c1", "lastModified": "2026-11-20 10:00:00.000Z"},
    {"PKey": "@b", "externalId": "c2", "lastModified": "2026-11-20 10:00:01.500Z"},
]


def sync(capsys, state: dict | None = None, **config) -> tuple[list, FakeAdapter]:
    capsys.readouterr()
    tap = TapAdobeCampaign(config={**CONFIG, **config}, state=state)
    adapter = FakeAdapter()
    adapter.route(RESOURCE, (200, {}, {"content": ROWS}))
    adapter.route(RESOURCE + "/byLastModified", (200, {}, {"content": ROWS[1:]}))
    install(adapter, tap.client)
    tap.streams["profiles"].sync()
    out = capsys.readouterr().out.splitlines()
    records = [json.loads(line)["record"] for line in out if '"RECORD"' in line]
    return records, adapter


def at(value: str) -> dict:
    return {
        "bookmarks": {
            "profiles": {"replication_key": "lastModified", "replication_key_value": value}
        }
    }


def test_with_a_bookmark_the_custom_filter_gets_it_in_campaigns_date_format(capsys) -> None:
    records, adapter = sync(capsys, at("2026-11-20T10:00:01.500000+00:00"), **FILTERED)
    (page,) = [r for r in adapter.sent if "/campaign/" in (r.url or "")]
    assert urlsplit(page.url).path == RESOURCE + "/byLastModified"
    assert query(page) == {
        "_order": "lastModified",
        "lastModified_parameter": "2026-11-20 10:00:01.500Z",
        "_forcePagination": "true",
        "_lineCount": "500",
    }
    assert "%20" in (page.url or "")  # the space is encoded
    assert [r["externalId"] for r in records] == ["c2"]


def test_the_first_run_reads_the_whole_resource_oldest_first(capsys) -> None:
    records, adapter = sync(capsys, **FILTERED)
    (page,) = [r for r in adapter.sent if "/campaign/" in (r.url or "")]
    assert urlsplit(page.url).path == RESOURCE
    assert "lastModified_parameter" not in unquote(page.url or "")
    assert [r["externalId"] for r in records] == ["c1", "c2"]


def test_without_the_filter_older_rows_are_skipped_client_side(capsys) -> None:
    records, adapter = sync(capsys, at("2026-11-20T10:00:01+00:00"))
    (page,) = [r for r in adapter.sent if "/campaign/" in (r.url or "")]
    assert urlsplit(page.url).path == RESOURCE
    assert [r["externalId"] for r in records] == ["c2"]


def test_filter_and_parameter_go_together() -> None:
    with pytest.raises(ConfigError) as info:
        TapAdobeCampaign(config={**CONFIG, "modified_since_filter": "byLastModified"})
    assert "set both" in info.value.errors[-1]
