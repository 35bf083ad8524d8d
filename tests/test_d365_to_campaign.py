"""End to end: real `meltano run d365-to-campaign` from D365 (Dataverse sandbox) to Campaign.

Expectations come from the two sandboxes read over plain HTTP (`DataverseReader`,
`CampaignReader`), from the changes a test makes through the Dataverse admin API, and from the
Campaign sandbox's engine-call counter and request log; never from the plugins themselves. The
mapping checked here (`expected_profile`, `expected_project`) is written out independently of
the stream maps in meltano.yml.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from typing import Any

import pytest
from crm_sandbox.testing import Sandbox

from tests.campaign_reader import CampaignReader
from tests.conftest import BACKENDS, CAMPAIGN_CONTACTS
from tests.dataverse_reader import DataverseReader
from tests.harness import MeltanoProject, Pipeline

CONTACT_COLUMNS = (
    "contactid,firstname,lastname,emailaddress1,birthdate,gendercode,donotbulkemail,donotemail,"
    "donotphone,donotfax,donotpostalmail,statecode"
)
PROJECT_COLUMNS = (
    "new_projectid,new_name,new_code,new_budget,new_startdate,new_stage,_new_contactid_value"
)
ACCOUNT_COLUMNS = "accountid,name,revenue,_primarycontactid_value"
ORDER_COLUMNS = "salesorderid,name,totalamount,_accountid_value,_contactid_value"
WRITES = ("POST", "PATCH", "PUT", "DELETE")
#: SOAP methods that write (the request log's `soap_action` is `<service>#<method>`).
SOAP_WRITES = ("Write", "WriteCollection", "BuildSchemaFromId")


def _blank(value: Any) -> Any:
    """Campaign shows an unset string as "" where D365 has null."""
    return None if value in ("", None) else value


def expected_profile(contact: dict[str, Any]) -> dict[str, Any]:
    """The Campaign profile fields a D365 contact maps to (see meltano.yml stream_maps)."""
    gender = {1: "male", 2: "female"}.get(contact["gendercode"], "unknown")
    return {
        "firstName": _blank(contact["firstname"]),
        "lastName": _blank(contact["lastname"]),
        "email": _blank(contact["emailaddress1"]),
        "birthDate": _blank(contact["birthdate"]),
        "gender": gender,
        "blackListEmail": bool(contact["donotbulkemail"] or contact["donotemail"]),
        "blackListPhone": bool(contact["donotphone"]),
        "blackListFax": bool(contact["donotfax"]),
        "blackListPostalMail": bool(contact["donotpostalmail"]),
    }


def actual_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The mapped fields of a Campaign profile, blanks as None."""
    return {name: _blank(profile.get(name)) for name in expected_profile_fields()}


def expected_profile_fields() -> tuple[str, ...]:
    """Campaign profile fields the job writes (besides the key, externalId)."""
    return (
        "firstName",
        "lastName",
        "email",
        "birthDate",
        "gender",
        "blackListEmail",
        "blackListPhone",
        "blackListFax",
        "blackListPostalMail",
    )


def expected_project(project: dict[str, Any]) -> dict[str, Any]:
    """The cusProject fields a D365 new_project maps to."""
    stage = {100000001: "running", 100000002: "done"}.get(project["new_stage"], "planned")
    return {
        "cusName": project["new_name"],
        "cusCode": _blank(project["new_code"]),
        "cusBudget": project["new_budget"],
        "cusStartDate": _blank(project["new_startdate"]),
        "cusStage": stage,
    }


def single(grouped: dict[str, list[dict[str, Any]]], key: str) -> dict[str, Any]:
    """The one Campaign record with CRM id `key` (failing on none or several)."""
    found = grouped.get(key, [])
    assert len(found) == 1, f"{len(found)} Campaign records carry the CRM id {key}"
    return found[0]


def duplicated(grouped: dict[str, list[dict[str, Any]]]) -> list[str]:
    """CRM ids carried by more than one Campaign record."""
    return sorted(key for key, records in grouped.items() if len(records) > 1)


