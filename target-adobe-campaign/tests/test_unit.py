"""Pure logic, no HTTP: settings and routing validation, payloads and the diff."""

from __future__ import annotations

import datetime
import decimal
import io
import json

import pytest
from sync_support.settings_check import ConfigError
from target_adobe_campaign.payload import RecordRejectedError, build_payload, changed_fields
from target_adobe_campaign.routing import parse_routes
from target_adobe_campaign.target import TargetAdobeCampaign, UnroutedStreamError

from .helpers import ROUTES, schema

CONFIG = {"organization": "o", "client_id": "c", "client_secret": "s", "resources": ROUTES}


@pytest.mark.parametrize("setting", ["ims_url", "api_base_url"])
def test_http_endpoints_are_refused(setting) -> None:
    with pytest.raises(ConfigError) as info:
        TargetAdobeCampaign(config={**CONFIG, setting: "http://localhost:8446"})
    assert f"{setting} must be an https:// URL" in str(info.value.errors)


def test_routing_errors_are_reported() -> None:
    resources = {
        "a": {"resource": "recipient"},
        "b": {"resource": "cusThing"},
        "c": {"resource": "profile", "links": {"x": {"stream": "nowhere", "field": "f"}}},
        "d": {"resource": "cusD", "key": "k", "links": {"up": {"stream": "e", "field": "f"}}},
        "e": {"resource": "cusE", "key": "k", "links": {"up": {"stream": "d", "field": "f"}}},
    }
    with pytest.raises(ConfigError) as info:
        TargetAdobeCampaign(config={**CONFIG, "resources": resources})
    errors = "\n".join(info.value.errors)
    assert "must be 'profile' or 'cus<Name>'" in errors
    assert "key is required for custom resource 'cusThing'" in errors
    assert "parent stream 'nowhere'" in errors
    assert "stream 'd' is its own ancestor" in errors


def test_unrouted_streams_fail_clearly() -> None:
    target = TargetAdobeCampaign(config=CONFIG)
    message = schema("account", {"id": {"type": "string"}}, "id")
    with pytest.raises(UnroutedStreamError, match="'account' has no entry"):
        target.listen(io.StringIO(json.dumps(message) + "\n"))


ROUTE = parse_routes(ROUTES)[0]["new_project"]


def test_payloads_drop_metadata_convert_values_and_resolve_links() -> None:
    record = {
        "cusCrmId": "p1",
        "cusStartDate": datetime.date(2024, 6, 1),
        "cusBudget": decimal.Decimal("1250.50"),
        "cusWhole": decimal.Decimal("3"),
        "cusAt": datetime.datetime(2024, 6, 1, 12, 0, 0, 5000, tzinfo=datetime.UTC),
        "contactId": "c1",
        "_sdc_extracted_at": "2024-06-01T00:00:00Z",
    }
    payload = build_payload(record, ROUTE, lambda link, key: f"@pkey-of-{key}")
    assert payload.key == "p1"
    assert payload.body == {
        "cusCrmId": "p1",
        "cusStartDate": "2024-06-01",
        "cusBudget": 1250.5,
        "cusWhole": 3,
        "cusAt": "2024-06-01 12:00:00.005Z",
        "profile": {"PKey": "@pkey-of-c1"},
    }


def test_a_child_without_its_parent_is_rejected() -> None:
    with pytest.raises(RecordRejectedError, match="parent not found") as info:
        build_payload({"cusCrmId": "p1", "contactId": "c9"}, ROUTE, lambda link, key: None)
    assert info.value.field == "contactId"


def test_the_diff_reads_campaigns_empty_values_as_null() -> None:
    current = {
        "cusCrmId": "p1",
        "cusName": "",
        "cusBudget": 0,
        "blackListEmail": False,
        "profile": {},
        "location": {"city": "Lyon", "zipCode": "69001"},
    }
    same = {"cusName": None, "cusBudget": None, "blackListEmail": None, "profile": None}
    assert changed_fields({"cusCrmId": "p1", **same}, current, key="cusCrmId") == {}
    assert changed_fields({"location": {"city": "Lyon"}}, current, key="cusCrmId") == {}
    changes = {
        "cusName": "New",
        "blackListEmail": True,
        "profile": {"PKey": "@p"},
        "location": {"city": "Paris"},
    }
    assert changed_fields({**same, **changes}, current, key="cusCrmId") == changes


def test_the_diff_never_changes_the_key_or_create_only_fields() -> None:
    current = {"cusCrmId": "p1", "cusCode": "A", "cusName": "x"}
    body = {"cusCrmId": "P1", "cusCode": "B", "cusName": "x"}
    assert changed_fields(body, current, key="cusCrmId", create_only=frozenset({"cusCode"})) == {}
    linked = {"profile": {"PKey": "@p", "href": "https://h/profile/@p"}}
    assert changed_fields({"profile": {"PKey": "@p"}}, linked, key="k") == {}
