"""`meltano run campaign-to-d365`: Campaign email events onto timelines, opt-outs onto contacts.

Each test starts its own sandbox (D365 contacts + Campaign profiles, some of them linked by
`externalId`), simulates email sends in Campaign through the sandbox admin API and runs the job.
Opt-outs come from Campaign's opt-out export files written from `TAP_ADOBE_CAMPAIGN_START_DATE`
(the test's start) on, so the seeded profiles whose contact never existed in D365 stay out of
the way; events come from the I/O Events journal.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm_sandbox.testing import Sandbox

from tests.conftest import BACKENDS
from tests.dataverse_reader import DataverseReader
from tests.harness import MeltanoProject, Pipeline

#: event_type → D365 activity table, and the simulate_send() count behind it.
TABLES = {
    "send": ("acs_emailsend", "sent"),
    "open": ("acs_emailopen", "open"),
    "click": ("acs_emailclick", "click"),
    "bounce": ("acs_emailbounce", "hard_bounce"),
}


def simulate_send(
    sb: Sandbox, delivery: str, external_ids: list[str], seed: int, **names: str
) -> dict[str, Any]:
    """Campaign sends `delivery` to these profiles: bounces, opens and clicks included."""
    return sb.campaign.admin.simulate_send(
        delivery,
        external_ids=external_ids,
        seed=seed,
        hard_bounce_rate=0.1,
        soft_bounce_rate=0.1,
        open_rate=0.7,
        click_rate=0.5,
        label=names.get("label"),
        campaign=names.get("campaign", "SandboxCampaign"),
    )


def recent_start(sb: Sandbox, backend: str = "standard") -> dict[str, str]:
    """Opt-out exports from now on: the tenant's history (seeded profiles) is exported first.

    v8 reads logs and recipients from `start_date` on, and a send's logs are back-dated (the
    send ran during the last hour): two hours back there, still after the seeded history.
    """
    sb.campaign.admin.run_opt_out_export()
    start = datetime.now(UTC) - (timedelta(hours=2) if backend == "v8" else timedelta())
    return {"TAP_ADOBE_CAMPAIGN_START_DATE": start.isoformat()}


def linked_contacts(sb: Sandbox, d365: DataverseReader) -> tuple[list[str], list[str]]:
    """Campaign externalIds that are D365 contacts, and those that are not."""
    contacts = {c.lower() for c in d365.ids(d365.tables()["contact"])}
    external_ids = sorted(
        {p["externalId"].lower() for p in sb.campaign.admin.find_rows("profile") if p.get("email")}
        - {None}
    )
    linked = [e for e in external_ids if e in contacts]
    return linked, [e for e in external_ids if e not in contacts]


def expected(sends: list[dict[str, Any]], contacts: list[str]) -> Counter[tuple[str, str]]:
    """(event_type, contact) → events the simulated sends produced for `contacts`."""
    counts: Counter[tuple[str, str]] = Counter()
    for send in sends:
        for external_id, kinds in send["by_external_id"].items():
            if external_id.lower() not in contacts:
                continue
            for event_type, (_, kind) in TABLES.items():
                if kinds.get(kind):
                    counts[event_type, external_id.lower()] += kinds[kind]
    return counts


def timelines(d365: DataverseReader) -> tuple[Counter[tuple[str, str]], list[dict[str, Any]]]:
    """(event_type, regarding contact) → activities in D365, and every activity row."""
    tables = d365.tables()
    counts: Counter[tuple[str, str]] = Counter()
    rows: list[dict[str, Any]] = []
    for event_type, (logical_name, _) in TABLES.items():
        select = "activityid,acs_eventid,subject,acs_eventdate,_regardingobjectid_value"
        for row in d365.rows(tables[logical_name], select=select):
            counts[event_type, row["_regardingobjectid_value"].lower()] += 1
            rows.append(row)
    return counts, rows


def writes(sb: Sandbox) -> list[dict[str, Any]]:
    """Dataverse requests since the log was last cleared that were not reads."""
    return [r for r in sb.admin.requests() if r["method"] != "GET" and r.get("app") != "entra"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_events_land_once_on_the_right_timelines_then_late_bounces_and_opt_outs(
    campaign_sandbox: Sandbox, events_pipeline: Pipeline, d365: DataverseReader, backend: str
) -> None:
    """Standard: the I/O Events journal and the opt-out export; v8: the delivery and tracking
    logs and the recipients' flags over SOAP. The same events, ids and timelines either way."""
    sb = campaign_sandbox
    linked, orphans = linked_contacts(sb, d365)
    assert len(linked) >= 20, "the seed links too few profiles to D365 contacts"
    strays = orphans[:5]  # profiles whose contact is not in D365: their events are rejected
    send = simulate_send(
        sb,
        "DM190",
        [*linked, *strays],
        seed=7,
        label="Loyalty newsletter",
        campaign="2019LoyaltyCamp",
    )
    env = recent_start(sb, backend)

    first = events_pipeline.run("first", extra_env=env)
    assert first.returncode != 0, "rejected events must make the run fail"
    counts, rows = timelines(d365)
    assert counts == expected([send], linked)
    assert len({row["acs_eventid"] for row in rows}) == len(rows)
    assert {row["subject"] for row in rows} == {
        "Campaign Name: 2019LoyaltyCamp; Delivery Name: DM190"
    }
    stray_events = sum(expected([send], strays).values())
    rejects = first.d365_rejects
    assert len(rejects) == stray_events > 0
    assert all("does not exist in Dynamics 365" in r["reason"] for r in rejects)
    assert {r["reason"].split()[1] for r in rejects} <= set(strays)

    sb.admin.clear_requests()
    rerun = events_pipeline.run("rerun", extra_env=env).check()
    assert writes(sb) == [], "a rerun with nothing new must write nothing"
    assert timelines(d365)[0] == counts
    assert "email_events" in rerun.output

    delivered = [e for e in linked if send["by_external_id"].get(e, {}).get("sent")]
    bounced = delivered[:3]
    late = sb.campaign.admin.late_bounces("DM190", external_ids=bounced)
    assert {b["externalId"].lower() for b in late["bounced"]} == set(bounced)
    contacts = {e: sb.admin.get_row("contacts", e) or {} for e in delivered[3:]}
    opted_out = next(e for e, row in contacts.items() if not row.get("donotbulkemail"))
    sb.campaign.admin.track("DM190", opted_out, "optout")
    sb.campaign.admin.run_opt_out_export()  # Campaign's (daily) opt-out export workflow

    events_pipeline.run("late", extra_env=env).check()
    after, _ = timelines(d365)
    new = after - counts
    assert new == Counter({("bounce", e): 1 for e in bounced})
    contact = sb.admin.get_row("contacts", opted_out) or {}
    assert contact["donotbulkemail"] is True
    assert contact["donotemail"] is True


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_killed_run_resumes_from_its_checkpoint_without_duplicates(
    campaign_sandbox: Sandbox,
    events_pipeline: Pipeline,
    d365: DataverseReader,
    meltano_project: MeltanoProject,
    signum: int,
) -> None:
    """The whole process group stopped half-way, as a machine dies (kill -9) or an orchestrator
    stops the task (SIGTERM), while writes of a batch are in flight and the next batch is read:
    Meltano holds a checkpoint covering only written events, the next run reads on from it."""
    sb = campaign_sandbox
    linked, _ = linked_contacts(sb, d365)
    sends = [simulate_send(sb, f"DM{200 + n}", linked, seed=n) for n in range(4)]
    total = sum(expected(sends, linked).values())
    env = {
        **recent_start(campaign_sandbox),
        "TAP_ADOBE_CAMPAIGN_EVENTS_PAGE_LIMIT": "20",
        "TARGET_DYNAMICS365_BATCH_SIZE_ROWS": "30",
    }
    sb.admin.add_latency(400, path="UpsertMultiple")  # slow writes: time to kill mid-way

    def written() -> int:
        return sum(timelines(d365)[0].values())

    running = events_pipeline.start("killed", extra_env=env)
    running.wait_for(written, total // 2, "activities")
    killed = running.kill(signum)
    assert killed.returncode != 0
    partial = written()
    assert partial < total, "the run finished before it could be killed"
    state = meltano_project.state(events_pipeline.state_id)
    assert state, "no checkpoint was stored before the kill"

    sb.admin.clear_faults()
    sb.campaign.admin.clear_requests()
    # The killed job is still marked running in Meltano's database, hence --force.
    resumed = events_pipeline.run("resumed", extra_env=env, extra_args=["--force"]).check()
    counts, rows = timelines(d365)
    assert counts == expected(sends, linked)
    assert len(rows) == total == len({row["acs_eventid"] for row in rows})
    read_again = re.search(r"Summary email_events: upserted (\d+)", resumed.output)
    assert read_again, resumed.output[-2000:]
    assert int(read_again.group(1)) < total, "the resumed run read every event again"
    print(  # the figures of the run (pytest -s)
        f"\nkilled with {partial} of {total} activities written; the resumed run wrote "
        f"{read_again.group(1)}"
    )
    journal_reads = [r for r in sb.campaign.admin.requests() if r.get("app") == "events"]
    assert "since=" in (journal_reads[0]["query"] or ""), "the resumed run restarted the journal"
