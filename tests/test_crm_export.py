"""End to end: Campaign Classic's "Export to CRM" round trip, with real `meltano` commands.

Profiles created in Campaign (no externalId, e.g. from landing pages) become D365 contacts
(`meltano run crm-export`, after `meltano invoke target-dynamics365--crm-export:provision` made
the email key), and the next `meltano run d365-to-campaign` links each profile to its new contact
(`adopt_by: email`) instead of creating a second profile. Expectations come from both sandboxes
read over plain HTTP, never from the plugins.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from crm_sandbox.testing import Sandbox

from tests.campaign_reader import CampaignReader
from tests.dataverse_reader import DataverseReader
from tests.harness import D365_REJECTS_FILE, MeltanoProject, Pipeline, RunResult

EXPORT_TAP = "tap-adobe-campaign--crm-export"
EXPORT_LOADER = "target-dynamics365--crm-export"
EXPORT_JOB = "crm-export"
EXPORT_REJECTS_VARIABLE = "TARGET_DYNAMICS365__CRM_EXPORT_REJECTS_FILE"
CONTACT_COLUMNS = "contactid,emailaddress1,firstname,lastname,donotbulkemail"


def contacts(d365: DataverseReader) -> dict[str, dict[str, Any]]:
    """Every D365 contact with the columns the export writes, by id."""
    return {row["contactid"]: row for row in d365.rows(d365.tables()["contact"], CONTACT_COLUMNS)}


def folded(email: str | None) -> str:
    return (email or "").strip().casefold()


def blank(value: Any) -> Any:
    return None if value in ("", None) else value


@pytest.fixture
def export_pipeline(
    request: pytest.FixtureRequest,
    meltano_project: MeltanoProject,
    campaign_sandbox: Sandbox,
    tmp_path: Path,
) -> Pipeline:
    """`meltano run crm-export` with a state id of its own, against this test's sandbox."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    target_env = {
        key.replace("TAP_", "TARGET_", 1): value
        for key, value in campaign_sandbox.tap_env().items()
    }
    return Pipeline(
        meltano_project,
        f"{name}-{time.time_ns()}",
        {**campaign_sandbox.tap_campaign_env(), **target_env},
        tmp_path / "export-runs",
        tap=EXPORT_TAP,
        loader=EXPORT_LOADER,
        job=EXPORT_JOB,
    )


def run_export(pipeline: Pipeline, label: str) -> RunResult:
    """`meltano run crm-export`, its loader's rejects file in the run's folder.

    The loader's own `rejects_file` (meltano.yml) wins over the parent's variable, so the
    inheriting plugin's variable is set.
    """
    rejects = pipeline.work_dir / label / D365_REJECTS_FILE
    return pipeline.run(label, extra_env={EXPORT_REJECTS_VARIABLE: str(rejects)}).check()


def export_summary(run: RunResult) -> dict[str, int]:
    """The loader's counts for the unlinked_profiles stream: its summary log line."""
    marker = f"{EXPORT_LOADER} Summary unlinked_profiles:"
    lines = [line for line in run.output.splitlines() if marker in line]
    assert len(lines) <= 1, f"one summary line expected, got {lines}"
    if not lines:  # no record reached the loader
        return {}
    found = re.search(r"Summary unlinked_profiles: ((?:\w+ \d+(?:, )?)+)", lines[0])
    assert found, lines[0]
    return {name: int(count) for name, count in re.findall(r"(\w+) (\d+)", found.group(1))}


