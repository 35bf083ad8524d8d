"""backend v8: contacts → nms:recipient, projects → cus:project, by key with WriteCollection.

Against the sandbox's v8 SOAP router (same store as its REST API, so records are checked with
the admin API). Calls are counted from the sandbox's request log (by SOAPAction); records per
call from what the target sent.
"""

from __future__ import annotations

import typing as t

import pytest
from campaign_client.querydef import QueryDef, count, is_in, select, value_at
from target_adobe_campaign.target import RecordsRejectedError

from .helpers import CONTACT_SCHEMA, PROJECT_SCHEMA, record, rows
from .v8 import EXECUTE_QUERY, WRITE_COLLECTION, V8Run, soap_calls, soap_session

if t.TYPE_CHECKING:
    from pathlib import Path

    from crm_sandbox.campaign.inprocess import RunningCampaign

CONTACTS = [
    record("contact", externalId="c1", firstName="Ada", lastName="Lovelace", email="ada@x.org"),
    record("contact", externalId="c2", firstName="Grace", gender="female", birthDate="1906-12-09"),
    record("contact", externalId="c3", firstName="Alan", blackListEmail=True),
]
PROJECTS = [
    record("new_project", cusCrmId="p1", cusName="Engine", contactId="c1"),
    record("new_project", cusCrmId="p2", cusName="Compiler", contactId="c2"),
]
MESSAGES = [CONTACT_SCHEMA, PROJECT_SCHEMA, *CONTACTS, *PROJECTS]


def project_links(campaign: RunningCampaign) -> dict[str, str | None]:
    """The test projects' keys → their profile's externalId, read over SOAP through the link."""
    query = QueryDef(
        "cus:project",
        select=("@cusCrmId", "[profile/@externalId]"),
        where=(is_in("@cusCrmId", ["p1", "p2", "p9"]),),
    )
    return {
        row.get("cusCrmId", ""): value_at(row, "profile/@externalId")
        for row in select(soap_session(campaign), query)
    }


