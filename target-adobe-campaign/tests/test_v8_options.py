"""backend v8: dry run, adopt_by, replacements, filters and opt-out rules, as on Standard."""

from __future__ import annotations

import typing as t

import pytest
from campaign_client.xtk_write import Record, write_collection
from sync_support.settings_check import ConfigError
from target_adobe_campaign.target import TargetAdobeCampaign

from .helpers import CONTACT_SCHEMA, PROJECT_SCHEMA, record, rows, schema
from .test_v8_writes import CONTACTS, MESSAGES, PROJECTS
from .v8 import WRITE_COLLECTION, V8Run, soap_calls, soap_session, v8_config

if t.TYPE_CHECKING:
    from pathlib import Path

    from crm_sandbox.campaign.inprocess import RunningCampaign


def test_a_dry_run_reads_and_counts_but_writes_nothing(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = rows(campaign, "profile", "externalId")
    run = V8Run(campaign, tmp_path, dry_run=True)
    states = run.listen([*MESSAGES, {"type": "STATE", "value": {"at": 1}}], capsys)

    assert soap_calls(campaign)[WRITE_COLLECTION] == 0
    assert rows(campaign, "profile", "externalId") == before
    assert states == []
    streams = run.summary["streams"]
    assert streams["contact"]["created"] == 3
    assert streams["new_project"]["created"] == 2  # their parents would have been created


def test_a_dry_run_after_a_real_one_sees_only_the_change(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    V8Run(campaign, tmp_path).listen(MESSAGES, capsys)
    changed = record("contact", externalId="c1", firstName="Augusta", lastName="Lovelace")
    campaign.admin.clear_requests()
    run = V8Run(campaign, tmp_path, dry_run=True)
    run.listen([CONTACT_SCHEMA, PROJECT_SCHEMA, changed, *CONTACTS[1:], *PROJECTS], capsys)

    assert soap_calls(campaign)[WRITE_COLLECTION] == 0
    assert rows(campaign, "profile", "externalId")["c1"]["firstName"] == "Ada"
    assert run.summary["streams"]["contact"]["updated"] == 1
    assert run.summary["streams"]["contact"]["unchanged"] == 2


def test_a_new_contact_adopts_the_recipient_with_its_email(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = soap_session(campaign)
    made = Record({"email": "ada.lovelace@example.com", "firstName": "Ada"}, operation="insert")
    write_collection(session, "nms:recipient", [made])
    total = len(campaign.admin.find_rows("profile"))
    routes = {"contact": {"resource": "profile", "adopt_by": "email"}}
    messages = [
        CONTACT_SCHEMA,
        record("contact", externalId="c1", email="Ada.Lovelace@Example.com", lastName="Lovelace"),
        record("contact", externalId="c2", email="grace@example.com", lastName="Hopper"),
    ]
    run = V8Run(campaign, tmp_path, resources=routes)
    run.listen(messages, capsys)

    adopted = rows(campaign, "profile", "externalId")["c1"]
    assert (adopted["firstName"], adopted["lastName"]) == ("Ada", "Lovelace")
    assert len(campaign.admin.find_rows("profile")) == total + 1  # only c2 is new
    counts = run.summary["streams"]["contact"]
    assert (counts["adopted"], counts["created"]) == (1, 1)

    again = V8Run(campaign, tmp_path, resources=routes)
    again.listen(messages, capsys)
    assert again.summary["streams"]["contact"]["unchanged"] == 2
    assert not again.written


def test_replacements_and_filtered_out_records_are_applied(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    V8Run(campaign, tmp_path).listen(MESSAGES[:1] + CONTACTS, capsys)
    routes = {
        "contact": {
            "resource": "profile",
            "replacements": {"firstName": {"Grace": "Amazing Grace"}},
            "delete_filtered_out": True,
        }
    }
    filtered = schema(
        "contact",
        {
            "externalId": {"type": "string"},
            "firstName": {"type": ["string", "null"]},
            "_sdc_filtered_out": {"type": ["boolean", "null"]},
        },
        "externalId",
    )
    run = V8Run(campaign, tmp_path, resources=routes)
    run.listen(
        [
            filtered,
            record("contact", externalId="c2", firstName="Grace"),
            record("contact", externalId="c3", firstName="Alan", _sdc_filtered_out=True),
        ],
        capsys,
    )

    profiles = rows(campaign, "profile", "externalId")
    assert profiles["c2"]["firstName"] == "Amazing Grace"
    assert "c3" not in profiles
    counts = run.summary["streams"]["contact"]
    assert (counts["updated"], counts["deleted_filtered_out"]) == (1, 1)


def test_bidirectional_opt_outs_are_raised_never_cleared(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    V8Run(campaign, tmp_path).listen(MESSAGES[:1] + CONTACTS, capsys)  # c3 opted out
    run = V8Run(campaign, tmp_path, opt_out_sync="bidirectional")
    run.listen(
        [
            CONTACT_SCHEMA,
            record(
                "contact",
                externalId="c1",
                firstName="Ada",
                lastName="Lovelace",
                email="ada@x.org",
                blackListEmail=True,
            ),
            record("contact", externalId="c3", firstName="Alan", blackListEmail=False),
        ],
        capsys,
    )

    profiles = rows(campaign, "profile", "externalId")
    assert profiles["c1"]["blackListEmail"] is True
    assert profiles["c3"]["blackListEmail"] is True
    counts = run.summary["streams"]["contact"]
    assert (counts["updated"], counts["unchanged"], counts["opt_outs_kept"]) == (1, 1, 1)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"soap_url": "http://campaign.example.com/nl/jsp/soaprouter.jsp"}, "soap_url must be"),
        ({"soap_auth": "login_password"}, "soap_login is required"),
    ],
)
def test_v8_settings_are_checked_before_any_call(
    campaign: RunningCampaign, settings: dict[str, str], message: str
) -> None:
    config = {
        **v8_config(campaign),
        "soap_login": None,
        "soap_password": None,
        "resources": {"contact": {"resource": "profile"}},
        **settings,
    }
    with pytest.raises(ConfigError, match=message):
        TargetAdobeCampaign(config={k: v for k, v in config.items() if v is not None})
