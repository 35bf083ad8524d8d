"""The schema wizard's type mapping and rendering, without a server (see test_wizard_sandbox)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import yaml
from target_adobe_campaign.wizard.d365 import D365Attribute, D365Table
from target_adobe_campaign.wizard.mapping import (
    FieldPlan,
    LinkPlan,
    MappingError,
    Skipped,
    enum_values,
    field_name,
    link_name,
    map_lookup,
    map_scalar,
    plan_tables,
    schema_name,
)
from target_adobe_campaign.wizard.render import render_all, stream_map


def table(name: str = "account", *attributes: D365Attribute, custom: bool = False) -> D365Table:
    primary = D365Attribute(
        f"{name}id", "Uniqueidentifier", "UniqueidentifierType", "Id", is_primary_id=True
    )
    return D365Table(
        logical_name=name,
        entity_set_name=f"{name}s",
        primary_id=f"{name}id",
        primary_name="name",
        display_name=name.title(),
        collection_name=name.title() + "s",
        is_custom=custom,
        change_tracking=True,
        attributes=tuple(sorted((primary, *attributes), key=lambda a: a.logical_name)),
    )


ACCOUNT = table("account")


def scalar(kind: str, **kw: object) -> FieldPlan | Skipped:
    return map_scalar(D365Attribute("col_x", kind, **kw), ACCOUNT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "extra", "xtk", "standard", "length", "standard_length"),
    [
        ("String", {"max_length": 100}, "string", "string", 100, 100),
        ("String", {"max_length": 8000}, "string", "string", 8000, 4000),
        ("Memo", {"max_length": 2000}, "memo", "string", None, 2000),
        ("EntityName", {}, "string", "string", 128, 128),
        ("Uniqueidentifier", {}, "string", "string", 36, 36),
        ("Boolean", {}, "boolean", "boolean", None, None),
        ("DateTime", {}, "datetime", "datetime", None, None),
        ("DateTime", {"date_only": True}, "date", "date", None, None),
        ("Integer", {}, "long", "long", None, None),
        ("BigInt", {}, "int64", "double", None, None),
        ("Decimal", {}, "double", "double", None, None),
        ("Double", {}, "double", "double", None, None),
        ("Money", {}, "double", "double", None, None),
        ("Owner", {}, "string", "string", 36, 36),
        ("State", {"options": ((1, "Inactive"), (0, "Active"))}, "string", "string", 64, 64),
    ],
)
def test_scalar_types_as_adobes_connector_maps_them(
    kind: str, extra: dict[str, object], xtk: str, standard: str, length: int, standard_length: int
) -> None:
    mapped = scalar(kind, **extra)
    assert isinstance(mapped, FieldPlan)
    assert (mapped.xtk_type, mapped.standard_type) == (xtk, standard)
    assert (mapped.length, mapped.standard_length) == (length, standard_length)
    assert mapped.name == "cusColX"


def test_owner_reads_the_lookup_value_and_state_writes_its_label() -> None:
    owner = scalar("Owner")
    assert isinstance(owner, FieldPlan)
    assert owner.source == "_col_x_value"
    state = map_scalar(
        D365Attribute("statecode", "State", options=((1, "Inactive"), (0, "Active"))), ACCOUNT
    )
    assert isinstance(state, FieldPlan)
    assert stream_map(_plan_with(state))["cusStatecode"] == (
        "{0: 'Active', 1: 'Inactive'}.get(statecode)"
    )


def _plan_with(*fields: FieldPlan):  # type: ignore[no-untyped-def]
    (plan,) = plan_tables([ACCOUNT])
    return type(plan)(**{**plan.__dict__, "fields": fields})


@pytest.mark.parametrize("kind", ["Picklist", "Status"])
def test_choices_become_enumerations(kind: str) -> None:
    options = ((100000001, "Hot lead (web)"), (100000000, "Cold"), (100000002, "Cold"))
    mapped = scalar(kind, options=options)
    assert isinstance(mapped, FieldPlan)
    assert (mapped.xtk_type, mapped.standard_type) == ("long", "enumeration")
    assert [(v.name, v.label, v.value) for v in mapped.enum_values] == [
        ("cold", "Cold", 100000000),
        ("hot_lead_web", "Hot lead (web)", 100000001),
        ("cold_100000002", "Cold", 100000002),  # a clash: the target's rule
    ]


@pytest.mark.parametrize(
    ("kind", "type_name", "reason"),
    [
        ("Virtual", "MultiSelectPicklistType", "multi-select choice"),
        ("Picklist", "MultiSelectPicklistType", "multi-select choice"),
        ("PartyList", "PartyListType", "PartyList: Adobe's connector does not support it"),
        ("ManagedProperty", "ManagedPropertyType", "ManagedProperty"),
        ("Virtual", "ImageType", "type Virtual (ImageType)"),
        ("Virtual", "FileType", "type Virtual (FileType)"),
        ("CalendarRules", "CalendarRulesType", "CalendarRules"),
    ],
)
def test_unsupported_types_are_listed_with_a_reason(kind: str, type_name: str, reason: str) -> None:
    mapped = scalar(kind, type_name=type_name)
    assert isinstance(mapped, Skipped)
    assert reason in mapped.reason
    assert mapped.column == "col_x"


def test_lookups_link_to_profiles_and_generated_tables_only() -> None:
    selected = {"account": "account"}
    order = table("salesorder")
    to_contact = map_lookup(
        D365Attribute("contactid", "Lookup", targets=("contact",)), order, selected
    )
    assert isinstance(to_contact, LinkPlan)
    assert (to_contact.name, to_contact.target_resource, to_contact.target_schema) == (
        "contact",
        "profile",
        "nms:recipient",
    )
    assert (to_contact.carrier, to_contact.source) == ("contactId", "_contactid_value")
    to_account = map_lookup(
        D365Attribute("accountid", "Lookup", targets=("account",)), order, selected
    )
    assert isinstance(to_account, LinkPlan)
    assert (to_account.target_resource, to_account.target_schema) == ("cusAccount", "cus:account")
    other = map_lookup(
        D365Attribute("pricelevelid", "Lookup", targets=("pricelevel",)), order, selected
    )
    assert isinstance(other, Skipped)
    assert "add pricelevel to --tables" in other.reason
    customer = map_lookup(
        D365Attribute("customerid", "Customer", targets=("account", "contact")), order, selected
    )
    assert isinstance(customer, Skipped)
    assert "Customer" in customer.reason
    regarding = map_lookup(
        D365Attribute("regardingobjectid", "Lookup", targets=("account", "contact")),
        order,
        selected,
    )
    assert isinstance(regarding, Skipped)
    assert "single entity reference" in regarding.reason


def test_derived_and_unreadable_columns_are_skipped() -> None:
    source = table(
        "account",
        D365Attribute("name", "String", max_length=160),
        D365Attribute("owneridname", "String", attribute_of="ownerid"),
        D365Attribute("secret", "String", readable=False),
    )
    (plan,) = plan_tables([source])
    assert [f.name for f in plan.fields] == ["cusName"]
    assert {s.column: s.reason for s in plan.skipped} == {
        "owneridname": "derived from ownerid (AttributeOf)",
        "secret": "not readable (IsValidForRead false)",
    }


def test_names() -> None:
    project = table("new_projecttask", custom=True)
    assert schema_name(project) == "projecttask"
    assert field_name("new_budget", project) == "cusBudget"
    assert field_name("address1_city", ACCOUNT) == "cusAddress1City"
    assert field_name("a" * 40, ACCOUNT) == "cusA" + "a" * 26  # 30 characters at most
    assert link_name("new_projectid", project) == "project"
    assert link_name("primarycontactid", ACCOUNT) == "primarycontact"
    assert [v.name for v in enum_values([(2, "2% 10, Net 30"), (1, "!!")])] == ["1", "2_10_net_30"]


def test_contact_is_not_a_custom_table_and_names_must_not_clash() -> None:
    with pytest.raises(MappingError, match="profile table"):
        plan_tables([table("contact")])
    clash = table("account", D365Attribute("ab_c", "String"), D365Attribute("ab__c", "String"))
    with pytest.raises(MappingError, match="'cusAbC'"):
        plan_tables([clash])


def test_parents_come_first_and_rendering_is_deterministic() -> None:
    order = table(
        "salesorder",
        D365Attribute("accountid", "Lookup", targets=("account",)),
        D365Attribute("totalamount", "Money", display_name="Total | Amount"),
        D365Attribute("statuscode", "Status", options=((1, "New"), (2, "Pending"))),
    )
    account = table("account", D365Attribute("name", "String", max_length=160))
    plans = plan_tables([order, account])
    assert [p.table for p in plans] == ["account", "salesorder"]
    first = render_all(plans[1])
    again = render_all(plan_tables([order, account])[1])
    assert first == again
    schema = ET.fromstring(first["srcSchema.xml"].encode())
    assert schema.get("name") == "salesorder"
    element = schema.find("element")
    assert element is not None
    assert [a.get("name") for a in element.iter("attribute")] == [
        "cusCrmId",
        "cusStatuscode",
        "cusTotalamount",
    ]
    (link,) = element.findall("element")
    assert (link.get("name"), link.get("target")) == ("account", "cus:account")
    resource = json.loads(first["resource.json"])
    assert resource["links"] == [
        {"name": "account", "label": "accountid", "target": "cusAccount", "mandatory": False}
    ]
    config = yaml.safe_load(first["meltano.standard.yml"])
    assert config["resources"]["salesorder"]["links"] == {
        "account": {"stream": "account", "field": "accountId"}
    }
    assert config["enumerations"]["salesorder"]["cusStatuscode"] == {
        "table": "salesorder",
        "attribute": "statuscode",
        "enumeration": "cus:salesorder:cusStatuscode",
    }
    v8 = yaml.safe_load(first["meltano.v8.yml"])
    assert v8["resources"]["salesorder"] == {
        "resource": "cusSalesorder",  # backend: v8 writes it to cus:salesorder
        "key": "cusCrmId",
        "links": {"account": {"stream": "account", "field": "accountId"}},
    }
    assert "key_filter" in config["resources"]["salesorder"]
    assert v8["stream_maps"] == config["stream_maps"]
    assert "Total \\| Amount" in first["report.md"]
