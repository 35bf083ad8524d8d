"""`make demo`: the whole integration against the sandbox, told as a before/after story.

1. starts the sandbox (Entra ID + Dataverse, Adobe IMS + Campaign + I/O Events + the SFTP
   storage area of Campaign's opt-out exports) on free ports, and checks every plugin's
   connection (`meltano invoke <plugin>:check --config ENV`);
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
which take precedence over the fixed ports in meltano.yml. As in the end-to-end tests
(tests/harness.py), Meltano runs clean of the caller's plugin settings: inherited `TAP_*` /
`TARGET_*` variables of the plugins and `MELTANO_*` variables are dropped (the Makefile's two
`MELTANO_*` exports are set again), and the project's `.env` is replaced by an empty file.

Each Meltano command's output goes to its log file as it runs; a command that fails or runs
longer than `--timeout` seconds (it is then killed) stops the demo with exit status 1, naming
the log. The demo also exits 1 (a FAILED line) when the story did not end as it should: the last
two rounds wrote something, the deleted contact's profile is still in Campaign, or the opt-outs
did not travel both ways.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_sandbox.testing import Sandbox, launch
from dataverse_client.client import DataverseClient

from scripts.meltano_env import clean_environ

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
#: Campaign Classic's SOAP router: enumerations (`xtk:session#Write`, `xtk:queryDef#ExecuteQuery`).
SOAP_PATH = "/nl/jsp/soaprouter.jsp"
#: The loaders' dry-run settings, and the values Meltano reads as true (meltano.core.utils).
DRY_RUN_VARIABLES = ("TARGET_ADOBE_CAMPAIGN_DRY_RUN", "TARGET_DYNAMICS365_DRY_RUN")
EXPORT_LOADER = "target-dynamics365--crm-export"
EXPORT_REJECTS_VARIABLE = "TARGET_DYNAMICS365__CRM_EXPORT_REJECTS_FILE"
TRUTHY = ("true", "1", "yes", "on")
#: Seconds one Meltano command may take before it is killed (a run takes 5-30 s).
DEFAULT_TIMEOUT = 600.0
#: The story needs 300 contacts with an email address (about 96% have one) and a clicker.
MIN_CONTACTS = 500
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
    #: The empty file Meltano reads instead of the project's `.env`.
    env_file: Path
    timeout: float = DEFAULT_TIMEOUT
    runs: list[tuple[str, float, dict[str, int]]] = field(default_factory=list)

    def writes(self, summary_file: Path | None = None) -> dict[str, int]:
        """Count API write calls on each side since the last call (the request logs).

        Campaign's are its REST writes plus the enumeration writes (`xtk:session#Write`) on the
        SOAP router. The request log cannot tell those from the `ExecuteQuery` reads (every SOAP
        call is a POST to the same path, the action is a header), so they are counted from
        target-adobe-campaign's summary of the run (`summary_file`): one write per enumeration
        created or updated outside a dry run, bounded by the SOAP calls the sandbox logged.
        """
        d365 = sum(
            1
            for r in self.sb.admin.requests()
            if r["method"] in WRITES and "/api/data/" in r["path"]
        )
        campaign_log = self.sb.campaign.admin.requests()
        rest = sum(1 for r in campaign_log if r["method"] in WRITES and "/campaign/" in r["path"])
        soap_calls = sum(1 for r in campaign_log if r["path"].endswith(SOAP_PATH))
        soap = min(enumeration_writes(summary_file), soap_calls) if summary_file else 0
        self.sb.admin.clear_requests()
        self.sb.campaign.admin.clear_requests()
        return {"D365": d365, "Campaign": rest + soap}

    def meltano(self, label: str, *args: str, env: dict[str, str] | None = None) -> str:
        """Run `meltano <args>`, its output going to `<label>.log`; return it (stop on failure)."""
        out_dir = self.out_root / label
        out_dir.mkdir(parents=True)
        summary_file = out_dir / "summary.json"
        self.env["TARGET_ADOBE_CAMPAIGN_REJECTS_FILE"] = str(out_dir / "rejects.jsonl")
        self.env["TARGET_ADOBE_CAMPAIGN_SUMMARY_FILE"] = str(summary_file)
        self.env["TARGET_DYNAMICS365_REJECTS_FILE"] = str(out_dir / "d365-rejects.jsonl")
        # the crm-export loader names its own rejects file (meltano.yml): its variable wins
        self.env[EXPORT_REJECTS_VARIABLE] = str(out_dir / "d365-rejects.jsonl")
        run_env = {**self.env, **(env or {})}
        log_path = self.out_root / f"{label}.log"
        started = time.monotonic()
        self.writes()
        if args[0] == "run":
            args = ("run", "--state-id-suffix", self.state_suffix, *args[1:])
        command = [str(BIN / "meltano"), "--env-file", str(self.env_file), *args]
        returncode = run_logged(command, run_env, log_path, self.timeout)
        output = log_path.read_text(errors="replace")
        if returncode is None or returncode != 0:
            tail = "".join(output.splitlines(keepends=True)[-40:])
            what = (
                f"did not finish in {self.timeout:.0f} s and was killed"
                if returncode is None
                else f"exited {returncode}"
            )
            raise SystemExit(
                f"{tail}\nFAILED: meltano {' '.join(args)} {what}; its output: {log_path}"
            )
        seconds = time.monotonic() - started
        if args[0] == "run":
            dry = " (dry run)" if dry_run_variables(run_env) else ""
            name = f"{' '.join(args[3:])}{dry}"
            self.runs.append((name, seconds, self.writes(summary_file)))
        return output

    def run(self, step: str, label: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Run a pipeline and print its summary lines."""
        shown = "".join(f"{k}={v} " for k, v in (env or {}).items())
        print(f"\n[{step}] {shown}meltano {' '.join(args)}")
        for line in self.meltano(label, *args, env=env).splitlines():
            if any(word in line for word in _SHOWN):
                print("      " + line.split("] ", 1)[-1].strip()[:150])


