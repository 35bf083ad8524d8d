"""Opt-out mapping, change detection and settings, without a server."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError
from target_dynamics365.optouts import (
    DEFAULT_OPT_OUT_MAPPING,
    changes,
    contact_fields,
    desired_values,
    is_guid,
)
from target_dynamics365.target import TargetDynamics365, UnsupportedStreamError

from .conftest import CONNECTION


def test_default_mapping_is_the_reverse_of_d365_to_campaign() -> None:
    assert contact_fields(DEFAULT_OPT_OUT_MAPPING) == [
        "donotbulkemail",
        "donotemail",
        "donotfax",
        "donotphone",
        "donotpostalmail",
    ]
    record = {"blackListEmail": True, "blackListPhone": False, "blackListFax": None}
    assert desired_values(record, DEFAULT_OPT_OUT_MAPPING) == {
        "donotbulkemail": True,
        "donotemail": True,
        "donotphone": False,
    }


def test_a_column_mapped_from_several_flags_is_true_when_any_is() -> None:
    mapping = {"blackList": ["donotemail"], "blackListEmail": ["donotemail"]}
    assert desired_values({"blackList": True, "blackListEmail": False}, mapping) == {
        "donotemail": True
    }
    assert desired_values({"blackList": False, "blackListEmail": False}, mapping) == {
        "donotemail": False
    }


def test_changes_keep_only_differences() -> None:
    desired = {"donotemail": True, "donotphone": False}
    assert changes(desired, {"donotemail": True, "donotphone": False}) == {}
    assert changes(desired, {"donotemail": False, "donotphone": None}) == desired


def test_is_guid() -> None:
    assert is_guid("7EB682F1-CA75-E511-80D4-00155D2A68D1")
    assert not is_guid("PRF-1")


def test_settings_reuse_the_tap_connection_and_validate_it() -> None:
    properties = TargetDynamics365.config_jsonschema["properties"]
    assert properties["client_secret"]["secret"] is True
    assert {"opt_out_mapping", "rejects_file", "batch_size_rows", "resource_url"} <= set(properties)
    with pytest.raises(ConfigValidationError) as info:
        TargetDynamics365(config={**CONNECTION, "resource_url": "http://org", "client_secret": ""})
    assert "resource_url must be an https:// URL, got 'http://org'" in info.value.errors
    assert any(e.startswith("client_secret is required") for e in info.value.errors)


def test_other_streams_are_refused_by_name() -> None:
    target = TargetDynamics365(config=CONNECTION)
    with pytest.raises(UnsupportedStreamError, match="'email_events' is not written"):
        target.get_sink_class("email_events")
