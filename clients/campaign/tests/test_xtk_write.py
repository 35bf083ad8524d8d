"""Writes: WriteCollection envelopes for recipients and custom tables, links by key, deletes."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from campaign_client.client import AmbiguousWriteError
from campaign_client.soap import SoapFaultError
from campaign_client.xtk_write import Link, Record, format_value, write, write_collection

from tests.conftest import SOAP_URL, XSI_TYPE, FakeCampaign, fault, make_session, ok

DONE = ok("xtk:session", "WriteCollection")


def test_values_are_written_as_campaign_reads_them() -> None:
    assert format_value(None) == ""
    assert format_value(True) == "1"
    assert format_value(False) == "0"
    assert format_value(12) == "12"
    assert format_value(Decimal("19.90")) == "19.90"
    assert format_value(float("nan")) == ""
    assert format_value(datetime.date(1990, 5, 17)) == "1990-05-17"
    moment = datetime.datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC)
    assert format_value(moment) == "2024-03-01T10:00:00.123Z"


def test_recipients_are_upserted_by_key_in_one_writecollection(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#WriteCollection", DONE)
    records = [
        Record({"crmId": "c-1", "email": "ada@example.com", "firstName": "Ada"}, ("@crmId",)),
        Record({"crmId": "c-2", "email": "o'brien&co@example.com", "blackList": True}, ("@crmId",)),
    ]
    write_collection(make_session(), "nms:recipient", records)
    (sent,) = campaign.calls()
    assert sent.request.url == SOAP_URL + "?soapAction=xtk%3Asession%23WriteCollection"
    assert sent.method.tag == "{urn:xtk:session}WriteCollection"
    assert [p.tag for p in sent.params] == ["sessiontoken", "doc"]
    assert sent.param("doc").get(XSI_TYPE) == ""
    doc = sent.literal("doc")
    # the root is named after the schema, as acc-js-sdk sends a collection
    assert (doc.tag, doc.attrib) == ("recipient", {"xtkschema": "nms:recipient"})
    assert [child.attrib for child in doc] == [
        {
            "_operation": "insertOrUpdate",
            "_key": "@crmId",
            "crmId": "c-1",
            "email": "ada@example.com",
            "firstName": "Ada",
        },
        {
            "_operation": "insertOrUpdate",
            "_key": "@crmId",
            "crmId": "c-2",
            "email": "o'brien&co@example.com",
            "blackList": "1",
        },
    ]


def test_custom_records_link_to_recipients_by_key(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#WriteCollection", DONE)
    purchase = Record(
        {"crmId": "p-1", "amount": Decimal("99.50"), "orderedOn": datetime.date(2024, 2, 29)},
        ("@crmId",),
        links=(
            Link("recipient", ("@crmId",), {"crmId": "c-1"}),
            Link("account", ("@crmId",), {"crmId": "a-7"}),
        ),
    )
    write_collection(make_session(), "cus:purchase", [purchase])
    doc = campaign.calls()[0].literal("doc")
    assert (doc.tag, doc.get("xtkschema")) == ("purchase", "cus:purchase")
    (record,) = doc
    assert record.tag == "purchase"
    assert record.attrib == {
        "_operation": "insertOrUpdate",
        "_key": "@crmId",
        "crmId": "p-1",
        "amount": "99.50",
        "orderedOn": "2024-02-29",
    }
    assert [(link.tag, link.attrib) for link in record] == [
        ("recipient", {"_operation": "none", "_key": "@crmId", "crmId": "c-1"}),
        ("account", {"_operation": "none", "_key": "@crmId", "crmId": "a-7"}),
    ]


def test_deletes_carry_their_key_only(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#WriteCollection", DONE)
    write_collection(
        make_session(),
        "cus:account",
        [
            Record.delete(("@crmId",), {"crmId": "a-1"}),
            Record.delete(("@crmId",), {"crmId": "a-2"}),
        ],
    )
    doc = campaign.calls()[0].literal("doc")
    assert [child.attrib for child in doc] == [
        {"_operation": "delete", "_key": "@crmId", "crmId": "a-1"},
        {"_operation": "delete", "_key": "@crmId", "crmId": "a-2"},
    ]


def test_no_records_no_call(campaign: FakeCampaign) -> None:
    write_collection(make_session(), "nms:recipient", [])
    assert campaign.sent == []


def test_a_refused_collection_raises_its_fault(campaign: FakeCampaign) -> None:
    campaign.on(
        "xtk:session#WriteCollection",
        fault(
            "Error while executing the method 'WriteCollection' of service 'xtk:session'.",
            "XTK-170024 The email address 'not-an-email' is invalid.",
        ),
    )
    with pytest.raises(SoapFaultError) as raised:
        write_collection(make_session(), "nms:recipient", [Record({"email": "not-an-email"})])
    assert raised.value.code == "XTK-170024"


def test_an_insert_is_never_sent_twice_blindly(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#WriteCollection", (504, {}, b"gateway timeout"), DONE)
    with pytest.raises(AmbiguousWriteError):
        write_collection(
            make_session(),
            "nms:recipient",
            [Record({"email": "x@example.com"}, operation="insert")],
        )
    assert len(campaign.calls()) == 1


def test_an_upsert_is_retried(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#WriteCollection", (504, {}, b"gateway timeout"), DONE)
    write_collection(make_session(), "nms:recipient", [Record({"crmId": "c"}, ("@crmId",))])
    assert len(campaign.calls()) == 2


def test_write_sends_one_document_with_its_schema(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#Write", ok("xtk:session", "Write"))
    write(make_session(), "nms:recipient", Record({"email": "a@example.com"}, ("@email",)))
    doc = campaign.calls("xtk:session#Write")[0].literal("doc")
    assert doc.attrib == {
        "_operation": "insertOrUpdate",
        "_key": "@email",
        "email": "a@example.com",
        "xtkschema": "nms:recipient",
    }


def test_an_unknown_operation_is_refused() -> None:
    with pytest.raises(ValueError, match="_operation"):
        Record({}, operation="upsert")
    with pytest.raises(ValueError, match="_operation"):
        Link("recipient", ("@crmId",), {}, operation="merge")
