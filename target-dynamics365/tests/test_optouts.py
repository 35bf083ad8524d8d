"""The `profiles` sink against the Dataverse sandbox: bulk read, changed-only writes, rejects."""

from __future__ import annotations

import time
import uuid

import pytest
from dataverse_client.client import DataverseClient
from target_dynamics365.target import RecordsRejectedError

from .helpers import config, contact, contacts, rejects, run_cli, run_target, writes

ALL_ALLOWED = {"donotemail": False, "donotbulkemail": False, "donotphone": False}


def test_campaign_opt_out_sets_the_mapped_fields(admin, tmp_path) -> None:
    first, second = contacts(2, **ALL_ALLOWED)
    settings = config(tmp_path)
    profiles = [
        {"externalId": first["contactid"], "blackListEmail": True, "blackListPhone": False},
        {"externalId": second["contactid"].upper(), "blackListPhone": True},
    ]
    admin.clear_requests()
    target = run_target(settings, profiles)

    after = contact(first["contactid"])
    assert (after["donotemail"], after["donotbulkemail"], after["donotphone"]) == (
        True,
        True,
        False,
    )
    after = contact(second["contactid"])
    assert (after["donotphone"], after["donotemail"]) == (True, False)
    assert target.summary.streams()["profiles"]["updated"] == 2
    log = admin.requests()
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in writes(log)] == [
        ("POST", "Microsoft.Dynamics.CRM.UpdateMultiple")
    ]
    assert sum(r["method"] == "GET" and r["path"].endswith("/contacts") for r in log) == 1
    assert rejects(settings) == []


def test_a_second_identical_run_writes_nothing(admin, tmp_path) -> None:
    rows = contacts(5, **ALL_ALLOWED)
    settings = config(tmp_path)
    profiles = [{"externalId": r["contactid"], "blackListEmail": True} for r in rows]
    run_target(settings, profiles)
    admin.clear_requests()

    target = run_target(settings, profiles)

    assert writes(admin.requests()) == []
    assert target.summary.streams()["profiles"]["unchanged"] == 5


def test_unchanged_values_cost_no_write(admin, tmp_path) -> None:
    (row,) = contacts(1, **ALL_ALLOWED)
    target = run_target(
        config(tmp_path), [{"externalId": row["contactid"], "blackListEmail": False}]
    )
    assert writes(admin.requests()) == []
    assert target.summary.streams()["profiles"]["unchanged"] == 1


def test_custom_mapping(admin, tmp_path) -> None:
    (row,) = contacts(1, donotfax=False, donotemail=False)
    settings = config(tmp_path, opt_out_mapping={"blackListEmail": ["donotfax"]})
    run_target(settings, [{"externalId": row["contactid"], "blackListEmail": True}])
    after = contact(row["contactid"])
    assert (after["donotfax"], after["donotemail"]) == (True, False)


def test_unknown_contact_is_rejected_and_the_run_fails(admin, tmp_path) -> None:
    (row,) = contacts(1, **ALL_ALLOWED)
    missing = str(uuid.uuid4())
    settings = config(tmp_path)
    profiles = [
        {"externalId": missing, "blackListEmail": True},
        {"externalId": None, "blackListEmail": True},
        {"externalId": "not-a-guid", "blackListEmail": True},
        {"externalId": row["contactid"], "blackListEmail": True},
    ]
    result = run_cli(settings, profiles, tmp_path)

    assert result.returncode != 0
    assert "2 record(s) not written to Dynamics 365" in result.stderr
    assert contact(row["contactid"])["donotemail"] is True  # the good one is still written
    lines = {line["key"]: line for line in rejects(settings)}
    assert set(lines) == {missing, "not-a-guid"}
    assert lines[missing]["reason"] == f"contact {missing} does not exist"
    assert lines[missing]["field"] == lines["not-a-guid"]["field"] == "externalId"
    assert lines[missing]["record"]["externalId"] == missing
    assert "skipped 1" in result.stderr


def test_429_retry_after_is_honoured(admin, tmp_path) -> None:
    (row,) = contacts(1, **ALL_ALLOWED)
    admin.inject_429(1, retry_after=2, path="UpdateMultiple")
    started = time.monotonic()
    run_target(config(tmp_path), [{"externalId": row["contactid"], "blackListPhone": True}])
    assert time.monotonic() - started >= 2
    assert contact(row["contactid"])["donotphone"] is True
    statuses = [r["status"] for r in writes(admin.requests())]
    assert statuses == [429, 204]


def test_a_refused_batch_is_split_to_find_the_bad_rows(
    admin, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = contacts(8, **ALL_ALLOWED)
    gone = rows[5]["contactid"]
    post = DataverseClient.post

    def delete_then_post(self, path, json, **kwargs):  # the contact vanishes after the read
        if admin.get_row("contacts", gone) is not None:
            admin.delete_row("contacts", gone)
        return post(self, path, json, **kwargs)

    monkeypatch.setattr(DataverseClient, "post", delete_then_post)
    settings = config(tmp_path)
    profiles = [{"externalId": r["contactid"], "blackListEmail": True} for r in rows]
    with pytest.raises(RecordsRejectedError):
        run_target(settings, profiles)

    assert all(contact(r["contactid"])["donotemail"] for r in rows if r["contactid"] != gone)
    (line,) = rejects(settings)
    assert (line["key"], line["status"], line["code"]) == (gone, 404, "0x80040217")
    statuses = [r["status"] for r in writes(admin.requests())]
    # halves of 8, 4, 2 and 1 rows hold the bad one (404); the 3 halves beside them are written
    assert statuses.count(404) == 4
    assert statuses.count(204) == 3
