"""The target against the Campaign sandbox: upserts, diffs, ownership, faults, rejects, deletes."""

from __future__ import annotations

import json
import time

import pytest
from campaign_client.client import AccessDeniedError
from click.testing import CliRunner
from target_adobe_campaign.target import RecordsRejectedError, TargetAdobeCampaign

from .helpers import (
    CONTACT_SCHEMA,
    PROJECT_SCHEMA,
    ROUTES,
    Run,
    connection,
    record,
    rows,
    state,
    writes,
)


def contacts(*ids: str, **values) -> list[dict]:
    return [record("contact", externalId=i, firstName=f"F{i}", **values) for i in ids]


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_second_identical_load_makes_no_write_call(campaign, tmp_path, capsys) -> None:
    messages = [
        CONTACT_SCHEMA,
        PROJECT_SCHEMA,
        *contacts("c1", "c2", gender="female", blackListEmail=None),
        record("new_project", cusCrmId="p1", cusName="Website", contactId="c1"),
        state({"bookmark": 1}),
    ]
    Run(campaign, tmp_path).listen(messages, capsys)
    assert set(rows(campaign, "profile", "externalId")) >= {"c1", "c2"}
    assert campaign.admin.engine_calls()["insert"] == 3
    campaign.admin.reset_engine_calls()
    campaign.admin.clear_requests()

    run = Run(campaign, tmp_path)
    assert run.listen(messages, capsys) == [{"bookmark": 1}]
    assert campaign.admin.engine_calls()["total"] == 0
    assert writes(campaign) == []
    assert run.summary["streams"]["contact"]["unchanged"] == 2
    assert run.summary["streams"]["new_project"]["unchanged"] == 1


@pytest.mark.parametrize("absolute_hrefs", [True, False])
def test_a_changed_field_is_one_patch_of_that_field(
    campaign, tmp_path, capsys, absolute_hrefs
) -> None:
    campaign.admin.set_config(absolute_hrefs=absolute_hrefs)
    messages = [CONTACT_SCHEMA, *contacts("c1", "c2", email="a@example.com")]
    Run(campaign, tmp_path).listen(messages, capsys)
    campaign.admin.reset_engine_calls()
    campaign.admin.clear_requests()

    run = Run(campaign, tmp_path)
    messages[1]["record"]["firstName"] = "Changed"
    run.listen(messages, capsys)
    ((method, url, body),) = run.writes_sent()
    profile = rows(campaign, "profile", "externalId")["c1"]
    assert (method, body) == ("PATCH", {"firstName": "Changed"})
    assert url == run.target.client.url(profile["href"])  # Campaign's href, resolved
    assert profile["firstName"] == "Changed"
    assert campaign.admin.engine_calls()["update"] == 1
    assert [w["method"] for w in writes(campaign)] == ["PATCH"]


def test_profiles_without_an_external_id_are_never_modified(campaign, tmp_path, capsys) -> None:
    manual = campaign.admin.create_row("profile", {"email": "same@example.com", "firstName": "M"})
    theirs = {r["PKey"]: r for r in campaign.admin.find_rows("profile") if not r["externalId"]}
    assert manual["PKey"] in theirs
    assert len(theirs) > 1  # the seed's Campaign-only profiles too
    run = Run(campaign, tmp_path, apply_deletes=True)
    with pytest.raises(RecordsRejectedError, match="1 record"):  # the one without a key
        run.listen(
            [
                CONTACT_SCHEMA,
                record("contact", externalId="c1", email="same@example.com", firstName="CRM"),
                record("contact", externalId="", email="same@example.com", firstName="X"),
            ],
            capsys,
        )
    assert [w[0] for w in run.writes_sent()] == ["POST"]
    after = {r["PKey"]: r for r in campaign.admin.find_rows("profile") if not r["externalId"]}
    assert after == theirs


