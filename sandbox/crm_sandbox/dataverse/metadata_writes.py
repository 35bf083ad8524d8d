"""Metadata writes: create tables, columns and alternate keys through the Web API.

- `POST EntityDefinitions` (EntityMetadata with `Attributes` holding exactly one primary name
  attribute; `IsActivity` makes a custom activity with `activityid`, `subject`,
  `regardingobjectid`, owner, state and stamps),
- `POST EntityDefinitions(<key>)/Attributes` (String, Memo, Integer, BigInt, Decimal, Double,
  Money, Boolean, DateTime, local Picklist),
- `POST EntityDefinitions(<key>)/Keys` (EntityKeyMetadata; `EntityKeyIndexStatus` Pending until
  the index job finishes, see `Store.activate_due_keys`).

Each answers 204 with `OData-EntityId`, as Microsoft's "Create and update table definitions
using the Web API" shows; errors use the codes and messages of Microsoft's web service error
list. `MSCRM.SolutionUniqueName` is accepted (the sandbox has no solutions to add to).
Columns are added only to tables created this way; keys also to the seeded tables (their key
definitions persist like a created table's).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .config import PUBLISHER_PREFIXES, stable_id
from .errors import (
    DUPLICATE_ATTRIBUTE,
    DUPLICATE_NAME,
    DUPLICATE_PRIMARY_NAME,
    ENTITY_KEY_ATTRIBUTES_EXIST,
    ENTITY_KEY_NAME_EXISTS,
    INVALID_METADATA,
    INVALID_NAME_PREFIX,
    INVALID_OWNERSHIP,
    INVALID_PRIMARY_FIELD_FOR_ACTIVITY,
    INVALID_PRIMARY_FIELD_TYPE,
    DataverseError,
)
from .metadata import find_table
from .protocol import ApiRequest, ApiResponse
from .schema import (
    BIGINT,
    BOOLEAN,
    DATETIME,
    DECIMAL,
    DOUBLE,
    INTEGER,
    KEY_PENDING,
    LOOKUP,
    MEMO,
    MONEY,
    PICKLIST,
    STRING,
    BooleanOptionSet,
    Column,
    KeyDefinition,
    Option,
    OptionSet,
    Table,
    activity_columns,
    stamp_columns,
    state_status,
    system_columns,
)

if TYPE_CHECKING:
    from .runtime import Runtime

NS = "Microsoft.Dynamics.CRM."
NOT_IMPLEMENTED = ""  # the sandbox's own 501 answers carry no Dataverse code

_KINDS = {
    "StringAttributeMetadata": STRING,
    "MemoAttributeMetadata": MEMO,
    "IntegerAttributeMetadata": INTEGER,
    "BigIntAttributeMetadata": BIGINT,
    "DecimalAttributeMetadata": DECIMAL,
    "DoubleAttributeMetadata": DOUBLE,
    "MoneyAttributeMetadata": MONEY,
    "BooleanAttributeMetadata": BOOLEAN,
    "DateTimeAttributeMetadata": DATETIME,
    "PicklistAttributeMetadata": PICKLIST,
}
_MAX_LENGTH = {STRING: (100, 4000), MEMO: (2000, 1048576)}  # default, maximum
_PRECISION = {DECIMAL: (2, 10), DOUBLE: (2, 5), MONEY: (2, 4)}  # default, maximum
_REQUIRED_LEVELS = ("None", "Recommended", "ApplicationRequired")
# Column types an alternate key may use (Microsoft's "Work with alternate keys").
_KEY_TYPES = frozenset({DECIMAL, INTEGER, STRING, DATETIME, LOOKUP, PICKLIST})
MAX_KEYS = 10
MAX_KEY_COLUMNS = 16
FIRST_OBJECT_TYPE_CODE = 10100
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


# --- errors -----------------------------------------------------------------------------------


def invalid_metadata() -> DataverseError:
    """InvalidMetadata: a definition the platform cannot accept."""
    return DataverseError(400, INVALID_METADATA, "Invalid Metadata.")


def not_implemented(what: str) -> DataverseError:
    """Answer 501 for a metadata operation the sandbox does not emulate (see its README)."""
    return DataverseError(501, NOT_IMPLEMENTED, f"The sandbox does not implement {what}.")


def invalid_prefix(schema_name: object, kind: str) -> DataverseError:
    """InvalidNamePrefix for an Entity, Attribute or EntityKey schema name."""
    return DataverseError(
        400,
        INVALID_NAME_PREFIX,
        f"The schema name {schema_name} for type {kind} is invalid or missing.Custom attribute, "
        "entity, entitykey, option set and relationship names must start with a valid "
        "customization prefix.The prefix for a solution component should match the prefix "
        "that is specified for the publisher of the solution.",
    )


def duplicate_primary(table: str, existing: str, new: str) -> DataverseError:
    """DuplicatePrimaryNameAttribute."""
    return DataverseError(
        400,
        DUPLICATE_PRIMARY_NAME,
        f"The new {new} attribute is set as the primary name attribute for the {table} entity. "
        f"The {table} entity already has the {existing} attribute set as the primary name "
        "attribute. An entity can only have one primary name attribute.",
    )


def duplicate_attribute(table: str, column: str) -> DataverseError:
    """DuplicateAttributePhysicalName."""
    return DataverseError(
        400, DUPLICATE_ATTRIBUTE, f"Attribute {column} already exists for entity {table}."
    )


# --- request parts ----------------------------------------------------------------------------


def _body(req: ApiRequest) -> dict[str, Any]:
    data = req.json_body()
    if not isinstance(data, dict):
        raise invalid_metadata()
    return data


def label_text(value: Any, default: str) -> str:
    """Return the English (1033, else first) text of a Label value, or `default`."""
    labels = value.get("LocalizedLabels") if isinstance(value, dict) else None
    items = [i for i in labels or [] if isinstance(i, dict) and i.get("Label")]
    english = [i for i in items if i.get("LanguageCode", 1033) == 1033]
    chosen = english or items
    return str(chosen[0]["Label"]) if chosen else default


def custom_name(schema_name: Any, kind: str) -> str:
    """Logical name of a custom component; its schema name must carry a publisher prefix."""
    if not isinstance(schema_name, str) or not _NAME.match(schema_name):
        raise invalid_prefix(schema_name, kind)
    prefix, _, rest = schema_name.partition("_")
    if not rest or prefix.lower() not in PUBLISHER_PREFIXES:
        raise invalid_prefix(schema_name, kind)
    return schema_name.lower()


def _kind(body: dict[str, Any]) -> str:
    odata_type = str(body.get("@odata.type", "")).lstrip("#").removeprefix(NS)
    type_name = body.get("AttributeTypeName")
    type_name = type_name.get("Value") if isinstance(type_name, dict) else None
    if odata_type in _KINDS:
        kind = _KINDS[odata_type]
    elif not odata_type and body.get("AttributeType") in _KINDS.values():
        kind = str(body["AttributeType"])
    else:
        what = odata_type or str(body.get("AttributeType") or type_name or "unknown")
        raise not_implemented(
            f"creating columns of type '{what}' through EntityDefinitions(...)/Attributes "
            "(supported: String, Memo, Integer, BigInt, Decimal, Double, Money, Boolean, "
            "DateTime, Picklist with a local OptionSet)"
        )
    if type_name not in (None, f"{kind}Type"):
        raise not_implemented(f"creating columns of AttributeTypeName '{type_name}'")
    return kind


def _bounded(body: dict[str, Any], name: str, default: int, maximum: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise invalid_metadata()
    return value


def _required_level(body: dict[str, Any]) -> str:
    level = body.get("RequiredLevel")
    value = level.get("Value", "None") if isinstance(level, dict) else "None"
    if value not in _REQUIRED_LEVELS:
        raise invalid_metadata()
    return str(value)


def _boolean_options(table: str, name: str, body: dict[str, Any]) -> BooleanOptionSet:
    options = body.get("OptionSet") if isinstance(body.get("OptionSet"), dict) else {}
    assert isinstance(options, dict)
    true = label_text((options.get("TrueOption") or {}).get("Label"), "Yes")
    false = label_text((options.get("FalseOption") or {}).get("Label"), "No")
    return BooleanOptionSet(f"{table}_{name}", true, false, is_global=False)


def _choice_options(table: str, name: str, body: dict[str, Any]) -> OptionSet:
    if "GlobalOptionSet@odata.bind" in body:
        raise not_implemented("columns bound to a global choice (GlobalOptionSet@odata.bind)")
    options = body.get("OptionSet")
    if not isinstance(options, dict) or not isinstance(options.get("Options", []), list):
        raise invalid_metadata()
    values: list[Option] = []
    for number, option in enumerate(options.get("Options", [])):
        if not isinstance(option, dict):
            raise invalid_metadata()
        value = option.get("Value")
        value = 100000000 + number if value is None else value
        if not isinstance(value, int) or any(o.value == value for o in values):
            raise invalid_metadata()
        values.append(Option(value, label_text(option.get("Label"), str(value))))
    return OptionSet(f"{table}_{name}", tuple(values))


def column_from_metadata(table: str, body: dict[str, Any], *, primary: bool = False) -> Column:
    """Build a Column from an AttributeMetadata payload."""
    if not isinstance(body, dict):
        raise invalid_metadata()
    kind = _kind(body)
    schema_name = body.get("SchemaName")
    name = custom_name(schema_name, "Attribute")
    if primary and kind != STRING:
        raise DataverseError(
            400, INVALID_PRIMARY_FIELD_TYPE, "Primary UI Attribute has to be of type String"
        )
    values: dict[str, Any] = {
        "display_name": label_text(body.get("DisplayName"), str(schema_name)),
        "required_level": _required_level(body),
        "schema_name": str(schema_name),
        "is_primary_name": primary,
    }
    if kind in _MAX_LENGTH:
        default, maximum = _MAX_LENGTH[kind]
        values["max_length"] = _bounded(body, "MaxLength", default, maximum) or default
    elif kind in _PRECISION:
        default, maximum = _PRECISION[kind]
        values["precision"] = _bounded(body, "Precision", default, maximum)
    elif kind == BOOLEAN:
        values["option_set"] = _boolean_options(table, name, body)
        values["default"] = bool(body.get("DefaultValue", False))
    elif kind == DATETIME:
        behaviour = body.get("DateTimeBehavior")
        behaviour = behaviour.get("Value") if isinstance(behaviour, dict) else None
        values["date_only"] = body.get("Format") == "DateOnly" or behaviour == "DateOnly"
    elif kind == PICKLIST:
        values["option_set"] = _choice_options(table, name, body)
        form_value = body.get("DefaultFormValue")
        values["default"] = form_value if isinstance(form_value, int) and form_value >= 0 else None
    return Column(name, kind, **values)


def _plural(name: str) -> str:
    if name.endswith("y") and name[-2:-1] not in "aeiou":
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "z", "ch", "sh")):
        return name + "es"
    return name + "s"


def _next_object_type_code(tables: tuple[Table, ...]) -> int:
    return max([FIRST_OBJECT_TYPE_CODE - 1, *(t.object_type_code for t in tables)]) + 1


def _created(rt: Runtime, name: str) -> Table:
    table = rt.store.by_name[name]
    if not table.created:
        raise not_implemented(
            f"adding columns to the seeded table '{name}' (columns can be added to tables "
            "created through POST EntityDefinitions)"
        )
    return table


def _no_content(entity_id: str) -> ApiResponse:
    return ApiResponse(204, {"OData-Version": "4.0", "OData-EntityId": entity_id})


# --- tables -----------------------------------------------------------------------------------


def _primary_attribute(name: str, attributes: list[Any]) -> dict[str, Any]:
    primaries = [a for a in attributes if isinstance(a, dict) and a.get("IsPrimaryName") is True]
    if not primaries:
        raise invalid_metadata()
    if len(primaries) > 1:
        first, second = (str(p.get("SchemaName", "")).lower() for p in primaries[:2])
        raise duplicate_primary(name, first, second)
    return primaries[0]


def build_table(rt: Runtime, body: dict[str, Any]) -> Table:
    """Validate an EntityMetadata payload and describe the table it creates."""
    schema_name = body.get("SchemaName")
    name = custom_name(schema_name, "Entity")
    set_name = body.get("EntitySetName") or _plural(name)
    if not isinstance(set_name, str) or not _NAME.match(set_name):
        raise invalid_metadata()
    if name in rt.store.by_name or any(t.entity_set_name == set_name for t in rt.store.tables):
        raise DataverseError(
            400, DUPLICATE_NAME, "An object with the specified name already exists"
        )
    is_activity = body.get("IsActivity") is True
    ownership = body.get("OwnershipType", "UserOwned")
    if ownership not in ("UserOwned", "OrganizationOwned") or (
        is_activity and ownership != "UserOwned"
    ):
        raise DataverseError(
            400,
            INVALID_OWNERSHIP,
            "The specified ownership type mask is not valid for this operation",
        )
    attributes = body.get("Attributes")
    if not isinstance(attributes, list):
        raise invalid_metadata()
    primary_body = _primary_attribute(name, attributes)
    if is_activity and str(primary_body.get("SchemaName", "")).lower() != "subject":
        raise DataverseError(
            400,
            INVALID_PRIMARY_FIELD_FOR_ACTIVITY,
            "A custom entity defined as an activity cannot have primary attribute other than "
            "subject.",
        )
    if is_activity:
        if _kind(primary_body) != STRING:
            raise DataverseError(
                400, INVALID_PRIMARY_FIELD_TYPE, "Primary UI Attribute has to be of type String"
            )
        length = _bounded(primary_body, "MaxLength", 400, 4000) or 400
        regarding = tuple(
            t.logical_name
            for t in rt.store.tables
            if t.allows_activities and not t.is_principal and not t.is_activity
        )
        base = activity_columns(name, subject_length=length, regarding=regarding)
        primary_id = "activityid"
    else:
        primary_id = f"{name}id"
        primary = column_from_metadata(name, primary_body, primary=True)
        fixed = (
            system_columns(name, primary_id)
            if ownership == "UserOwned"
            else (*stamp_columns(name, primary_id), *state_status(name))
        )
        base = (*fixed, primary)
    extra = [column_from_metadata(name, a) for a in attributes if a is not primary_body]
    columns = list(base)
    for column in extra:
        if any(c.logical_name == column.logical_name for c in columns):
            raise duplicate_attribute(name, column.logical_name)
        columns.append(column)
    return Table(
        name,
        set_name,
        label_text(body.get("DisplayName"), str(schema_name)),
        primary_id=primary_id,
        primary_name="subject"
        if is_activity
        else next(c.logical_name for c in base if c.is_primary_name),
        columns=tuple(columns),
        is_custom=True,
        is_activity=is_activity,
        change_tracking=body.get("ChangeTrackingEnabled") is True,
        object_type_code=_next_object_type_code(rt.store.tables),
        ownership=str(ownership),
        schema=str(schema_name),
        created=True,
        has_activities=False if is_activity else body.get("HasActivities") is True,
    )


def create_entity(rt: Runtime, req: ApiRequest) -> ApiResponse:
    """POST EntityDefinitions."""
    table = build_table(rt, _body(req))
    with rt.store.transaction():
        rt.store.add_table(table)
    metadata_id = stable_id("entity", table.logical_name)
    return _no_content(f"{req.service_root}EntityDefinitions({metadata_id})")


# --- columns ----------------------------------------------------------------------------------


def create_attribute(rt: Runtime, req: ApiRequest, key_text: str) -> ApiResponse:
    """POST EntityDefinitions(<key>)/Attributes."""
    table = _created(rt, find_table(rt.store.tables, key_text).logical_name)
    body = _body(req)
    if body.get("IsPrimaryName") is True:
        raise duplicate_primary(
            table.logical_name, table.primary_name, str(body.get("SchemaName", "")).lower()
        )
    column = column_from_metadata(table.logical_name, body)
    if table.column(column.logical_name) is not None:
        raise duplicate_attribute(table.logical_name, column.logical_name)
    with rt.store.transaction():
        rt.store.change_table(replace(table, columns=(*table.columns, column)))
    metadata_id = stable_id("attribute", f"{table.logical_name}.{column.logical_name}")
    return _no_content(f"{req.service_root}EntityDefinitions({key_text})/Attributes({metadata_id})")


# --- keys -------------------------------------------------------------------------------------


def _key_attributes(table: Table, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(value) > MAX_KEY_COLUMNS:
        raise invalid_metadata()
    names: list[str] = []
    for name in value:
        column = table.column(name) if isinstance(name, str) else None
        if (
            column is None
            or column.logical_name != name
            or column.is_primary_id
            or column.attribute_type not in _KEY_TYPES
            or name in names
        ):
            raise invalid_metadata()
        names.append(name)
    return tuple(names)


def create_key(rt: Runtime, req: ApiRequest, key_text: str) -> ApiResponse:
    """POST EntityDefinitions(<key>)/Keys: the key is Pending until its index job is done."""
    table = find_table(rt.store.tables, key_text)
    body = _body(req)
    schema_name = body.get("SchemaName")
    logical = custom_name(schema_name, "EntityKey")
    attributes = _key_attributes(table, body.get("KeyAttributes"))
    if any(k.logical_name == logical for k in table.keys):
        raise DataverseError(
            400,
            ENTITY_KEY_NAME_EXISTS,
            f"An entity key with the name {schema_name} already exists on entity "
            f"{table.logical_name}.",
        )
    if any(sorted(k.attributes) == sorted(attributes) for k in table.keys):
        raise DataverseError(
            400,
            ENTITY_KEY_ATTRIBUTES_EXIST,
            "An entity key with the selected attributes already exists on entity.",
        )
    if len(table.keys) >= MAX_KEYS:
        raise invalid_metadata()
    key = KeyDefinition(
        str(schema_name),
        attributes,
        display_name=label_text(body.get("DisplayName"), str(schema_name)),
        status=KEY_PENDING,
        ready_at=rt.clock.time() + rt.settings.key_index_delay_seconds,
    )
    with rt.store.transaction():
        rt.store.change_table(replace(table, key_definitions=(*table.key_definitions, key)))
    metadata_id = stable_id("key", table.logical_name, logical)
    return _no_content(f"{req.service_root}EntityDefinitions({key_text})/Keys({metadata_id})")