def run_logged(
    command: list[str], env: dict[str, str], log_path: Path, timeout: float
) -> int | None:
    """Run `command` with its output (stdout and stderr) going to `log_path` as it comes.

    Meltano, the tap and the loader get their own process group, killed as a whole after
    `timeout` seconds (or when the demo is interrupted). Returns the exit status, None on timeout.
    """
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            return None
        except BaseException:  # Ctrl-C: leave no pipeline behind
            kill_group(proc)
            raise


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of `proc`; 10 s later, SIGKILL whatever is left of it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:  # the whole group has ended already
        proc.wait()
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # Meltano, and a tap or loader it left behind
    proc.wait()


def dry_run_variables(env: Mapping[str, str]) -> list[str]:
    """Return the loaders' dry-run settings this environment turns on."""
    return [k for k in DRY_RUN_VARIABLES if env.get(k, "").strip().lower() in TRUTHY]


def enumeration_writes(summary_file: Path) -> int:
    """Return the enumerations target-adobe-campaign wrote (created, updated): its summary."""
    if not summary_file.exists():  # no target-adobe-campaign in this run
        return 0
    document: dict[str, Any] = json.loads(summary_file.read_text())
    if document.get("dry_run"):
        return 0
    option_sets: dict[str, int] = document.get("streams", {}).get("option_sets", {})
    return option_sets.get("created", 0) + option_sets.get("updated", 0)


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