def contacts_of(d365: DataverseReader) -> dict[str, dict[str, Any]]:
    """Every D365 contact (active and inactive) with the mapped columns, by id."""
    table = d365.tables()["contact"]
    return {row["contactid"]: row for row in d365.rows(table, CONTACT_COLUMNS)}


def projects_of(d365: DataverseReader) -> dict[str, dict[str, Any]]:
    """Every D365 new_project with the mapped columns, by id."""
    table = d365.tables()["new_project"]
    return {row["new_projectid"]: row for row in d365.rows(table, PROJECT_COLUMNS)}


def tasks_of(d365: DataverseReader) -> list[dict[str, Any]]:
    """Every D365 new_projecttask (the job's second level of custom tables)."""
    return list(d365.rows(d365.tables()["new_projecttask"], "new_projecttaskid"))


def accounts_of(d365: DataverseReader) -> dict[str, dict[str, Any]]:
    """Every D365 account with the columns checked, by id."""
    return {r["accountid"]: r for r in d365.rows(d365.tables()["account"], ACCOUNT_COLUMNS)}


def orders_of(d365: DataverseReader) -> dict[str, dict[str, Any]]:
    """Every D365 salesorder (the purchases) with the columns checked, by id."""
    return {r["salesorderid"]: r for r in d365.rows(d365.tables()["salesorder"], ORDER_COLUMNS)}


def assert_linked(
    record: dict[str, Any], link: str, parent_id: Any, parents: dict, live: set[str]
) -> None:
    """The record's `link` points at the one parent record with CRM id `parent_id` (or none).

    A lookup to a row deleted in D365 (`live`: the parent table's ids) is not checked: the
    sandbox keeps such a lookup (Dynamics 365 would clear it: "Remove Link") and the record's
    change time with it, so no run brings the change.
    """
    linked = (record.get(link) or {}).get("PKey")
    if parent_id is not None and parent_id not in live:
        return
    if parent_id is None:
        assert linked is None, (link, record.get("cusCrmId"))
    else:
        assert linked == single(parents, parent_id)["PKey"], (link, record.get("cusCrmId"))


def assert_accounts_and_orders(
    d365: DataverseReader, campaign: CampaignReader, profiles: dict[str, list[dict[str, Any]]]
) -> None:
    """Each account and salesorder once in cusAccount / cusSalesorder, linked to its parents."""
    contacts = set(d365.ids(d365.tables()["contact"]))
    d365_accounts = accounts_of(d365)
    accounts = campaign.by_key("cusAccount", "cusCrmId")
    assert not duplicated(accounts), f"duplicate cusAccount: {duplicated(accounts)[:5]}"
    for account_id, account in d365_accounts.items():
        record = single(accounts, account_id)
        assert record["cusName"] == account["name"], account_id
        assert record.get("cusRevenue") == account["revenue"], account_id
        parent = account["_primarycontactid_value"]
        assert_linked(record, "primarycontact", parent, profiles, contacts)
    orders = campaign.by_key("cusSalesorder", "cusCrmId")
    assert not duplicated(orders), f"duplicate cusSalesorder: {duplicated(orders)[:5]}"
    for order_id, order in orders_of(d365).items():
        record = single(orders, order_id)
        assert record["cusName"] == order["name"], order_id
        assert record.get("cusTotalamount") == order["totalamount"], order_id
        assert_linked(record, "account", order["_accountid_value"], accounts, set(d365_accounts))
        assert_linked(record, "contact", order["_contactid_value"], profiles, contacts)


def soap_writes(sandbox: Sandbox) -> int:
    """SOAP calls that write (Write, WriteCollection, …) in the Campaign request log."""
    return sum(
        1
        for r in sandbox.campaign.admin.requests()
        if (r.get("soap_action") or "").rpartition("#")[2] in SOAP_WRITES
    )


