"""Queries: XTK literals and escaping, the queryDef document, select, count, pages, keys."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from campaign_client.querydef import (
    Cursor,
    QueryDef,
    compare,
    count,
    escape_string,
    expand_xpath,
    is_in,
    iter_keyset_pages,
    iter_pages,
    keyset_condition,
    literal,
    read_by_keys,
    select,
    value_at,
)

from tests.conftest import FakeCampaign, envelope, make_session, query_reply

UTC = datetime.UTC


def rows(*attributes: str) -> str:
    return (
        "<recipient-collection>"
        + "".join(f"<recipient {a}/>" for a in attributes)
        + ("</recipient-collection>")
    )


def condition_exprs(query: ET.Element) -> list[str]:
    return [c.get("expr", "") for c in query.findall("where/condition")]


# --- literals -------------------------------------------------------------------------------


def test_strings_are_quoted_and_escaped_as_escapexTK() -> None:
    assert escape_string("Rock 'n' Roll") == "'Rock \\'n\\' Roll'"
    assert escape_string("back\\slash") == "'back\\\\slash'"
    assert literal("O'Brien") == "'O\\'Brien'"
    assert literal("") == "''"


def test_dates_numbers_and_booleans() -> None:
    assert literal(datetime.date(2024, 12, 1)) == "#2024-12-01#"
    instant = datetime.datetime(
        2021, 7, 7, 12, 3, 33, 332000, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert literal(instant) == "#2021-07-07T10:03:33.332Z#"
    assert literal(datetime.datetime(2024, 1, 1)) == "#2024-01-01T00:00:00.000Z#"  # naive: UTC
    assert literal(42) == "42"
    assert literal(1.5) == "1.5"
    assert literal(Decimal("10.50")) == "10.50"
    assert (literal(True), literal(False)) == ("1", "0")


def test_conditions() -> None:
    assert expand_xpath("@email") == "@email"
    assert expand_xpath("folder/@name") == "[folder/@name]"
    assert expand_xpath("[folder/@name]") == "[folder/@name]"
    assert is_in("@crmId", ["c-1", "it's", 3]) == "@crmId IN ('c-1', 'it\\'s', 3)"
    assert (
        compare("@lastModified", ">=", datetime.date(2024, 1, 1)) == "@lastModified >= #2024-01-01#"
    )


def test_querydef_document() -> None:
    query = QueryDef(
        "nms:recipient",
        select=("@id", "@email", "[folder/@name]"),
        where=(compare("@email", "=", "a'b@example.com"), "@blackList = 0"),
        order_by=("@lastModified", "@id"),
        line_count=100,
        start_line=200,
    ).to_element()
    assert query.attrib == {
        "xtkschema": "xtk:queryDef",
        "schema": "nms:recipient",
        "operation": "select",
        "lineCount": "100",
        "startLine": "200",
    }
    assert [n.get("expr") for n in query.findall("select/node")] == [
        "@id",
        "@email",
        "[folder/@name]",
    ]
    assert condition_exprs(query) == ["@email = 'a\\'b@example.com'", "@blackList = 0"]
    assert [n.get("expr") for n in query.findall("orderBy/node")] == ["@lastModified", "@id"]
    with pytest.raises(ValueError, match="operation"):
        QueryDef("nms:recipient", operation="delete")


# --- calls ----------------------------------------------------------------------------------


def test_select_sends_the_query_as_the_sdks_document_and_reads_rows(
    campaign: FakeCampaign,
) -> None:
    campaign.on("xtk:queryDef#ExecuteQuery", (200, {}, envelope("recipients_page.xml")))
    found = select(make_session(), QueryDef("nms:recipient", select=("@email", "[folder/@name]")))
    (sent,) = campaign.calls("xtk:queryDef#ExecuteQuery")
    assert [p.tag for p in sent.params] == ["sessiontoken", "document"]
    assert sent.literal("document").get("xtkschema") == "xtk:queryDef"
    assert [r.tag for r in found] == ["recipient"] * 3
    assert [value_at(r, "@email") for r in found] == ["ada@example.com", "o'brien@example.com", ""]
    assert value_at(found[2], "[folder/@name]") == "crm"
    assert value_at(found[0], "@missing") is None
    assert value_at(found[0], "location/@city") is None


def test_count(campaign: FakeCampaign) -> None:
    campaign.on("xtk:queryDef#ExecuteQuery", query_reply('<recipient count="3"/>'))
    assert count(make_session(), "nms:recipient", ("@blackList = 1",)) == 3
    query = campaign.calls()[0].literal("document")
    assert query.get("operation") == "count"
    assert condition_exprs(query) == ["@blackList = 1"]


def test_pages_walk_startline_until_a_short_page(campaign: FakeCampaign) -> None:
    campaign.on(
        "xtk:queryDef#ExecuteQuery",
        query_reply(rows('id="1"', 'id="2"')),
        query_reply(rows('id="3"', 'id="4"')),
        query_reply(rows('id="5"')),
    )
    query = QueryDef("nms:recipient", select=("@id",), order_by=("@id",))
    pages = list(iter_pages(make_session(), query, page_size=2))
    assert [[value_at(r, "@id") for r in page] for page in pages] == [["1", "2"], ["3", "4"], ["5"]]
    sent = [c.literal("document") for c in campaign.calls()]
    assert [(q.get("lineCount"), q.get("startLine")) for q in sent] == [
        ("2", "0"),
        ("2", "2"),
        ("2", "4"),
    ]


def test_a_full_last_page_costs_one_empty_call(campaign: FakeCampaign) -> None:
    campaign.on(
        "xtk:queryDef#ExecuteQuery",
        query_reply(rows('id="1"', 'id="2"')),
        query_reply("<recipient-collection/>"),
    )
    query = QueryDef("nms:recipient", order_by=("@id",))
    assert len(list(iter_pages(make_session(), query, page_size=2))) == 1
    assert len(campaign.calls()) == 2


def test_offset_paging_requires_an_order_by() -> None:
    with pytest.raises(ValueError, match="orderBy"):
        next(iter_pages(make_session(), QueryDef("nms:recipient")))


def test_keyset_condition() -> None:
    start = datetime.datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert keyset_condition(Cursor(start)) == "@lastModified >= #2024-03-01T10:00:00.000Z#"
    assert keyset_condition(Cursor(start, "1002")) == (
        "(@lastModified > #2024-03-01T10:00:00.000Z#) OR "
        "(@lastModified = #2024-03-01T10:00:00.000Z# AND @id > 1002)"
    )


def test_keyset_pages_continue_after_each_pages_last_row(campaign: FakeCampaign) -> None:
    campaign.on(
        "xtk:queryDef#ExecuteQuery",
        (200, {}, envelope("recipients_page.xml")),
        query_reply(rows('id="1004" lastModified="2024-03-03 00:00:00.000Z"')),
    )
    since = Cursor(datetime.datetime(2024, 3, 1, tzinfo=UTC))
    query = QueryDef("nms:recipient", select=("@email",), where=("@blackList = 0",))
    pages = list(iter_keyset_pages(make_session(), query, since, page_size=3))
    assert [len(p.rows) for p in pages] == [3, 1]
    assert pages[0].cursor == Cursor(
        datetime.datetime(2024, 3, 2, 8, 30, 15, 250000, tzinfo=UTC), "1003"
    )
    assert pages[1].cursor == Cursor(datetime.datetime(2024, 3, 3, tzinfo=UTC), "1004")
    first, second = (c.literal("document") for c in campaign.calls())
    assert [n.get("expr") for n in first.findall("select/node")] == [
        "@email",
        "@lastModified",
        "@id",
    ]
    assert [n.get("expr") for n in first.findall("orderBy/node")] == ["@lastModified", "@id"]
    assert first.get("startLine") is None
    assert first.get("lineCount") == "3"
    assert condition_exprs(first) == [
        "@blackList = 0",
        "@lastModified IS NOT NULL",
        "@lastModified >= #2024-03-01T00:00:00.000Z#",
    ]
    assert condition_exprs(second)[-1] == (
        "(@lastModified > #2024-03-02T08:30:15.250Z#) OR "
        "(@lastModified = #2024-03-02T08:30:15.250Z# AND @id > 1003)"
    )


def test_read_by_keys_is_one_in_query(campaign: FakeCampaign) -> None:
    campaign.on("xtk:queryDef#ExecuteQuery", (200, {}, envelope("recipients_page.xml")))
    session = make_session()
    found = read_by_keys(
        session, "nms:recipient", "@crmId", ["c-1", "c-2", "c-1", "o'x"], ("@email",)
    )
    assert sorted(found) == ["c-1", "c-2", "c-3"]
    assert value_at(found["c-2"], "@email") == "o'brien@example.com"
    (sent,) = campaign.calls()
    query = sent.literal("document")
    assert condition_exprs(query) == ["@crmId IN ('c-1', 'c-2', 'o\\'x')"]
    assert query.get("lineCount") == "3"
    assert [n.get("expr") for n in query.findall("select/node")] == ["@crmId", "@email"]
    assert read_by_keys(session, "nms:recipient", "@crmId", [], ("@email",)) == {}
    assert len(campaign.calls()) == 1
