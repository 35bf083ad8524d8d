"""Write-payload validation and URL key parsing, checked against Dataverse's documented answers."""

from __future__ import annotations

from typing import Any

import pytest
from crm_sandbox.dataverse.errors import DataverseError
from crm_sandbox.dataverse.schema import (
    ACCOUNT,
    CATEGORY,
    CONTACT,
    DATETIME,
    INTEGER,
    LOOKUP,
    PROJECT,
    PROJECT_TASK,
    STRING,
    Column,
    Table,
)
from crm_sandbox.dataverse.validation import (
    CoercedPayload,
    LookupRef,
    coerce_payload,
    navigation_properties,
    parse_bind,
    parse_key_segment,
)

GUID = "7eb682f1-ca75-e511-80d4-00155d2a68d1"
PAYLOAD_PREFIX = (
    "Error identified in Payload provided by the user for Entity :'contacts', For more "
    "information on this error please follow this help link "
    "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
)


def create(table: Any, payload: dict[str, Any]) -> CoercedPayload:
    return coerce_payload(table, payload, operation="create")


def update(table: Any, payload: dict[str, Any]) -> CoercedPayload:
    return coerce_payload(table, payload, operation="update")


# The seed tables have no writable full DateTime column; use a synthetic table.
EVENT = Table(
    "new_event",
    "new_events",
    "Event",
    primary_id="new_eventid",
    primary_name="new_name",
    columns=(Column("new_when", DATETIME, "When"),),
)


def error_of(table: Any, payload: dict[str, Any], operation: str = "create") -> DataverseError:
    with pytest.raises(DataverseError) as caught:
        coerce_payload(table, payload, operation=operation)  # type: ignore[arg-type]
    return caught.value


# --- values --------------------------------------------------------------------------------------


def test_microsoft_create_example_round_trips():
    body = {
        "firstname": "Ada",
        "lastname": "Lovelace",
        "emailaddress1": "ada@example.com",
        "donotbulkemail": True,
    }
    result = create(CONTACT, body)
    assert result.values == body
    assert result.binds == {}


def test_every_storage_type():
    result = create(
        CONTACT,
        {
            "description": "memo",
            "numberofchildren": 2,
            "annualincome": 20000,
            "gendercode": 2,
            "birthdate": "1815-12-10",
            "followemail": False,
            "contactid": GUID.upper(),
        },
    )
    assert result.values == {
        "description": "memo",
        "numberofchildren": 2,
        "annualincome": 20000.0,
        "gendercode": 2,
        "birthdate": "1815-12-10",
        "followemail": False,
        "contactid": GUID,
    }
    assert isinstance(result.values["annualincome"], float)


def test_decimal_and_double_are_floats_rounded_to_precision():
    assert create(PROJECT, {"new_budget": 12.345}).values == {"new_budget": 12.35}
    assert create(PROJECT_TASK, {"new_hours": 3}).values == {"new_hours": 3.0}


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("2024-03-01T10:15:30Z", "2024-03-01T10:15:30Z"),
        ("2024-03-01T10:15:30.987Z", "2024-03-01T10:15:30Z"),
        ("2024-03-01T12:15:30+02:00", "2024-03-01T10:15:30Z"),
        ("2024-03-01T00:30:00-05:30", "2024-03-01T06:00:00Z"),
        ("2024-03-01T10:15Z", "2024-03-01T10:15:00Z"),
    ],
)
def test_datetime_normalised_to_utc_seconds(raw, stored):
    table = EVENT
    assert create(table, {"new_when": raw}).values == {"new_when": stored}


def test_datetime_without_time_zone_is_rejected():
    table = EVENT
    err = error_of(table, {"new_when": "2024-03-01T10:15:30"})
    assert err.status == 400
    assert err.code == "0x80048d19"
    assert err.message.endswith(
        "Cannot convert the literal '2024-03-01T10:15:30' to the expected type "
        "'Edm.DateTimeOffset'."
    )


def test_date_only_column_rejects_datetime():
    err = error_of(CONTACT, {"birthdate": "1815-12-10T00:00:00Z"})
    assert err.message == (
        PAYLOAD_PREFIX + "Microsoft.OData.ODataException: Cannot convert the literal "
        "'1815-12-10T00:00:00Z' to the expected type 'Edm.Date'."
    )
    assert error_of(CONTACT, {"birthdate": "1815-02-30"}).code == "0x80048d19"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("100000001, 100000000", "100000000,100000001"),
        ("100000002", "100000002"),
        ("100000000,100000000", "100000000"),
        ("", None),
        (None, None),
    ],
)
def test_multiselect_normalised(raw, stored):
    assert create(PROJECT, {"new_channels": raw}).values == {"new_channels": stored}