def soap_calls(sandbox: Sandbox) -> Counter[str]:
    """SOAP calls in the Campaign request log, by method."""
    return Counter(
        str(r["soap_action"]).rpartition("#")[2]
        for r in sandbox.campaign.admin.requests()
        if r.get("soap_action")
    )


def assert_in_step(d365: DataverseReader, campaign: CampaignReader, accounts: bool = True) -> None:
    """Each D365 contact, project, account and order is in Campaign once, mapped and linked.

    `accounts=False`: contacts and projects only (a run of those tables alone).
    """
    contacts = contacts_of(d365)
    profiles = campaign.by_key("profile", "externalId")
    assert not duplicated(profiles), f"duplicate profiles: {duplicated(profiles)[:5]}"
    for contact_id, contact in contacts.items():
        profile = single(profiles, contact_id)
        assert actual_profile(profile) == expected_profile(contact), contact_id
    projects = projects_of(d365)
    custom = campaign.by_key("cusProject", "cusCrmId")
    assert not duplicated(custom), f"duplicate cusProject: {duplicated(custom)[:5]}"
    for project_id, project in projects.items():
        record = single(custom, project_id)
        values = {name: _blank(record.get(name)) for name in expected_project(project)}
        assert values == expected_project(project), project_id
        contact_id = project["_new_contactid_value"]
        linked = (record.get("profile") or {}).get("PKey")
        if contact_id is None:
            assert linked is None, project_id
        else:
            assert linked == single(profiles, contact_id)["PKey"], project_id
    if accounts:
        assert_accounts_and_orders(d365, campaign, profiles)


def api_requests(sandbox: Sandbox) -> Counter[str]:
    """Campaign REST calls the gateway received (its request log), counted by HTTP method."""
    return Counter(
        r["method"] for r in sandbox.campaign.admin.requests() if "/campaign/" in r["path"]
    )


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    """Engine calls (total, insert, update, identical_update, delete) between two snapshots."""
    names = ("total", "insert", "update", "identical_update", "delete")
    return {name: int(after[name]) - int(before[name]) for name in names}


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_load_puts_every_contact_in_campaign_once(
    campaign_pipeline: Pipeline,
    campaign_sandbox: Sandbox,
    d365: DataverseReader,
    campaign: CampaignReader,
    backend: str,
) -> None:
    before = list(campaign.records("profile"))
    contacts = contacts_of(d365)
    assert len(contacts) == CAMPAIGN_CONTACTS
    inactive = {i for i, c in contacts.items() if c["statecode"] == 1}
    assert inactive, "the seed is expected to contain inactive contacts"
    synced_before = {p["externalId"] for p in before if p.get("externalId")} & set(contacts)
    assert synced_before, "the Campaign seed is expected to hold profiles of D365 contacts"
    campaign_only = {p["PKey"]: p for p in before if not p.get("externalId")}
    assert campaign_only, "the Campaign seed is expected to hold profiles created in Campaign"
    campaign_sandbox.campaign.admin.clear_requests()

    run = campaign_pipeline.run("full").check()

    assert_in_step(d365, campaign)
    profiles = campaign.by_key("profile", "externalId")
    assert inactive <= set(profiles)
    # Profiles made in Campaign (no externalId) are left exactly as they were.
    after = {p["PKey"]: p for p in campaign.records("profile") if not p.get("externalId")}
    assert after == campaign_only
    # Profiles of an earlier sync were updated in place, the rest created.
    counts = run.summary["streams"]["contact"]
    assert counts["created"] == len(contacts) - len(synced_before)
    assert counts["updated"] + counts["unchanged"] == len(synced_before)
    assert counts["rejected"] == 0
    for stream, table in (("account", accounts_of), ("salesorder", orders_of)):
        assert run.summary["streams"][stream]["created"] == len(table(d365)) > 0, stream
    assert not run.rejects
    if backend == "v8":  # the SOAP router only: many records per WriteCollection
        rest = api_requests(campaign_sandbox)
        assert not {m: n for m, n in rest.items() if m in WRITES}, rest
        written = sum(run.summary["streams"][s]["created"] for s in run.summary["streams"])
        assert 0 < soap_writes(campaign_sandbox) < written / 50
        return
    engine = campaign_sandbox.campaign.admin.engine_calls()["by_resource"]["profile"]
    assert engine["insert"] == counts["created"]
    assert engine.get("update", 0) == counts["updated"]


