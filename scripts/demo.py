"""`make demo`: start the sandbox, run every pipeline through `meltano run`, summarise.

1. starts the sandbox (Entra ID + Dataverse, Adobe IMS + Campaign + the I/O Events journal, one
   local CA) on free ports: Dataverse seeded with a few thousand contacts and the related
   accounts and custom-table rows, Campaign with profiles of its own;
2. `meltano run --full-refresh d365-to-jsonl`: every selected table, in full, to JSON Lines;
3. `meltano run --full-refresh d365-to-campaign`: contacts to profiles, projects to cusProject;
4. Campaign sends an email (DM190) to 300 of the synced profiles: sends, opens, clicks, hard and
   soft bounces, and one recipient unsubscribes; `meltano run campaign-to-d365` puts the events
   on the contacts' D365 timelines and the opt-out on the contact;
5. creates, updates and deletes a few contacts in D365 (one of the new ones with an email
   address Campaign refuses), then both D365 jobs again: only the changes arrive;
   d365-to-campaign writes the good ones, puts the bad one in its rejects file and exits
   non-zero (expected);
6. late (asynchronous) bounces arrive in Campaign; campaign-to-d365 again brings only those;
7. prints rows per stream, what Campaign created / updated / left unchanged / rejected, the
   email events per type and contact and the opt-outs applied in D365, one contact as it
   arrived in Campaign and its D365 timeline, timings and where files and logs went; stops the
   sandbox whatever happened.

The Meltano environment is `dev`; the sandbox's ports reach the plugins as `TAP_*` / `TARGET_*`
variables, which take precedence over the fixed ports in meltano.yml.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_sandbox.dataverse.admin_client import DataverseAdmin
from crm_sandbox.testing import Sandbox, launch
from tap_dynamics365.client import DataverseClient

from scripts.jsonl_output import read_jsonl_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = "d365-to-jsonl"
CAMPAIGN_JOB = "d365-to-campaign"
EVENTS_JOB = "campaign-to-d365"
#: event_type → the D365 activity table it becomes.
ACTIVITY_TABLES = {
    "send": "acs_emailsends",
    "open": "acs_emailopens",
    "click": "acs_emailclicks",
    "bounce": "acs_emailbounces",
}
OUTCOMES = ("created", "updated", "unchanged", "deleted", "skipped_deletes", "rejected")
BAD_EMAIL = "not-an-email"
# Meltano output lines worth showing live; everything is in the run's log file.
_SHOWN = ("Running job", "Run completed", "Block run", "WARNING", "warning", "ERROR", "error")


def meltano(
    args: list[str], env: dict[str, str], log_path: Path, *, expect_rejects: bool = False
) -> float:
    """Run `meltano <args>` in the project, teeing its output to `log_path`; return seconds.

    With `expect_rejects`, a failure is accepted if it is target-adobe-campaign reporting
    rejected records (its summary says how many); any other failure stops the demo.
    """
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(BIN / "meltano"), *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if any(word in line for word in _SHOWN):
                print("    " + line.rstrip()[-160:])
        returncode = proc.wait()
    rejected = ("rejected by Adobe Campaign", "not written to Dynamics 365")
    if returncode != 0 and expect_rejects and any(r in log_path.read_text() for r in rejected):
        print(f"    (exit status {returncode}: records were rejected, as planned; see below)")
    elif returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-40:])
        msg = f"meltano {' '.join(args)} failed ({returncode}); full log: {log_path}\n{tail}"
        raise SystemExit(msg)
    return time.monotonic() - started


def summarise(title: str, out_dir: Path, seconds: float) -> dict[str, Counter[str]]:
    """Print rows and deletes per stream written into `out_dir`."""
    rows = read_jsonl_dir(out_dir)
    counts: dict[str, Counter[str]] = {}
    print(f"\n  {title}: {seconds:.1f} s")
    print(f"    {'stream':<18}{'rows':>8}{'deletes':>9}")
    for stream, records in sorted(rows.items()):
        deletes = sum(1 for r in records if r.get("_sdc_deleted_at"))
        counts[stream] = Counter(rows=len(records), deletes=deletes)
        print(f"    {stream:<18}{len(records):>8}{deletes:>9}")
    if not rows:
        print("    (no rows)")
    return counts


def summarise_campaign(title: str, summary_path: Path, seconds: float) -> None:
    """Print target-adobe-campaign's counts per stream (its summary JSON)."""
    summary = json.loads(summary_path.read_text())
    print(f"\n  {title}: {seconds:.1f} s")
    labels = {"skipped_deletes": "skipped"}
    print(f"    {'stream':<20}" + "".join(f"{labels.get(o, o):>10}" for o in OUTCOMES))
    for stream, counts in sorted(summary["streams"].items()):
        print(f"    {stream:<20}" + "".join(f"{counts[o]:>10}" for o in OUTCOMES))
    if any(counts["skipped_deletes"] for counts in summary["streams"].values()):
        print("    (skipped: D365 deletes left in Campaign because apply_deletes is off)")
    rejects_file = Path(summary["rejects_file"])
    rejects = rejects_file.read_text().splitlines() if rejects_file.exists() else []
    for line in rejects[:3]:
        reject = json.loads(line)
        print(f"    rejected {reject['stream']} {reject['key']}:")
        print(
            textwrap.fill(
                reject["reason"],
                width=100,
                initial_indent=" " * 6,
                subsequent_indent=" " * 6,
                break_on_hyphens=False,
            )
        )


