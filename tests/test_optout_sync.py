"""End to end: opt-outs between Dynamics 365 and Campaign in the four `opt_out_sync` modes.

Both jobs run for real (`d365-to-campaign`, `campaign-to-d365`) against one sandbox. Campaign's
opt-outs reach Dynamics 365 through the daily opt-out export (the sandbox's SFTP storage area;
the test runs the export workflow where Adobe's schedule would). The mode reaches each plugin as
its own `opt_out_sync` variable, the way the project's `OPT_OUT_SYNC` does.

Expectations follow Adobe's rule read literally: the more recent Campaign change wins; when
Dynamics 365's record is more recent, the times tie or Campaign's time is unknown (v8), opt-out =
true wins. Where true wins over a Campaign false that Dynamics 365 already holds, campaign-to-d365
re-writes the contact's columns as they are (`opt_outs_reasserted`), so the next
d365-to-campaign reads the contact and raises the flag in Campaign. Convergence: once a change
has travelled, two more rounds of both jobs write nothing on either side (one round in the
one-way modes, where only one side is ever written).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from crm_sandbox.testing import Sandbox

from tests.dataverse_reader import DataverseReader
from tests.harness import Pipeline, RunResult

#: Campaign flag → the contact columns the project's mapping ORs into it.
FLAGS = {
    "blackListEmail": ("donotbulkemail", "donotemail"),
    "blackListPhone": ("donotphone",),
    "blackListFax": ("donotfax",),
    "blackListPostalMail": ("donotpostalmail",),
}
PLUGINS = ("TAP_ADOBE_CAMPAIGN", "TARGET_ADOBE_CAMPAIGN", "TARGET_DYNAMICS365")
WRITES = ("POST", "PATCH", "PUT", "DELETE")
#: SOAP methods that write (v8's WriteCollection, enumerations' Write).
SOAP_WRITES = ("Write", "WriteCollection")
#: target-dynamics365's summary line of the `opt_outs` stream (in Meltano's output).
OPT_OUTS_SUMMARY = re.compile(r"Summary opt_outs: updated \d+, .*\bopt_outs_reasserted (\d+)")


def mode_env(mode: str) -> dict[str, str]:
    """The mode for every plugin that reads it, and opt-out exports from this test on."""
    env = {f"{plugin}_OPT_OUT_SYNC": mode for plugin in PLUGINS}
    env["TAP_ADOBE_CAMPAIGN_START_DATE"] = datetime.now(UTC).isoformat()
    return env


def d365_flags(sb: Sandbox, contact_id: str) -> dict[str, bool]:
    """The contact's opt-outs as Campaign flags (OR of the mapped columns)."""
    row = sb.admin.get_row("contacts", contact_id)
    assert row is not None, contact_id
    return {flag: any(bool(row[c]) for c in columns) for flag, columns in FLAGS.items()}


def profile(sb: Sandbox, contact_id: str) -> dict[str, Any]:
    """The one Campaign profile of the contact."""
    rows = sb.campaign.admin.find_rows("profile", externalId=contact_id)
    assert len(rows) == 1, f"{len(rows)} profiles for {contact_id}"
    return rows[0]


def campaign_flags(sb: Sandbox, contact_id: str) -> dict[str, bool]:
    """The profile's opt-out flags."""
    found = profile(sb, contact_id)
    return {flag: bool(found[flag]) for flag in FLAGS}


def campaign_opt_out(sb: Sandbox, contact_id: str, flag: str, value: bool = True) -> None:
    """A recipient changes an opt-out in Campaign (unsubscribe link, preference center)."""
    sb.campaign.admin.update_row("profile", profile(sb, contact_id)["PKey"], {flag: value})