def show_contact(
    sb: Sandbox, client: DataverseClient, contact_id: str, title: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Print the contact in D365 (opt-outs, timeline) and its Campaign profile; return both."""
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
        query = (
            f"{entity_set}?$select=acs_deliveryname"
            f"&$filter=_regardingobjectid_value eq {contact_id}"
        )
        for row in client.iter_values(query):
            per_delivery[f"{row.get('acs_deliveryname')} {event_type}"] += 1
    events = ", ".join(f"{k} {v}" for k, v in sorted(per_delivery.items())) or "none"
    print(f"    D365 timeline     {events}")
    return contact, profiles


def check_all(demo: Demo) -> None:
    """`meltano invoke <plugin>:check --config ENV` for each plugin: one line per plugin."""
    print("\n[1/7] connection checks (meltano invoke <plugin>:check)")
    for plugin in PLUGINS:
        output = demo.meltano(f"check-{plugin}", "invoke", f"{plugin}:check", "--config", "ENV")
        # A FAIL step makes the check exit 1, which stops the demo in `meltano`.
        steps = [line for line in output.splitlines() if line.startswith(("ok ", "FAIL "))]
        ok = sum(1 for line in steps if line.startswith("ok "))
        print(f"      {plugin:<22} {ok}/{len(steps)} ok")


def at_least(minimum: int) -> Callable[[str], int]:
    """Return an argparse type: an integer not below `minimum`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too few: the story needs {minimum}")
        return value

    return parse


def adoption_problems(sb: Sandbox, made_in_campaign: dict[str, dict[str, Any]]) -> list[str]:
    """Print how the exported profiles came back; return what is wrong (none unlinked, no twin)."""
    profiles = sb.campaign.admin.find_rows("profile")
    linked = [p for p in profiles if p["PKey"] in made_in_campaign and p["externalId"]]
    per_id = Counter(p["externalId"] for p in profiles if p["externalId"])
    twins = [p["externalId"] for p in linked if per_id[p["externalId"]] > 1]
    print(
        f"      profiles made in Campaign now linked to their new D365 contact: {len(linked)} "
        f"of {len(made_in_campaign)}; duplicates: {len(twins)}"
    )
    problems = []
    if len(linked) != len(made_in_campaign):
        problems.append(
            f"{len(made_in_campaign) - len(linked)} exported profile(s) did not come back linked"
        )
    if twins:
        problems.append(f"exported contacts with a second profile: {twins[:5]}")
    return problems


def opt_out_problems(contact: dict[str, Any], profiles: list[dict[str, Any]]) -> list[str]:
    """Return what is wrong with the story's contact once the opt-outs should have travelled."""
    problems = []
    if contact.get("donotemail") is not True:
        problems.append("Campaign's unsubscribe (blackListEmail) did not reach D365's donotemail")
    if not profiles or any(p.get("blackListPhone") is not True for p in profiles):
        problems.append("D365's 'do not phone' did not reach Campaign's blackListPhone")
    return problems


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Run the crm-campaign-sync demo end to end.")
    parser.add_argument(
        "--contacts",
        type=at_least(MIN_CONTACTS),
        default=3000,
        help=f"contacts to seed (at least {MIN_CONTACTS})",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed of the sandbox data")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds one Meltano command may take before it is killed",
    )
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
        env = clean_environ(
            {
                **sb.tap_env(),
                **sb.target_campaign_env(),
                **sb.tap_campaign_env(),
                **{k.replace("TAP_", "TARGET_", 1): v for k, v in sb.tap_env().items()},
                "TAP_ADOBE_CAMPAIGN_START_DATE": datetime.now(UTC).isoformat(),
                "MELTANO_ENVIRONMENT": "dev",
                "XDG_STATE_HOME": str(log_home),
            }
        )
        env_file = out_root / "empty.env"  # instead of the project's .env
        env_file.write_text("")
        demo = Demo(sb, out_root, env, f"demo-{stamp}", env_file, timeout=args.timeout)
        client = dataverse(sb)
        check_all(demo)
        problems: list[str] = []

        made_in_campaign = {
            p["PKey"]: p
            for p in sb.campaign.admin.find_rows("profile")
            if not p["externalId"] and (p["email"] or "").strip()
        }
        print(
            f"\n[2/7] Export to CRM: {len(made_in_campaign)} profiles made in Campaign (no CRM id)"
        )
        demo.meltano("1-provision", "invoke", f"{EXPORT_LOADER}:provision")
        print(f"      meltano invoke {EXPORT_LOADER}:provision  (email key on contact: Active)")
        demo.run("2/7", "1-crm-export", "run", "crm-export")

        demo.run("3/7", "1-initial", "run", "d365-to-campaign")
        problems += adoption_problems(sb, made_in_campaign)
        d365_ids = {
            row["contactid"]
            for row in client.iter_values("contacts?$select=contactid,emailaddress1")
            if row.get("emailaddress1")
        }
        contacts = sorted(d365_ids)[:300]
        sent = send(sb, "DM190", "Loyalty newsletter", contacts, seed=7)
        hero = next(
            (
                c
                for c in contacts[10:]
                if sent["by_external_id"].get(c, {}).get("click")
                and not any((sb.admin.get_row("contacts", c) or {}).get(o) for o in OPT_OUT_COLUMNS)
            ),
            None,
        )
        if hero is None:
            raise SystemExit(
                f"FAILED: none of the {len(contacts)} contacts DM190 went to clicked it without "
                "an opt-out: no contact for the story (try more --contacts or another --seed)"
            )
        deleted = contacts[0]
        demo.run("4/7", "2-events", "run", "campaign-to-d365")
        show_contact(sb, client, hero, "BEFORE: the story's contact")

        print("\n[5/7] both sides change")
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
        demo.run("6/7", "3-dry-run", "run", "d365-to-campaign", env=dry_run)
        demo.run("6/7", "4-to-campaign", "run", "d365-to-campaign")
        demo.run("6/7", "5-to-d365", "run", "campaign-to-d365")
        contact, profiles = show_contact(sb, client, hero, "AFTER: the same contact")
        problems += opt_out_problems(contact, profiles)
        gone = sb.campaign.admin.find_rows("profile", externalId=deleted)
        print(f"    deleted contact's profile in Campaign: {'still there' if gone else 'deleted'}")
        if gone:
            problems.append(f"the deleted contact {deleted}'s profile is still in Campaign")

        print("\n[7/7] the three jobs twice more (converged: nothing to write)")
        quiet = len(demo.runs)
        for n in range(2):
            sb.campaign.admin.run_opt_out_export()
            demo.meltano(f"6-quiet-{n}-crm-export", "run", "crm-export")
            demo.meltano(f"6-quiet-{n}-to-campaign", "run", "d365-to-campaign")
            demo.meltano(f"6-quiet-{n}-to-d365", "run", "campaign-to-d365")
        after = Counter[str]()
        for _, _, writes in demo.runs[quiet:]:
            after.update(writes)
        print(f"      writes: D365 {after['D365']}, Campaign {after['Campaign']}")
        if after["D365"] or after["Campaign"]:
            problems.append(
                f"not converged: the last two rounds wrote {after['D365']} time(s) to D365 "
                f"and {after['Campaign']} time(s) to Campaign"
            )
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
    if problems:
        print(f"\nFAILED: {'; '.join(problems)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