def test_multiselect_rejects_unknown_option_and_garbage():
    err = error_of(PROJECT, {"new_channels": "100000000, 5"})
    assert err.code == "0x8004431a"
    assert err.message == (
        "A validation error occurred. The value 5 of 'new_channels' on record of type "
        "'new_project' is outside the valid range. Accepted Values: "
        "100000000,100000001,100000002,100000003"
    )
    assert "Cannot convert the literal 'x'" in error_of(PROJECT, {"new_channels": "1,x"}).message
    assert "to the expected type 'Edm.String'" in error_of(PROJECT, {"new_channels": 1}).message


def test_strings_are_converted_like_odatalib():
    result = create(CONTACT, {"numberofchildren": " 3 ", "annualincome": "1.5", "donotfax": "True"})
    assert result.values == {"numberofchildren": 3, "annualincome": 1.5, "donotfax": True}


def test_nulls_clear_columns():
    assert update(CONTACT, {"firstname": None, "gendercode": None}).values == {
        "firstname": None,
        "gendercode": None,
    }


@pytest.mark.parametrize(
    ("prop", "value", "literal", "edm"),
    [
        ("numberofchildren", "two", "two", "Edm.Int32"),
        ("numberofchildren", 1.5, "1.5", "Edm.Int32"),
        ("numberofchildren", True, "True", "Edm.Int32"),
        ("numberofchildren", 2**31, str(2**31), "Edm.Int32"),
        ("firstname", 5, "5", "Edm.String"),
        ("firstname", False, "False", "Edm.String"),
        ("donotemail", 1, "1", "Edm.Boolean"),
        ("donotemail", "yes", "yes", "Edm.Boolean"),
        ("annualincome", "lots", "lots", "Edm.Decimal"),
        ("annualincome", True, "True", "Edm.Decimal"),
        ("gendercode", "Male", "Male", "Edm.Int32"),
        ("contactid", "not-a-guid", "not-a-guid", "Edm.Guid"),
        ("birthdate", 20240101, "20240101", "Edm.Date"),
    ],
)
def test_wrong_json_types(prop, value, literal, edm):
    err = error_of(CONTACT, {prop: value})
    assert err.status == 400
    assert err.code == "0x80048d19"
    assert err.message == (
        PAYLOAD_PREFIX + f"Microsoft.OData.ODataException: Cannot convert the literal "
        f"'{literal}' to the expected type '{edm}'."
    )


def test_object_for_primitive_property_names_the_property():
    err = error_of(CONTACT, {"firstname": {"a": 1}})
    assert err.code == "0x80048d19"
    assert "for property named 'firstname'" in err.message
    assert "'StartObject'" in err.message
    assert "'StartArray'" in error_of(CONTACT, {"firstname": ["a"]}).message


def test_type_errors_are_reported_even_for_ignored_columns():
    # ODataLib deserialises before the platform drops read-only columns.
    err = error_of(CONTACT, {"createdon": "yesterday"})
    assert "'Edm.DateTimeOffset'" in err.message


# --- unknown / read-only properties ---------------------------------------------------------------


def test_unknown_property_uses_documented_payload_error():
    err = error_of(ACCOUNT, {"Name": "Account name"})
    assert err.status == 400
    assert err.code == "0x0"
    assert err.message == (
        "An error occurred while validating input parameters: Microsoft.Crm.CrmException: "
        "Invalid property 'Name' was found in entity 'Microsoft.Dynamics.CRM.account'. ---> "
        "Microsoft.OData.ODataException: Does not support untyped value in non-open type."
    )


def test_polymorphic_lookup_logical_name_is_not_a_property():
    err = error_of(CONTACT, {"parentcustomerid": GUID})
    assert "Invalid property 'parentcustomerid'" in err.message


def test_lookup_value_property_is_read_only():
    err = error_of(CONTACT, {"_parentcustomerid_value": GUID})
    assert err.status == 400
    assert err.code == "0x80060888"
    assert err.message == (
        "CRM do not support direct update of Entity Reference properties, "
        "Use Navigation properties instead."
    )
    # a non-GUID fails OData conversion first
    assert "'Edm.Guid'" in error_of(CONTACT, {"_parentcustomerid_value": "x"}).message


