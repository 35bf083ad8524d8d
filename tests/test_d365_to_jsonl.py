"""End to end: real `meltano run tap-dynamics365 target-jsonl` against the Dataverse sandbox.

Every expectation comes from the sandbox itself, read over plain HTTP (`DataverseReader`), or
from the changes a test makes through the admin API, never from the tap.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from crm_sandbox.testing import Sandbox

from tests.conftest import CONTACTS, PAGE_SIZE
from tests.dataverse_reader import DataverseReader, TableInfo
from tests.harness import Pipeline, RunResult

TABLES = ("contact", "account", "new_project", "new_projecttask", "new_category")
TRACKED = ("contact", "account", "new_project", "new_projecttask")  # new_category is polled
EIGHT_DAYS = 8 * 24 * 3600  # past the default 7-day change-tracking retention


def _ids(rows: list[dict[str, Any]], table: TableInfo) -> list[str]:
    return [row[table.primary_id] for row in rows]


def _live(run: RunResult, table: TableInfo) -> list[str]:
    return [r[table.primary_id] for r in run.rows.get(table.logical_name, []) if not _deleted(r)]


def _deleted(row: dict[str, Any]) -> bool:
    return bool(row.get("_sdc_deleted_at"))


def assert_complete(runs: list[RunResult], reader: DataverseReader) -> dict[str, Counter[str]]:
    """Every row the API holds is in the union of the runs' files; return copies per id."""
    tables = reader.tables()
    copies: dict[str, Counter[str]] = {}
    for name in TABLES:
        info = tables[name]
        seen = Counter(i for run in runs for i in _live(run, info))
        missing = reader.ids(info) - set(seen)
        assert not missing, (
            f"{len(missing)} rows of {name} never arrived, e.g. {sorted(missing)[:3]}"
        )
        copies[name] = seen
    return copies


def test_full_load_extracts_every_row_once(pipeline: Pipeline, reader: DataverseReader) -> None:
    run = pipeline.run("full").check()

    tables = reader.tables()
    for name in TABLES:
        info = tables[name]
        ids = _ids(run.rows[name], info)
        duplicates = [i for i, n in Counter(ids).items() if n > 1]
        assert not duplicates, f"{name}: {len(duplicates)} rows written more than once"
        assert set(ids) == reader.ids(info), name
        assert not any(_deleted(r) for r in run.rows[name])
    assert len(run.rows["contact"]) == CONTACTS

    # Inactive contacts (statecode 1) are data too.
    contact = tables["contact"]
    source = {r["contactid"]: r for r in reader.rows(contact, "contactid,statecode,emailaddress1")}
    inactive = {i for i, r in source.items() if r["statecode"] == 1}
    assert inactive, "the seed is expected to contain inactive contacts"
    written = {r["contactid"]: r for r in run.rows["contact"]}
    assert inactive <= set(written)
    assert all(written[i]["statecode"] == 1 for i in inactive)
    # Values arrive unchanged.
    assert all(written[i]["emailaddress1"] == r["emailaddress1"] for i, r in source.items())
    assert run.rows["option_sets"], "choice labels are extracted with the tables"

    bookmarks = pipeline.project.state(pipeline.state_id)["singer_state"]["bookmarks"]
    for name in TRACKED:
        assert "$deltatoken=" in bookmarks[name]["delta_link"], name
        assert not bookmarks[name].get("next_link"), name


def test_incremental_run_brings_exactly_the_changes(
    pipeline: Pipeline, sandbox: Sandbox, reader: DataverseReader
) -> None:
    pipeline.run("full").check()
    tables = reader.tables()
    contact, account = tables["contact"], tables["account"]
    before = sorted(reader.ids(contact))
    admin = sandbox.admin

    created = [
        admin.create_row("contacts", {"firstname": "Ada", "lastname": f"Newcomer {n}"})["contactid"]
        for n in range(3)
    ]
    updated = before[:5]
    for contact_id in updated:
        admin.update_row("contacts", contact_id, {"jobtitle": "Head of Sync"})
    deleted = before[5:9]
    for contact_id in deleted:
        admin.delete_row("contacts", contact_id)
    # Created and deleted between two runs: still reported as a delete.
    churned = admin.create_row("contacts", {"lastname": "Shortlived"})["contactid"]
    admin.delete_row("contacts", churned)
    renamed_account = sorted(reader.ids(account))[0]
    admin.update_row("accounts", renamed_account, {"name": "Renamed Ltd"})

    run = pipeline.run("incremental").check()

    rows = run.rows["contact"]
    live = [r for r in rows if not _deleted(r)]
    deletes = [r for r in rows if _deleted(r)]
    assert sorted(r["contactid"] for r in live) == sorted(created + updated)
    assert sorted(r["contactid"] for r in deletes) == sorted([*deleted, churned])
    assert all(r["jobtitle"] == "Head of Sync" for r in live if r["contactid"] in updated)
    assert [r["accountid"] for r in run.rows["account"]] == [renamed_account]
    assert run.rows["account"][0]["name"] == "Renamed Ltd"
    for name in ("new_project", "new_projecttask", "new_category"):
        assert not run.rows.get(name), f"{name} did not change but {len(run.rows[name])} rows came"

    # And nothing at all once the changes have been taken.
    quiet = pipeline.run("quiet").check()
    assert not any(quiet.rows.get(name) for name in TABLES)