def test_incremental_runs_bring_creates_updates_and_deletes(
    campaign_pipeline: Pipeline,
    campaign_sandbox: Sandbox,
    d365: DataverseReader,
    campaign: CampaignReader,
) -> None:
    campaign_pipeline.run("full").check()
    admin, engine = campaign_sandbox.admin, campaign_sandbox.campaign.admin
    ids = sorted(contacts_of(d365))
    created = [
        admin.create_row(
            "contacts",
            {
                "firstname": "Ada",
                "lastname": f"Newcomer {n}",
                "emailaddress1": f"ada.newcomer{n}@example.org",
                "gendercode": 2,
                "birthdate": f"1990-04-0{n + 1}",
            },
        )["contactid"]
        for n in range(3)
    ]
    updated = ids[:5]
    for contact_id in updated:
        admin.update_row("contacts", contact_id, {"lastname": "Renamed", "donotemail": True})
    kept = ids[5:7]  # deleted in D365 while apply_deletes is off
    for contact_id in kept:
        admin.delete_row("contacts", contact_id)
    project = admin.create_row(
        "new_projects",
        {
            "new_name": "Spring launch",
            "new_code": "PRJ-NEW-001",
            "new_stage": 100000001,
            "new_budget": 1234.5,
            "new_startdate": "2026-03-01",
            "_new_contactid_value": created[0],
            "_new_contactid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
        },
    )["new_projectid"]
    calls = engine.engine_calls()

    off = campaign_pipeline.run(
        "deletes-off", extra_env={"TARGET_ADOBE_CAMPAIGN_APPLY_DELETES": "false"}
    ).check()

    streams = off.summary["streams"]
    assert streams["contact"]["created"] == len(created)
    assert streams["contact"]["updated"] == len(updated)
    assert streams["contact_deletes"]["skipped_deletes"] == len(kept)
    assert streams["contact_deletes"]["deleted"] == 0
    assert streams["new_project"]["created"] == 1
    assert delta(engine.engine_calls(), calls) == {
        "total": len(created) + 1 + 2 * len(updated),
        "insert": len(created) + 1,
        "update": len(updated),
        "identical_update": 0,
        "delete": 0,
    }
    profiles = campaign.by_key("profile", "externalId")
    for contact_id in kept:
        single(profiles, contact_id)  # still there: deletes were not applied
    for contact_id in updated:
        profile = single(profiles, contact_id)
        assert profile["lastName"] == "Renamed"
        assert profile["blackListEmail"] is True
    new_project = single(campaign.by_key("cusProject", "cusCrmId"), project)
    assert new_project["profile"]["PKey"] == single(profiles, created[0])["PKey"]
    assert new_project["cusStage"] == "running"

    # Now with apply_deletes on (the test environment's setting): deletes reach Campaign.
    removed = ids[7:11]
    for contact_id in removed:
        admin.delete_row("contacts", contact_id)
    admin.delete_row("new_projects", project)
    calls = engine.engine_calls()

    on = campaign_pipeline.run("deletes-on").check()

    assert on.summary["streams"]["contact_deletes"]["deleted"] == len(removed)
    assert on.summary["streams"]["new_project_deletes"]["deleted"] == 1
    assert delta(engine.engine_calls(), calls)["delete"] == len(removed) + 1
    profiles = campaign.by_key("profile", "externalId")
    assert not set(removed) & set(profiles)
    assert project not in campaign.by_key("cusProject", "cusCrmId")
    # Everything else is in step; the contacts deleted with apply_deletes off stay in Campaign.
    assert_in_step(d365, campaign)
    assert set(kept) <= set(profiles)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rerun_without_changes_makes_no_write_call(
    campaign_pipeline: Pipeline,
    campaign_sandbox: Sandbox,
    d365: DataverseReader,
    campaign: CampaignReader,
    backend: str,
) -> None:
    campaign_pipeline.run("full").check()
    engine = campaign_sandbox.campaign.admin
    calls = engine.engine_calls()
    engine.clear_requests()

    quiet = campaign_pipeline.run("quiet").check()
    # Every record again, through the target's comparison with what Campaign holds.
    again = campaign_pipeline.run("full-again", extra_args=["--full-refresh"]).check()

    assert delta(engine.engine_calls(), calls)["total"] == 0
    methods = api_requests(campaign_sandbox)
    assert not {m: n for m, n in methods.items() if m in WRITES}
    assert soap_writes(campaign_sandbox) == 0, soap_calls(campaign_sandbox)
    if backend == "v8":  # reads by key, one ExecuteQuery per batch: never the whole table
        assert soap_calls(campaign_sandbox)["ExecuteQuery"] > 0
    else:
        assert methods["GET"] > 0, "the request log saw none of the target's reads"
    assert quiet.summary["totals"]["created"] == quiet.summary["totals"]["updated"] == 0
    totals = again.summary["totals"]
    assert totals["created"] == totals["updated"] == totals["rejected"] == 0
    synced = sum(
        len(rows(d365)) for rows in (contacts_of, projects_of, tasks_of, accounts_of, orders_of)
    )
    enumerations = again.summary["streams"]["option_sets"]["unchanged"]
    # gender, cusStage and the wizard's six (account, salesorder): read over SOAP, in step
    assert enumerations == 8
    assert totals["unchanged"] == synced + enumerations
    assert_in_step(d365, campaign)


