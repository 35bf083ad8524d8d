"""End to end: the loader's mapping options in a real `meltano run d365-to-campaign`.

The options are given for the run the way the README's "Try a change for one run" does it: JSON
values of `TARGET_ADOBE_CAMPAIGN_STREAM_MAPS` and `TARGET_ADOBE_CAMPAIGN_RESOURCES`, which
Meltano merges key by key into meltano.yml's settings. So what the tap really emits (columns
the job's maps leave out, such as `jobtitle` and `statecode`) meets the target's options:

- a field mapped from an unmapped column (`cusJobTitle: jobtitle`) with a value replacement
  (`Buyer` → `Purchasing`), applied on creates and updates;
- "apply updates" off for `email` (`create_only`): written when the profile is created, never
  on updates;
- a filter on a source column that is not mapped (`_sdc_filtered_out: statecode != 0`) with
  `delete_filtered_out`: inactive contacts get no profile, and a contact deactivated later loses
  the one it has. The projects of a filtered-out contact, and their tasks, are filtered out with
  it in the same run (not rejected for want of a parent).

Then the filter is dropped and the table replayed (`scripts.replay`, as `make replay` does): the
contacts it had left out get their profiles, and nothing is duplicated.
"""

from __future__ import annotations

import json
from typing import Any

from crm_sandbox.testing import Sandbox

from tests.campaign_reader import CampaignReader
from tests.dataverse_reader import DataverseReader
from tests.harness import Pipeline
from tests.test_d365_to_campaign import duplicated, single

FIELDS = {"cusJobTitle": "jobtitle"}
FILTER = {"_sdc_filtered_out": "bool(statecode != 0)"}
WRITE_OPTIONS = {"create_only": ["email"], "replacements": {"cusJobTitle": {"Buyer": "Purchasing"}}}
OPTIONS = {
    "TARGET_ADOBE_CAMPAIGN_STREAM_MAPS": json.dumps({"contact": {**FIELDS, **FILTER}}),
    "TARGET_ADOBE_CAMPAIGN_RESOURCES": json.dumps(
        {"contact": {**WRITE_OPTIONS, "delete_filtered_out": True}}
    ),
}
#: The same without the filter (delete_filtered_out needs one: the target would refuse it).
UNFILTERED = {
    "TARGET_ADOBE_CAMPAIGN_STREAM_MAPS": json.dumps({"contact": FIELDS}),
    "TARGET_ADOBE_CAMPAIGN_RESOURCES": json.dumps(
        {"contact": {**WRITE_OPTIONS, "delete_filtered_out": False}}
    ),
}
COLUMNS = "contactid,emailaddress1,jobtitle,statecode"


def contacts(d365: DataverseReader) -> dict[str, dict[str, Any]]:
    """Every D365 contact with the columns the options read, by id."""
    return {row["contactid"]: row for row in d365.rows(d365.tables()["contact"], COLUMNS)}


def job_title(contact: dict[str, Any]) -> str | None:
    """The cusJobTitle the options make of a contact's jobtitle."""
    title = contact["jobtitle"]
    return "Purchasing" if title == "Buyer" else title


def test_create_only_replacements_a_filter_with_deletes_then_a_replay_without_it(
    campaign_pipeline: Pipeline,
    campaign_sandbox: Sandbox,
    d365: DataverseReader,
    campaign: CampaignReader,
) -> None:
    before = contacts(d365)
    active = {k: c for k, c in before.items() if c["statecode"] == 0}
    inactive = set(before) - set(active)
    assert inactive, "the seed has inactive contacts"

    first = campaign_pipeline.run("first", extra_env=OPTIONS).check()

    counts = first.summary["streams"]["contact"]
    assert counts["created"] + counts["updated"] + counts["unchanged"] == len(active)
    # Seeded profiles of inactive contacts (an earlier sync) are deleted, the others never made.
    assert counts["filtered_out"] + counts["deleted_filtered_out"] == len(inactive)
    streams = first.summary["streams"]
    assert streams["new_project"]["filtered_out"] > 0
    assert streams["new_projecttask"]["filtered_out"] > 0
    assert first.rejects == []
    profiles = campaign.by_key("profile", "externalId")
    assert not inactive & set(profiles)
    for contact_id, contact in active.items():
        title = single(profiles, contact_id)["cusJobTitle"] or None  # Campaign shows null as ""
        assert title == job_title(contact), contact_id
    assert any(c["jobtitle"] == "Buyer" for c in active.values())

    edited, deactivated = [
        contact_id
        for contact_id, c in sorted(active.items())
        if c["emailaddress1"] and c["jobtitle"] not in ("Buyer", None)
    ][:2]
    old_email = single(profiles, edited)["email"]
    campaign_sandbox.admin.update_row(
        "contacts", edited, {"emailaddress1": "moved@example.org", "jobtitle": "Buyer"}
    )
    campaign_sandbox.admin.update_row("contacts", deactivated, {"statecode": 1, "statuscode": 2})

    second = campaign_pipeline.run("second", extra_env=OPTIONS).check()

    counts = second.summary["streams"]["contact"]
    assert (counts["updated"], counts["deleted_filtered_out"]) == (1, 1)
    profiles = campaign.by_key("profile", "externalId")
    profile = single(profiles, edited)
    assert profile["cusJobTitle"] == "Purchasing"  # replaced, on an update too
    assert profile["email"] == old_email  # create-only: D365's new address is not written
    assert deactivated not in profiles

    # The filter goes: replaying the table brings the contacts it left out, and only them.
    replayed = campaign_pipeline.replay("d365-to-campaign", "contact", extra_env=UNFILTERED)

    counts = replayed.summary["streams"]["contact"]
    assert (counts["created"], counts["updated"]) == (len(inactive) + 1, 0)
    profiles = campaign.by_key("profile", "externalId")
    assert not duplicated(profiles)
    assert set(profiles) >= set(before)
