"""`make demo`: the whole integration against the sandbox, told as a before/after story.

1. starts the sandbox (Entra ID + Dataverse, Adobe IMS + Campaign + I/O Events + the SFTP
   storage area of Campaign's opt-out exports) on free ports, and checks every plugin's
   connection (`meltano invoke <plugin>:check`);
2. `d365-to-campaign` in full: contacts become profiles, projects cusProject, their tasks
   cusProjectTask (links included), option sets Campaign enumerations;
3. Campaign sends DM190 to 300 of those profiles; `campaign-to-d365` puts the sends, opens,
   clicks and bounces on the contacts' D365 timelines. The story's contact is shown: before;
4. both sides change: in D365 the contact's last name is edited and "do not phone" set, and
   another contact is deleted; in Campaign a second send (DM191) goes out and the contact
   unsubscribes from it; Campaign's daily opt-out export workflow runs;
5. `d365-to-campaign` with `TARGET_ADOBE_CAMPAIGN_DRY_RUN=true` tells what the next run would
   write (and writes nothing, bookmarks unmoved), then both jobs run: the story's contact
   again: after, the opt-outs having travelled both ways;
6. both jobs twice more: zero writes on either side (the sync has converged);
7. prints the runs (seconds, what each wrote) and where files and logs went; stops the sandbox.

Opt-outs follow the project's `OPT_OUT_SYNC` (meltano.yml: bidirectional). The Meltano
environment is `dev`; the sandbox's ports reach the plugins as `TAP_*` / `TARGET_*` variables,
which take precedence over the fixed ports in meltano.yml.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_sandbox.testing import Sandbox, launch
from tap_dynamics365.client import DataverseClient

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLUGINS = ("tap-dynamics365", "target-adobe-campaign", "tap-adobe-campaign", "target-dynamics365")
#: event_type → the D365 activity table it becomes.
ACTIVITY_TABLES = {
    "send": "acs_emailsends",
    "open": "acs_emailopens",
    "click": "acs_emailclicks",
    "bounce": "acs_emailbounces",
}
OPT_OUT_COLUMNS = ("donotemail", "donotbulkemail", "donotphone")
OPT_OUT_FLAGS = ("blackListEmail", "blackListPhone")
WRITES = ("POST", "PATCH", "PUT", "DELETE")
# Meltano output lines worth showing live; everything is in the run's log file.
_SHOWN = ("Summary", "DRY RUN", "would", "WARNING", "ERROR")


@dataclass
class Demo:
    """The sandbox, the environment every Meltano command gets, and what each run did."""

    sb: Sandbox
    out_root: Path
    env: dict[str, str]
    #: Each demo keeps its own Meltano state (its sandbox is new: old bookmarks mean nothing).
    state_suffix: str
    runs: list[tuple[str, float, dict[str, int]]] = field(default_factory=list)

    def writes(self) -> dict[str, int]:
        """Count API write calls on each side since the last call (the request logs)."""
        d365 = sum(
            1
            for r in self.sb.admin.requests()
            if r["method"] in WRITES and "/api/data/" in r["path"]
        )
        campaign = sum(
            1
            for r in self.sb.campaign.admin.requests()
            if r["method"] in WRITES and "/campaign/" in r["path"]
        )
        self.sb.admin.clear_requests()
        self.sb.campaign.admin.clear_requests()
        return {"D365": d365, "Campaign": campaign}

    def meltano(self, label: str, *args: str, env: dict[str, str] | None = None) -> str:
        """Run `meltano <args>`, teeing to `<label>.log`; return its output (stop on failure)."""
        out_dir = self.out_root / label
        out_dir.mkdir(parents=True)
        self.env["TARGET_ADOBE_CAMPAIGN_REJECTS_FILE"] = str(out_dir / "rejects.jsonl")
        self.env["TARGET_ADOBE_CAMPAIGN_SUMMARY_FILE"] = str(out_dir / "summary.json")
        self.env["TARGET_DYNAMICS365_REJECTS_FILE"] = str(out_dir / "d365-rejects.jsonl")
        log_path = self.out_root / f"{label}.log"
        started = time.monotonic()
        self.writes()
        if args[0] == "run":
            args = ("run", "--state-id-suffix", self.state_suffix, *args[1:])
        proc = subprocess.run(
            [str(BIN / "meltano"), *args],
            cwd=REPO_ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        output = proc.stdout + proc.stderr
        log_path.write_text(output)
        if proc.returncode != 0:
            tail = "".join(output.splitlines(keepends=True)[-40:])
            raise SystemExit(f"meltano {' '.join(args)} failed; log: {log_path}\n{tail}")
        seconds = time.monotonic() - started
        if args[0] == "run":
            dry = " (dry run)" if env else ""
            self.runs.append((f"{' '.join(args[3:])}{dry}", seconds, self.writes()))
        return output

    def run(self, step: str, label: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Run a pipeline and print its summary lines."""
        shown = "".join(f"{k}={v} " for k, v in (env or {}).items())
        print(f"\n[{step}] {shown}meltano {' '.join(args)}")
        for line in self.meltano(label, *args, env=env).splitlines():
            if any(word in line for word in _SHOWN):
                print("      " + line.split("] ", 1)[-1].strip()[:150])


