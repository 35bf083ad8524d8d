"""End to end: `scripts.replay` re-reads one stream of d365-to-campaign, duplicating nothing.

A Campaign-side edit of a synced field stays until the contact changes in D365 (incremental runs
don't see it); replaying the `contact` stream reads every contact again, repairs that profile,
leaves the others untouched (no write), and keeps the other streams' bookmarks.
"""

from __future__ import annotations

from typing import Any

import pytest
from crm_sandbox.testing import Sandbox

from scripts.replay import ReplayError, job_task, without_bookmark
from tests.campaign_reader import CampaignReader
from tests.dataverse_reader import DataverseReader
from tests.harness import REPO_ROOT, Pipeline
from tests.test_d365_to_campaign import assert_in_step, contacts_of, duplicated


def test_replay_of_one_stream_repairs_campaign_without_duplicates(
    campaign_pipeline: Pipeline,
    campaign_sandbox: Sandbox,
    d365: DataverseReader,
    campaign: CampaignReader,
) -> None:
    campaign_pipeline.run("full").check()
    profiles = campaign.by_key("profile", "externalId")
    contact_id = sorted(profiles)[0]
    pkey = profiles[contact_id][0]["PKey"]
    campaign_sandbox.campaign.admin.update_row("profile", pkey, {"firstName": "EditedInCampaign"})
    quiet = campaign_pipeline.run("quiet").check()
    assert quiet.summary["totals"]["updated"] == 0

    replayed = campaign_pipeline.replay("d365-to-campaign", "contact").summary["streams"]
    assert replayed["contact"]["updated"] == 1
    assert replayed["contact"]["created"] == 0
    assert replayed["contact"]["unchanged"] == len(contacts_of(d365)) - 1
    # new_project kept its bookmark: nothing changed there, so nothing was read.
    assert sum(replayed.get("new_project", {}).values()) == 0, "new_project was read again"
    assert not duplicated(campaign.by_key("profile", "externalId"))
    assert_in_step(d365, campaign)


def test_only_the_streams_bookmark_is_dropped() -> None:
    state: dict[str, Any] = {
        "singer_state": {
            "bookmarks": {"contact": {"replication_key_value": "x"}, "new_project": {"v": 1}},
            "currently_syncing": None,
        }
    }
    assert without_bookmark(state, "contact") == {
        "singer_state": {"bookmarks": {"new_project": {"v": 1}}, "currently_syncing": None}
    }
    assert "contact" in state["singer_state"]["bookmarks"]  # the input is left alone


def test_a_stream_without_bookmark_or_an_unknown_job_is_refused_with_what_exists() -> None:
    with pytest.raises(ReplayError, match=r"no bookmark for stream 'contcat' \(bookmarked "):
        without_bookmark({"singer_state": {"bookmarks": {"contact": {}}}}, "contcat")
    with pytest.raises(ReplayError, match=r"no job 'd365-to-campagin' in meltano.yml \(jobs: "):
        job_task(REPO_ROOT / "meltano.yml", "d365-to-campagin")
    assert job_task(REPO_ROOT / "meltano.yml", "d365-to-campaign") == (
        "tap-dynamics365--campaign",
        "target-adobe-campaign",
    )
