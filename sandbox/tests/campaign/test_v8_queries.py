"""v8 SOAP: GetEntityIfMoreRecent and ExecuteQuery over the store."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import serve_campaign
from .v8client import SoapClient, SoapError


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(40, projects=8), seed=11)


@pytest.fixture(scope="module")
def soap(campaign) -> SoapClient:
    return SoapClient(campaign, bearer=campaign.token())


def rows(soap: SoapClient, schema: str, nodes: str, where: str = "", extra: str = "") -> list:
    out = soap.query(
        f"<queryDef schema='{schema}' operation='select' {extra}><select>{nodes}</select>"
        f"<where>{where}</where><orderBy><node expr='@id'/></orderBy></queryDef>"
    )
    assert out.tag == f"{schema.split(':')[1]}-collection"
    return list(out)


def test_schemas_for_the_sdk(soap):
    session = soap.schema("xtk:schema|xtk:session")
    assert session.get("implements") == "xtk:persist"
    persist = {m.get("name"): m for m in session.find("interface").iter("method")}
    assert persist["Write"].get("static") == "true"
    methods = {m.get("name") for m in session.find("methods")}
    assert {"Logon", "BearerTokenLogon", "Logoff"} <= methods
    query = soap.schema("xtk:schema|xtk:queryDef")
    execute = query.find("methods/method")
    assert (execute.get("name"), execute.get("const")) == ("ExecuteQuery", "true")
    assert execute.find("parameters/param").attrib == {
        "name": "output",
        "type": "DOMDocument",
        "inout": "out",
    }
    recipient = soap.schema("xtk:schema|nms:recipient")
    attrs = {a.get("name"): a for a in recipient.find("element").findall("attribute")}
    assert attrs["email"].get("length") == "128"
    assert attrs["blackListEmail"].get("type") == "boolean"
    assert attrs["gender"].get("enum") == "gender"
    assert recipient.find("enumeration[@name='gender']/value[@name='male']").get("value") == "1"
    assert recipient.find("element/element[@name='location']/attribute[@name='city']") is not None
    project = soap.schema("xtk:schema|cus:project")
    link = project.find("element/element[@name='profile']")
    assert (link.get("type"), link.get("target")) == ("link", "nms:recipient")
    assert soap.schema("xtk:schema|cus:nothing") is None
    assert soap.schema("xtk:schema|nms:recipient", md5=recipient.get("md5")) is None
    with pytest.raises(SoapError) as info:
        soap.schema("xtk:schema|cus:nothing", must_exist=True)
    assert "cus:nothing" in info.value.detail


def test_select_get_count_and_paging(soap, campaign):
    everyone = rows(soap, "nms:recipient", "<node expr='@id'/><node expr='@email'/>")
    assert len(everyone) == 40
    page = rows(
        soap,
        "nms:recipient",
        "<node expr='@id'/>",
        extra="lineCount='10' startLine='10'",
    )
    assert [r.get("id") for r in page] == [r.get("id") for r in everyone[10:20]]
    count = soap.query("<queryDef schema='nms:recipient' operation='count'/>")
    assert (count.tag, count.get("count")) == ("recipient", "40")
    first = campaign.admin.find_rows("profile", email=everyone[0].get("email"))[0]
    one = soap.query(
        "<queryDef schema='nms:recipient' operation='get'><select><node expr='@externalId'/>"
        "<node expr='@firstName'/><node expr='@blackList'/><node expr='[location/@city]'/>"
        f"</select><where><condition expr=\"@email = '{everyone[0].get('email')}'\"/></where>"
        "</queryDef>"
    )
    assert one.tag == "recipient"
    assert one.get("externalId") == first["externalId"]
    assert one.get("blackList") == "0"
    assert one.find("location").get("city") == (first["location"]["city"] or "")
    missing = "<where><condition expr=\"@email = 'nobody@example.com'\"/></where>"
    empty = soap.query(
        "<queryDef schema='nms:recipient' operation='getIfExists'><select>"
        f"<node expr='@id'/></select>{missing}</queryDef>"
    )
    assert (empty.tag, empty.attrib, len(empty)) == ("recipient", {}, 0)
    with pytest.raises(SoapError) as info:
        soap.query(
            "<queryDef schema='nms:recipient' operation='get'><select><node expr='@id'/>"
            f"</select>{missing}</queryDef>"
        )
    assert (
        info.value.string
        == "Error while executing the method 'ExecuteQuery' of service 'xtk:queryDef'."
    )


def test_conditions(soap, campaign):
    everyone = rows(soap, "nms:recipient", "<node expr='@id'/><node expr='@lastModified'/>")
    ids = [int(r.get("id")) for r in everyone]
    pick = f"@id IN ({ids[0]}, {ids[1]}, {ids[2]})"
    assert (
        len(rows(soap, "nms:recipient", "<node expr='@id'/>", f"<condition expr='{pick}'/>")) == 3
    )
    either = (
        f"<condition expr='@id = {ids[0]}' boolOperator='OR'/><condition expr='@id = {ids[5]}'/>"
    )
    assert [
        int(r.get("id")) for r in rows(soap, "nms:recipient", "<node expr='@id'/>", either)
    ] == [
        ids[0],
        ids[5],
    ]
    stamp = everyone[0].get("lastModified")
    later = rows(
        soap,
        "nms:recipient",
        "<node expr='@id'/>",
        f'<condition expr="@lastModified >= #{stamp.replace(" ", "T")}#"/>',
    )
    assert 0 < len(later) <= 40
    reachable = rows(
        soap,
        "nms:recipient",
        "<node expr='@id'/>",
        "<condition expr='@blackList = 0 AND NOT (@email IS NULL)'/>",
    )
    others = rows(
        soap,
        "nms:recipient",
        "<node expr='@id'/>",
        "<condition expr='@blackList = 1 OR @email IS NULL'/>",
    )
    assert reachable
    assert len(reachable) + len(others) == 40
    assert (
        rows(
            soap,
            "nms:recipient",
            "<node expr='@id'/>",
            "<condition expr=\"@email LIKE 'NOBODY%'\"/>",
        )
        == []
    )
    with pytest.raises(SoapError) as info:
        rows(soap, "nms:recipient", "<node expr='@id'/>", "<condition expr='@nope = 1'/>")
    assert info.value.detail == "XTK-170036 Unable to parse expression '@nope = 1'."


def test_xpaths_through_links(soap, campaign):
    projects = rows(
        soap,
        "cus:project",
        "<node expr='@cusCrmId'/><node expr='[profile/@externalId]'/><node expr='[profile-id]'/>",
        "<condition expr='[profile/@externalId] IS NOT NULL'/>",
    )
    assert projects
    first = projects[0]
    row = campaign.admin.find_rows("cusProject", cusCrmId=first.get("cusCrmId"))[0]
    profile = campaign.admin.get_row("profile", row["profile"]["PKey"])
    assert first.find("profile").get("externalId") == profile["externalId"]
    assert first.get("profile-id") != "0"


def test_delivery_and_tracking_logs(soap, campaign):
    opted_before = soap.query(
        "<queryDef schema='nms:recipient' operation='count'><where>"
        "<condition expr='@blackListEmail = 1'/></where></queryDef>"
    ).get("count")
    sent = campaign.admin.simulate_send(
        "DM901",
        profiles=10,
        seed=3,
        hard_bounce_rate=0.2,
        open_rate=1,
        click_rate=1,
        unsubscribe_rate=0.5,
    )
    logs = rows(
        soap,
        "nms:broadLogRcp",
        "<node expr='@id'/><node expr='@status'/><node expr='[msg/@failureType]'/>"
        "<node expr='[recipient/@externalId]'/><node expr='[delivery/@internalName]'/>",
        "<condition expr=\"[delivery/@internalName] = 'DM901'\"/>",
    )
    assert len(logs) == sent["targeted"]
    failed = [r for r in logs if r.get("status") == "2"]
    assert len(failed) == sent["counts"]["hard_bounce"]
    assert {r.find("msg").get("failureType") for r in failed} <= {"2"}
    clicks = rows(
        soap,
        "nms:trackingLogRcp",
        "<node expr='@logDate'/><node expr='[url/@type]'/><node expr='[url/@source]'/>"
        "<node expr='[recipient/@email]'/>",
        "<condition expr='[url/@type] = 1'/>",
    )
    assert len(clicks) == sent["counts"]["click"]
    assert clicks[0].find("url").get("source").startswith("https://")
    urls = rows(soap, "nms:trackingUrl", "<node expr='@id'/><node expr='@type'/>")
    assert {u.get("type") for u in urls} >= {"1", "2"}
    opted = soap.query(
        "<queryDef schema='nms:recipient' operation='count'><where>"
        "<condition expr='@blackListEmail = 1'/></where></queryDef>"
    ).get("count")
    assert int(opted) - int(opted_before) == sent["counts"]["optout"] > 0


def test_delivery_logs_are_stamped_when_written(soap, campaign):
    """A log's lastModified is its write time: an incremental read after a send sees the next.

    The simulated send back-dates a log's `contactDate` / `eventDate` (the send ran during the
    last hour); were `lastModified` back-dated too, a read of the logs modified after the
    previous read's last `lastModified` (send, read, send, read) would miss the second send.
    """
    nodes = (
        "<node expr='@id'/><node expr='@lastModified'/><node expr='@contactDate'/>"
        "<node expr='[delivery/@internalName]'/>"
    )
    first = campaign.admin.simulate_send("DM911", profiles=8, seed=5, hard_bounce_rate=0.3)
    seen = rows(soap, "nms:broadLogRcp", nodes)
    mine = [r for r in seen if r.find("delivery").get("internalName") == "DM911"]
    assert len(mine) == first["targeted"] > 0
    assert all(r.get("contactDate") < r.get("lastModified") for r in mine)  # back-dated send
    bookmark = max(r.get("lastModified") for r in seen)
    time.sleep(0.01)  # a later millisecond
    second = campaign.admin.simulate_send("DM912", profiles=8, seed=6, hard_bounce_rate=0.3)
    since = f'<condition expr="@lastModified > #{bookmark.replace(" ", "T")}#"/>'
    later = rows(soap, "nms:broadLogRcp", nodes, since)
    assert {r.find("delivery").get("internalName") for r in later} == {"DM912"}
    assert len(later) == second["targeted"]
