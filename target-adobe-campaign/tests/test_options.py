"""Pure logic of the per-stream write options: replacements, validation, schema, deletes."""

from __future__ import annotations

import decimal
import io
import json

import pytest
from sync_support.settings_check import ConfigError
from target_adobe_campaign.options import (
    StreamOptionsError,
    WriteOptions,
    prepare_record,
    prepare_schema,
)
from target_adobe_campaign.replacements import FieldReplacements, match_form
from target_adobe_campaign.routing import parse_routes
from target_adobe_campaign.target import TargetAdobeCampaign

from .helpers import ROUTES, schema

CONFIG = {"organization": "o", "client_id": "c", "client_secret": "s", "resources": ROUTES}
GENDER = FieldReplacements({"1": "male", "2": "female", "true": "yes", "2.5": "half"})


@pytest.mark.parametrize(
    ("value", "form"),
    [
        (1, "1"),
        ("1", "1"),
        (1.0, "1"),
        (decimal.Decimal("2.00"), "2"),
        (decimal.Decimal("2.50"), "2.5"),
        (2.5, "2.5"),
        (True, "true"),
        (None, "null"),
        ("Female", "Female"),
    ],
)
def test_values_match_on_their_plain_string_form(value, form) -> None:
    assert match_form(value) == form


def test_replacements_match_numbers_and_strings_alike_and_pass_the_rest_through() -> None:
    assert [GENDER.replace(v) for v in (1, "1", 2.0, "2", True, 2.5)] == [
        "male",
        "male",
        "female",
        "female",
        "yes",
        "half",
    ]
    assert [GENDER.replace(v) for v in (3, "x", None, False)] == [3, "x", None, False]
    assert GENDER.replace([1, 3, "2"]) == ["male", 3, "female"]  # item by item


def test_default_replaces_every_unmatched_non_null_value_and_null_has_its_own_entry() -> None:
    with_default = FieldReplacements({"1": "male", "__default__": "unknown"})
    assert [with_default.replace(v) for v in (1, 7, "x", None)] == [
        "male",
        "unknown",
        "unknown",
        None,
    ]
    with_null = FieldReplacements({"null": "unknown", "__default__": "other"})
    assert [with_null.replace(v) for v in (None, 1)] == ["unknown", "other"]
    assert FieldReplacements({"__default__": "x"}).replace("__default__") == "x"


def test_a_replaced_field_accepts_the_replacement_types_without_the_source_constraints() -> None:
    source = {"type": ["integer", "null"], "maximum": 3}
    assert GENDER.widen(source) == {"type": ["integer", "null", "string"]}
    text = {"type": "string", "maxLength": 4, "format": "date"}
    widened = FieldReplacements({"x": None}).widen(text)
    assert widened == {"type": ["null", "string"], "format": "date"}
    numbers = FieldReplacements({"1": 1.5})
    assert numbers.widen({"type": "integer"}) == {"type": ["number"]}
    multi = {"type": ["array", "null"], "items": {"type": "integer"}}
    assert GENDER.widen(multi)["items"] == {"type": ["integer", "string"]}
    assert GENDER.widen({"anyOf": [{"type": "integer"}, {"type": "string"}]}) == {}


def test_records_are_prepared_and_validated_against_the_prepared_schema() -> None:
    options = WriteOptions(replacements={"gender": GENDER})
    stream_schema = {
        "properties": {
            "gender": {"type": ["integer", "null"]},
            "_sdc_filtered_out": {"type": "string"},  # the SDK's type for an expression
        }
    }
    prepared = prepare_schema(stream_schema, options)
    assert prepared["properties"]["_sdc_filtered_out"] == {"type": ["boolean", "null"]}
    assert stream_schema["properties"]["gender"] == {"type": ["integer", "null"]}  # a copy
    record = {"gender": 1, "_sdc_filtered_out": 0, "other": 1}
    prepare_record(record, options)
    assert record == {"gender": "male", "_sdc_filtered_out": False, "other": 1}
    record = {"_sdc_filtered_out": "yes"}
    prepare_record(record, options)
    assert record == {"_sdc_filtered_out": True}


