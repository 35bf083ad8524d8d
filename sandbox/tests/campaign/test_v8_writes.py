"""v8 SOAP: Write / WriteCollection over the store, and source schemas built into new tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import serve_campaign, url
from .v8client import SoapClient, SoapError

EXT = "profileAndServicesExt"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(10, projects=2), seed=13)


@pytest.fixture(scope="module")
def soap(campaign) -> SoapClient:
    return SoapClient(campaign, bearer=campaign.token())


def profile(campaign, external_id):
    found = campaign.admin.find_rows("profile", externalId=external_id)
    return found[0] if found else None


def test_insert_update_by_key_and_rest_sees_it(soap, campaign, api):
    soap.write(
        "<recipient xtkschema='nms:recipient' _key='@externalId' externalId='crm-1' "
        "email='ann@example.com' firstName='Ann' gender='2' blackListEmail='0'>"
        "<location city='Lyon'/></recipient>"
    )
    row = profile(campaign, "crm-1")
    assert (row["email"], row["gender"], row["location"]["city"]) == (
        "ann@example.com",
        "female",
        "Lyon",
    )
    before = row["lastModified"]
    campaign.admin.shift_clock(5)
    soap.write(
        "<recipient xtkschema='nms:recipient' _key='@externalId' externalId='crm-1' "
        "lastName='Lee' blackListEmail='1'/>"
    )
    row = profile(campaign, "crm-1")
    assert (row["firstName"], row["lastName"], row["blackListEmail"]) == ("Ann", "Lee", True)
    assert row["lastModified"] > before
    patched = api.patch(row["href"], json={"firstName": "Anne"})
    assert patched.status_code == 200
    got = soap.query(
        "<queryDef schema='nms:recipient' operation='get'><select><node expr='@firstName'/>"
        "</select><where><condition expr=\"@externalId = 'crm-1'\"/></where></queryDef>"
    )
    assert got.get("firstName") == "Anne"


def test_operations(soap, campaign):
    soap.write(
        "<recipient xtkschema='nms:recipient' _key='@externalId' externalId='crm-2' "
        "_operation='update' email='x@example.com'/>"
    )
    assert profile(campaign, "crm-2") is None  # update: nothing when missing
    soap.write("<recipient xtkschema='nms:recipient' externalId='crm-2' _operation='insert'/>")
    with pytest.raises(SoapError) as info:
        soap.write("<recipient xtkschema='nms:recipient' externalId='crm-2' _operation='insert'/>")
    assert "PGS-220000" in info.value.detail
    assert "Recipients (nms:recipient)" in info.value.detail
    soap.write(
        "<recipient xtkschema='nms:recipient' _key='@externalId' externalId='crm-2' "
        "_operation='delete'/>"
    )
    assert profile(campaign, "crm-2") is None
    with pytest.raises(SoapError) as bad:
        soap.write("<recipient xtkschema='nms:recipient' externalId='crm-3' gender='9'/>")
    assert "nms:recipient:gender" in bad.value.detail


def test_collections_links_by_key_and_atomicity(soap, campaign):
    soap.write_collection(  # the SDK's form: a root named after the schema
        "<recipient xtkschema='nms:recipient'>"
        "<recipient _key='@externalId' externalId='crm-10' email='a10@example.com'/>"
        "<recipient _key='@externalId' externalId='crm-11' email='a11@example.com'/>"
        "</recipient>"
    )
    soap.write_collection(  # Adobe's data API form: <schema>-collection
        "<project-collection xtkschema='cus:project'>"
        "<project _key='@cusCrmId' cusCrmId='P-10' cusName='Ten'>"
        "<profile _key='@externalId' externalId='crm-10' _operation='none'/></project>"
        "<project _key='@cusCrmId' cusCrmId='P-11' cusName='Orphan'>"
        "<profile _key='@externalId' externalId='nobody' _operation='none'/></project>"
        "</project-collection>"
    )
    ten = campaign.admin.find_rows("cusProject", cusCrmId="P-10")[0]
    assert ten["profile"]["PKey"] == profile(campaign, "crm-10")["PKey"]
    assert campaign.admin.find_rows("cusProject", cusCrmId="P-11")[0]["profile"] == {}
    with pytest.raises(SoapError):
        soap.write_collection(
            "<recipient-collection xtkschema='nms:recipient'>"
            "<recipient _key='@externalId' externalId='crm-12' email='a12@example.com'/>"
            "<recipient _key='@externalId' externalId='crm-13' birthDate='not a date'/>"
            "</recipient-collection>"
        )
    assert profile(campaign, "crm-12") is None  # the whole collection was refused


def test_source_schema_build_makes_a_table(soap, campaign, api):
    soap.write(  # the contact the account links to (this test does not rely on another's)
        "<recipient xtkschema='nms:recipient' _key='@externalId' externalId='crm-10' "
        "email='a10@example.com'/>"
    )
    soap.write(
        "<srcSchema xtkschema='xtk:srcSchema' namespace='cus' name='account' label='Accounts'>"
        "<enumeration name='industry' basetype='string'>"
        "<value name='retail' label='Retail' value='retail'/></enumeration>"
        "<element name='account' autopk='true'>"
        "<key name='crmId'><keyfield xpath='@crmId'/></key>"
        "<attribute name='crmId' type='string' length='36'/>"
        "<attribute name='name' type='string' length='160'/>"
        "<attribute name='revenue' type='double'/>"
        "<attribute name='industry' type='string' enum='industry'/>"
        "<element name='primaryContact' type='link' target='nms:recipient'/>"
        "</element></srcSchema>"
    )
    assert soap.schema("xtk:srcSchema|cus:account").get("name") == "account"
    with pytest.raises(SoapError):
        soap.query("<queryDef schema='cus:account' operation='count'/>")  # not built yet
    assert (
        soap.call(
            "xtk:builder",
            "BuildSchemaFromId",
            "<schemaId xsi:type='xsd:string'>cus:account</schemaId>",
        )
        == []
    )
    soap.write(
        "<account xtkschema='cus:account' crmId='A-1' name='Acme' revenue='1250.5' "
        "industry='retail'><primaryContact _key='@externalId' externalId='crm-10' "
        "_operation='none'/></account>"
    )
    got = soap.query(
        "<queryDef schema='cus:account' operation='get'><select><node expr='@name'/>"
        "<node expr='@revenue'/><node expr='[primaryContact/@email]'/></select>"
        "<where><condition expr=\"@crmId = 'A-1'\"/></where></queryDef>"
    )
    assert (got.get("name"), got.get("revenue")) == ("Acme", "1250.5")
    assert got.find("primaryContact").get("email") == "a10@example.com"
    rest = api.get(url(campaign, f"{EXT}/cusAccount/A-1"))
    assert rest.status_code == 200
    assert rest.json()["industry"] == "retail"
