"""Creates whose response was lost although Campaign committed them (sandbox `when="after"`).

The POST reaches Campaign and the record is created, then the client sees a 5xx, a dropped
connection or no answer before its timeout. The target must look the key up, find that
record, count it as created, and never POST it a second time.
"""

from __future__ import annotations

import time
import typing as t

import pytest

from .helpers import CONTACT_SCHEMA, PROJECT_SCHEMA, ROUTES, Run, record

if t.TYPE_CHECKING:
    from crm_sandbox.campaign.inprocess import RunningCampaign

#: Each fault fires once, after the sandbox has committed the POST.
FAULTS = {
    "503": lambda admin, path: admin.add_fault("503", method="POST", path=path, when="after"),
    "504": lambda admin, path: admin.inject_5xx(504, 1, method="POST", path=path, when="after"),
    "drop": lambda admin, path: admin.drop_connection(1, method="POST", path=path, when="after"),
    # 1.5 s > the 1 s request_timeout: the client gives up, the sandbox answers too late
    "timeout": lambda admin, path: admin.add_latency(
        1500, count=1, method="POST", path=path, when="after"
    ),
}
#: How a lost response reaches the request log: the fault's status, 444 (dropped) or 499.
LOST_STATUS = {"503": 503, "504": 504, "drop": 444, "timeout": 499}


def gateway_log(campaign: RunningCampaign, resource: str) -> list[tuple[str, str, int]]:
    """(method, last path segment, status) of the gateway calls on `resource` and its filters."""
    logged = []
    for r in campaign.admin.requests():
        segments = r["path"].rstrip("/").split("/")
        if r["app"] == "gateway" and resource in segments:
            tail = segments[segments.index(resource) + 1 :]
            logged.append((r["method"], "/".join([resource, *tail]), r["status"]))
    return logged


def wait_for_log(campaign: RunningCampaign, resource: str, fault: str) -> None:
    """Wait until the lost POST is logged (a timed-out one only when the sandbox answers)."""
    deadline = time.monotonic() + 5
    while not any(s == LOST_STATUS[fault] for _, _, s in gateway_log(campaign, resource)):
        assert time.monotonic() < deadline, gateway_log(campaign, resource)
        time.sleep(0.05)


def assert_created_once(run: Run, stream: str) -> None:
    counts = run.summary["streams"][stream]
    assert counts["created"] == 1
    assert counts["rejected"] == 0
    assert not run.rejects_path.read_text().strip()


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("key_filter", [True, False], ids=["byExternalId", "reread"])
def test_a_profile_created_before_its_response_was_lost_is_found_not_duplicated(
    campaign, tmp_path, capsys, fault, key_filter
) -> None:
    routes = ROUTES if key_filter else {"contact": {"resource": "profile"}}
    run = Run(campaign, tmp_path, resources=routes, request_timeout=1)
    FAULTS[fault](campaign.admin, "/profile$")
    run.listen(
        [CONTACT_SCHEMA, record("contact", externalId="lost", firstName="Lost", email="l@x.io")],
        capsys,
    )
    wait_for_log(campaign, "profile", fault)

    (created,) = campaign.admin.find_rows("profile", externalId="lost")
    assert (created["firstName"], created["email"]) == ("Lost", "l@x.io")
    assert_created_once(run, "contact")
    logged = gateway_log(campaign, "profile")
    lookup = ("GET", "profile/byExternalId", 200) if key_filter else ("GET", "profile", 200)
    index_read = ("GET", "profile", 200)
    # read the index, POST (committed, answer lost), look the key up; no second POST
    # (in any order: a timed-out POST is logged when the sandbox gives its late answer)
    assert sorted(logged) == sorted([index_read, ("POST", "profile", LOST_STATUS[fault]), lookup])
    posts = [x for x in logged if x[0] == "POST"]
    assert len(posts) == 1
    if key_filter:
        (query,) = [
            r["query"]
            for r in campaign.admin.requests()
            if r["path"].endswith("/profile/byExternalId")
        ]
        assert "externalId_parameter=lost" in query

    # the record found by the lookup is indexed like any other: a rerun writes nothing
    campaign.admin.clear_requests()
    rerun = Run(campaign, tmp_path, resources=routes)
    rerun.listen(
        [CONTACT_SCHEMA, record("contact", externalId="lost", firstName="Lost", email="l@x.io")],
        capsys,
    )
    assert rerun.writes_sent() == []
    assert rerun.summary["streams"]["contact"]["unchanged"] == 1


def test_only_the_lost_create_is_looked_up_among_concurrent_creates(
    campaign, tmp_path, capsys
) -> None:
    run = Run(campaign, tmp_path, request_timeout=1, max_concurrency=4)
    campaign.admin.add_fault("503", method="POST", path="/profile$", when="after")
    ids = [f"c{i}" for i in range(8)]
    run.listen(
        [CONTACT_SCHEMA, *(record("contact", externalId=i, firstName=i) for i in ids)], capsys
    )
    for i in ids:
        assert len(campaign.admin.find_rows("profile", externalId=i)) == 1, i
    logged = gateway_log(campaign, "profile")
    assert [s for m, _, s in logged if m == "POST"].count(503) == 1
    assert len([x for x in logged if x[0] == "POST"]) == len(ids)  # none sent twice
    assert len([x for x in logged if x[1] == "profile/byExternalId"]) == 1
    counts = run.summary["streams"]["contact"]
    assert (counts["created"], counts["rejected"]) == (len(ids), 0)


@pytest.mark.parametrize("fault", ["503", "drop", "timeout"])
def test_a_custom_resource_created_before_its_response_was_lost_is_found_not_duplicated(
    campaign, tmp_path, capsys, fault
) -> None:
    """`cusProject` has no key filter: the target reads the resource again to find the key."""
    run = Run(campaign, tmp_path, request_timeout=1)
    FAULTS[fault](campaign.admin, "/cusProject$")
    run.listen(
        [
            CONTACT_SCHEMA,
            PROJECT_SCHEMA,
            record("contact", externalId="owner", firstName="Owner"),
            record("new_project", cusCrmId="lost-p", cusName="Lost", contactId="owner"),
        ],
        capsys,
    )
    wait_for_log(campaign, "cusProject", fault)

    (created,) = campaign.admin.find_rows("cusProject", cusCrmId="lost-p")
    (owner,) = campaign.admin.find_rows("profile", externalId="owner")
    assert created["cusName"] == "Lost"
    assert created["profile"]["PKey"] == owner["PKey"]
    assert_created_once(run, "new_project")
    assert run.summary["streams"]["contact"]["created"] == 1
    logged = gateway_log(campaign, "cusProject")
    assert [x for x in logged if x[0] == "POST"] == [("POST", "cusProject", LOST_STATUS[fault])]
    # the index read, then the look-up (a second read of the resource)
    assert [x for x in logged if x[0] == "GET"] == [("GET", "cusProject", 200)] * 2

    campaign.admin.clear_requests()
    rerun = Run(campaign, tmp_path)
    rerun.listen(
        [
            PROJECT_SCHEMA,
            record("new_project", cusCrmId="lost-p", cusName="Lost", contactId="owner"),
        ],
        capsys,
    )
    assert rerun.writes_sent() == []
    assert rerun.summary["streams"]["new_project"]["unchanged"] == 1
