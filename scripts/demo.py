"""`make demo`: the whole integration against the sandbox, a before/after story told twice.

On Campaign Standard (REST: `d365-to-campaign`, `campaign-to-d365`, `crm-export`) and on a
Campaign v8 instance (SOAP: the `-v8` jobs), each on a fresh sandbox (both APIs serve one store).

1. starts the sandbox (Entra ID + Dataverse, Adobe IMS + Campaign (REST and the v8 SOAP router)
   + I/O Events + the SFTP storage area of Campaign's opt-out exports) on free ports; runs the
   schema wizard (`meltano invoke target-adobe-campaign:wizard --tables account,salesorder`):
   on v8 with `--apply` (cus:account and cus:salesorder built on the instance), on Standard its
   resource.json files published; meltano.yml's entries for both tables are checked against it;
2. checks every plugin's connection (`meltano invoke <plugin>:check --config ENV`, the `--v8`
   ones on v8);
3. Export to CRM: profiles made in Campaign become D365 contacts (`crm-export`);
4. `d365-to-campaign` in full: contacts become profiles, accounts cusAccount, sales orders
   (purchases) cusSalesorder, projects cusProject, their tasks cusProjectTask (links included),
   option sets Campaign enumerations; Campaign sends DM190 to 300 of those profiles;
5. `campaign-to-d365` puts the sends, opens, clicks and bounces on the contacts' D365 timelines.
   The story's contact is shown: before;
6. both sides change: in D365 the contact's last name is edited and "do not phone" set, and
   another contact is deleted; in Campaign a second send (DM191) goes out and the contact
   unsubscribes from it; on Standard, Campaign's daily opt-out export workflow runs;
7. `d365-to-campaign` with `TARGET_ADOBE_CAMPAIGN_DRY_RUN=true` tells what the next run would
   write (and writes nothing, bookmarks unmoved), then both jobs run: the story's contact
   again: after, the opt-outs having travelled both ways;
8. the three jobs twice more: zero writes on either side (the sync has converged).

Then it prints the runs of each backend (seconds, what each wrote), a table per backend of what
Campaign got (created, updated, unchanged, rejected per stream), the email events that reached
the timelines and the opt-outs applied, and where files and logs went.

Opt-outs follow the project's `OPT_OUT_SYNC` (meltano.yml: bidirectional). The Meltano
environment is `dev`; the sandbox's ports reach the plugins as `TAP_*` / `TARGET_*` variables,
which take precedence over the fixed ports in meltano.yml (the v8 plugins' SOAP settings as
`TARGET_ADOBE_CAMPAIGN__V8_*` / `TAP_ADOBE_CAMPAIGN__V8_*`). As in the end-to-end tests
(tests/harness.py), Meltano runs clean of the caller's plugin settings: inherited `TAP_*` /
`TARGET_*` variables of the plugins and `MELTANO_*` variables are dropped (the Makefile's two
`MELTANO_*` exports are set again), and the project's `.env` is replaced by an empty file.
`--backend standard|v8` runs one story only.

Each Meltano command's output goes to its log file as it runs; a command that fails or runs
longer than `--timeout` seconds (it is then killed) stops the demo with exit status 1, naming
the log. The demo also exits 1 (a FAILED line) when a story did not end as it should: the last
two rounds wrote something, the deleted contact's profile is still in Campaign, the opt-outs
did not travel both ways, or meltano.yml's account / salesorder entries are not the wizard's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
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
#: SOAP methods that write (the request log's `soap_action` is `<service>#<method>`).
SOAP_WRITES = ("Write", "WriteCollection", "BuildSchemaFromId")
#: The Campaign backends the story runs on, each on a fresh sandbox (they share one store).
BACKENDS = ("standard", "v8")
#: Tables the schema wizard makes Campaign schemas for (meltano.yml uses its output).
WIZARD_TABLES = ("account", "salesorder")
#: Streams shown in the per-backend summary, with their names there.
SHOWN_STREAMS = {
    "contact": "contacts",
    "account": "accounts",
    "salesorder": "purchases",
    "new_project": "projects",
    "new_projecttask": "project tasks",
}
COUNTS = ("created", "updated", "unchanged", "rejected")
BACKEND_TITLES = {"standard": "Standard (REST)", "v8": "v8 (SOAP)"}
_SUMMARY = re.compile(r"(?P<plugin>[\w-]+) Summary (?P<stream>\w+): (?P<counts>.*)$")
#: The loaders' dry-run settings, and the values Meltano reads as true (meltano.core.utils).
DRY_RUN_VARIABLES = ("TARGET_ADOBE_CAMPAIGN_DRY_RUN", "TARGET_DYNAMICS365_DRY_RUN")
EXPORT_LOADER = "target-dynamics365--crm-export"
#: The crm-export extractors' variables (`tap-adobe-campaign--crm-export[-v8]`) and start.
EXPORT_TAP_PREFIX = "TAP_ADOBE_CAMPAIGN__CRM_EXPORT"
CRM_EXPORT_START = "2000-01-01T00:00:00+00:00"
V8_LOADER_PREFIX = "TARGET_ADOBE_CAMPAIGN__V8"
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
    #: The backend's plugin names: the v8 story uses the `--v8` loader and extractor.
    backend: str = "standard"
    #: plugin → stream → counter → sum over the real (not dry) runs' Summary lines.
    totals: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    #: What went wrong in the story (the demo then exits 1), and the activities at its end.
    problems: list[str] = field(default_factory=list)
    timeline_events: int = 0

    @property
    def backend_label(self) -> str:
        """` [v8]` in the v8 story's step titles."""
        return f" [{self.backend}]"

    @property
    def suffix(self) -> str:
        """The jobs' and inheriting plugins' suffix of this backend."""
        return "-v8" if self.backend == "v8" else ""

    def job(self, name: str) -> str:
        """Return this backend's job `name` (`d365-to-campaign` → `d365-to-campaign-v8`)."""
        return f"{name}{self.suffix}"

    def add_summaries(self, output: str) -> None:
        """Sum the plugins' `Summary <stream>: k v, …` lines of a run."""
        for line in output.splitlines():
            found = _SUMMARY.search(line)
            if found is None:
                continue
            streams = self.totals.setdefault(found["plugin"].split("--")[0], {})
            counts = streams.setdefault(found["stream"], Counter())
            for pair in found["counts"].split(","):
                name, _, value = pair.strip().partition(" ")
                if value.strip().isdigit():
                    counts[name] += int(value)

    def writes(self) -> dict[str, int]:
        """Count API write calls on each side since the last call (the request logs).

        Campaign's are its REST writes plus the SOAP router's writing calls (`Write`,
        `WriteCollection`: v8 records, enumerations, source schemas; the request log records
        each call's SOAP action).
        """
        d365 = sum(
            1
            for r in self.sb.admin.requests()
            if r["method"] in WRITES and "/api/data/" in r["path"]
        )
        campaign_log = self.sb.campaign.admin.requests()
        rest = sum(1 for r in campaign_log if r["method"] in WRITES and "/campaign/" in r["path"])
        soap = sum(
            1
            for r in campaign_log
            if str(r.get("soap_action") or "").rpartition("#")[2] in SOAP_WRITES
        )
        self.sb.admin.clear_requests()
        self.sb.campaign.admin.clear_requests()
        return {"D365": d365, "Campaign": rest + soap}

    def meltano(self, label: str, *args: str, env: dict[str, str] | None = None) -> str:
        """Run `meltano <args>`, its output going to `<label>.log`; return it (stop on failure)."""
        out_dir = self.out_root / label
        out_dir.mkdir(parents=True)
        summary_file = out_dir / "summary.json"
        self.env["TARGET_ADOBE_CAMPAIGN_REJECTS_FILE"] = str(out_dir / "rejects.jsonl")
        # the v8 loader names its own rejects file (meltano.yml): its variable wins
        self.env["TARGET_ADOBE_CAMPAIGN__V8_REJECTS_FILE"] = str(out_dir / "rejects.jsonl")
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
            self.runs.append((name, seconds, self.writes()))
            if not dry:
                self.add_summaries(output)
        return output

    def run(self, step: str, label: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Run a pipeline and print its summary lines."""
        shown = "".join(f"{k}={v} " for k, v in (env or {}).items())
        print(f"\n[{step}]{self.backend_label} {shown}meltano {' '.join(args)}")
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
    print(f"\n[2/8] connection checks (meltano invoke <plugin>:check){demo.backend_label}")
    for base in PLUGINS:
        plugin = f"{base}--v8" if demo.backend == "v8" and "adobe" in base else base
        output = demo.meltano(f"check-{plugin}", "invoke", f"{plugin}:check", "--config", "ENV")
        # A FAIL step makes the check exit 1, which stops the demo in `meltano`.
        steps = [line for line in output.splitlines() if line.startswith(("ok ", "FAIL "))]
        ok = sum(1 for line in steps if line.startswith("ok "))
        print(f"      {plugin:<26} {ok}/{len(steps)} ok")


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


def wizard_problems(demo: Demo) -> list[str]:
    """Run the schema wizard for account and salesorder; check meltano.yml against its output.

    `meltano invoke target-adobe-campaign:wizard --tables account,salesorder` writes per table
    the v8 source schema, the Standard custom resource and the meltano.yml entries of both
    backends. v8: with `--apply` it also writes and builds cus:account and cus:salesorder on
    the instance. Standard has no API for custom resources: the administrator publishes the
    generated resource.json (the sandbox's admin route stands in for Campaign's UI).
    Returns what differs between the wizard's entries and meltano.yml's.
    """
    out = demo.out_root / "campaign-schemas"
    apply = ["--apply"] if demo.backend == "v8" else []
    args = ("--tables", ",".join(WIZARD_TABLES), "--out", str(out), *apply)
    print(f"\n[1/8] schema wizard{demo.backend_label}")
    demo.meltano("0-wizard", "invoke", "target-adobe-campaign:wizard", *args)
    print(
        f"      meltano invoke target-adobe-campaign:wizard {' '.join(args[:2])} {' '.join(apply)}"
    )
    print(f"      files: {out.relative_to(REPO_ROOT)}/<table>/ (srcSchema.xml, resource.json, …)")
    if demo.backend == "v8":
        print("      built on the instance: cus:account, cus:salesorder (xtk:builder)")
    else:
        for table in WIZARD_TABLES:
            demo.sb.campaign.admin.publish_resource(
                json.loads((out / table / "resource.json").read_text())
            )
        print("      published in Campaign: cusAccount, cusSalesorder (their resource.json)")
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    loader = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-adobe-campaign")
    problems = []
    for table in WIZARD_TABLES:
        generated = yaml.safe_load((out / table / f"meltano.{demo.backend}.yml").read_text())
        for section, entries in generated.items():
            for name, entry in entries.items():
                used = dict(loader["config"][section].get(name) or {})
                if section == "resources" and demo.backend == "v8":
                    used.pop("key_filter", None)  # Standard-only, unused on v8
                if used != entry:
                    problems.append(f"meltano.yml's {section}.{name} is not the wizard's")
    verdict = "the same" if not problems else "DIFFERENT"
    print(f"      meltano.yml's account and salesorder entries vs the wizard's: {verdict}")
    return problems


def story(backend: str, args: argparse.Namespace, out_root: Path, log_home: Path) -> Demo:
    """Tell the whole story on one backend, on a sandbox of its own; return its runs, totals."""
    print(f"\n=== Campaign {BACKEND_TITLES[backend]}: sandbox ({args.contacts} contacts) ===")
    with launch(
        state_dir=out_root / "sandbox",
        contacts=args.contacts,
        profiles=args.contacts // 3,
        seed=args.seed,
    ) as sb:
        print(f"  Dataverse {sb.dataverse.url}   Campaign {sb.campaign.api_url}")
        if backend == "v8":
            print(f"  SOAP      {sb.campaign.soap_url}")
        else:
            print(f"  SFTP      {sb.campaign.sftp_host}:{sb.campaign.sftp_port}")
        # The tenant's opt-out history before the integration: exported once, not replayed.
        sb.campaign.admin.run_opt_out_export()
        # v8 reads logs and recipients modified from start_date on, and a send's logs are
        # back-dated (the send ran during the last hour): start two hours back there.
        start = datetime.now(UTC) - (timedelta(hours=2) if backend == "v8" else timedelta())
        env = clean_environ(
            {
                **sb.tap_env(),
                **sb.target_campaign_env(),
                **sb.tap_campaign_env(),
                **{k.replace("TAP_", "TARGET_", 1): v for k, v in sb.tap_env().items()},
                **(sb.v8_env(V8_LOADER_PREFIX) if backend == "v8" else {}),
                **(sb.v8_env("TAP_ADOBE_CAMPAIGN__V8") if backend == "v8" else {}),
                # Export to CRM reads every profile made in Campaign, however old (the start
                # date below is for events and opt-outs): the crm-export extractors' own value.
                f"{EXPORT_TAP_PREFIX}_START_DATE": CRM_EXPORT_START,
                f"{EXPORT_TAP_PREFIX}_V8_START_DATE": CRM_EXPORT_START,
                "TAP_ADOBE_CAMPAIGN_START_DATE": start.isoformat(),
                "MELTANO_ENVIRONMENT": "dev",
                "XDG_STATE_HOME": str(log_home),
            }
        )
        env_file = out_root / "empty.env"  # instead of the project's .env
        env_file.write_text("")
        suffix = f"demo-{out_root.parent.name}-{backend}"
        demo = Demo(sb, out_root, env, suffix, env_file, timeout=args.timeout, backend=backend)
        demo.problems = []
        client = dataverse(sb)
        # The wizard first: the target's check reads every resource meltano.yml routes to.
        demo.problems += wizard_problems(demo)
        check_all(demo)
        tag = demo.backend_label
        made_in_campaign = {
            p["PKey"]: p
            for p in sb.campaign.admin.find_rows("profile")
            if not p["externalId"] and (p["email"] or "").strip()
        }
        print(
            f"\n[3/8] Export to CRM{tag}: {len(made_in_campaign)} profiles made in Campaign"
            " (no CRM id)"
        )
        demo.meltano("1-provision", "invoke", f"{EXPORT_LOADER}:provision")
        print(f"      meltano invoke {EXPORT_LOADER}:provision  (email key on contact: Active)")
        demo.run("3/8", "1-crm-export", "run", demo.job("crm-export"))

        demo.run("4/8", "1-initial", "run", demo.job("d365-to-campaign"))
        demo.problems += adoption_problems(sb, made_in_campaign)
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
        demo.run("5/8", "2-events", "run", demo.job("campaign-to-d365"))
        show_contact(sb, client, hero, "BEFORE: the story's contact")

        print(f"\n[6/8] both sides change{tag}")
        sb.admin.update_row("contacts", hero, {"lastname": "Lovelace-Byron", "donotphone": True})
        print(f"      D365: {hero} renamed Lovelace-Byron and set to 'do not phone'")
        sb.admin.delete_row("contacts", deleted)
        print(f"      D365: contact {deleted} deleted")
        send(sb, "DM191", "Winter sale", contacts[1:], seed=8)
        sb.campaign.admin.track("DM191", hero, "optout")
        print(f"      Campaign: {hero} clicked DM191's unsubscribe link (blackListEmail)")
        if backend == "standard":
            export = sb.campaign.admin.run_opt_out_export()
            print(
                f"      Campaign: the daily opt-out export wrote {export['rows']} row(s) over SFTP"
            )

        # The next run's exact plan (bookmarks don't move: a dry run emits no STATE).
        dry_run = {"TARGET_ADOBE_CAMPAIGN_DRY_RUN": "true"}
        demo.run("7/8", "3-dry-run", "run", demo.job("d365-to-campaign"), env=dry_run)
        demo.run("7/8", "4-to-campaign", "run", demo.job("d365-to-campaign"))
        demo.run("7/8", "5-to-d365", "run", demo.job("campaign-to-d365"))
        contact, profiles = show_contact(sb, client, hero, "AFTER: the same contact")
        demo.problems += opt_out_problems(contact, profiles)
        gone = sb.campaign.admin.find_rows("profile", externalId=deleted)
        print(f"    deleted contact's profile in Campaign: {'still there' if gone else 'deleted'}")
        if gone:
            demo.problems.append(f"the deleted contact {deleted}'s profile is still in Campaign")

        print(f"\n[8/8] the three jobs twice more (converged: nothing to write){tag}")
        quiet = len(demo.runs)
        for n in range(2):
            sb.campaign.admin.run_opt_out_export()
            demo.meltano(f"6-quiet-{n}-crm-export", "run", demo.job("crm-export"))
            demo.meltano(f"6-quiet-{n}-to-campaign", "run", demo.job("d365-to-campaign"))
            demo.meltano(f"6-quiet-{n}-to-d365", "run", demo.job("campaign-to-d365"))
        after = Counter[str]()
        for _, _, writes in demo.runs[quiet:]:
            after.update(writes)
        print(f"      writes: D365 {after['D365']}, Campaign {after['Campaign']}")
        if after["D365"] or after["Campaign"]:
            demo.problems.append(
                f"not converged: the last two rounds wrote {after['D365']} time(s) to D365 "
                f"and {after['Campaign']} time(s) to Campaign"
            )
        demo.timeline_events = sum(
            sum(1 for _ in client.iter_values(f"{entity_set}?$select=activityid"))
            for entity_set in ACTIVITY_TABLES.values()
        )
        client.session.close()
        sb.admin.session.close()  # release our keep-alive connections
        sb.campaign.admin.session.close()
        print("\nStopping the sandbox.")
    return demo


def print_summary(demos: list[Demo]) -> None:
    """Per backend: what Campaign got (per stream), the events and the opt-outs."""
    width = 10 * len(COUNTS)
    titles = "".join(f"{BACKEND_TITLES[d.backend]:>{width + 3}}" for d in demos)
    print(f"\nPer backend (every real run of the story added up){titles}")
    heads = "".join("   " + "".join(f"{c:>10}" for c in COUNTS) for _ in demos)
    print(f"  {'into Campaign':<46}{heads}")
    for stream, label in SHOWN_STREAMS.items():
        cells = ""
        for d in demos:
            counts = d.totals.get("target-adobe-campaign", {}).get(stream, Counter())
            cells += "   " + "".join(f"{counts[c]:>10}" for c in COUNTS)
        print(f"    {label:<44}{cells}")
    rows = {
        "email events on D365 timelines (upserted)": lambda d: d.totals.get(
            "target-dynamics365", {}
        ).get("email_events", Counter())["upserted"],
        "  activities on the timelines at the end": lambda d: d.timeline_events,
        "opt-outs applied to D365 contacts": lambda d: d.totals.get("target-dynamics365", {}).get(
            "opt_outs", Counter()
        )["updated"],
        "opt-outs kept in Campaign (bidirectional)": lambda d: sum(
            c["opt_outs_kept"] for c in d.totals.get("target-adobe-campaign", {}).values()
        ),
        "D365 contacts made from Campaign profiles": lambda d: d.totals.get(
            "target-dynamics365", {}
        ).get("unlinked_profiles", Counter())["upserted"],
    }
    for label, value in rows.items():
        print(f"  {label:<46}" + "".join(f"{value(d):>{width + 3}}" for d in demos))


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
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "both"],
        default="both",
        help="Campaign backend(s) the story runs on, each on a fresh sandbox (default: both)",
    )
    args = parser.parse_args()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_home = Path(os.environ.get("XDG_STATE_HOME", REPO_ROOT / ".meltano" / "xdg-state"))
    started = time.monotonic()
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    demos: list[Demo] = []
    for backend in backends:
        out_root = REPO_ROOT / "output" / "demo" / stamp / backend
        out_root.mkdir(parents=True)
        demos.append(story(backend, args, out_root, log_home))

    for demo in demos:
        title = f"Runs: Campaign {BACKEND_TITLES[demo.backend]}"
        print(f"\n{title:<48}{'seconds':>8}{'D365 writes':>13}{'Campaign writes':>17}")
        for name, seconds, writes in demo.runs:
            print(f"  {name:<46}{seconds:>8.1f}{writes['D365']:>13}{writes['Campaign']:>17}")
    print_summary(demos)
    print(f"\n  total {time.monotonic() - started:.1f} s (sandbox starts and stops included)")
    where = (REPO_ROOT / "output" / "demo" / stamp).relative_to(REPO_ROOT)
    print(f"  run logs, summaries, rejects  {where}/<backend>/")
    print(f"  meltano log                   {log_home / 'meltano' / 'log'}")
    problems = [f"{d.backend}: {p}" for d in demos for p in d.problems]
    if problems:
        print(f"\nFAILED: {'; '.join(problems)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
