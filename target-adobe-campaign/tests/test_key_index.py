"""The key index kept between runs (`key_index_dir`): what a run reads, and every check.

Each case is one that would give a wrong answer if the index were trusted blindly: records
created, changed or deleted in Campaign by someone else, a restored database, a broken file,
another run holding the file, a dry run's pretend writes.
"""

from __future__ import annotations

import typing as t
from urllib.parse import unquote

import pytest
from campaign_client.client import CampaignClient
from target_adobe_campaign.keystore import KeyIndexLockedError, KeyStore

from .helpers import CONTACT_SCHEMA, PROFILES, Run, connection, record, rows, state, writes

if t.TYPE_CHECKING:
    from pathlib import Path

    from crm_sandbox.campaign.inprocess import RunningCampaign

ROUTES = {"contact": {"resource": "profile"}}


def contacts(*ids: str, **values: t.Any) -> list[dict[str, t.Any]]:
    return [record("contact", externalId=i, firstName=f"F{i}", **values) for i in ids]


def run(
    campaign: RunningCampaign, tmp_path: Path, capsys: t.Any, *ids: str, **config: t.Any
) -> Run:
    """One run with the kept index in `tmp_path/keys`, the request log cleared first."""
    campaign.admin.clear_requests()
    target_run = Run(
        campaign, tmp_path, resources=ROUTES, key_index_dir=str(tmp_path / "keys"), **config
    )
    target_run.listen([CONTACT_SCHEMA, *contacts(*ids), state({"at": len(ids)})], capsys)
    return target_run


def profile_reads(campaign: RunningCampaign) -> list[str]:
    """The profile collection reads of the last run: `count`, or each page's `_order`."""
    reads = []
    for request in campaign.admin.requests():
        if request["app"] != "gateway" or request["method"] != "GET":
            continue
        if request["path"].endswith("/profile/_count"):
            reads.append("count")
        elif request["path"].endswith("/profile"):
            query = dict(p.split("=", 1) for p in request["query"].split("&"))
            reads.append(unquote(query.get("_order", "")))
    return reads


def by_key(campaign: RunningCampaign, key: str) -> list[dict[str, t.Any]]:
    return [r for r in campaign.admin.find_rows("profile") if r.get("externalId") == key]


def test_a_kept_index_reads_only_what_changed_since_the_last_run(
    campaign, tmp_path, capsys
) -> None:
    run(campaign, tmp_path, capsys, "k1", "k2", "k3")
    assert profile_reads(campaign)[0] == "lastModified", "a new index reads everything"

    second = run(campaign, tmp_path, capsys, "k1", "k2", "k3", "k4")

    # the catch-up (one page, newest first), the count, and the read-back of the one create
    assert profile_reads(campaign) == ["lastModified desc", "count", "lastModified desc"]
    assert [w["method"] for w in writes(campaign)] == ["POST"]
    assert second.summary["streams"]["contact"]["unchanged"] == 3


def test_a_profile_created_outside_since_the_last_run_is_updated_not_duplicated(
    campaign, tmp_path, capsys
) -> None:
    run(campaign, tmp_path, capsys, "k1")
    client = CampaignClient.from_config(connection(campaign))
    client.post(PROFILES, {"externalId": "k2", "firstName": "Made in Campaign"})

    run(campaign, tmp_path, capsys, "k1", "k2")

    assert [w["method"] for w in writes(campaign)] == ["PATCH"]
    assert len(by_key(campaign, "k2")) == 1
    assert rows(campaign, "profile", "externalId")["k2"]["firstName"] == "Fk2"


def test_a_value_changed_outside_is_written_back(campaign, tmp_path, capsys) -> None:
    run(campaign, tmp_path, capsys, "k1")
    client = CampaignClient.from_config(connection(campaign))
    client.patch(f"{PROFILES}/{by_key(campaign, 'k1')[0]['PKey']}", {"firstName": "Edited"})

    run(campaign, tmp_path, capsys, "k1")

    assert rows(campaign, "profile", "externalId")["k1"]["firstName"] == "Fk1"