def change_some_contacts(
    admin: DataverseAdmin, creates: int, updates: int, deletes: int
) -> list[str]:
    """Create, update and delete contacts as CRM users would (through the sandbox admin API).

    The last contact created has an email address Campaign refuses. Returns the created ids.
    """
    admin.delete_rows("contacts", deletes)
    for contact_id in admin.touch_rows("contacts", updates):
        admin.update_row("contacts", contact_id, {"jobtitle": "Updated by make demo"})
    created = []
    for n in range(creates):
        values: dict[str, Any] = {
            "firstname": "Demo",
            "lastname": f"Contact {n + 1}",
            "emailaddress1": f"demo.contact{n + 1}@example.org",
            "gendercode": 2,
            "birthdate": "1990-05-17",
            "donotbulkemail": n == 0,
        }
        if n == creates - 1:
            values["emailaddress1"] = BAD_EMAIL
        created.append(admin.create_row("contacts", values)["contactid"])
    return created


def dataverse(sb: Sandbox) -> DataverseClient:
    """tap-dynamics365's own client, pointed at the sandbox (to show what landed in D365)."""
    env = sb.tap_env()
    config = {k.removeprefix("TAP_DYNAMICS365_").lower(): v for k, v in env.items()}
    return DataverseClient.from_config(config)


def timelines(client: DataverseClient) -> dict[str, Counter[str]]:
    """event_type → activities per regarding contact."""
    counts: dict[str, Counter[str]] = {}
    for event_type, entity_set in ACTIVITY_TABLES.items():
        rows = client.iter_values(f"{entity_set}?$select=_regardingobjectid_value")
        counts[event_type] = Counter(str(r["_regardingobjectid_value"]) for r in rows)
    return counts


def print_timelines(client: DataverseClient) -> None:
    """Print the email events on the D365 timelines: activities and contacts per type."""
    print(f"\n  Email events on D365 timelines  {'activities':>11}{'contacts':>10}")
    for event_type, per_contact in timelines(client).items():
        total = sum(per_contact.values())
        print(f"    {event_type:<30}{total:>11}{len(per_contact):>10}")