def test_throttling_is_waited_out(
    pipeline: Pipeline, sandbox: Sandbox, reader: DataverseReader
) -> None:
    retry_after = 2
    sandbox.admin.inject_429(3, retry_after=retry_after, path="^contacts")

    run = pipeline.run("throttled").check()

    assert_complete([run], reader)
    assert len(run.rows["contact"]) == CONTACTS
    log = [r for r in sandbox.admin.requests() if r["path"] == "/api/data/v9.2/contacts"]
    throttled = [r for r in log if r["status"] == 429]
    assert len(throttled) == 3
    for rejected in throttled:
        retry = next(
            r for r in log if r["time"] > rejected["time"] and r["query"] == rejected["query"]
        )
        waited = retry["time"] - rejected["time"]
        assert waited >= retry_after * 0.95, (
            f"retried after {waited:.2f} s, Retry-After {retry_after}"
        )


def test_access_token_expiring_mid_run(
    pipeline: Pipeline, sandbox: Sandbox, reader: DataverseReader
) -> None:
    sandbox.admin.add_latency(300, path="^contacts")
    running = pipeline.start("token-expiry")
    running.wait_for_rows("contact", PAGE_SIZE)
    # Move the sandbox clock past the token's lifetime (3599 s): the tap's cached token is
    # now expired as far as Dataverse is concerned, while MSAL still believes it is valid.
    sandbox.admin.shift_clock(3700)
    run = running.wait().check()

    assert_complete([run], reader)
    assert len(run.rows["contact"]) == CONTACTS
    statuses = [r["status"] for r in sandbox.admin.requests() if r["app"] == "dataverse"]
    assert 401 in statuses, "the expired token was never presented: the test did not test"


def test_expired_delta_token_triggers_a_full_resync(
    pipeline: Pipeline, sandbox: Sandbox, reader: DataverseReader
) -> None:
    full = pipeline.run("full").check()
    contact = reader.tables()["contact"]
    some = sorted(reader.ids(contact))[:2]
    for contact_id in some:
        sandbox.admin.update_row("contacts", contact_id, {"jobtitle": "Changed while away"})
    created = sandbox.admin.create_row("contacts", {"lastname": "Joined while away"})["contactid"]
    sandbox.admin.shift_clock(EIGHT_DAYS)

    run = pipeline.run("resync").check()

    for name in TRACKED:
        expired = f"The change-tracking token in the stored delta_link of '{name}' has expired"
        assert expired in run.output, name
    assert_complete([full, run], reader)
    # Every tracked table was read again in full, each row once.
    tables = reader.tables()
    for name in TRACKED:
        ids = _live(run, tables[name])
        assert sorted(ids) == sorted(reader.ids(tables[name])), name
    written = {r["contactid"]: r for r in run.rows["contact"]}
    assert created in written
    assert all(written[i]["jobtitle"] == "Changed while away" for i in some)

    # The resync stored a fresh delta link: the next run is incremental again.
    sandbox.admin.update_row("contacts", created, {"jobtitle": "Back to deltas"})
    after = pipeline.run("after-resync").check()
    assert [r["contactid"] for r in after.rows["contact"]] == [created]


def test_killed_run_resumes_without_losing_rows(
    pipeline: Pipeline, sandbox: Sandbox, reader: DataverseReader
) -> None:
    sandbox.admin.add_latency(150, path="^contacts")
    running = pipeline.start("killed")
    running.wait_for_rows("contact", 2 * PAGE_SIZE)
    killed = running.kill()
    assert killed.returncode == -9
    before_kill = len(killed.rows["contact"])
    assert before_kill < CONTACTS, "the run finished before it could be killed"

    checkpoint = pipeline.project.state(pipeline.state_id)["singer_state"]["bookmarks"]
    assert checkpoint["contact"].get("next_link"), "no mid-snapshot checkpoint was saved"

    # The killed job is still marked running in Meltano's database, hence --force.
    resumed = pipeline.run("resumed", extra_args=["--force"]).check()

    assert "Resuming the read of 'contact' from the stored next link" in resumed.output
    copies = assert_complete([killed, resumed], reader)
    resumed_contacts = len(resumed.rows["contact"])
    assert resumed_contacts < CONTACTS, "the resumed run started from zero"
    repeated = sum(n - 1 for n in copies["contact"].values())
    assert repeated <= 2 * PAGE_SIZE, f"{repeated} contacts extracted twice"