@pytest.mark.parametrize(
    ("fault", "key_filter"),
    [({"kind": "503"}, True), ({"kind": "latency", "latency_ms": 1500}, False)],
    ids=["503", "timeout"],
)
def test_an_ambiguous_create_is_looked_up_and_never_duplicated(
    campaign, tmp_path, capsys, fault, key_filter
) -> None:
    routes = ROUTES if key_filter else {"contact": {"resource": "profile"}}
    run = Run(campaign, tmp_path, resources=routes, request_timeout=1)
    campaign.admin.add_fault(method="POST", **fault)
    run.listen([CONTACT_SCHEMA, *contacts("c1")], capsys)
    wait_for(lambda: len(writes(campaign)) == 2)
    assert len(campaign.admin.find_rows("profile", externalId="c1")) == 1
    assert run.summary["streams"]["contact"]["created"] == 1
    methods = [(m, u.split("?")[0].rsplit("/", 1)[-1]) for m, u, _ in run.sent]
    lookup = ("GET", "byExternalId") if key_filter else ("GET", "profile")
    # (a timed-out request has no response, so it is not in `run.sent`)
    assert methods[-2:] == [lookup, ("POST", "profile")]  # looked up before creating again


def test_429_is_retried_after_retry_after(campaign, tmp_path, capsys) -> None:
    Run(campaign, tmp_path).listen([CONTACT_SCHEMA, *contacts("c1")], capsys)
    campaign.admin.clear_requests()
    campaign.admin.add_fault("429", method="PATCH", retry_after=1)
    run = Run(campaign, tmp_path)
    run.listen([CONTACT_SCHEMA, *contacts("c1", lastName="New")], capsys)
    first, second = writes(campaign)
    assert (first["status"], second["status"]) == (429, 200)
    assert second["time"] - first["time"] >= 1.0
    assert run.summary["streams"]["contact"]["updated"] == 1


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_token_lost_mid_run_is_replaced_once(campaign, tmp_path, capsys, how) -> None:
    def lose_token() -> None:
        if how == "revoked":
            campaign.admin.revoke_tokens()
        else:
            campaign.admin.shift_clock(86_400)

    run = Run(campaign, tmp_path, batch_size_rows=2, max_concurrency=1)
    run.listen([CONTACT_SCHEMA, *contacts("c1", "c2"), lose_token, *contacts("c3", "c4")], capsys)
    assert set(rows(campaign, "profile", "externalId")) >= {"c1", "c2", "c3", "c4"}
    logged = campaign.admin.requests()
    assert len([r for r in logged if r["app"] == "ims"]) == 2
    assert [r["status"] for r in logged if r["app"] == "gateway"].count(401) == 1
    assert run.summary["totals"]["created"] == 4


REJECTED = [
    ("bad-email", {"email": "not-an-email"}, "email", "email address 'not-an-email' is not valid"),
    ("too-long", {"firstName": "x" * 31}, "firstName", "maximum 30"),
    ("robot", {"gender": "robot"}, "gender", "'nms:recipient:gender' enumeration"),
]


def test_rejects_are_written_and_fail_the_run_after_the_good_records(
    campaign, tmp_path, capsys
) -> None:
    run = Run(campaign, tmp_path)
    messages = [
        CONTACT_SCHEMA,
        record("contact", externalId="good", gender="male"),
        *(record("contact", externalId=key, **values) for key, values, _, _ in REJECTED),
        record("contact", externalId=None, firstName="No key"),
        state({"bookmark": 5}),
    ]
    with pytest.raises(RecordsRejectedError, match="4 record"):
        run.listen(messages, capsys)
    assert run.states == [{"bookmark": 5}]  # the good record was written, its STATE emitted
    assert set(rows(campaign, "profile", "externalId")) & {"good", "bad-email"} == {"good"}
    rejects = {r["key"]: r for r in run.rejects}
    for key, values, field, reason in REJECTED:
        line = rejects[key]
        assert (line["stream"], line["field"], line["status"]) == ("contact", field, 500)
        assert reason in line["reason"]
        assert line["reason"].startswith("RST-360011")
        assert line["record"] == {"externalId": key, **values}
    assert rejects[None]["reason"].startswith("missing key")
    assert rejects[None]["field"] == "externalId"
    assert run.summary["totals"]["rejected"] == 4
    assert run.summary["totals"]["created"] == 1