def test_read_only_columns_are_silently_ignored_on_create():
    result = create(
        CONTACT,
        {
            "lastname": "Lovelace",
            "createdon": "2020-01-01T00:00:00Z",
            "modifiedon": "2020-01-01T00:00:00Z",
            "versionnumber": 5,
            "fullname": "Ada Lovelace",
            "statecode": 1,
            "statuscode": 2,
        },
    )
    assert result.values == {"lastname": "Lovelace", "statuscode": 2}


def test_primary_key_accepted_on_create_ignored_on_update():
    assert create(CONTACT, {"contactid": "{" + GUID.upper() + "}"}).values == {"contactid": GUID}
    assert update(CONTACT, {"contactid": GUID, "statecode": 1}).values == {"statecode": 1}


def test_null_primary_key_is_rejected():
    err = error_of(CONTACT, {"contactid": None})
    assert err.code == "0x80048d19"
    assert "A null value was found for the property named 'contactid'" in err.message


def test_read_only_columns_skip_platform_checks():
    # statecode is not valid for create, so an out-of-range value is dropped, not rejected
    assert create(CONTACT, {"statecode": 7}).values == {}


def test_application_required_is_not_enforced():
    assert create(CONTACT, {"firstname": "Ada"}).values == {"firstname": "Ada"}
    assert create(ACCOUNT, {}).values == {}


def test_instance_annotations_accepted_and_not_stored():
    result = create(
        PROJECT,
        {
            "@odata.type": "Microsoft.Dynamics.CRM.new_project",
            "@odata.etag": 'W/"1"',
            "@odata.id": "new_projects(new_code='A1')",
            "new_name@OData.Community.Display.V1.FormattedValue": "ignored",
            "new_name": "Alpha",
        },
    )
    assert result.values == {"new_name": "Alpha"}
    assert create(PROJECT, {"@odata.type": "#Microsoft.Dynamics.CRM.new_project"}).values == {}


def test_odata_type_must_match_the_table():
    err = error_of(PROJECT, {"@odata.type": "Microsoft.Dynamics.CRM.contact"})
    assert err.code == "0x80048d19"
    assert "A resource with type 'Microsoft.Dynamics.CRM.contact' was found" in err.message
    err = error_of(PROJECT, {"@odata.type": "Microsoft.Dynamics.CRM.nothing"})
    assert "A type named 'Microsoft.Dynamics.CRM.nothing' could not be resolved" in err.message


def test_annotation_on_undeclared_property_without_value():
    err = error_of(CONTACT, {"nothing@OData.Community.Display.V1.FormattedValue": "x"})
    assert err.code == "0x80048d19"
    assert "An undeclared property 'nothing'" in err.message


# --- MaxLength and choices -----------------------------------------------------------------------


def test_max_length_message_is_verbatim():
    err = error_of(CONTACT, {"firstname": "x" * 51})
    assert err.status == 400
    assert err.code == "0x80044331"
    assert err.message == (
        "A validation error occurred.  The length of the 'firstname' attribute of the 'contact' "
        "entity exceeded the maximum allowed length of '50'."
    )
    assert create(CONTACT, {"firstname": "x" * 50}).values == {"firstname": "x" * 50}


def test_max_length_counts_utf16_units_like_dotnet():
    emoji = "\U0001f600"  # two UTF-16 code units
    assert create(CATEGORY, {"new_colour": emoji * 3}).values == {"new_colour": emoji * 3}
    assert error_of(CATEGORY, {"new_colour": emoji * 4}).code == "0x80044331"


def test_memo_max_length():
    err = error_of(CONTACT, {"description": "d" * 2001})
    assert "'description' attribute of the 'contact' entity" in err.message


@pytest.mark.parametrize(
    ("table", "prop", "value", "accepted"),
    [
        (CONTACT, "gendercode", 3, "1,2"),
        (ACCOUNT, "industrycode", 2, "1,7,19,33"),
        (PROJECT, "new_priority", 1, "100000000,100000001,100000002"),
        (CONTACT, "statuscode", 9, "1,2"),
    ],
)
def test_option_out_of_range(table, prop, value, accepted):
    err = error_of(table, {prop: value})
    assert err.status == 400
    assert err.code == "0x8004431a"
    assert err.message == (
        f"A validation error occurred. The value {value} of '{prop}' on record of type "
        f"'{table.logical_name}' is outside the valid range. Accepted Values: {accepted}"
    )