def dataverse(sb: Sandbox) -> DataverseClient:
    """tap-dynamics365's own client, pointed at the sandbox (to read what landed in D365)."""
    env = sb.tap_env()
    config = {k.removeprefix("TAP_DYNAMICS365_").lower(): v for k, v in env.items()}
    return DataverseClient.from_config(config)


def send(sb: Sandbox, delivery: str, label: str, contact_ids: list[str], seed: int) -> dict:
    """Campaign sends `delivery` to these contacts' profiles (bounces, opens, clicks)."""
    result: dict[str, Any] = sb.campaign.admin.simulate_send(
        delivery,
        external_ids=contact_ids,
        label=label,
        campaign="2026WinterCamp",
        seed=seed,
        hard_bounce_rate=0.03,
        soft_bounce_rate=0.03,
        open_rate=0.5,
        click_rate=0.3,
    )
    counts = ", ".join(f"{k} {v}" for k, v in result["counts"].items() if v)
    print(f"      Campaign sent {delivery} ({label}) to {result['targeted']} profiles: {counts}")
    return result


def show_contact(sb: Sandbox, client: DataverseClient, contact_id: str, title: str) -> None:
    """Print the contact in D365 (opt-outs, timeline) and its Campaign profile."""
    contact = sb.admin.get_row("contacts", contact_id) or {}
    print(f"\n  {title}")
    print(f"    D365 contact      {contact.get('firstname')} {contact.get('lastname')}")
    print("      " + "  ".join(f"{c}={contact.get(c)}" for c in OPT_OUT_COLUMNS))
    profiles = sb.campaign.admin.find_rows("profile", externalId=contact_id)
    for profile in profiles:
        print(f"    Campaign profile  {profile.get('firstName')} {profile.get('lastName')}")
        print("      " + "  ".join(f"{f}={profile.get(f)}" for f in OPT_OUT_FLAGS))
    if not profiles:
        print("    Campaign profile  none")
    per_delivery: Counter[str] = Counter()
    for event_type, entity_set in ACTIVITY_TABLES.items():
        query = f"{entity_set}?$select=subject&$filter=_regardingobjectid_value eq {contact_id}"
        for row in client.iter_values(query):
            delivery = row["subject"].rsplit("Delivery Name: ", 1)[-1]
            per_delivery[f"{delivery} {event_type}"] += 1
    events = ", ".join(f"{k} {v}" for k, v in sorted(per_delivery.items())) or "none"
    print(f"    D365 timeline     {events}")