def test_a_profile_deleted_outside_makes_the_index_read_everything_again(
    campaign, tmp_path, capsys
) -> None:
    """A seeded profile (older than any the run wrote) is deleted: only the count tells."""
    run(campaign, tmp_path, capsys, "k1", "k2")
    seeded = next(r for r in campaign.admin.find_rows("profile") if not r.get("externalId"))
    CampaignClient.from_config(connection(campaign)).delete(f"{PROFILES}/{seeded['PKey']}")

    run(campaign, tmp_path, capsys, "k1", "k2")

    assert profile_reads(campaign) == ["lastModified desc", "count", "lastModified"]
    assert writes(campaign) == []


def test_an_indexed_profile_deleted_outside_is_created_again(campaign, tmp_path, capsys) -> None:
    run(campaign, tmp_path, capsys, "k1", "k2")
    client = CampaignClient.from_config(connection(campaign))
    client.delete(f"{PROFILES}/{by_key(campaign, 'k1')[0]['PKey']}")

    run(campaign, tmp_path, capsys, "k1", "k2")

    # the count tells (or, when k1 was the newest record indexed, the newest-record check)
    assert "lastModified" in profile_reads(campaign)
    assert [w["method"] for w in writes(campaign)] == ["POST"]
    assert len(by_key(campaign, "k1")) == 1


def test_a_restored_database_makes_the_index_read_everything_again(
    campaign, tmp_path, capsys
) -> None:
    """After a restore the index's newest record is gone (a new one keeps the count)."""
    run(campaign, tmp_path, capsys, "k1")
    campaign.restore()  # the seeded data again: k1 is gone, the counts are the seed's
    client = CampaignClient.from_config(connection(campaign))
    client.post(PROFILES, {"firstName": "keeps the count"})  # the count alone would not see it

    run(campaign, tmp_path, capsys, "k1")

    assert "lastModified" in profile_reads(campaign)
    assert [w["method"] for w in writes(campaign)] == ["POST"]


@pytest.mark.parametrize("setting", [{"key_index_max_age_hours": 0}, {}])
def test_max_age_and_other_resources_give_a_full_read(campaign, tmp_path, capsys, setting) -> None:
    run(campaign, tmp_path, capsys, "k1")
    routes = ROUTES if setting else {"contact": {"resource": "profile", "adopt_by": "email"}}
    campaign.admin.clear_requests()
    Run(
        campaign, tmp_path, resources=routes, key_index_dir=str(tmp_path / "keys"), **setting
    ).listen([CONTACT_SCHEMA, *contacts("k1")], capsys)
    # max age 0: too old at once; another adopt_by: another index file
    assert profile_reads(campaign)[0] == "lastModified"
    assert writes(campaign) == []


def test_an_unreadable_index_is_set_aside_and_read_again(campaign, tmp_path, capsys) -> None:
    run(campaign, tmp_path, capsys, "k1")
    (index,) = (tmp_path / "keys").glob("*.sqlite")
    index.write_bytes(b"not a database" * 100)

    run(campaign, tmp_path, capsys, "k1")

    assert writes(campaign) == []
    assert index.with_suffix(".broken").exists()


def test_a_second_run_on_the_same_index_is_refused(campaign, tmp_path, capsys) -> None:
    run(campaign, tmp_path, capsys, "k1")
    (index,) = (tmp_path / "keys").glob("*.sqlite")
    held = KeyStore(index, durable=True)
    try:
        with pytest.raises(KeyIndexLockedError, match="in use by another run"):
            run(campaign, tmp_path, capsys, "k1")
    finally:
        held.close()


def test_a_dry_run_leaves_the_kept_index_as_it_was(campaign, tmp_path, capsys) -> None:
    run(campaign, tmp_path, capsys, "k1")
    dry = run(campaign, tmp_path, capsys, "k1", "k2", dry_run=True)
    assert dry.summary["streams"]["contact"]["created"] == 1

    run(campaign, tmp_path, capsys, "k1", "k2")

    assert [w["method"] for w in writes(campaign)] == ["POST"]
    assert len(by_key(campaign, "k2")) == 1