class Writes:
    """Write calls on both sides since the last `reset()`."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.reset()

    def reset(self) -> None:
        self.sb.admin.clear_requests()
        self.sb.campaign.admin.clear_requests()

    def count(self) -> dict[str, int]:
        d365 = [
            r
            for r in self.sb.admin.requests()
            if r["method"] in WRITES and "/api/data/" in r["path"]  # not Entra's token POSTs
        ]
        campaign = [
            r
            for r in self.sb.campaign.admin.requests()
            if (r["method"] in WRITES and "/campaign/" in r["path"])
            or str(r.get("soap_action") or "").rpartition("#")[2] in SOAP_WRITES
        ]
        return {"d365": len(d365), "campaign": len(campaign)}


class Sync:
    """Both jobs in one sandbox, in one mode."""

    def __init__(self, sb: Sandbox, to_campaign: Pipeline, to_d365: Pipeline, mode: str) -> None:
        self.sb = sb
        self.to_campaign = to_campaign
        self.to_d365 = to_d365
        self.env = mode_env(mode)
        self.runs = 0
        self.last_to_d365: RunResult | None = None

    def d365_to_campaign(self) -> None:
        self.runs += 1
        self.to_campaign.run(f"to-campaign-{self.runs}", extra_env=self.env).check()

    def campaign_to_d365(self) -> None:
        """Campaign's export workflow runs (Adobe: daily), then the job reads the new files."""
        self.runs += 1
        self.sb.campaign.admin.run_opt_out_export()
        self.last_to_d365 = self.to_d365.run(f"to-d365-{self.runs}", extra_env=self.env).check()

    def reasserted(self) -> int:
        """The last `campaign-to-d365`'s `opt_outs_reasserted` (0 if it wrote no opt-outs)."""
        assert self.last_to_d365 is not None
        found = OPT_OUTS_SUMMARY.findall(self.last_to_d365.output)
        return sum(int(reasserted) for reasserted in found)

    def round(self, order: str = "d365_first") -> None:
        if order == "d365_first":
            self.d365_to_campaign()
            self.campaign_to_d365()
        else:
            self.campaign_to_d365()
            self.d365_to_campaign()


def start(sb: Sandbox, to_campaign: Pipeline, to_d365: Pipeline, mode: str) -> Sync:
    """Contacts in Campaign, the seeded Campaign history exported before the test's start."""
    sb.campaign.admin.run_opt_out_export()
    sync = Sync(sb, to_campaign, to_d365, mode)
    sync.d365_to_campaign()
    sync.campaign_to_d365()
    return sync


def clean_contacts(d365: DataverseReader, count: int) -> list[str]:
    """Contacts with an email address and no opt-out at all (so any change is visible)."""
    columns = ",".join(["contactid", "emailaddress1", *(c for cs in FLAGS.values() for c in cs)])
    chosen = []
    for row in d365.rows(d365.tables()["contact"], columns):
        if row.get("emailaddress1") and not any(row[c] for cs in FLAGS.values() for c in cs):
            chosen.append(row["contactid"])
        if len(chosen) == count:
            return chosen
    raise AssertionError(f"fewer than {count} contacts without opt-outs")


def assert_converges(sync: Sync, rounds: int = 2) -> None:
    """More rounds of both jobs (in both orders) write nothing on either side."""
    writes = Writes(sync.sb)
    for n in range(rounds):
        sync.round("campaign_first" if n % 2 else "d365_first")
    assert writes.count() == {"d365": 0, "campaign": 0}