def check_all(demo: Demo) -> None:
    """`meltano invoke <plugin>:check` for each plugin: one line per plugin."""
    print("\n[1/6] connection checks (meltano invoke <plugin>:check)")
    for plugin in PLUGINS:
        output = demo.meltano(f"check-{plugin}", "invoke", f"{plugin}:check")
        steps = [line for line in output.splitlines() if line.startswith(("ok ", "FAIL "))]
        failed = [line for line in steps if line.startswith("FAIL")]
        print(f"      {plugin:<22} {len(steps) - len(failed)}/{len(steps)} ok  {failed[:1]}")


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

    print(f"Starting the sandbox ({args.contacts} contacts, seed {args.seed}) ...")
    with launch(
        state_dir=out_root / "sandbox",
        contacts=args.contacts,
        profiles=args.contacts // 3,
        seed=args.seed,
    ) as sb:
        print(f"  Dataverse {sb.dataverse.url}   Campaign {sb.campaign.api_url}")
        print(f"  SFTP      {sb.campaign.sftp_host}:{sb.campaign.sftp_port}")
        # The tenant's opt-out history before the integration: exported once, not replayed.
        sb.campaign.admin.run_opt_out_export()
        env = {
            **os.environ,
            **sb.tap_env(),
            **sb.target_campaign_env(),
            **sb.tap_campaign_env(),
            **{k.replace("TAP_", "TARGET_", 1): v for k, v in sb.tap_env().items()},
            "TAP_ADOBE_CAMPAIGN_START_DATE": datetime.now(UTC).isoformat(),
            "MELTANO_ENVIRONMENT": "dev",
            "XDG_STATE_HOME": str(log_home),
        }
        demo = Demo(sb, out_root, env, state_suffix=f"demo-{stamp}")
        client = dataverse(sb)
        check_all(demo)

        demo.run("2/6", "1-initial", "run", "d365-to-campaign")
        d365_ids = {
            row["contactid"]
            for row in client.iter_values("contacts?$select=contactid,emailaddress1")
            if row.get("emailaddress1")
        }
        contacts = sorted(d365_ids)[:300]
        sent = send(sb, "DM190", "Loyalty newsletter", contacts, seed=7)
        hero = next(
            c
            for c in contacts[10:]
            if sent["by_external_id"].get(c, {}).get("click")
            and not any((sb.admin.get_row("contacts", c) or {}).get(o) for o in OPT_OUT_COLUMNS)
        )
        deleted = contacts[0]
        demo.run("3/6", "2-events", "run", "campaign-to-d365")
        show_contact(sb, client, hero, "BEFORE: the story's contact")

        print("\n[4/6] both sides change")
        sb.admin.update_row("contacts", hero, {"lastname": "Lovelace-Byron", "donotphone": True})
        print(f"      D365: {hero} renamed Lovelace-Byron and set to 'do not phone'")
        sb.admin.delete_row("contacts", deleted)
        print(f"      D365: contact {deleted} deleted")
        send(sb, "DM191", "Winter sale", contacts[1:], seed=8)
        sb.campaign.admin.track("DM191", hero, "optout")
        print(f"      Campaign: {hero} clicked DM191's unsubscribe link (blackListEmail)")
        export = sb.campaign.admin.run_opt_out_export()
        print(f"      Campaign: the daily opt-out export wrote {export['rows']} row(s) over SFTP")

        # The next run's exact plan (bookmarks don't move: a dry run emits no STATE).
        dry_run = {"TARGET_ADOBE_CAMPAIGN_DRY_RUN": "true"}
        demo.run("5/6", "3-dry-run", "run", "d365-to-campaign", env=dry_run)
        demo.run("5/6", "4-to-campaign", "run", "d365-to-campaign")
        demo.run("5/6", "5-to-d365", "run", "campaign-to-d365")
        show_contact(sb, client, hero, "AFTER: the same contact")
        gone = sb.campaign.admin.find_rows("profile", externalId=deleted)
        print(f"    deleted contact's profile in Campaign: {'still there' if gone else 'deleted'}")

        print("\n[6/6] both jobs twice more (converged: nothing to write)")
        quiet = len(demo.runs)
        for n in range(2):
            sb.campaign.admin.run_opt_out_export()
            demo.meltano(f"6-quiet-{n}-to-campaign", "run", "d365-to-campaign")
            demo.meltano(f"6-quiet-{n}-to-d365", "run", "campaign-to-d365")
        after = Counter[str]()
        for _, _, writes in demo.runs[quiet:]:
            after.update(writes)
        print(f"      writes: D365 {after['D365']}, Campaign {after['Campaign']}")
        client.session.close()
        sb.admin.session.close()  # release our keep-alive connections
        sb.campaign.admin.session.close()
        print("\nStopping the sandbox.")

    print(f"\nRuns{'':<44}{'seconds':>8}{'D365 writes':>13}{'Campaign writes':>17}")
    for name, seconds, writes in demo.runs:
        print(f"  {name:<46}{seconds:>8.1f}{writes['D365']:>13}{writes['Campaign']:>17}")
    print(f"\n  total {time.monotonic() - started:.1f} s (sandbox start and stop included)")
    where = out_root.relative_to(REPO_ROOT)
    print(f"  run logs, summaries, rejects  {where}/")
    print(f"  meltano log                   {log_home / 'meltano' / 'log'}")


if __name__ == "__main__":
    main()
