"""Schemas: GetEntityIfMoreRecent, the srcSchema document, write and build."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from campaign_client.classic import EnumValue
from campaign_client.xtk_schema import (
    SchemaAttribute,
    SchemaEnumeration,
    SchemaLink,
    SrcSchema,
    build_schema,
    get_entity_if_more_recent,
    get_schema,
    write_src_schema,
)

from tests.conftest import XSI_TYPE, FakeCampaign, element_output, make_session, ok

ACCOUNT = SrcSchema(
    namespace="cus",
    name="account",
    label="Accounts",
    label_singular="Account",
    attributes=(
        SchemaAttribute("crmId", "string", "CRM id", length=36),
        SchemaAttribute("name", "string", "Account name", length=160),
        SchemaAttribute("revenue", "double", "Annual revenue"),
        SchemaAttribute("industry", "long", "Industry", enum="industry"),
        SchemaAttribute("modifiedOn", "datetime"),
    ),
    key=("crmId",),
    links=(SchemaLink("primaryContact", "nms:recipient", "Primary contact"),),
    enumerations=(
        SchemaEnumeration(
            "industry",
            "long",
            "Industry",
            (EnumValue("accounting", "Accounting", "1"), EnumValue("retail", "Retail", "2")),
        ),
    ),
)

EXPECTED = (
    '<srcSchema xtkschema="xtk:srcSchema" namespace="cus" name="account" label="Accounts" '
    'labelSingular="Account" mappingType="sql">'
    '<enumeration name="industry" basetype="long" label="Industry">'
    '<value name="accounting" label="Accounting" value="1" />'
    '<value name="retail" label="Retail" value="2" /></enumeration>'
    '<element name="account" label="Accounts" autopk="true">'
    '<key name="crmId"><keyfield xpath="@crmId" /></key>'
    '<attribute name="crmId" type="string" label="CRM id" length="36" />'
    '<attribute name="name" type="string" label="Account name" length="160" />'
    '<attribute name="revenue" type="double" label="Annual revenue" />'
    '<attribute name="industry" type="long" label="Industry" enum="industry" />'
    '<attribute name="modifiedOn" type="datetime" />'
    '<element name="primaryContact" type="link" target="nms:recipient" label="Primary contact" />'
    "</element></srcSchema>"
)


def test_srcschema_document_is_deterministic() -> None:
    assert ACCOUNT.id == "cus:account"
    assert ET.tostring(ACCOUNT.to_element(), encoding="unicode") == EXPECTED
    with pytest.raises(ValueError, match="unknown XTK type 'money'"):
        SchemaAttribute("amount", "money")


def test_write_then_build(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#Write", ok("xtk:session", "Write"))
    campaign.on("xtk:builder#BuildSchemaFromId", ok("xtk:builder", "BuildSchemaFromId"))
    session = make_session()
    write_src_schema(session, ACCOUNT)
    build_schema(session, ACCOUNT.id)
    written, built = campaign.sent
    assert written.action == "xtk:session#Write"
    assert ET.tostring(written.literal("doc"), encoding="unicode") == EXPECTED
    assert built.action == "xtk:builder#BuildSchemaFromId"
    assert [(p.tag, p.text, p.get(XSI_TYPE)) for p in built.params] == [
        ("sessiontoken", None, "xsd:string"),
        ("schemaId", "cus:account", "xsd:string"),
    ]


def test_get_entity_if_more_recent(campaign: FakeCampaign) -> None:
    schema = (
        '<schema name="recipient" namespace="nms" md5="9D716FE5" xtkschema="xtk:schema">'
        '<element name="recipient"><attribute name="email" type="string" length="128"/>'
        "</element></schema>"
    )
    campaign.on(
        "xtk:persist#GetEntityIfMoreRecent",
        ok("xtk:persist", "GetEntityIfMoreRecent", element_output("pdomDoc", schema)),
        ok("xtk:persist", "GetEntityIfMoreRecent", element_output("pdomDoc", "")),
    )
    session = make_session()
    found = get_schema(session, "nms:recipient")
    assert found is not None
    assert (found.tag, found.get("md5")) == ("schema", "9D716FE5")
    attribute = found.find("element/attribute")
    assert attribute is not None
    assert attribute.get("name") == "email"
    assert get_entity_if_more_recent(session, "xtk:schema|nms:recipient", "9D716FE5") is None
    first, second = campaign.sent
    assert [(p.tag, p.text, p.get(XSI_TYPE)) for p in first.params] == [
        ("sessiontoken", None, "xsd:string"),
        ("pk", "xtk:schema|nms:recipient", "xsd:string"),
        ("md5", None, "xsd:string"),
        ("mustExist", "false", "xsd:boolean"),
    ]
    assert second.param("md5").text == "9D716FE5"