@pytest.mark.parametrize(
    ("signum", "backend"),
    [(signal.SIGKILL, "standard"), (signal.SIGTERM, "standard"), (signal.SIGKILL, "v8")],
    ids=["kill-9", "sigterm", "kill-9-v8"],
)
def test_a_stopped_run_resumes_from_its_checkpoint_without_loss_or_duplicates(
    campaign_pipeline: Pipeline,
    campaign_sandbox: Sandbox,
    d365: DataverseReader,
    campaign: CampaignReader,
    meltano_project: MeltanoProject,
    signum: int,
    backend: str,
) -> None:
    """The whole `meltano run` process group stopped half-way, as a machine dies (SIGKILL) or
    an orchestrator stops the task (SIGTERM): Meltano holds the last checkpoint, the next run
    reads on from it, and every contact ends in Campaign exactly once.

    A checkpoint past unwritten records (SIGTERM, singer-sdk's own handler) loses them: the
    resumed run starts after them and they never reach Campaign.

    On v8 the records go 50 to a WriteCollection (each SOAP call slowed down instead of each
    POST), and what was created is counted from the profile table's size.
    """
    engine = campaign_sandbox.campaign.admin
    contacts = contacts_of(d365)
    synced_before = {p.get("externalId") for p in campaign.records("profile")} & set(contacts)
    to_create = len(contacts) - len(synced_before)
    profiles_before = int(engine.state()["counts"]["profile"])

    def created() -> int:
        if backend == "v8":
            return int(engine.state()["counts"]["profile"]) - profiles_before
        return int(engine.engine_calls()["insert"])

    if backend == "v8":
        engine.add_fault("latency", count=None, latency_ms=300, path="soaprouter", method="POST")
    else:
        engine.add_fault("latency", count=None, latency_ms=40, path="profile", method="POST")
    # Contacts, projects and tasks only: enough to stop half-way in pages of 50, and quicker.
    tables = ["contact", "new_project", "new_projecttask"]
    small_batches = {
        "TAP_DYNAMICS365_PAGE_SIZE": "50",
        "TARGET_ADOBE_CAMPAIGN_BATCH_SIZE_ROWS": "50",
        "TAP_DYNAMICS365__CAMPAIGN_TABLES": json.dumps(tables),
        "TAP_DYNAMICS365__CAMPAIGN__SELECT": json.dumps(
            [f"{t}.*" for t in [*tables, "option_sets"]]
        ),
    }
    running = campaign_pipeline.start("stopped", extra_env=small_batches)
    half = to_create // 2
    running.wait_for(created, half, "profiles", timeout=240)
    stopped = running.kill(signum)
    assert stopped.returncode != 0, "a stopped run must not report success"
    at_stop = created()
    assert at_stop < to_create, "the run finished before it could be stopped"
    state = meltano_project.state(campaign_pipeline.state_id)
    assert state.get("singer_state", {}).get("bookmarks", {}).get("contact"), state
    left = meltano_project.run_files()  # the plugins' configs, secrets included
    if signum == signal.SIGKILL:
        assert left, "a killed run leaves its run files: nothing to check"
    assert {f.name: oct(f.stat().st_mode & 0o777) for f in left if f.stat().st_mode & 0o077} == {}
    engine.clear_faults()

    # Meltano still marks the stopped job as running, hence --force.
    resumed = campaign_pipeline.run("resumed", extra_env=small_batches, extra_args=["--force"])
    resumed.check()

    read_again = sum(resumed.summary["streams"]["contact"].values())
    print(  # the figures of the run (pytest -s)
        f"\n{signal.Signals(signum).name}: {at_stop} of {to_create} profiles created before the "
        f"stop; the resumed run read {read_again} of {len(contacts)} contacts"
    )
    assert read_again < len(contacts), "the resumed run read every contact again"
    assert_in_step(d365, campaign, accounts=False)  # every contact once, no CRM id twice
    # What the stopped run created (even a create in flight at the stop) is found by key and
    # not created again: the two runs' profile inserts add up to exactly the missing contacts.
    if backend == "v8":
        inserts = created()
    else:
        inserts = engine.engine_calls()["by_resource"]["profile"]["insert"]
    assert inserts == to_create
    assert resumed.summary["streams"]["contact"]["created"] < to_create