def test_the_cli_exits_non_zero_after_rejects(campaign, tmp_path) -> None:
    config = tmp_path / "config.json"
    settings = {
        **connection(campaign),
        "resources": ROUTES,
        "rejects_file": str(tmp_path / "rejects.jsonl"),
    }
    config.write_text(json.dumps(settings))
    lines = [CONTACT_SCHEMA, *contacts("ok"), record("contact", externalId="x", gender="robot")]
    singer_input = tmp_path / "input.jsonl"
    singer_input.write_text("".join(json.dumps(m) + "\n" for m in lines))
    result = CliRunner().invoke(
        TargetAdobeCampaign.cli, ["--config", str(config), "--input", str(singer_input)]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, RecordsRejectedError)
    assert "ok" in rows(campaign, "profile", "externalId")


@pytest.mark.parametrize("apply_deletes", [True, False])
def test_deletes_follow_apply_deletes(campaign, tmp_path, capsys, apply_deletes) -> None:
    Run(campaign, tmp_path).listen([CONTACT_SCHEMA, *contacts("c1", "c2")], capsys)
    campaign.admin.clear_requests()
    run = Run(campaign, tmp_path, apply_deletes=apply_deletes)
    run.listen(
        [
            CONTACT_SCHEMA,
            record("contact", externalId="c1", _sdc_deleted_at="2024-01-01T00:00:00Z"),
            record("contact", externalId="never-synced", _sdc_deleted_at="2024-01-01T00:00:00Z"),
        ],
        capsys,
    )
    remaining = set(rows(campaign, "profile", "externalId"))
    counts = run.summary["streams"]["contact"]
    if apply_deletes:
        assert [w["method"] for w in writes(campaign)] == ["DELETE"]
        assert "c1" not in remaining
        assert counts["deleted"] == 1
    else:
        assert writes(campaign) == []
        assert "c1" in remaining
        assert counts["skipped_deletes"] == 2
    assert "c2" in remaining


def test_parents_are_written_before_children(campaign, tmp_path, capsys) -> None:
    run = Run(campaign, tmp_path)
    with pytest.raises(RecordsRejectedError, match="1 record"):
        run.listen(
            [
                PROJECT_SCHEMA,
                CONTACT_SCHEMA,
                record("new_project", cusCrmId="p1", cusName="P1", contactId="c1"),
                record("new_project", cusCrmId="p2", cusName="P2", contactId="c-missing"),
                record("new_project", cusCrmId="p3", cusName="P3", contactId=None),
                *contacts("c1"),  # the parent arrives after its child
            ],
            capsys,
        )
    posts = [u.rsplit("/", 1)[-1] for m, u, _ in run.writes_sent() if m == "POST"]
    assert posts == ["profile", "cusProject", "cusProject"]
    profile = rows(campaign, "profile", "externalId")["c1"]
    projects = rows(campaign, "cusProject", "cusCrmId")
    assert projects["p1"]["profile"]["PKey"] == profile["PKey"]
    assert projects["p3"]["profile"] == {}
    assert "p2" not in projects
    (reject,) = run.rejects
    assert (reject["key"], reject["field"]) == ("p2", "contactId")
    assert reject["reason"].startswith("parent not found")


def test_retries_running_out_stop_the_run_without_state(campaign, tmp_path, capsys) -> None:
    campaign.admin.add_fault("429", method="POST", count=None, retry_after=1)
    run = Run(campaign, tmp_path, max_retries=1)
    with pytest.raises(Exception, match="429"):
        run.listen([CONTACT_SCHEMA, *contacts("c1"), state({"bookmark": 1})], capsys)
    assert run.states == []


def test_access_denied_stops_the_run_instead_of_rejecting(campaign, tmp_path, capsys) -> None:
    run = Run(campaign, tmp_path, organization="other-org")
    with pytest.raises(AccessDeniedError, match="403023"):
        run.listen([CONTACT_SCHEMA, *contacts("c1"), state({"bookmark": 1})], capsys)
    assert run.states == []