def test_profiles_made_in_campaign_become_contacts_and_come_back_linked(
    meltano_project: MeltanoProject,
    export_pipeline: Pipeline,
    campaign_pipeline: Pipeline,
    campaign_sandbox: Sandbox,
    d365: DataverseReader,
    campaign: CampaignReader,
) -> None:
    profiles_before = list(campaign.records("profile"))
    unlinked = {
        p["PKey"]: p for p in profiles_before if not p.get("externalId") and folded(p.get("email"))
    }
    no_email = {
        p["PKey"]: p
        for p in profiles_before
        if not p.get("externalId") and not folded(p.get("email"))
    }
    assert len(unlinked) >= 10, "the Campaign seed is expected to hold profiles made in Campaign"
    assert len({folded(p["email"]) for p in unlinked.values()}) == len(unlinked)
    # One profile whose email a D365 contact (already in Campaign) has: that contact must be
    # left alone by the export, and the profile stays Campaign's own.
    clash = next(iter(unlinked.values()))
    clash_email = folded(clash["email"])
    synced = {p["externalId"] for p in profiles_before if p.get("externalId")}
    clash_id = next(i for i in contacts(d365) if i in synced)
    campaign_sandbox.admin.update_row("contacts", clash_id, {"emailaddress1": clash_email.upper()})
    contacts_before = contacts(d365)
    clash_contact = contacts_before[clash_id]
    taken = {folded(c["emailaddress1"]) for c in contacts_before.values()}
    expected_new = {folded(p["email"]): p for k, p in unlinked.items() if k != clash["PKey"]}
    assert not set(expected_new) & taken

    # 1. The email key the export upserts on, made by the loader's provision command.
    provision = meltano_project.meltano(
        "invoke", f"{EXPORT_LOADER}:provision", env=export_pipeline.tap_env, timeout=600
    )
    assert provision.returncode == 0, provision.stdout[-3000:] + provision.stderr[-3000:]
    assert "create key contact.acs_contact_emailaddress1_key (emailaddress1)" in provision.stdout

    # 2. Export: one new contact per profile, the existing contact untouched.
    first = run_export(export_pipeline, "first")
    after_export = contacts(d365)
    new = {i: c for i, c in after_export.items() if i not in contacts_before}
    assert {folded(c["emailaddress1"]): i for i, c in new.items()}.keys() == expected_new.keys()
    for contact in new.values():
        profile = expected_new[folded(contact["emailaddress1"])]
        assert contact["firstname"] == blank(profile.get("firstName"))
        assert contact["lastname"] == blank(profile.get("lastName"))
        opted_out = bool(profile.get("blackListEmail") or profile.get("blackList"))
        assert bool(contact["donotbulkemail"]) == opted_out
    assert after_export[clash_id] == clash_contact
    counts = export_summary(first)
    assert (counts["upserted"], counts["skipped_existing"]) == (len(expected_new), 1)
    assert counts["rejected"] == 0

    # 3. Sync: each new contact comes back as the profile it was made from.
    sync = campaign_pipeline.run("sync").check()
    profiles_after = list(campaign.records("profile"))
    by_crm_id: dict[str, list[dict[str, Any]]] = {}
    for profile in profiles_after:
        if profile.get("externalId"):
            by_crm_id.setdefault(profile["externalId"], []).append(profile)
    for contact_id, contact in new.items():
        (profile,) = by_crm_id[contact_id]
        assert profile["PKey"] == expected_new[folded(contact["emailaddress1"])]["PKey"]
    sync_counts = sync.summary["streams"]["contact"]
    assert sync_counts["adopted"] == len(new)
    assert len(profiles_after) == len(profiles_before) + sync_counts["created"]
    # The clash profile stays Campaign's own (its contact already had a profile or got one);
    # profiles without an email are never touched.
    still_unlinked = {p["PKey"]: p for p in profiles_after if not p.get("externalId")}
    assert clash["PKey"] in still_unlinked
    assert all(still_unlinked[pkey] == profile for pkey, profile in no_email.items())
    assert folded(still_unlinked[clash["PKey"]]["email"]) == clash_email

    # 4. A rerun of the export finds nothing new to send.
    again = run_export(export_pipeline, "again")
    again_counts = export_summary(again)
    assert again_counts.get("upserted", 0) == 0
    assert contacts(d365).keys() == after_export.keys()