def test_statecode_checked_on_update():
    assert update(CONTACT, {"statecode": 1, "statuscode": 2}).values == {
        "statecode": 1,
        "statuscode": 2,
    }
    assert error_of(CONTACT, {"statecode": 4}, "update").code == "0x8004431a"


def test_odata_errors_come_before_platform_errors():
    err = error_of(CONTACT, {"firstname": "x" * 60, "numberofchildren": "many"})
    assert err.code == "0x80048d19"


# --- @odata.bind ----------------------------------------------------------------------------------


def test_navigation_property_names():
    assert set(navigation_properties(CONTACT)) == {
        "ownerid",
        "parentcustomerid_account",
        "parentcustomerid_contact",
    }
    assert set(navigation_properties(ACCOUNT)) == {"ownerid", "primarycontactid"}


@pytest.mark.parametrize(
    "value",
    [
        f"/contacts({GUID})",
        f"contacts({GUID})",
        f"/contacts({GUID.upper()})",
        f"https://org.crm.dynamics.com/api/data/v9.2/contacts({GUID})",
        f"/api/data/v9.2/contacts({GUID})",
        f"/contacts(contactid={GUID})",
    ],
)
def test_bind_forms(value):
    result = create(ACCOUNT, {"name": "A", "primarycontactid@odata.bind": value})
    assert result.binds == {"primarycontactid": LookupRef(target="contact", id=GUID)}
    assert result.values == {"name": "A"}


def test_polymorphic_bind_per_target():
    result = create(CONTACT, {"parentcustomerid_account@odata.bind": f"/accounts({GUID})"})
    assert result.binds == {"parentcustomerid": LookupRef(target="account", id=GUID)}
    result = create(CONTACT, {"parentcustomerid_contact@odata.bind": f"contacts({GUID})"})
    assert result.binds == {"parentcustomerid": LookupRef(target="contact", id=GUID)}


def test_bind_with_alternate_key():
    result = create(PROJECT_TASK, {"new_projectid@odata.bind": "/new_projects(new_code='A''1')"})
    assert result.binds == {
        "new_projectid": LookupRef(target="new_project", id=None, key={"new_code": "A'1"})
    }


def test_bind_with_percent_encoded_alternate_key():
    result = create(PROJECT_TASK, {"new_projectid@odata.bind": "/new_projects(new_code='A%2B1')"})
    assert result.binds["new_projectid"] == LookupRef("new_project", None, {"new_code": "A+1"})


def test_bind_with_undeclared_alternate_key():
    err = error_of(ACCOUNT, {"primarycontactid@odata.bind": "/contacts(emailaddress1='a@b.c')"})
    assert err.status == 400
    assert err.message.startswith(
        "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.contact'."
    )


def test_bind_content_id_reference():
    result = create(ACCOUNT, {"primarycontactid@odata.bind": "$2"})
    assert result.binds == {
        "primarycontactid": LookupRef(target="", id=None, key=None, content_id="2")
    }


def test_null_bind_clears_lookup():
    result = update(CONTACT, {"parentcustomerid_account@odata.bind": None})
    assert result.binds == {"parentcustomerid": None}
    assert result.cleared_lookups == frozenset({"parentcustomerid"})


def test_bind_on_logical_name_of_polymorphic_lookup_is_documented_error():
    err = error_of(CONTACT, {"parentcustomerid@odata.bind": f"accounts({GUID})"})
    assert err.status == 400
    assert err.code == "0x80048d19"
    assert err.message == (
        PAYLOAD_PREFIX + "Microsoft.OData.ODataException: An undeclared property "
        "'parentcustomerid' which only has property annotations in the payload but no property "
        "value was found in the payload. In OData, only declared navigation properties and "
        "declared named streams can be represented as properties without values."
    )


def test_bind_through_value_property_is_undeclared():
    err = error_of(CONTACT, {"_parentcustomerid_value@odata.bind": f"/accounts({GUID})"})
    assert "An undeclared property '_parentcustomerid_value'" in err.message


def test_bind_to_wrong_entity_set():
    err = error_of(ACCOUNT, {"primarycontactid@odata.bind": f"/accounts({GUID})"})
    assert err.code == "0x80048d19"
    assert (
        "A resource with type 'Microsoft.Dynamics.CRM.account' was found, but it is not "
        "assignable to the expected type 'Microsoft.Dynamics.CRM.contact'."
    ) in err.message
    err = error_of(CONTACT, {"parentcustomerid_account@odata.bind": f"/contacts({GUID})"})
    assert "expected type 'Microsoft.Dynamics.CRM.account'" in err.message


