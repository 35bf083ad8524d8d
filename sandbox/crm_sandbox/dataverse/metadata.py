"""Metadata Web API: EntityDefinitions, Attributes, GlobalOptionSetDefinitions, sdkmessagefilters.

Attributes support the type casts (`/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`…) with
`$expand=OptionSet,GlobalOptionSet`; `sdkmessagefilters` rows let clients probe for
CreateMultiple/UpdateMultiple/UpsertMultiple.

Shapes follow Microsoft's EntityMetadata/AttributeMetadata/OptionSetMetadata types; everything is
derived from `schema.py`. No paging (the metadata API has none).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from functools import cache
from typing import Any

from .config import PUBLISHER_PREFIXES, stable_id
from .entity_flags import entity_flags, managed
from .errors import RESOURCE_NOT_FOUND, DataverseError
from .metafilter import (
    compile_meta_filter,
    matches,
    missing_property,
    parse_expand,
    parse_select_list,
    select,
)
from .protocol import ApiRequest, ApiResponse, json_response
from .schema import (
    BIGINT,
    BOOLEAN,
    CUSTOMER,
    DATETIME,
    DECIMAL,
    DOUBLE,
    INTEGER,
    LOOKUP,
    MEMO,
    MONEY,
    OWNER,
    PICKLIST,
    STATE,
    STATUS,
    STRING,
    TABLES,
    UNIQUEIDENTIFIER,
    BooleanOptionSet,
    Column,
    KeyDefinition,
    Option,
    OptionSet,
    Table,
)

NS = "Microsoft.Dynamics.CRM"
_KEY = re.compile(r"^(?:(\w+)=)?'?([^']*)'?$")


def label(text: str, owner: str) -> dict[str, Any]:
    """Build a Label complex value (English, 1033) with LocalizedLabels and UserLocalizedLabel."""
    localized = {
        "Label": text,
        "LanguageCode": 1033,
        "IsManaged": True,
        "MetadataId": stable_id("label", owner),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": dict(localized)}


def _segment(name: str) -> DataverseError:
    return DataverseError(404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{name}'.")


# --- entities ---------------------------------------------------------------------------------


def entity_definition(table: Table) -> dict[str, Any]:
    """EntityMetadata of a table."""
    name = table.logical_name
    return {
        "MetadataId": stable_id("entity", name),
        "LogicalName": name,
        "SchemaName": table.schema_name,
        "EntitySetName": table.entity_set_name,
        "LogicalCollectionName": table.entity_set_name,
        "CollectionSchemaName": table.schema_name + "s",
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "ObjectTypeCode": table.object_type_code,
        "DisplayName": label(table.display_name, f"{name}.display"),
        "DisplayCollectionName": label(table.display_name + "s", f"{name}.collection"),
        "Description": label("", f"{name}.description"),
        "IsCustomEntity": table.is_custom,
        "IsActivity": table.is_activity,
        "IsManaged": not table.is_custom,
        "IsOptimisticConcurrencyEnabled": True,
        "ChangeTrackingEnabled": table.change_tracking,
        **entity_flags(table),
        "OwnershipType": table.ownership,
        "TableType": "Standard",
        "HasActivities": table.allows_activities,
        "HasNotes": True,
        "IsLogicalEntity": False,
    }


NAVIGATION = frozenset({"Attributes", "Keys", "ManyToOneRelationships"})
ENTITY_FIELDS = set(entity_definition(TABLES[0])) | NAVIGATION


def key_definition(table: Table, key: KeyDefinition) -> dict[str, Any]:
    """EntityKeyMetadata of an alternate key, with its EntityKeyIndexStatus."""
    owner = f"{table.logical_name}.{key.logical_name}"
    return {
        "MetadataId": stable_id("key", table.logical_name, key.logical_name),
        "HasChanged": None,
        "SchemaName": key.schema_name,
        "LogicalName": key.logical_name,
        "EntityLogicalName": table.logical_name,
        "KeyAttributes": list(key.attributes),
        "DisplayName": label(key.display_name or key.schema_name, owner),
        "EntityKeyIndexStatus": key.status,
        "IsManaged": key not in table.key_definitions,  # created keys are unmanaged
        "IsCustomizable": managed(True, "iscustomizable"),
        "IntroducedVersion": "1.0",
        "IsSecondaryKey": False,
        "IsExportKey": False,
        "IsSynchronous": False,
    }


KEY_FIELDS = set(key_definition(TABLES[0], KeyDefinition("x", ("x",))))


# --- relationships ----------------------------------------------------------------------------


def relationship_name(table: Table, column: Column, target: str) -> str:
    """SchemaName of the relationship behind a lookup towards `target` [design: our naming].

    `<referenced>_<referencing>_<lookup>`, e.g. `account_salesorder_customerid`: unique per
    lookup and target (Microsoft's own names, such as `order_customer_accounts`, follow no rule
    a client could derive).
    """
    return f"{target}_{table.logical_name}_{column.logical_name}"


def relationship_definition(
    table: Table, column: Column, target: str, tables: Sequence[Table] = TABLES
) -> dict[str, Any]:
    """OneToManyRelationshipMetadata of one lookup towards one of its targets.

    An Owner lookup has one relationship per principal table (systemuser, team), each with the
    single navigation property `ownerid` [design: Dataverse reports one towards the abstract
    `owner`]; a Customer lookup one per target, with navigation properties
    `<lookup>_<target>`.
    """
    name = relationship_name(table, column, target)
    referenced = next((t for t in tables if t.logical_name == target), None)
    custom = table.is_custom or (referenced is not None and referenced.is_custom)
    return {
        "MetadataId": stable_id("relationship", name),
        "HasChanged": None,
        "SchemaName": name,
        "RelationshipType": "OneToManyRelationship",
        "IsCustomRelationship": custom,
        "IsManaged": not custom,
        "IsValidForAdvancedFind": True,
        "IsHierarchical": False,
        "SecurityTypes": "Append",
        "IntroducedVersion": "1.0",
        "ReferencedEntity": target,
        "ReferencedAttribute": referenced.primary_id if referenced else f"{target}id",
        "ReferencingEntity": table.logical_name,
        "ReferencingAttribute": column.logical_name,
        "ReferencedEntityNavigationPropertyName": name,
        "ReferencingEntityNavigationPropertyName": column.navigation_property(target),
        "CascadeConfiguration": {
            "Assign": "NoCascade",
            "Delete": "RemoveLink",
            "Merge": "NoCascade",
            "Reparent": "NoCascade",
            "Share": "NoCascade",
            "Unshare": "NoCascade",
            "RollupView": "NoCascade",
        },
    }


def many_to_one_relationships(
    table: Table, tables: Sequence[Table] = TABLES
) -> list[dict[str, Any]]:
    """Every relationship in which `table` is the referencing (many) side: one per lookup target."""
    return [
        relationship_definition(table, column, target, tables)
        for column in table.columns
        if column.is_lookup
        for target in column.targets
    ]


RELATIONSHIP_FIELDS = set(many_to_one_relationships(TABLES[0])[0])
RELATIONSHIP_TYPE = "OneToManyRelationshipMetadata"


# --- attributes -------------------------------------------------------------------------------

_ODATA_TYPES = {
    STRING: "StringAttributeMetadata",
    MEMO: "MemoAttributeMetadata",
    INTEGER: "IntegerAttributeMetadata",
    BIGINT: "BigIntAttributeMetadata",
    DECIMAL: "DecimalAttributeMetadata",
    DOUBLE: "DoubleAttributeMetadata",
    MONEY: "MoneyAttributeMetadata",
    BOOLEAN: "BooleanAttributeMetadata",
    DATETIME: "DateTimeAttributeMetadata",
    LOOKUP: "LookupAttributeMetadata",
    CUSTOMER: "LookupAttributeMetadata",
    OWNER: "LookupAttributeMetadata",
    PICKLIST: "PicklistAttributeMetadata",
    STATE: "StateAttributeMetadata",
    STATUS: "StatusAttributeMetadata",
    UNIQUEIDENTIFIER: "UniqueIdentifierAttributeMetadata",
}
ENUM_CASTS = {
    "PicklistAttributeMetadata",
    "MultiSelectPicklistAttributeMetadata",
    "StateAttributeMetadata",
    "StatusAttributeMetadata",
    "BooleanAttributeMetadata",
}


def odata_type(column: Column) -> str:
    """Return the derived AttributeMetadata type of a column (without namespace)."""
    if column.is_multiselect:
        return "MultiSelectPicklistAttributeMetadata"
    return _ODATA_TYPES.get(column.attribute_type, "AttributeMetadata")


def _base_attribute(
    table: Table, column: Column, number: int, *, attribute_of: str | None = None
) -> dict[str, Any]:
    owner = f"{table.logical_name}.{column.logical_name}"
    return {
        "@odata.type": f"#{NS}.{odata_type(column)}",
        "MetadataId": stable_id("attribute", owner),
        "LogicalName": column.logical_name,
        "SchemaName": column.schema_name
        or (column.logical_name if table.is_custom else column.logical_name.title()),
        "EntityLogicalName": table.logical_name,
        "AttributeType": column.attribute_type,
        "AttributeTypeName": {"Value": column.attribute_type_name},
        "AttributeOf": attribute_of,
        "ColumnNumber": number,
        "DisplayName": label(column.display_name, owner),
        "Description": label("", f"{owner}.description"),
        "IsCustomAttribute": column.logical_name.split("_", 1)[0] in PUBLISHER_PREFIXES
        and "_" in column.logical_name,
        "IsPrimaryId": column.is_primary_id,
        "IsPrimaryName": column.is_primary_name,
        "IsValidForRead": column.valid_for_read,
        "IsValidForCreate": column.valid_for_create,
        "IsValidForUpdate": column.valid_for_update,
        "IsValidODataAttribute": attribute_of is None,
        "IsLogical": False,
        "IsManaged": not table.is_custom,
        "IsFilterable": True,
        "IsRetrievable": True,
        "IsSearchable": True,
        "IsSecured": False,
        "SourceType": 0,
        "RequiredLevel": {
            "Value": column.required_level,
            "CanBeChanged": column.required_level != "SystemRequired",
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        },
    }


def _type_specific(column: Column) -> dict[str, Any]:
    kind = column.attribute_type
    if kind == STRING:
        fmt = "Email" if column.logical_name.startswith("emailaddress") else "Text"
        return {
            "MaxLength": column.max_length,
            "DatabaseLength": (column.max_length or 0) * 2,
            "Format": fmt,
            "FormatName": {"Value": fmt},
            "IsLocalizable": False,
            "YomiOf": None,
        }
    if kind == MEMO:
        return {"MaxLength": column.max_length, "Format": "TextArea", "IsLocalizable": False}
    if kind == INTEGER:
        return {"MinValue": -2147483648, "MaxValue": 2147483647, "Format": "None"}
    if kind == BIGINT:
        return {"MinValue": -(2**63), "MaxValue": 2**63 - 1}
    if kind in (DECIMAL, DOUBLE):
        return {
            "Precision": column.precision or 2,
            "MinValue": -100000000000.0,
            "MaxValue": 100000000000.0,
        }
    if kind == MONEY:
        return {
            "Precision": column.precision or 2,
            "PrecisionSource": 2,
            "MinValue": -922337203685477.0,
            "MaxValue": 922337203685477.0,
            "IsBaseCurrency": False,
        }
    if kind == BOOLEAN:
        return {"DefaultValue": bool(column.default)}
    if kind == DATETIME:
        fmt = "DateOnly" if column.date_only else "DateAndTime"
        behaviour = "DateOnly" if column.date_only else "UserLocal"
        return {
            "Format": fmt,
            "DateTimeBehavior": {"Value": behaviour},
            "CanChangeDateTimeBehavior": managed(
                False, "canchangedatetimebehavior", can_change=False
            ),
            "MinSupportedValue": "1753-01-01T00:00:00Z",
            "MaxSupportedValue": "9999-12-30T23:59:59Z",
        }
    if column.is_lookup:
        return {"Targets": list(column.targets), "Format": "None"}
    if kind in (PICKLIST, STATE, STATUS) or column.is_multiselect:
        return {"DefaultFormValue": column.default if isinstance(column.default, int) else -1}
    return {}


def _options(option_set: OptionSet) -> list[dict[str, Any]]:
    out = []
    for option in option_set.options:
        item = _option(option, f"{option_set.name}.{option.value}")
        if option_set.option_set_type == "State":
            item["DefaultStatus"] = (
                option.default_status if option.default_status is not None else option.value + 1
            )
            item["InvariantName"] = option.label
        elif option_set.option_set_type == "Status":
            item["State"] = option.state
            item["TransitionData"] = None
        out.append(item)
    return out


def _option(option: Option, owner: str) -> dict[str, Any]:
    return {
        "Value": option.value,
        "Color": None,
        "IsManaged": True,
        "ExternalValue": "",
        "ParentValues": [],
        "Tag": None,
        "IsHidden": False,
        "MetadataId": None,
        "HasChanged": None,
        "Label": label(option.label, owner),
        "Description": label("", f"{owner}.description"),
    }


def option_set_definition(option_set: OptionSet | BooleanOptionSet) -> dict[str, Any]:
    """OptionSetMetadata (or BooleanOptionSetMetadata)."""
    common = {
        "MetadataId": stable_id("optionset", option_set.name),
        "HasChanged": None,
        "IsCustomOptionSet": option_set.name.startswith("new_"),
        "IsGlobal": option_set.is_global,
        "IsManaged": not option_set.name.startswith("new_"),
        "Name": option_set.name,
        "ExternalTypeName": None,
        "Description": label("", f"{option_set.name}.description"),
        "DisplayName": label(option_set.name, f"{option_set.name}.display"),
    }
    if isinstance(option_set, BooleanOptionSet):
        return {
            "@odata.type": f"#{NS}.BooleanOptionSetMetadata",
            **common,
            "OptionSetType": "Boolean",
            "TrueOption": _option(Option(1, option_set.true_label), f"{option_set.name}.1"),
            "FalseOption": _option(Option(0, option_set.false_label), f"{option_set.name}.0"),
        }
    return {
        "@odata.type": f"#{NS}.OptionSetMetadata",
        **common,
        "OptionSetType": option_set.option_set_type,
        "Options": _options(option_set),
    }


@cache
def attribute_definitions(table: Table) -> tuple[dict[str, Any], ...]:
    """Every AttributeMetadata of a table, including the `AttributeOf` name helpers of lookups."""
    out: list[dict[str, Any]] = []
    number = 1
    for column in table.columns:
        out.append({**_base_attribute(table, column, number), **_type_specific(column)})
        number += 1
        if column.is_lookup:
            helper = Column(
                f"{column.logical_name}name",
                STRING,
                column.display_name,
                max_length=160,
                valid_for_create=False,
                valid_for_update=False,
            )
            out.append(
                {
                    **_base_attribute(table, helper, number, attribute_of=column.logical_name),
                    **_type_specific(helper),
                }
            )
            number += 1
    return tuple(out)


def _column_of(table: Table, attribute: dict[str, Any]) -> Column | None:
    return table.column(attribute["LogicalName"])


BASE_ATTRIBUTE_FIELDS = set(_base_attribute(TABLES[0], TABLES[0].columns[0], 1)) - {"@odata.type"}


def _cast_fields(cast: str | None) -> set[str]:
    if cast is None:
        return BASE_ATTRIBUTE_FIELDS
    fields = set(BASE_ATTRIBUTE_FIELDS)
    for table in TABLES:
        for attribute in attribute_definitions(table):
            if attribute["@odata.type"] == f"#{NS}.{cast}":
                fields |= set(attribute)
    fields.discard("@odata.type")
    if cast in ENUM_CASTS:
        fields |= {"OptionSet", "GlobalOptionSet"}
    return fields


def global_option_sets(tables: Sequence[Table] = TABLES) -> list[OptionSet | BooleanOptionSet]:
    """Every global choice used by the tables (by name, first seen)."""
    found: dict[str, OptionSet | BooleanOptionSet] = {}
    for table in tables:
        for column in table.columns:
            if column.option_set is not None and column.option_set.is_global:
                found.setdefault(column.option_set.name, column.option_set)
    return list(found.values())


# --- requests ---------------------------------------------------------------------------------


def _aliases(req: ApiRequest) -> dict[str, str]:
    return {k: v for k, v in req.query if k.startswith("@")}


def find_table(tables: Sequence[Table], key: str) -> Table:
    """Find a table by `LogicalName='x'` or MetadataId (404 0x80040217 otherwise)."""
    match = _KEY.match(key.strip())
    name, value = (match.group(1), match.group(2)) if match else (None, key)
    for table in tables:
        if name == "LogicalName" and table.logical_name == value:
            return table
        if name is None and stable_id("entity", table.logical_name) == value.lower():
            return table
    raise DataverseError(
        404,
        "0x80040217",
        f"Could not find entity with key {key}"
        if name is None
        else f"Could not find an entity with name {value}.",
    )


def _context(req: ApiRequest, path: str, fields: list[str] | None, entity: bool = False) -> str:
    text = f"{req.service_root}$metadata#{path}"
    if fields:
        text += f"({','.join(fields)})"
    return text + ("/$entity" if entity else "")


def entity_definitions(
    req: ApiRequest, tables: Sequence[Table], key: str | None, rest: list[str]
) -> ApiResponse:
    """GET EntityDefinitions[(key)][/Attributes[(key)][/cast]]."""
    if rest:
        segment = rest[0].split("(", 1)[0]
        if key is None or segment not in NAVIGATION:
            raise _segment(rest[0])
        if segment == "Keys":
            return entity_keys(req, find_table(tables, key), rest)
        if segment == "ManyToOneRelationships":
            return relationships(req, find_table(tables, key), rest, tables)
        return attributes(req, find_table(tables, key), rest)
    fields = parse_select_list(req.param("$select"), ENTITY_FIELDS, "EntityMetadata")
    expand = parse_expand(req.param("$expand"))
    for name in expand:
        if name not in NAVIGATION:
            raise missing_property("EntityMetadata", name)

    def render(table: Table) -> dict[str, Any]:
        body = select(entity_definition(table), [f for f in fields or [] if f not in NAVIGATION])
        if "Attributes" in expand:
            opts = expand["Attributes"]
            body["Attributes"] = _attribute_list(
                req, table, None, opts.get("$select"), opts.get("$filter")
            )
        if "Keys" in expand:
            body["Keys"] = _key_list(table, expand["Keys"].get("$select"))
        if "ManyToOneRelationships" in expand:
            opts = expand["ManyToOneRelationships"]
            body["ManyToOneRelationships"] = _relationship_list(
                req, table, tables, opts.get("$select"), opts.get("$filter")
            )
        return body

    if key is not None:
        table = find_table(tables, key)
        return json_response(
            {
                "@odata.context": _context(req, "EntityDefinitions", fields, entity=True),
                **render(table),
            }
        )
    node = compile_meta_filter(req.param("$filter"), _aliases(req))
    values = [
        render(t)
        for t in tables
        if matches(node, entity_definition(t), "EntityMetadata", ENTITY_FIELDS)
    ]
    return json_response(
        {"@odata.context": _context(req, "EntityDefinitions", fields), "value": values}
    )


def _relationship_list(
    req: ApiRequest,
    table: Table,
    tables: Sequence[Table],
    select_text: str | None,
    filter_text: str | None,
) -> list[dict[str, Any]]:
    fields = parse_select_list(select_text, RELATIONSHIP_FIELDS, RELATIONSHIP_TYPE)
    node = compile_meta_filter(filter_text, _aliases(req))
    return [
        select(definition, fields)
        for definition in many_to_one_relationships(table, tables)
        if matches(node, definition, RELATIONSHIP_TYPE, RELATIONSHIP_FIELDS)
    ]


def relationships(
    req: ApiRequest, table: Table, rest: list[str], tables: Sequence[Table]
) -> ApiResponse:
    """GET EntityDefinitions(key)/ManyToOneRelationships[(SchemaName='x' or MetadataId)]."""
    if len(rest) > 1:
        raise _segment(rest[1])
    head = rest[0]
    path = f"EntityDefinitions(LogicalName='{table.logical_name}')/ManyToOneRelationships"
    fields = parse_select_list(req.param("$select"), RELATIONSHIP_FIELDS, RELATIONSHIP_TYPE)
    if head == "ManyToOneRelationships":
        values = _relationship_list(req, table, tables, req.param("$select"), req.param("$filter"))
        return json_response({"@odata.context": _context(req, path, fields), "value": values})
    prefix = "ManyToOneRelationships("
    key = head[len(prefix) : -1] if head.startswith(prefix) and head.endswith(")") else ""
    match = _KEY.match(key)
    name, value = (match.group(1), match.group(2)) if match else (None, key)
    for definition in many_to_one_relationships(table, tables):
        if (name == "SchemaName" and definition["SchemaName"] == value) or (
            name is None and definition["MetadataId"] == value.lower()
        ):
            body = select(definition, fields)
            return json_response(
                {"@odata.context": _context(req, path, fields, entity=True), **body}
            )
    raise DataverseError(
        404,
        "0x80040217",
        f"Could not find relationship with key {key} on entity {table.logical_name}.",
    )


def _key_list(table: Table, select_text: str | None) -> list[dict[str, Any]]:
    fields = parse_select_list(select_text, KEY_FIELDS, "EntityKeyMetadata")
    return [select(key_definition(table, k), fields) for k in table.keys]


def entity_keys(req: ApiRequest, table: Table, rest: list[str]) -> ApiResponse:
    """GET EntityDefinitions(key)/Keys[(LogicalName='k' or MetadataId)]."""
    if len(rest) > 1:
        raise _segment(rest[1])
    head = rest[0]
    path = f"EntityDefinitions(LogicalName='{table.logical_name}')/Keys"
    fields = parse_select_list(req.param("$select"), KEY_FIELDS, "EntityKeyMetadata")
    if head == "Keys":
        values = _key_list(table, req.param("$select"))
        return json_response({"@odata.context": _context(req, path, fields), "value": values})
    key = head[len("Keys(") : -1] if head.startswith("Keys(") and head.endswith(")") else ""
    match = _KEY.match(key)
    name, value = (match.group(1), match.group(2)) if match else (None, key)
    for definition in (key_definition(table, k) for k in table.keys):
        if (name == "LogicalName" and definition["LogicalName"] == value) or (
            name is None and definition["MetadataId"] == value.lower()
        ):
            body = select(definition, fields)
            return json_response(
                {"@odata.context": _context(req, path, fields, entity=True), **body}
            )
    raise DataverseError(
        404,
        "0x80040217",
        f"Could not find entity key with key {key} on entity {table.logical_name}.",
    )


def _attribute_list(
    req: ApiRequest,
    table: Table,
    cast: str | None,
    select_text: str | None,
    filter_text: str | None,
    expand: dict[str, dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    type_name = cast or "AttributeMetadata"
    known = _cast_fields(cast)
    fields = parse_select_list(select_text, known - {"OptionSet", "GlobalOptionSet"}, type_name)
    node = compile_meta_filter(filter_text, _aliases(req))
    out = []
    for attribute in attribute_definitions(table):
        if cast is not None and attribute["@odata.type"] != f"#{NS}.{cast}":
            continue
        if not matches(node, attribute, type_name, known):
            continue
        out.append(_render_attribute(table, attribute, fields, expand or {}))
    return out


def _render_attribute(
    table: Table,
    attribute: dict[str, Any],
    fields: list[str] | None,
    expand: dict[str, dict[str, str]],
) -> dict[str, Any]:
    body = select(attribute, fields)
    column = _column_of(table, attribute)
    option_set = (
        column.option_set if column is not None and attribute["AttributeOf"] is None else None
    )
    for nav in ("OptionSet", "GlobalOptionSet"):
        if nav not in expand:
            continue
        if option_set is None or (nav == "GlobalOptionSet" and not option_set.is_global):
            body[nav] = None
            continue
        definition = option_set_definition(option_set)
        nav_select = expand[nav].get("$select")
        names = [n.strip() for n in nav_select.split(",")] if nav_select else None
        body[nav] = select(definition, names)
    return body


def attributes(req: ApiRequest, table: Table, rest: list[str]) -> ApiResponse:
    """GET EntityDefinitions(key)/Attributes[(key)][/Microsoft.Dynamics.CRM.<cast>]."""
    head = rest[0]
    key = head[len("Attributes(") : -1] if head.startswith("Attributes(") else None
    cast = None
    if len(rest) > 1:
        cast_name = rest[1]
        if not cast_name.startswith(f"{NS}.") or len(rest) > 2:
            raise _segment(cast_name)
        cast = cast_name[len(NS) + 1 :]
        if cast not in set(_ODATA_TYPES.values()) | ENUM_CASTS:
            raise _segment(cast_name)
    expand = parse_expand(req.param("$expand"))
    for nav in expand:
        if nav not in ("OptionSet", "GlobalOptionSet") or cast not in ENUM_CASTS:
            raise missing_property(cast or "AttributeMetadata", nav)
    entity_ref = f"EntityDefinitions(LogicalName='{table.logical_name}')/Attributes"
    path = entity_ref + (f"/{NS}.{cast}" if cast else "")
    if key is None:
        values = _attribute_list(
            req, table, cast, req.param("$select"), req.param("$filter"), expand
        )
        fields = parse_select_list(
            req.param("$select"), _cast_fields(cast), cast or "AttributeMetadata"
        )
        return json_response({"@odata.context": _context(req, path, fields), "value": values})
    match = _KEY.match(key)
    name, value = (match.group(1), match.group(2)) if match else (None, key)
    found = next(
        (
            a
            for a in attribute_definitions(table)
            if (name == "LogicalName" and a["LogicalName"] == value)
            or (name is None and a["MetadataId"] == value.lower())
        ),
        None,
    )
    if found is None or (cast is not None and found["@odata.type"] != f"#{NS}.{cast}"):
        raise DataverseError(
            404,
            "0x80040217",
            f"Could not find attribute with key {key} on entity {table.logical_name}.",
        )
    fields = parse_select_list(
        req.param("$select"),
        _cast_fields(cast) - {"OptionSet", "GlobalOptionSet"},
        cast or "AttributeMetadata",
    )
    body = _render_attribute(table, found, fields, expand)
    return json_response({"@odata.context": _context(req, path, fields, entity=True), **body})


def global_option_set_definitions(
    req: ApiRequest, tables: Sequence[Table], key: str | None, rest: list[str]
) -> ApiResponse:
    """GET GlobalOptionSetDefinitions[(Name='x' or MetadataId)][/<OptionSetMetadata cast>]."""
    if rest and rest != [f"{NS}.OptionSetMetadata"] and rest != [f"{NS}.BooleanOptionSetMetadata"]:
        raise _segment(rest[0])
    sets = global_option_sets(tables)
    if rest:
        wanted = f"#{rest[0]}"
        sets = [s for s in sets if option_set_definition(s)["@odata.type"] == wanted]
    fields_text = req.param("$select")
    fields = [n.strip() for n in fields_text.split(",")] if fields_text else None
    if key is None:
        node = compile_meta_filter(req.param("$filter"), _aliases(req))
        values = []
        for option_set in sets:
            definition = option_set_definition(option_set)
            if matches(node, definition, "OptionSetMetadataBase", set(definition)):
                values.append(select(definition, fields))
        return json_response(
            {"@odata.context": _context(req, "GlobalOptionSetDefinitions", fields), "value": values}
        )
    match = _KEY.match(key)
    name, value = (match.group(1), match.group(2)) if match else (None, key)
    for option_set in sets:
        definition = option_set_definition(option_set)
        if (name == "Name" and option_set.name == value) or (
            name is None and definition["MetadataId"] == value.lower()
        ):
            body = select(definition, fields)
            context = _context(req, "GlobalOptionSetDefinitions", fields, entity=True)
            return json_response({"@odata.context": context, **body})
    raise DataverseError(404, "0x80040217", f"Could not find optionset with key {key}.")


MULTIPLE_MESSAGES = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")
MESSAGES = ("Create", "Update", "Delete", "Retrieve", "RetrieveMultiple", *MULTIPLE_MESSAGES)


def supports_multiple(table: Table, disabled: Collection[str] = ()) -> bool:
    """Are CreateMultiple/UpdateMultiple/UpsertMultiple available on `table`?"""
    return table.supports_multiple and table.logical_name not in disabled


def sdk_message_filter_rows(
    tables: Sequence[Table], disabled: Collection[str] = ()
) -> list[dict[str, Any]]:
    """List the sdkmessagefilter rows (message x table) the sandbox supports."""
    rows = []
    for table in tables:
        for message in MESSAGES:
            if message in MULTIPLE_MESSAGES and not supports_multiple(table, disabled):
                continue
            rows.append(
                {
                    "sdkmessagefilterid": stable_id(
                        "sdkmessagefilter", message, table.logical_name
                    ),
                    "primaryobjecttypecode": table.logical_name,
                    "secondaryobjecttypecode": "none",
                    "iscustomprocessingstepallowed": True,
                    "_sdkmessageid_value": stable_id("sdkmessage", message),
                    "sdkmessageid": {"name": message},
                }
            )
    return rows


def sdk_message_filters(
    req: ApiRequest, tables: Sequence[Table], disabled: Collection[str] = ()
) -> ApiResponse:
    """GET sdkmessagefilters?$filter=sdkmessageid/name eq 'X' and primaryobjecttypecode eq 'y'."""
    rows = sdk_message_filter_rows(tables, disabled)
    known = set(rows[0]) - {"sdkmessageid"} | {"sdkmessageid"}
    node = compile_meta_filter(req.param("$filter"), _aliases(req))
    select_text = req.param("$select")
    fields = [n.strip() for n in select_text.split(",")] if select_text else None
    for name in fields or []:
        if name not in known - {"sdkmessageid"}:
            raise missing_property("sdkmessagefilter", name)
    values = []
    for row in rows:
        if not matches(node, row, "sdkmessagefilter", known):
            continue
        public = {k: v for k, v in row.items() if k != "sdkmessageid"}
        record = {"@odata.etag": 'W/"1"', **select(public, fields, always=("sdkmessagefilterid",))}
        values.append(record)
    return json_response(
        {"@odata.context": _context(req, "sdkmessagefilters", fields), "value": values}
    )
