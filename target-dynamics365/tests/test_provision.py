"""`target-dynamics365-provision` against a sandbox org started without the activity tables."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import typing as t

import pytest
from crm_sandbox.testing import launch
from dataverse_client.client import DataverseClient
from target_dynamics365.events import ACTIVITY_TABLES
from target_dynamics365.outcomes import OUTCOMES
from target_dynamics365.provision import ProvisioningError, provision, wait_for_key
from target_dynamics365.table_keys import TableKey
from target_dynamics365.target import TargetDynamics365

from .helpers import singer_input
from .test_email_events import simulated_send

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from crm_sandbox.testing import Sandbox

TABLES = list(ACTIVITY_TABLES.values())
COLUMNS = sum(len(table.columns) for table in TABLES)


@pytest.fixture(scope="module")
def bare() -> Iterator[Sandbox]:
    """An org without the acs_email* tables (keys become Active 2 s of sandbox clock later)."""
    sandbox = launch(contacts=5, seed=3, projects=0, profiles=0, no_activity_tables=True)
    yield sandbox
    sandbox.admin.session.close()
    sandbox.stop()


def connection(sandbox: Sandbox) -> dict[str, str]:
    """Target settings for `sandbox`."""
    return {
        key.removeprefix("TAP_DYNAMICS365_").lower(): value
        for key, value in sandbox.tap_env().items()
    }


def metadata_writes(sandbox: Sandbox) -> list[str]:
    """Paths of the metadata POSTs in the request log."""
    return [
        r["path"].split("/v9.2/", 1)[1]
        for r in sandbox.admin.requests()
        if r["method"] == "POST" and "EntityDefinitions" in r["path"]
    ]


def test_dry_run_then_create_then_nothing(bare: Sandbox, tmp_path) -> None:
    client = DataverseClient.from_config(connection(bare))
    advance = bare.admin.shift_clock  # the key index "job" runs on the sandbox clock
    lines: list[str] = []
    bare.admin.clear_requests()

    planned = provision(client, dry_run=True, report=lines.append)

    assert len(planned) == len(TABLES) * 2 + COLUMNS  # table, columns, key for each
    assert metadata_writes(bare) == []
    assert "would create table acs_emailsend (Adobe Campaign Email Send)" in lines
    assert lines[-1] == f"would create {len(planned)} item(s)"

    done = provision(client, solution="AdobeCampaign", report=lines.append, sleep=advance)

    assert [s.description for s in done] == [s.description for s in planned]
    writes = metadata_writes(bare)
    assert writes.count("EntityDefinitions") == 4
    assert len(writes) == len(planned)
    tables = {
        row["LogicalName"]: row
        for row in client.iter_values(
            "EntityDefinitions?$select=LogicalName,EntitySetName,IsActivity,OwnershipType"
            "&$filter=IsCustomEntity eq true"
        )
    }
    for table in TABLES:
        row = tables[table.logical_name]
        assert (row["EntitySetName"], row["IsActivity"]) == (table.entity_set, True)
        assert row["OwnershipType"] == "UserOwned"
        (key,) = client.iter_values(
            f"EntityDefinitions(LogicalName='{table.logical_name}')/Keys"
            "?$select=KeyAttributes,EntityKeyIndexStatus"
        )
        assert (key["KeyAttributes"], key["EntityKeyIndexStatus"]) == (["acs_eventid"], "Active")
    date = client.get_json(
        "EntityDefinitions(LogicalName='acs_emailclick')/Attributes(LogicalName='acs_eventdate')"
        "?$select=AttributeType"
    )
    assert date["AttributeType"] == "DateTime"

    # the target writes into the new tables
    ids = [r["contactid"] for r in client.iter_values("contacts?$select=contactid&$top=3")]
    target = TargetDynamics365(config={**connection(bare), "rejects_file": str(tmp_path / "r")})
    target.listen(file_input=io.StringIO(singer_input(simulated_send(ids), "email_events")))
    assert target.summary.streams()["email_events"] == {
        **dict.fromkeys(OUTCOMES, 0),
        "upserted": 8,
    }

    bare.admin.clear_requests()
    lines.clear()
    assert provision(client, report=lines.append) == []
    assert metadata_writes(bare) == []
    assert lines[-1] == "created 0 item(s)"


def test_the_cli_reads_meltano_env_vars(bare: Sandbox) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TARGET_DYNAMICS365_")},
        **{"TARGET_DYNAMICS365_" + key.upper(): value for key, value in connection(bare).items()},
    }
    result = subprocess.run(
        [sys.executable, "-m", "target_dynamics365.provision", "--config", "ENV", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("would create")


class PendingKeys:
    """A client whose key stays Pending."""

    def iter_values(self, path: str) -> Iterator[dict[str, t.Any]]:
        yield {"KeyAttributes": ["acs_eventid"], "EntityKeyIndexStatus": "Pending"}


def test_a_key_that_stays_pending_is_reported() -> None:
    ticks = iter(range(100))
    with pytest.raises(ProvisioningError, match=r"still Pending after 5 s.*Rerun this command"):
        wait_for_key(
            t.cast("DataverseClient", PendingKeys()),
            ACTIVITY_TABLES["send"],
            5,
            sleep=lambda _: None,
            clock=lambda: float(next(ticks)),
        )


def test_the_alternate_keys_of_the_tables_setting_are_created_once(bare: Sandbox) -> None:
    """An entry keyed on emailaddress1 gets its key; one on the primary id needs none."""
    client = DataverseClient.from_config(connection(bare))
    provision(client, report=lambda _: None, sleep=bare.admin.shift_clock)  # activity tables
    keys = [TableKey("contact", ("emailaddress1",)), TableKey("contact", ("contactid",))]
    lines: list[str] = []
    bare.admin.clear_requests()

    planned = provision(client, dry_run=True, table_keys=keys, report=lines.append)
    assert [s.description for s in planned] == [
        "create key contact.acs_contact_emailaddress1_key (emailaddress1)"
    ]
    assert metadata_writes(bare) == []

    done = provision(client, table_keys=keys, report=lines.append, sleep=bare.admin.shift_clock)
    assert metadata_writes(bare) == ["EntityDefinitions(LogicalName='contact')/Keys"]
    assert [s.description for s in done] == [s.description for s in planned]
    assert "contact: key acs_contact_emailaddress1_key: Active" in lines
    (key,) = [
        k
        for k in client.iter_values(
            "EntityDefinitions(LogicalName='contact')/Keys?$select=KeyAttributes,EntityKeyIndexStatus"
        )
        if k["KeyAttributes"] == ["emailaddress1"]
    ]
    assert key["EntityKeyIndexStatus"] == "Active"
    # the sink now upserts on it
    target = TargetDynamics365(
        config={
            **connection(bare),
            "tables": {"people": {"table": "contact", "key": "emailaddress1"}},
        }
    )
    assert target.tables["people"].key == ("emailaddress1",)

    bare.admin.clear_requests()
    assert provision(client, table_keys=keys, report=lines.append) == []
    assert metadata_writes(bare) == []


def test_a_key_on_duplicate_values_fails_with_what_to_do(bare: Sandbox) -> None:
    client = DataverseClient.from_config(connection(bare))
    (first, second) = list(client.iter_values("contacts?$select=contactid&$top=2"))
    for row in (first, second):
        client.patch(f"contacts({row['contactid']})", {"jobtitle": "Same title"})
    with pytest.raises(ProvisioningError, match=r"index failed.*duplicate jobtitle values"):
        provision(
            client,
            table_keys=[TableKey("contact", ("jobtitle",))],
            report=lambda _: None,
            sleep=bare.admin.shift_clock,
        )