@pytest.mark.parametrize(
    ("order", "backend"),
    [("d365_first", "standard"), ("campaign_first", "standard"), ("d365_first", "v8")],
    ids=["d365_first", "campaign_first", "d365_first-v8"],
)
def test_bidirectional_keeps_every_opt_out_and_converges(
    campaign_sandbox: Sandbox,
    campaign_pipeline: Pipeline,
    events_pipeline: Pipeline,
    d365: DataverseReader,
    order: str,
    backend: str,
) -> None:
    """On v8 (`-v8` jobs) Campaign keeps no change time per flag (`nms:recipient` has one
    `@lastModified`): where the sides differ, opt-out = true wins, so a lift in Campaign (e, f)
    never clears a D365 opt-out there. D365 already holds f's opt-out, so campaign-to-d365
    re-asserts it (re-writes the columns as they are: `modifiedon` moves), and the next
    d365-to-campaign raises it in Campaign again: f ends true on both sides one round later.
    The opt-in of unknown time is undone, as Adobe's rule says for an unknown time."""
    sb = campaign_sandbox
    sync = start(sb, campaign_pipeline, events_pipeline, "bidirectional")
    a, b, c, d, e, f = clean_contacts(d365, 6)
    # a: unsubscribes in Campaign. b: D365 opts out of phone calls. c: both sides, different
    # flags, D365 last (its record-level time is newer than Campaign's email change).
    campaign_opt_out(sb, a, "blackListEmail")
    sb.admin.update_row("contacts", b, {"donotphone": True})
    campaign_opt_out(sb, c, "blackListEmail")
    sb.admin.update_row("contacts", c, {"donotfax": True})
    # d: opted out in Campaign and synced; then a D365 user lifts it (D365 can't: rule).
    campaign_opt_out(sb, d, "blackListPostalMail")
    # e: opted out in D365 and synced; then an unrelated D365 edit, and later (a second on,
    # Dataverse's precision) Campaign lifts the opt-out, before either job runs again.
    sb.admin.update_row("contacts", e, {"donotfax": True})
    # f: opted out in D365 and synced; then the recipient opts back in through Campaign's
    # preference center: Campaign's change is the newer one, so the opt-in wins on both sides
    # (Standard; on v8 its time is unknown: true wins and is re-asserted to Campaign).
    sb.admin.update_row("contacts", f, {"donotphone": True})
    sync.round(order)
    sb.admin.update_row("contacts", d, {"donotpostalmail": False})
    assert campaign_flags(sb, e)["blackListFax"]
    sb.admin.update_row("contacts", e, {"jobtitle": "Buyer"})
    sb.admin.shift_clock(2)
    campaign_opt_out(sb, e, "blackListFax", False)
    assert campaign_flags(sb, f)["blackListPhone"]
    campaign_opt_out(sb, f, "blackListPhone", False)

    sync.round(order)

    assert d365_flags(sb, a)["blackListEmail"]
    assert campaign_flags(sb, a)["blackListEmail"]
    assert d365_flags(sb, b)["blackListPhone"]
    assert campaign_flags(sb, b)["blackListPhone"]
    for flag in ("blackListEmail", "blackListFax"):
        assert d365_flags(sb, c)[flag], f"D365 lost {flag}"
        assert campaign_flags(sb, c)[flag], f"Campaign lost {flag}"
    assert campaign_flags(sb, d)["blackListPostalMail"], "Campaign's opt-out was lifted by D365"
    # e depends on the order: campaign-to-d365 first applies Adobe's rule (Campaign's change is
    # newer: the lift reaches D365); d365-to-campaign first cannot see Campaign's change time
    # over REST and raises the flag again (opt-out = true wins). Either way both sides agree.
    assert campaign_flags(sb, e)["blackListFax"] is (order == "d365_first")
    if backend == "v8":
        # f: the opt-in in Campaign has no time to win with; D365 keeps its opt-out and
        # re-asserts it (the one contact of this round), Campaign has not got it back yet.
        assert d365_flags(sb, f)["blackListPhone"], "an opt-out of unknown age was cleared"
        assert not campaign_flags(sb, f)["blackListPhone"]
        assert sync.reasserted() == 1
        for contact in (a, b, c, e):
            assert d365_flags(sb, contact) == campaign_flags(sb, contact), contact
        # One more round: d365-to-campaign reads f (its modifiedon moved) and raises the flag;
        # campaign-to-d365 then reads the raised profile, finds both sides true, writes nothing.
        sync.d365_to_campaign()
        assert campaign_flags(sb, f)["blackListPhone"], "the reasserted opt-out is not back"
        writes = Writes(sb)
        sync.campaign_to_d365()
        assert writes.count()["d365"] == 0
        assert sync.reasserted() == 0
        assert d365_flags(sb, f)["blackListPhone"], "D365 lost blackListPhone"
    else:
        assert not d365_flags(sb, f)["blackListPhone"], "Campaign's newer opt-in did not win"
        assert not campaign_flags(sb, f)["blackListPhone"], "Campaign's newer opt-in did not win"
        assert sync.reasserted() == 0
    for contact in (a, b, c, e, f):
        assert d365_flags(sb, contact) == campaign_flags(sb, contact), contact
    assert_converges(sync)


@pytest.mark.parametrize(
    ("mode", "to_campaign", "to_d365"),
    [
        ("disabled", False, False),
        ("d365_to_campaign", True, False),
        ("campaign_to_d365", False, True),
    ],
)
def test_one_way_and_disabled_modes(
    campaign_sandbox: Sandbox,
    campaign_pipeline: Pipeline,
    events_pipeline: Pipeline,
    d365: DataverseReader,
    mode: str,
    to_campaign: bool,
    to_d365: bool,
) -> None:
    sb = campaign_sandbox
    sync = start(sb, campaign_pipeline, events_pipeline, mode)
    in_d365, in_campaign = clean_contacts(d365, 2)
    sb.admin.update_row("contacts", in_d365, {"donotphone": True})
    campaign_opt_out(sb, in_campaign, "blackListEmail")

    sync.round()

    assert campaign_flags(sb, in_d365)["blackListPhone"] is to_campaign
    assert d365_flags(sb, in_campaign)["blackListEmail"] is to_d365
    # Each side keeps its own change whatever the mode.
    assert d365_flags(sb, in_d365)["blackListPhone"]
    assert campaign_flags(sb, in_campaign)["blackListEmail"]
    # Both lift: the side that is the truth clears the other (d365_to_campaign clears
    # Campaign's blackListPhone, campaign_to_d365 clears D365's donot*email columns).
    sb.admin.update_row("contacts", in_d365, {"donotphone": False})
    campaign_opt_out(sb, in_campaign, "blackListEmail", False)

    sync.round()

    assert not campaign_flags(sb, in_d365)["blackListPhone"]
    assert not d365_flags(sb, in_campaign)["blackListEmail"]
    # Only one side is written here, so no echo can start: one quiet round shows it (a round
    # that writes nothing changes nothing the next one reads).
    assert_converges(sync, rounds=1)