def test_bind_to_unknown_entity_set():
    err = error_of(ACCOUNT, {"primarycontactid@odata.bind": f"/Contacts({GUID})"})
    assert (err.status, err.code) == (400, "0x8006088a")
    assert err.message == "Resource not found for the segment 'Contacts'."


@pytest.mark.parametrize("value", ["contacts", "/contacts()", "/contacts(nope)", 5, True])
def test_malformed_bind_values(value):
    err = error_of(ACCOUNT, {"primarycontactid@odata.bind": value})
    assert err.status == 400


def test_collection_bind_value_on_single_valued_navigation():
    err = error_of(ACCOUNT, {"primarycontactid@odata.bind": [f"/contacts({GUID})"]})
    assert "'StartArray'" in err.message


def test_navigation_property_with_primitive_value():
    err = error_of(ACCOUNT, {"primarycontactid": GUID})
    assert err.code == "0x80048d19"


def test_deep_insert_is_refused_explicitly():
    err = error_of(ACCOUNT, {"primarycontactid": {"firstname": "Ada"}})
    assert err.status == 501


def test_parse_bind_directly():
    assert parse_bind(CONTACT, "ownerid", None) is None


# --- key segments ---------------------------------------------------------------------------------


def test_key_segment_primary_key_forms():
    assert parse_key_segment(CONTACT, f"({GUID})") == GUID
    assert parse_key_segment(CONTACT, GUID.upper()) == GUID
    assert parse_key_segment(CONTACT, f"(contactid={GUID})") == GUID


def test_key_segment_alternate_key():
    assert parse_key_segment(PROJECT, "(new_code='A''B')") == {"new_code": "A'B"}
    assert parse_key_segment(PROJECT, "(new_code='x,y')") == {"new_code": "x,y"}
    assert parse_key_segment(PROJECT, "new_code = 'A1' ") == {"new_code": "A1"}


def test_key_segment_multi_part():
    table = Table(
        "new_example",
        "new_examples",
        "Example",
        primary_id="new_exampleid",
        primary_name="new_name",
        alternate_keys=(("new_a", "new_b"), ("new_contactid",)),
        columns=(
            Column("new_a", STRING, "A", max_length=10),
            Column("new_b", INTEGER, "B"),
            Column("new_contactid", LOOKUP, "Contact", targets=("contact",)),
        ),
    )
    assert parse_key_segment(table, "(new_a='x',new_b=2)") == {"new_a": "x", "new_b": 2}
    assert parse_key_segment(table, "(new_b=2,new_a='x')") == {"new_b": 2, "new_a": "x"}
    assert parse_key_segment(table, f"(_new_contactid_value={GUID})") == {"new_contactid": GUID}
    for bad in ("(new_a='x')", "(new_a='x',new_b=2,new_name='n')", "(new_contactid=1)"):
        with pytest.raises(DataverseError) as caught:
            parse_key_segment(table, bad)
        assert caught.value.message.startswith("The key in the request URI is not valid")
    for bad in ("(new_a=1,new_b=2)", "(new_a='x',new_b='2')", "(new_a='x',new_b=2.5)"):
        with pytest.raises(DataverseError) as caught:
            parse_key_segment(table, bad)
        assert caught.value.message == "Bad Request - Error in query syntax."


def test_key_segment_undeclared_alternate_key():
    with pytest.raises(DataverseError) as caught:
        parse_key_segment(CONTACT, "(emailaddress1='a@b.c')")
    err = caught.value
    assert err.status == 400
    assert err.message == (
        "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.contact'. "
        "Ensure that the names and number of key properties match the declared or alternate key "
        "properties for the resource 'Microsoft.Dynamics.CRM.contact'."
    )


@pytest.mark.parametrize(
    "segment",
    ["()", "(abc)", "('abc')", "(contactid='x')", "(contactid=5)", "(new_code='unterminated)"],
)
def test_key_segment_syntax_errors(segment):
    table = PROJECT if "new_code" in segment else CONTACT
    with pytest.raises(DataverseError) as caught:
        parse_key_segment(table, segment)
    assert caught.value.status == 400


def test_key_segment_duplicate_name():
    with pytest.raises(DataverseError) as caught:
        parse_key_segment(PROJECT, "(new_code='a',new_code='b')")
    assert caught.value.message.startswith("The key in the request URI is not valid")