def send_email(sb: Sandbox, contact_ids: list[str]) -> dict[str, Any]:
    """Campaign sends DM190 to these contacts' profiles; one recipient unsubscribes."""
    result = sb.campaign.admin.simulate_send(
        "DM190",
        external_ids=contact_ids,
        label="Loyalty newsletter",
        campaign="2019LoyaltyCamp",
        seed=7,
        hard_bounce_rate=0.03,
        soft_bounce_rate=0.03,
        open_rate=0.5,
        click_rate=0.3,
    )
    counts = result["counts"]
    print(
        f"      Campaign sent DM190 to {result['targeted']} profiles: "
        + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    )
    return result


def show_timeline(sb: Sandbox, client: DataverseClient, contact_id: str) -> None:
    """Print one contact's opt-outs and its Adobe Campaign activities in D365."""
    contact = sb.admin.get_row("contacts", contact_id) or {}
    name = f"{contact.get('firstname')} {contact.get('lastname')}"
    print(f"\n  D365 timeline of {name} ({contact_id}):")
    for event_type, entity_set in ACTIVITY_TABLES.items():
        query = (
            f"{entity_set}?$select=subject,acs_eventdate"
            f"&$filter=_regardingobjectid_value eq {contact_id}"
        )
        for row in client.iter_values(query):
            print(f"    {event_type:<7}{row['acs_eventdate']}  {row['subject']}")
    print(
        f"    donotbulkemail={contact.get('donotbulkemail')} donotemail={contact.get('donotemail')}"
    )


