from __future__ import annotations

from xml.etree import ElementTree


def get(sandbox, api, path):
    resp = api.get(sandbox.dataverse.api_url + path)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_entity_definitions_filters(sandbox, api):
    body = get(
        sandbox,
        api,
        "EntityDefinitions?$select=LogicalName,EntitySetName,ChangeTrackingEnabled"
        "&$filter=IsCustomEntity eq true",
    )
    sets = {e["LogicalName"]: e["EntitySetName"] for e in body["value"]}
    assert sets["new_category"] == "new_categories"
    assert all(
        set(e) == {"MetadataId", "LogicalName", "EntitySetName", "ChangeTrackingEnabled"}
        for e in body["value"]
    )
    enum = get(
        sandbox,
        api,
        "EntityDefinitions?$select=LogicalName&$filter=OwnershipType eq "
        "Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned' and ChangeTrackingEnabled eq false"
        " and CanChangeTrackingBeEnabled/Value eq true",
    )
    assert [e["LogicalName"] for e in enum["value"]] == ["new_category"]


def test_entity_booleans_as_clients_query_them(sandbox, api):
    """EntityMetadata booleans and managed properties: selectable and filterable."""
    public = get(
        sandbox,
        api,
        "EntityDefinitions?$filter=IsPrivate eq false&$select=LogicalName,EntitySetName",
    )
    names = {e["LogicalName"]: e["EntitySetName"] for e in public["value"]}
    assert names["contact"] == "contacts"
    assert names["new_category"] == "new_categories"
    assert all(set(e) == {"MetadataId", "LogicalName", "EntitySetName"} for e in public["value"])
    standard = get(
        sandbox,
        api,
        "EntityDefinitions?$select=LogicalName&$filter=IsCustomEntity eq false and "
        "IsActivityParty eq true and IsAuditEnabled/Value eq true and IsIntersect eq false",
    )
    assert {e["LogicalName"] for e in standard["value"]} == {
        "contact",
        "account",
        "systemuser",
        "team",
    }
    custom = get(
        sandbox,
        api,
        "EntityDefinitions(LogicalName='new_project')?$select=IsCustomizable,IsAuditEnabled,"
        "IsValidForAdvancedFind,IsPrivate,IsManaged,IsValidForQueue",
    )
    assert custom["IsCustomizable"] == {
        "Value": True,
        "CanBeChanged": True,
        "ManagedPropertyLogicalName": "iscustomizable",
    }
    assert custom["IsAuditEnabled"]["Value"] is False
    assert (custom["IsValidForAdvancedFind"], custom["IsPrivate"], custom["IsManaged"]) == (
        True,
        False,
        False,
    )
    queues = get(
        sandbox, api, "EntityDefinitions?$select=LogicalName&$filter=IsValidForQueue/Value eq true"
    )
    assert {e["LogicalName"] for e in queues["value"]} >= {"acs_emailsend", "acs_emailopen"}
    assert "contact" not in {e["LogicalName"] for e in queues["value"]}


def test_attributes_and_casts(sandbox, api):
    one = get(
        sandbox, api, "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='lastname')"
    )
    assert one["MaxLength"] == 50
    assert one["RequiredLevel"]["Value"] == "ApplicationRequired"
    assert one["DisplayName"]["UserLocalizedLabel"]["Label"] == "Last Name"
    lookups = get(
        sandbox,
        api,
        "EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata"
        "?$select=LogicalName,Targets",
    )["value"]
    assert {"LogicalName": "parentcustomerid", "Targets": ["account", "contact"]}.items() <= {
        k: v for a in lookups if a["LogicalName"] == "parentcustomerid" for k, v in a.items()
    }.items()
    multi = get(
        sandbox,
        api,
        "EntityDefinitions(LogicalName='new_project')/Attributes/"
        "Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata?$select=LogicalName"
        "&$expand=OptionSet($select=Options)",
    )["value"][0]
    assert multi["LogicalName"] == "new_channels"
    assert multi["OptionSet"]["Options"][0]["Value"] == 100000000
    boolean = get(
        sandbox,
        api,
        "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='donotsendmm')/"
        "Microsoft.Dynamics.CRM.BooleanAttributeMetadata?$select=LogicalName&$expand=OptionSet",
    )
    assert (
        boolean["OptionSet"]["TrueOption"]["Label"]["UserLocalizedLabel"]["Label"] == "Do Not Send"
    )


def test_unknown_metadata_property(sandbox, api):
    resp = api.get(
        sandbox.dataverse.api_url
        + "EntityDefinitions(LogicalName='contact')/Attributes?$select=MaxLength"
    )
    assert resp.status_code == 400
    assert "'Microsoft.Dynamics.CRM.AttributeMetadata'" in resp.json()["error"]["message"]


def test_global_option_sets_and_message_filters(sandbox, api):
    priority = get(sandbox, api, "GlobalOptionSetDefinitions(Name='new_priority')")
    assert [o["Value"] for o in priority["Options"]] == [100000000, 100000001, 100000002]
    probe = (
        "sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid/name eq @message"
        " and primaryobjecttypecode eq @table&@message='CreateMultiple'&@table='{}'"
    )
    assert get(sandbox, api, probe.format("contact"))["value"]
    assert get(sandbox, api, probe.format("new_category"))["value"] == []


def test_csdl_change_tracking_annotation(sandbox, api):
    resp = api.get(sandbox.dataverse.api_url + "$metadata?annotations=true")
    assert resp.headers["Content-Type"].startswith("application/xml")
    assert 'Term="Org.OData.Capabilities.V1.ChangeTracking"' in resp.text
    assert '<EntitySet Name="new_categories"' in resp.text


def test_csdl_owner_is_one_principal_navigation_property(sandbox, api):
    root = ElementTree.fromstring(api.get(sandbox.dataverse.api_url + "$metadata").content)
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    types = {t.get("Name"): t for t in root.iterfind(".//edm:EntityType", ns)}
    navs = [n.attrib for n in types["contact"].iterfind("edm:NavigationProperty", ns)]
    owner = [n for n in navs if n["Name"].startswith("ownerid")]
    assert [(n["Name"], n["Type"]) for n in owner] == [("ownerid", "mscrm.principal")]
    assert {n["Name"] for n in navs} >= {"parentcustomerid_account", "parentcustomerid_contact"}
    assert types["principal"].get("Abstract") == "true"
    assert types["systemuser"].get("BaseType") == "mscrm.principal"
    assert types["team"].get("BaseType") == "mscrm.principal"