def test_profiles_and_linked_projects_are_created_then_a_rerun_writes_nothing(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = V8Run(campaign, tmp_path)
    first.listen(MESSAGES, capsys)

    profiles = rows(campaign, "profile", "externalId")
    assert profiles["c1"]["email"] == "ada@x.org"
    assert profiles["c2"]["gender"] == "female"
    assert profiles["c2"]["birthDate"] == "1906-12-09"
    assert profiles["c3"]["blackListEmail"] is True
    assert project_links(campaign) == {"p1": "c1", "p2": "c2"}
    assert first.summary["streams"]["contact"]["created"] == 3
    assert first.summary["streams"]["new_project"]["created"] == 2
    assert soap_calls(campaign)[WRITE_COLLECTION] == 2  # one per stream
    assert first.collections == [3, 2]
    assert set(first.written.values()) == {1}

    campaign.admin.clear_requests()
    second = V8Run(campaign, tmp_path)
    second.listen(MESSAGES, capsys)

    calls = soap_calls(campaign)
    assert calls[WRITE_COLLECTION] == 0
    assert calls[EXECUTE_QUERY] == 2  # one read of each batch's keys; parents known from it
    assert second.summary["streams"]["contact"]["unchanged"] == 3
    assert second.summary["streams"]["new_project"]["unchanged"] == 2


def test_an_update_sends_only_the_changed_fields_and_create_only_fields_stay(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = {
        "contact": {"resource": "profile", "create_only": ["email"]},
        "new_project": {
            "resource": "cusProject",
            "key": "cusCrmId",
            "links": {"profile": {"stream": "contact", "field": "contactId"}},
        },
    }
    V8Run(campaign, tmp_path, resources=routes).listen(MESSAGES, capsys)
    changed = [
        CONTACT_SCHEMA,
        PROJECT_SCHEMA,
        record(
            "contact", externalId="c1", firstName="Augusta", lastName="Lovelace", email="new@x.org"
        ),
        *CONTACTS[1:],
        record("new_project", cusCrmId="p1", cusName="Engine", contactId="c2"),  # moved
        PROJECTS[1],
    ]
    run = V8Run(campaign, tmp_path, resources=routes)
    run.listen(changed, capsys)

    profile = rows(campaign, "profile", "externalId")["c1"]
    assert (profile["firstName"], profile["email"]) == ("Augusta", "ada@x.org")
    assert project_links(campaign) == {"p1": "c2", "p2": "c2"}
    assert run.summary["streams"]["contact"] == {
        **run.summary["streams"]["contact"],
        "updated": 1,
        "unchanged": 2,
    }
    assert run.summary["streams"]["new_project"]["updated"] == 1
    assert run.collections == [1, 1]  # only the changed records


def test_a_thousand_new_profiles_take_a_handful_of_calls(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contacts = [
        record("contact", externalId=f"bulk-{n:04d}", firstName=f"N{n}", email=f"n{n}@x.org")
        for n in range(1000)
    ]
    campaign.admin.clear_requests()
    run = V8Run(campaign, tmp_path)
    run.listen([CONTACT_SCHEMA, *contacts], capsys)

    initial = soap_calls(campaign)
    assert run.summary["streams"]["contact"]["created"] == 1000
    assert run.collections == [250, 250, 250, 250]
    # logon, schema, one read of the batch's 1000 keys, four collections of 250
    assert sum(initial.values()) == 7, initial
    assert count(soap_session(campaign), "nms:recipient", ("@externalId LIKE 'bulk-%'",)) == 1000

    campaign.admin.clear_requests()
    rerun = V8Run(campaign, tmp_path)
    rerun.listen([CONTACT_SCHEMA, *contacts], capsys)
    again = soap_calls(campaign)
    assert again[WRITE_COLLECTION] == 0
    assert sum(again.values()) == 3, again  # logon, schema, one read
    assert rerun.summary["streams"]["contact"]["unchanged"] == 1000


def test_deletes_remove_the_records_by_key(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    V8Run(campaign, tmp_path).listen(MESSAGES, capsys)
    deleted = "2024-06-01T00:00:00Z"
    run = V8Run(campaign, tmp_path, apply_deletes=True)
    run.listen(
        [
            CONTACT_SCHEMA,
            record("contact", externalId="c3", _sdc_deleted_at=deleted),
            record("contact", externalId="never-there", _sdc_deleted_at=deleted),
        ],
        capsys,
    )

    assert "c3" not in rows(campaign, "profile", "externalId")
    assert {"c1", "c2"} <= set(rows(campaign, "profile", "externalId"))
    counts = run.summary["streams"]["contact"]
    assert (counts["deleted"], counts["unchanged"]) == (1, 1)
    assert run.written == {("recipient", "c3"): 1}


def test_a_refused_record_is_isolated_by_splitting_and_the_rest_is_written_once(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contacts = [record("contact", externalId=f"s{n}", firstName=f"S{n}") for n in range(8)]
    contacts[5]["record"]["gender"] = "not-a-gender"  # Campaign refuses the whole collection
    run = V8Run(campaign, tmp_path)
    with pytest.raises(RecordsRejectedError):
        run.listen([CONTACT_SCHEMA, *contacts], capsys)

    (reject,) = run.rejects
    assert reject["key"] == "s5"
    assert reject["field"] == "gender"
    assert reject["code"].startswith("XTK-")
    assert "not-a-gender" in reject["reason"]
    good = {f"s{n}" for n in range(8)} - {"s5"}
    assert good <= set(rows(campaign, "profile", "externalId"))
    assert {key for (_, key), n in run.written.items() if n == 1} == good
    assert ("recipient", "s5") not in run.written
    # 8 refused; s0-s3 written, s4-s7 refused; s4-s5 refused; s4 written, s5 alone refused;
    # s6-s7 written: 2·log2(8) + 1 calls, and every good record in exactly one accepted call
    assert run.collections == [8, 4, 4, 2, 1, 1, 2]
    counts = run.summary["streams"]["contact"]
    assert (counts["created"], counts["rejected"]) == (7, 1)


def test_a_child_whose_parent_is_not_in_campaign_is_rejected_without_a_write(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = V8Run(campaign, tmp_path)
    with pytest.raises(RecordsRejectedError):
        run.listen(
            [
                PROJECT_SCHEMA,
                CONTACT_SCHEMA,
                record("new_project", cusCrmId="p1", cusName="Engine", contactId="c1"),
                record("new_project", cusCrmId="p9", cusName="Orphan", contactId="nobody"),
                CONTACTS[0],  # the parent arrives after its child: written first all the same
            ],
            capsys,
        )

    (reject,) = run.rejects
    assert (reject["key"], reject["field"]) == ("p9", "contactId")
    assert "parent not found" in reject["reason"]
    assert project_links(campaign) == {"p1": "c1"}
    assert list(run.written) == [("recipient", "c1"), ("project", "p1")]  # parents first