def show_profile(sb: Sandbox, contact_id: str) -> None:
    """Print a D365 contact and the Campaign profile it became."""
    contact = sb.admin.get_row("contacts", contact_id) or {}
    shown = ("contactid", "firstname", "lastname", "emailaddress1", "gendercode", "birthdate")
    print(f"\n  D365 contact   {json.dumps({k: contact.get(k) for k in shown})}")
    print(f"                 donotbulkemail={contact.get('donotbulkemail')}")
    profiles = sb.campaign.admin.find_rows("profile", externalId=contact_id)
    fields = "PKey externalId firstName lastName email gender birthDate blackListEmail created"
    for profile in profiles:
        print(f"  Campaign profile {json.dumps({k: profile.get(k) for k in fields.split()})[:400]}")
    if not profiles:
        print("  Campaign profile: none")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Run the crm-campaign-sync demo end to end.")
    parser.add_argument("--contacts", type=int, default=3000, help="contacts to seed")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the sandbox data")
    args = parser.parse_args()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_root = REPO_ROOT / "output" / "demo" / stamp
    out_root.mkdir(parents=True)
    log_home = Path(os.environ.get("XDG_STATE_HOME", REPO_ROOT / ".meltano" / "xdg-state"))
    started = time.monotonic()
    seconds: dict[str, float] = {}

    print(f"Starting the sandbox ({args.contacts} contacts, seed {args.seed}) ...")
    with launch(
        state_dir=out_root / "sandbox",
        contacts=args.contacts,
        profiles=args.contacts // 3,
        seed=args.seed,
    ) as sb:
        print(f"  Entra ID  {sb.dataverse.authority_host}")
        print(f"  Dataverse {sb.dataverse.url}")
        print(f"  Adobe IMS {sb.campaign.ims_url}")
        print(f"  Campaign  {sb.campaign.api_url}")
        env = {
            **os.environ,
            **sb.tap_env(),
            **sb.target_campaign_env(),
            **sb.tap_campaign_env(),
            **{k.replace("TAP_", "TARGET_", 1): v for k, v in sb.tap_env().items()},
            # Opt-outs are read from profiles changed from now on: the seeded profiles older
            # than the demo have no D365 contact and would only fill the rejects file.
            "TAP_ADOBE_CAMPAIGN_START_DATE": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "MELTANO_ENVIRONMENT": "dev",
            "XDG_STATE_HOME": str(log_home),
        }

        def run(step: str, label: str, args: list[str], *, expect_rejects: bool = False) -> None:
            print(f"\n[{step}] meltano {' '.join(args)}")
            env["TARGET_JSONL_OUTPUT_DIR"] = str(out_root / label)
            env["TARGET_ADOBE_CAMPAIGN_REJECTS_FILE"] = str(out_root / label / "rejects.jsonl")
            env["TARGET_ADOBE_CAMPAIGN_SUMMARY_FILE"] = str(out_root / label / "summary.json")
            env["TARGET_DYNAMICS365_REJECTS_FILE"] = str(out_root / label / "d365-rejects.jsonl")
            log = out_root / f"{label}.log"
            seconds[label] = meltano(args, env, log, expect_rejects=expect_rejects)

        run("1/6", "1-full", ["run", "--full-refresh", JOB])
        run("2/6", "2-campaign-full", ["run", "--full-refresh", CAMPAIGN_JOB])

        contacts = read_jsonl_dir(out_root / "1-full")["contact"]
        recipients = [c["contactid"] for c in contacts if c.get("emailaddress1")][:300]
        sent = send_email(sb, recipients)
        delivered = [e for e in recipients if sent["by_external_id"].get(e, {}).get("sent")]
        # Someone who opened and clicked, and whom step 5's deletions (the first ids) spare.
        clicked = [e for e in delivered[10:] if sent["by_external_id"][e].get("click")]
        unsubscribed = next(
            e for e in clicked if not (sb.admin.get_row("contacts", e) or {}).get("donotemail")
        )
        sb.campaign.admin.track("DM190", unsubscribed, "optout")
        print(f"      {unsubscribed} clicked the unsubscribe link (blackListEmail in Campaign)")
        run("3/6", "3-events", ["run", "--full-refresh", EVENTS_JOB])

        print("\n      changing D365: 5 new contacts (1 with a bad email), 20 updated, 3 deleted")
        created = change_some_contacts(sb.admin, creates=5, updates=20, deletes=3)
        run("4/6", "4-incremental", ["run", JOB])
        run("5/6", "5-campaign-incremental", ["run", CAMPAIGN_JOB], expect_rejects=True)

        late = sb.campaign.admin.late_bounces("DM190", external_ids=delivered[-5:])
        print(f"\n      {late['count']} asynchronous bounces of DM190 arrived in Campaign")
        run("6/6", "6-events-incremental", ["run", EVENTS_JOB])

        client = dataverse(sb)
        print_timelines(client)
        show_profile(sb, created[0])
        show_timeline(sb, client, unsubscribed)
        client.session.close()
        print("\nStopping the sandbox.")
        sb.admin.session.close()  # release our keep-alive connections
        sb.campaign.admin.session.close()

    print("\nSummary")
    summarise("d365-to-jsonl, full load", out_root / "1-full", seconds["1-full"])
    summarise("d365-to-jsonl, incremental", out_root / "4-incremental", seconds["4-incremental"])
    for label, title in (
        ("2-campaign-full", "d365-to-campaign, full load"),
        ("5-campaign-incremental", "d365-to-campaign, incremental"),
    ):
        summarise_campaign(title, out_root / label / "summary.json", seconds[label])
    for label, title in (
        ("3-events", "campaign-to-d365, after the send"),
        ("6-events-incremental", "campaign-to-d365, after the late bounces"),
    ):
        print(f"\n  {title}: {seconds[label]:.1f} s")
        for line in (out_root / f"{label}.log").read_text().splitlines():
            if "target-dynamics365" in line and "Summary " in line:
                print("    " + line[line.index("Summary ") :].strip())
    print(f"\n  total {time.monotonic() - started:.1f} s (sandbox start and stop included)")
    where = out_root.relative_to(REPO_ROOT)
    print(f"  jsonl output {where}/<run>/<stream>-<UTC start>.jsonl")
    print(f"  campaign     {where}/<run>/summary.json and rejects.jsonl")
    print(f"  run logs     {where}/*.log")
    print(f"  meltano log  {log_home / 'meltano' / 'log'} (or: .venv/bin/meltano logs list)")


if __name__ == "__main__":
    main()