def test_bad_records_are_rejected_and_the_rest_written(
    campaign_pipeline: Pipeline,
    campaign_sandbox: Sandbox,
    d365: DataverseReader,
    campaign: CampaignReader,
) -> None:
    admin = campaign_sandbox.admin
    too_long = admin.create_row(
        "contacts", {"firstname": "Maximiliana-Theodora Alexandrine", "lastname": "Long"}
    )["contactid"]
    bad_email = admin.create_row(
        "contacts", {"firstname": "Bad", "lastname": "Email", "emailaddress1": "not-an-email"}
    )["contactid"]

    run = campaign_pipeline.run("with-rejects")

    assert run.returncode != 0, "a run with rejected records must fail"
    reasons = {r["key"]: r for r in run.rejects}
    assert set(reasons) == {too_long, bad_email}
    assert "too long" in reasons[too_long]["reason"].lower()
    assert reasons[too_long]["field"] == "firstName"
    assert "email" in reasons[bad_email]["reason"].lower()
    assert reasons[bad_email]["record"]["email"] == "not-an-email"
    assert run.summary["totals"]["rejected"] == 2
    # Every good record was written all the same.
    profiles = campaign.by_key("profile", "externalId")
    assert too_long not in profiles
    assert bad_email not in profiles
    contacts = contacts_of(d365)
    for contact_id, contact in contacts.items():
        if contact_id not in reasons:
            assert actual_profile(single(profiles, contact_id)) == expected_profile(contact)

    # Fixed in D365, the two arrive with the next run, which is clean again.
    admin.update_row("contacts", too_long, {"firstname": "Maxi"})
    admin.update_row("contacts", bad_email, {"emailaddress1": "bad.email@example.org"})
    fixed = campaign_pipeline.run("fixed").check()
    assert not fixed.rejects
    assert fixed.summary["streams"]["contact"]["created"] == 2
    assert_in_step(d365, campaign)
