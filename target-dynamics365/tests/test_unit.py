"""Opt-out mapping, change detection and settings, without a server."""

from __future__ import annotations

import pytest
from sync_support.settings_check import ConfigError
from target_dynamics365.event_sink import EmailEventSink
from target_dynamics365.events import ACTIVITY_TABLES, activity_target, event_date
from target_dynamics365.optouts import (
    DEFAULT_OPT_OUT_MAPPING,
    changes,
    contact_fields,
    is_guid,
)
from target_dynamics365.sinks import OptOutSink
from target_dynamics365.target import TargetDynamics365, UnsupportedStreamError

from .conftest import CONNECTION

NOTHING_SET = dict.fromkeys(contact_fields(DEFAULT_OPT_OUT_MAPPING), False)


def test_default_mapping_is_the_reverse_of_d365_to_campaign() -> None:
    assert contact_fields(DEFAULT_OPT_OUT_MAPPING) == [
        "donotbulkemail",
        "donotemail",
        "donotfax",
        "donotphone",
        "donotpostalmail",
    ]
    record = {"blackListEmail": True, "blackListPhone": False, "blackListFax": None}
    assert changes(record, DEFAULT_OPT_OUT_MAPPING, NOTHING_SET) == {
        "donotbulkemail": True,
        "donotemail": True,
    }


def test_a_flag_agreeing_with_the_or_of_its_columns_writes_nothing() -> None:
    """D365 → Campaign sets blackListEmail = donotbulkemail or donotemail: no echo back."""
    current = {**NOTHING_SET, "donotbulkemail": True}
    assert changes({"blackListEmail": True}, DEFAULT_OPT_OUT_MAPPING, current) == {}
    assert changes({"blackListEmail": False}, DEFAULT_OPT_OUT_MAPPING, current) == {
        "donotbulkemail": False
    }
    assert changes({"blackListPhone": False}, DEFAULT_OPT_OUT_MAPPING, current) == {}


def test_a_column_mapped_from_several_flags_stays_true_when_any_is() -> None:
    mapping = {"blackList": ["donotemail"], "blackListEmail": ["donotemail"]}
    record = {"blackList": True, "blackListEmail": False}
    assert changes(record, mapping, {"donotemail": False}) == {"donotemail": True}
    assert changes(record, mapping, {"donotemail": True}) == {}
    record = {"blackList": False, "blackListEmail": False}
    assert changes(record, mapping, {"donotemail": True}) == {"donotemail": False}


def test_is_guid() -> None:
    assert is_guid("7EB682F1-CA75-E511-80D4-00155D2A68D1")
    assert not is_guid("PRF-1")


def test_settings_reuse_the_tap_connection_and_validate_it() -> None:
    properties = TargetDynamics365.config_jsonschema["properties"]
    assert properties["client_secret"]["secret"] is True
    assert {"opt_out_mapping", "rejects_file", "batch_size_rows", "resource_url"} <= set(properties)
    with pytest.raises(ConfigError) as info:
        TargetDynamics365(config={**CONNECTION, "resource_url": "http://org", "client_secret": ""})
    assert "resource_url must be an https:// URL, got 'http://org'" in info.value.errors
    assert any(e.startswith("client_secret is required") for e in info.value.errors)


def test_other_streams_are_refused_by_name() -> None:
    target = TargetDynamics365(config=CONNECTION)
    with pytest.raises(UnsupportedStreamError, match="'contacts' is not written"):
        target.get_sink_class("contacts")
    assert target.get_sink_class("email_events") is EmailEventSink
    assert target.get_sink_class("profiles") is OptOutSink


CONTACT = "7eb682f1-ca75-e511-80d4-00155d2a68d1"


def test_a_click_becomes_an_upsert_target_on_the_event_key() -> None:
    record = {
        "event_id": "trk-O'Brien-1",
        "event_type": "click",
        "event_time": "2025-03-01T11:00:00.250+01:00",
        "campaign_name": "CMP1",
        "delivery_name": "DM1",
        "delivery_label": "Spring offer",
        "url": "https://example.com/offer",
        "mirror_page_url": "https://mirror.example.com/m/1",
    }
    assert activity_target(ACTIVITY_TABLES["click"], record, CONTACT) == {
        "@odata.type": "Microsoft.Dynamics.CRM.acs_emailclick",
        "@odata.id": "acs_emailclicks(acs_eventid='trk-O''Brien-1')",
        "subject": "Campaign Name: CMP1; Delivery Name: DM1",
        "regardingobjectid_contact_acs_emailclick@odata.bind": f"/contacts({CONTACT})",
        "acs_eventdate": "2025-03-01T10:00:00Z",
        "acs_campaignname": "CMP1",
        "acs_deliveryname": "DM1",
        "acs_mirrorpageurl": "https://mirror.example.com/m/1",
        "acs_trackingurl": "https://example.com/offer",
    }


def test_a_bounce_carries_its_type_and_reason_and_no_key_column_or_owner() -> None:
    record = {
        "event_id": "bl-1",
        "event_type": "bounce",
        "event_time": "2025-03-01T10:00:00Z",
        "bounce_type": "hard",
        "bounce_reason": "User unknown",
    }
    target = activity_target(ACTIVITY_TABLES["bounce"], record, CONTACT)
    assert (target["acs_bouncetype"], target["acs_bouncereason"]) == ("hard", "User unknown")
    assert "acs_eventid" not in target
    assert not any(k.startswith("ownerid") for k in target)
    assert "acs_trackingurl" not in target


def test_event_date() -> None:
    assert event_date("2025-03-01T10:00:00Z") == "2025-03-01T10:00:00Z"
    assert event_date("2025-03-01T10:00:00") == "2025-03-01T10:00:00Z"
    assert event_date(None) is None
    with pytest.raises(ValueError, match="Invalid isoformat"):
        event_date("yesterday")
