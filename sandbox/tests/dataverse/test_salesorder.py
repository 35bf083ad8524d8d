"""The purchases table: `salesorder` (Dynamics 365 Sales' Order), its metadata and seeded rows."""

from __future__ import annotations

from xml.etree import ElementTree

CONTACTS = 1200  # tests/conftest.py's sandbox
SEED = 7
CUSTOMER_ANNOTATIONS = 'odata.include-annotations="*"'


def u(sandbox, path):
    return sandbox.dataverse.api_url + path


def get(sandbox, api, path, **headers):
    resp = api.get(u(sandbox, path), headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_the_table_is_described_as_microsoft_documents_it(sandbox, api):
    entity = get(
        sandbox,
        api,
        "EntityDefinitions(LogicalName='salesorder')?$select=LogicalName,EntitySetName,"
        "PrimaryIdAttribute,PrimaryNameAttribute,ObjectTypeCode,ChangeTrackingEnabled,"
        "IsCustomEntity,OwnershipType,DisplayName",
    )
    assert entity["EntitySetName"] == "salesorders"
    assert entity["PrimaryIdAttribute"] == "salesorderid"
    assert entity["PrimaryNameAttribute"] == "name"
    assert entity["ObjectTypeCode"] == 1088
    assert entity["ChangeTrackingEnabled"] is True
    assert entity["IsCustomEntity"] is False
    assert entity["OwnershipType"] == "UserOwned"
    assert entity["DisplayName"]["UserLocalizedLabel"]["Label"] == "Order"


def test_attributes_money_lookups_and_dates(sandbox, api):
    base = "EntityDefinitions(LogicalName='salesorder')/Attributes"
    kinds = {
        a["LogicalName"]: (a["AttributeType"], a["AttributeOf"])
        for a in get(sandbox, api, f"{base}?$select=LogicalName,AttributeType,AttributeOf")["value"]
    }
    assert kinds["totalamount"] == ("Money", None)
    assert kinds["customerid"] == ("Customer", None)
    assert kinds["accountid"] == ("Lookup", None)
    assert kinds["statecode"] == ("State", None)
    assert kinds["willcall"] == ("Boolean", None)
    assert kinds["customeridname"] == ("String", "customerid")  # a derived helper column
    money = get(
        sandbox,
        api,
        f"{base}/Microsoft.Dynamics.CRM.MoneyAttributeMetadata?$select=LogicalName,Precision",
    )
    assert {m["LogicalName"]: m["Precision"] for m in money["value"]} == {
        "totalamount": 2,
        "totallineitemamount": 2,
        "totaltax": 2,
        "discountamount": 2,
        "freightamount": 2,
    }
    lookups = get(
        sandbox,
        api,
        f"{base}/Microsoft.Dynamics.CRM.LookupAttributeMetadata?$select=LogicalName,Targets",
    )
    targets = {a["LogicalName"]: a["Targets"] for a in lookups["value"]}
    assert targets["customerid"] == ["account", "contact"]
    assert targets["accountid"] == ["account"]
    assert targets["contactid"] == ["contact"]
    dates = get(
        sandbox,
        api,
        f"{base}/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata?$select=LogicalName,Format",
    )
    formats = {a["LogicalName"]: a["Format"] for a in dates["value"]}
    assert formats["datefulfilled"] == "DateOnly"
    assert formats["modifiedon"] == "DateAndTime"
    name = get(
        sandbox,
        api,
        f"{base}(LogicalName='name')/Microsoft.Dynamics.CRM.StringAttributeMetadata?$select=MaxLength",
    )
    assert name["MaxLength"] == 300


def test_state_and_status_option_sets(sandbox, api):
    base = "EntityDefinitions(LogicalName='salesorder')/Attributes"
    state = get(
        sandbox,
        api,
        f"{base}(LogicalName='statecode')/Microsoft.Dynamics.CRM.StateAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet",
    )
    options = state["OptionSet"]["Options"]
    assert [(o["Value"], o["Label"]["UserLocalizedLabel"]["Label"]) for o in options] == [
        (0, "Active"),
        (1, "Submitted"),
        (2, "Canceled"),
        (3, "Fulfilled"),
        (4, "Invoiced"),
    ]
    assert [o["DefaultStatus"] for o in options] == [1, 3, 4, 100001, 100003]
    status = get(
        sandbox,
        api,
        f"{base}(LogicalName='statuscode')/Microsoft.Dynamics.CRM.StatusAttributeMetadata"
        "?$select=LogicalName&$expand=OptionSet",
    )
    by_value = {o["Value"]: o for o in status["OptionSet"]["Options"]}
    assert by_value[100002]["Label"]["UserLocalizedLabel"]["Label"] == "Partial"
    assert by_value[100002]["State"] == 3
    assert status["OptionSet"]["OptionSetType"] == "Status"


def test_many_to_one_relationships_name_the_navigation_properties(sandbox, api):
    path = "EntityDefinitions(LogicalName='salesorder')/ManyToOneRelationships"
    body = get(
        sandbox,
        api,
        f"{path}?$select=SchemaName,ReferencedEntity,ReferencedAttribute,ReferencingAttribute,"
        "ReferencingEntityNavigationPropertyName&$filter=ReferencingAttribute eq 'customerid'",
    )
    assert sorted(
        (
            r["ReferencedEntity"],
            r["ReferencedAttribute"],
            r["ReferencingEntityNavigationPropertyName"],
        )
        for r in body["value"]
    ) == [
        ("account", "accountid", "customerid_account"),
        ("contact", "contactid", "customerid_contact"),
    ]
    assert all(r["ReferencingAttribute"] == "customerid" for r in body["value"])
    one = get(sandbox, api, f"{path}(SchemaName='account_salesorder_accountid')")
    assert one["ReferencingEntityNavigationPropertyName"] == "accountid"
    assert one["RelationshipType"] == "OneToManyRelationship"
    expanded = get(
        sandbox,
        api,
        "EntityDefinitions(LogicalName='account')?$select=LogicalName"
        "&$expand=ManyToOneRelationships($select=ReferencingAttribute,ReferencedEntity)",
    )
    assert {
        (r["ReferencingAttribute"], r["ReferencedEntity"])
        for r in expanded["ManyToOneRelationships"]
    } == {
        ("ownerid", "systemuser"),
        ("ownerid", "team"),
        ("primarycontactid", "contact"),
    }
    missing = api.get(u(sandbox, f"{path}(SchemaName='nope')"))
    assert missing.status_code == 404


def test_csdl_has_the_entity_type_and_its_navigation_properties(sandbox, api):
    root = ElementTree.fromstring(api.get(u(sandbox, "$metadata")).content)
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    (entity,) = [e for e in root.iter(f"{edm}EntityType") if e.get("Name") == "salesorder"]
    navigation = {n.get("Name"): n.get("Type") for n in entity.iter(f"{edm}NavigationProperty")}
    assert navigation["customerid_account"] == "mscrm.account"
    assert navigation["customerid_contact"] == "mscrm.contact"
    properties = {p.get("Name"): p.get("Type") for p in entity.iter(f"{edm}Property")}
    assert properties["_customerid_value"] == "Edm.Guid"
    assert properties["totalamount"] == "Edm.Decimal"


def test_seeded_orders_point_at_their_customer(sandbox, api):
    rows = get(
        sandbox,
        api,
        "salesorders?$select=ordernumber,totalamount,totallineitemamount,totaltax,freightamount,"
        "discountamount,_customerid_value,_accountid_value,_contactid_value,statecode,statuscode,"
        "datefulfilled&$orderby=ordernumber&$count=true",
        Prefer=CUSTOMER_ANNOTATIONS,
    )
    assert rows["@odata.count"] == CONTACTS // 2
    customers = {"account": 0, "contact": 0}
    for row in rows["value"]:
        table = row["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"]
        customers[table] += 1
        own = row[f"_{table}id_value"]
        other = row["_contactid_value" if table == "account" else "_accountid_value"]
        assert own == row["_customerid_value"]
        assert other is None
        total = (
            row["totallineitemamount"]
            - (row["discountamount"] or 0)
            + row["freightamount"]
            + row["totaltax"]
        )
        assert abs(row["totalamount"] - total) < 0.011
        assert (row["datefulfilled"] is not None) == (row["statecode"] in (3, 4))
    assert customers["contact"] > customers["account"] > 0
    first = rows["value"][0]
    assert first["ordernumber"] == "ORD-000001"
    contact = first["_contactid_value"]
    if contact:
        found = get(sandbox, api, f"contacts({contact})?$select=contactid")
        assert found["contactid"] == contact


def test_the_size_option_leaves_the_other_tables_alone(sandbox, api):
    def sample():
        return [
            get(sandbox, api, f"{entity_set}?$select={pk}&$orderby=modifiedon,{pk}&$top=5")["value"]
            for entity_set, pk in (("contacts", "contactid"), ("accounts", "accountid"))
        ]

    before = sample()
    orders = get(sandbox, api, "salesorders?$select=salesorderid&$orderby=ordernumber&$top=3")
    try:
        counts = sandbox.admin.reset(contacts=CONTACTS, seed=SEED, salesorders=7)
        assert counts["salesorder"] == 7
        assert counts["contact"] == CONTACTS
        assert sample() == before
        again = get(sandbox, api, "salesorders?$select=salesorderid&$orderby=ordernumber&$top=3")
        assert again["value"] == orders["value"]  # the same first orders, fewer of them
        assert get(sandbox, api, "salesorders/$count") == 7
    finally:
        sandbox.admin.reset(contacts=CONTACTS, seed=SEED)
    assert get(sandbox, api, "salesorders/$count") == CONTACTS // 2


def test_an_order_is_created_for_a_contact_and_tracked(sandbox, api):
    contact = get(sandbox, api, "contacts?$select=contactid&$top=1")["value"][0]["contactid"]
    delta = api.get(
        u(sandbox, "salesorders?$select=name"), headers={"Prefer": "odata.track-changes"}
    )
    assert delta.status_code == 200, delta.text
    link = delta.json()["@odata.deltaLink"]
    resp = api.post(
        u(sandbox, "salesorders?$select=name,ordernumber,_customerid_value,freightamount"),
        json={
            "name": "Wizard test order",
            "ordernumber": "ORD-TEST-1",
            "freightamount": 12.5,
            "customerid_contact@odata.bind": f"/contacts({contact})",
        },
        headers={"Prefer": "return=representation"},
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["_customerid_value"] == contact
    assert created["freightamount"] == 12.5
    changes = api.get(link).json()["value"]
    assert [c["salesorderid"] for c in changes] == [created["salesorderid"]]
    assert api.delete(u(sandbox, f"salesorders({created['salesorderid']})")).status_code == 204