@pytest.mark.parametrize(
    ("deletes", "apply_deletes", "expected"),
    [(None, True, True), (None, False, False), (True, False, True), (False, True, False)],
)
def test_a_stream_deletes_setting_overrides_apply_deletes(deletes, apply_deletes, expected) -> None:
    assert WriteOptions(deletes=deletes).applies_deletes(apply_deletes) is expected


def test_routes_carry_the_options() -> None:
    resources = {
        "contact": {
            "resource": "profile",
            "create_only": ["cusJobTitle"],
            "replacements": {"gender": {"1": "male"}},
            "deletes": False,
            "delete_filtered_out": True,
        }
    }
    routes, errors = parse_routes(resources)
    assert errors == []
    options = routes["contact"].options
    assert options.create_only == {"cusJobTitle"}
    assert options.replacements["gender"].replace(1) == "male"
    assert (options.deletes, options.delete_filtered_out) == (False, True)
    assert parse_routes({"c": {"resource": "profile"}})[0]["c"].options == WriteOptions()


def test_option_errors_name_the_stream_and_the_option() -> None:
    resources = {
        "contact": {
            "resource": "profile",
            "create_only": ["externalId", "_sdc_deleted_at"],
            "replacements": {"externalId": {"a": "b"}, "_sdc_filtered_out": {"a": "b"}},
            "create_only_fields": ["email"],
            "delete_filterd_out": True,
            "adopt_by": "externalId",
        },
        "new_project": {
            **ROUTES["new_project"],
            "create_only": ["contactId"],
            "replacements": {"cusStage": "planned", "cusCode": {"a": ["list"]}},
            "deletes": "yes",
        },
    }
    errors = parse_routes(resources)[1]
    expected = [
        "resources.contact.create_only_fields: unknown option (renamed 'create_only')",
        "resources.contact.delete_filterd_out: unknown option; known: adopt_by, create_only, ",
        "resources.contact.adopt_by must be a Campaign field other than the key 'externalId'",
        "resources.contact.create_only: 'externalId' is the key, which is always written",
        "resources.contact.create_only: '_sdc_deleted_at' is Singer metadata",
        "resources.contact.replacements.externalId: the key cannot be replaced",
        "resources.contact.replacements._sdc_filtered_out: '_sdc_filtered_out' is Singer metadata",
        "resources.new_project.create_only: 'contactId' holds the parent's CRM id of link "
        "'profile'; name the link ('profile') instead",
        "resources.new_project.replacements.cusStage must be an object {incoming value: "
        "replacement}, got str",
        "resources.new_project.replacements.cusCode.a: a replacement must be a string, number, "
        "boolean or null, got list",
        "resources.new_project.deletes must be true or false, got 'yes'",
    ]
    for message in expected:
        assert any(error.startswith(message) for error in errors), message
    assert len(errors) == len(expected)


def test_the_target_refuses_bad_options_at_startup() -> None:
    bad_shape = {"contact": {"resource": "profile", "replacements": {"gender": "male"}}}
    with pytest.raises(ConfigError) as info:
        TargetAdobeCampaign(config={**CONFIG, "resources": bad_shape})
    assert "config['resources']['contact']['replacements']['gender']" in str(info.value.errors)
    key = {"contact": {"resource": "profile", "create_only": ["externalId"]}}
    with pytest.raises(ConfigError) as info:
        TargetAdobeCampaign(config={**CONFIG, "resources": key})
    assert "resources.contact.create_only: 'externalId' is the key" in str(info.value.errors)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"replacements": {"gendr": {"1": "male"}}},
            "resources.contact.replacements: 'gendr' is not a property of stream 'contact'",
        ),
        (
            {"create_only": ["jobTitle"]},
            "resources.contact.create_only: 'jobTitle' is neither a property of stream "
            "'contact' nor a link",
        ),
        (
            {"delete_filtered_out": True},
            "resources.contact.delete_filtered_out needs a '_sdc_filtered_out' property in "
            "stream 'contact'",
        ),
    ],
)
def test_options_that_do_not_fit_the_stream_schema_stop_the_run(options, message) -> None:
    resources = {"contact": {"resource": "profile", **options}}
    target = TargetAdobeCampaign(config={**CONFIG, "resources": resources})
    message_in = schema("contact", {"externalId": {"type": "string"}}, "externalId")
    with pytest.raises(StreamOptionsError) as info:
        target.listen(io.StringIO(json.dumps(message_in) + "\n"))
    assert message in str(info.value)
