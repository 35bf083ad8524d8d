"""Validate and coerce Web API write payloads (POST/PATCH bodies) and parse URL key segments.

Pure functions: no storage, no HTTP. The order of checks mirrors the two layers a real Dataverse
request goes through:

1. OData deserialisation (Microsoft.OData.Core): every property name must be declared on the entity
   type, every value must convert to the property's EDM type, navigation properties may only carry
   `@odata.bind` annotations. These errors surface wrapped in Dataverse's `0x80048d19`
   "Error identified in Payload" message. JSON strings are converted the way ODataLib's
   `ODataPayloadValueConverter` does (`"5"` is a valid Edm.Int32), JSON numbers are never
   strings, and a DateTimeOffset must carry a time zone.
2. The Dataverse platform: direct writes to lookup values (`_x_value`) are refused; columns whose
   `IsValidForCreate`/`IsValidForUpdate` is false are silently dropped (as the platform drops e.g.
   `createdon` - use `overriddencreatedon` - or the computed `fullname`); then MaxLength and
   choice ranges are checked.

`RequiredLevel` is not enforced: `ApplicationRequired` is a form/UI rule that the Web API does not
apply (creating a contact without `lastname` succeeds), and every `SystemRequired` column of the
sandbox schema (primary key, `statecode`) is filled in by the platform itself.

Error texts: Microsoft's wording where it is documented or observed, each marked below; the few
marked "best reading" are ODataLib's resource strings or our closest rendering of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from .errors import BAD_REQUEST, RESOURCE_NOT_FOUND, VALIDATION_MAX_LENGTH, DataverseError
from .keys import check_key_active
from .schema import (
    BIGINT,
    BOOLEAN,
    CHOICE_TYPES,
    DATETIME,
    DECIMAL,
    DOUBLE,
    INTEGER,
    MEMO,
    MONEY,
    PICKLIST,
    STATE,
    STATUS,
    STRING,
    TABLES,
    UNIQUEIDENTIFIER,
    Column,
    OptionSet,
    Table,
)

# Codes not (yet) in errors.py; both are Dataverse's real values.
INVALID_PAYLOAD = "0x80048d19"  # "Error identified in Payload provided by the user for Entity"
OPTION_OUT_OF_RANGE = "0x8004431a"  # "... is outside the valid range. Accepted Values: ..."
PROPERTY_VALIDATION = "0x0"  # code of the documented "Invalid property" payload error

NAMESPACE = "Microsoft.Dynamics.CRM"
HELP_LINK = "https://go.microsoft.com/fwlink/?linkid=2195293"

_EDM_TYPES = {
    STRING: "Edm.String",
    MEMO: "Edm.String",
    INTEGER: "Edm.Int32",
    BIGINT: "Edm.Int64",
    DECIMAL: "Edm.Decimal",
    DOUBLE: "Edm.Double",
    MONEY: "Edm.Decimal",
    BOOLEAN: "Edm.Boolean",
    DATETIME: "Edm.DateTimeOffset",
    PICKLIST: "Edm.Int32",
    STATE: "Edm.Int32",
    STATUS: "Edm.Int32",
    UNIQUEIDENTIFIER: "Edm.Guid",
}
_INT_RANGES = {"Edm.Int32": (-(2**31), 2**31 - 1), "Edm.Int64": (-(2**63), 2**63 - 1)}

_GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_GUID_N_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_INT_TEXT_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_FLOAT_TEXT_RE = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
# xsd:dateTime as XmlConvert reads it; ODataLib pads missing seconds and demands a zone.
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?$"
)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_BIND_PATH_RE = re.compile(
    r"^(?:api/data/v\d+(?:\.\d+)?/)?([A-Za-z_][A-Za-z0-9_]*)(\(.*\))$", re.DOTALL
)
_KEY_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class LookupRef:
    """The record an `@odata.bind` annotation points at.

    Exactly one of `id` (primary key, lowercase GUID), `key` (alternate key: column logical name
    -> storage value) or `content_id` (a `$n` reference inside a `$batch` change set; `target` is
    then "" because the referenced request has not been resolved) is set.
    """

    target: str
    id: str | None
    key: dict[str, Any] | None = None
    content_id: str | None = None


@dataclass(frozen=True)
class CoercedPayload:
    """A write payload after validation.

    `values`: column logical name -> storage value (None clears the column).
    `binds`: lookup column logical name -> the referenced record, or None when the payload sets
    the navigation property to `null` (clear the lookup).
    """

    values: dict[str, Any] = field(default_factory=dict)
    binds: dict[str, LookupRef | None] = field(default_factory=dict)

    @property
    def cleared_lookups(self) -> frozenset[str]:
        """Lookup columns the payload clears with `"nav@odata.bind": null`."""
        return frozenset(name for name, ref in self.binds.items() if ref is None)


# --- errors --------------------------------------------------------------------------------------


def _type_name(table: Table) -> str:
    return f"{NAMESPACE}.{table.logical_name}"


def payload_error(table: Table, inner: str) -> DataverseError:
    """Dataverse's wrapper around an OData deserialisation failure (observed verbatim)."""
    return DataverseError(
        400,
        INVALID_PAYLOAD,
        f"Error identified in Payload provided by the user for Entity :'{table.entity_set_name}', "
        f"For more information on this error please follow this help link {HELP_LINK}  ---->  "
        f"InnerException : {inner}",
    )


def invalid_property_error(table: Table, name: str) -> DataverseError:
    """Unknown property in a write body.

    Microsoft's "Troubleshoot Web API client errors" page documents exactly this response (code
    `0x0`) for `POST accounts {"Name": ...}`; the page truncates the message after the inner
    exception's first sentence, and so do we. (`Could not find a property named ...` is the
    `$select` error, not the payload one.)
    """
    return DataverseError(
        400,
        PROPERTY_VALIDATION,
        "An error occurred while validating input parameters: Microsoft.Crm.CrmException: "
        f"Invalid property '{name}' was found in entity '{_type_name(table)}'. ---> "
        "Microsoft.OData.ODataException: Does not support untyped value in non-open type.",
    )


def undeclared_navigation_error(table: Table, name: str) -> DataverseError:
    """`x@odata.bind` on a name that is not a navigation property (documented by Microsoft)."""
    return payload_error(
        table,
        f"Microsoft.OData.ODataException: An undeclared property '{name}' which only has property "
        "annotations in the payload but no property value was found in the payload. In OData, "
        "only declared navigation properties and declared named streams can be represented as "
        "properties without values.",
    )


def conversion_error(table: Table, literal: str, edm_type: str) -> DataverseError:
    """Reject a value that does not convert to the property's EDM type.

    Observed verbatim: `... InnerException : Microsoft.OData.ODataException: Cannot convert the
    literal 'Charity' to the expected type 'Edm.Int32'.` (the real message continues with the
    .NET inner exception and stack trace, which we omit). ODataLib's message names the value and
    the type, not the property.
    """
    return payload_error(
        table,
        f"Microsoft.OData.ODataException: Cannot convert the literal '{literal}' to the expected "
        f"type '{edm_type}'.",
    )


def max_length_error(table: Table, column: Column) -> DataverseError:
    """MaxLength exceeded (documented verbatim, including the double space)."""
    return DataverseError(
        400,
        VALIDATION_MAX_LENGTH,
        f"A validation error occurred.  The length of the '{column.logical_name}' attribute of the "
        f"'{table.logical_name}' entity exceeded the maximum allowed length of "
        f"'{column.max_length}'.",
    )


def option_range_error(table: Table, column: Column, value: int) -> DataverseError:
    """Choice value not in the option set (observed verbatim in Microsoft's docs, single space)."""
    options = column.option_set.options if isinstance(column.option_set, OptionSet) else ()
    accepted = ",".join(str(o.value) for o in options)
    return DataverseError(
        400,
        OPTION_OUT_OF_RANGE,
        f"A validation error occurred. The value {value} of '{column.logical_name}' on record of "
        f"type '{table.logical_name}' is outside the valid range. Accepted Values: {accepted}",
    )


def entity_reference_error() -> DataverseError:
    """Reject a direct `_x_value` write (observed verbatim; the platform's string, HTTP 400)."""
    return DataverseError(
        400,
        BAD_REQUEST,
        "CRM do not support direct update of Entity Reference properties, "
        "Use Navigation properties instead.",
    )


def invalid_key_error(table: Table) -> DataverseError:
    """Key segment names no declared key (documented text; the code is our best reading)."""
    name = _type_name(table)
    return DataverseError(
        400,
        BAD_REQUEST,
        f"The key in the request URI is not valid for resource '{name}'. Ensure that the names "
        "and number of key properties match the declared or alternate key properties for the "
        f"resource '{name}'.",
    )


def _syntax_error() -> DataverseError:
    # Best reading: the OData URI parser's generic answer to a malformed key or bind URL.
    return DataverseError(400, BAD_REQUEST, "Bad Request - Error in query syntax.")


def _not_assignable_error(table: Table, found: str, expected: str) -> DataverseError:
    # Best reading: ODataLib's ValidationUtils_ResourceTypeNotAssignableToExpectedType.
    return payload_error(
        table,
        f"Microsoft.OData.ODataException: A resource with type '{found}' was found, but it is not "
        f"assignable to the expected type '{expected}'. The type specified in the resource must "
        "be equal to either the expected type or a derived type.",
    )


# --- literals ------------------------------------------------------------------------------------


def _literal(value: Any) -> str:
    """How .NET's `object.ToString()` renders a JSON value inside ODataLib's messages."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _node_error(table: Table, name: str, value: Any) -> DataverseError:
    # Best reading: ODataLib's JsonReaderExtensions_UnexpectedNodeDetectedWithPropertyName.
    node = "StartArray" if isinstance(value, list) else "StartObject"
    return payload_error(
        table,
        f"Microsoft.OData.ODataException: An unexpected '{node}' node was found for property "
        f"named '{name}' when reading from the JSON reader. A 'PrimitiveValue' node was expected.",
    )


def normalise_guid(text: str) -> str | None:
    """Lowercase hyphenated GUID for the formats .NET's `new Guid(string)` accepts, else None."""
    candidate = text.strip()
    if len(candidate) == 38 and candidate[0] + candidate[-1] in ("{}", "()"):
        candidate = candidate[1:-1]
    if _GUID_RE.match(candidate):
        return candidate.lower()
    if _GUID_N_RE.match(candidate):
        c = candidate.lower()
        return f"{c[:8]}-{c[8:12]}-{c[12:16]}-{c[16:20]}-{c[20:]}"
    return None


def _parse_datetime(text: str) -> str | None:
    match = _DATETIME_RE.match(text)
    if not match or match.group(8) is None:
        return None  # ODataLib: "The time zone information is missing on the DateTimeOffset value"
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    zone = match.group(8)
    if zone == "Z":
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 14 or minutes > 59:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_date(text: str) -> str | None:
    match = _DATE_RE.match(text)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat()
    except ValueError:
        return None


def _edm_type(column: Column) -> str:
    if column.is_multiselect:
        return "Edm.String"
    if column.attribute_type == DATETIME and column.date_only:
        return "Edm.Date"
    return _EDM_TYPES.get(column.attribute_type, "Edm.String")


def _convert(table: Table, column: Column, value: Any) -> Any:
    """Convert one non-null JSON value to the column's storage value, as ODataLib would."""
    edm = _edm_type(column)
    fail = conversion_error(table, _literal(value), edm)
    if isinstance(value, list | dict):
        raise _node_error(table, column.logical_name, value)
    if edm == "Edm.String":
        if not isinstance(value, str):
            raise fail
        return value
    if edm in _INT_RANGES:
        low, high = _INT_RANGES[edm]
        number: int
        if isinstance(value, bool | float):
            raise fail
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _INT_TEXT_RE.match(value):
            number = int(value)
        else:
            raise fail
        if not low <= number <= high:
            raise fail
        return number
    if edm in ("Edm.Decimal", "Edm.Double"):
        result: float
        if isinstance(value, bool):
            raise fail
        if not (
            isinstance(value, int | float)
            or (isinstance(value, str) and _FLOAT_TEXT_RE.match(value))
        ):
            raise fail
        result = float(value)
        if not math.isfinite(result):
            raise fail
        # The platform rounds Decimal/Money/Double values to the column's Precision on save.
        return round(result, column.precision) if column.precision is not None else result
    if edm == "Edm.Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise fail
    if edm == "Edm.Guid":
        guid = normalise_guid(value) if isinstance(value, str) else None
        if guid is None:
            raise fail
        return guid
    if edm == "Edm.Date":
        day = _parse_date(value) if isinstance(value, str) else None
        if day is None:
            raise fail
        return day
    if edm == "Edm.DateTimeOffset":
        moment = _parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            raise fail
        return moment
    raise fail  # pragma: no cover - every schema type is mapped above


def _multiselect_values(table: Table, column: Column, text: str) -> list[int]:
    """Split Microsoft's `"1, 9"` form into option values (no values for an empty string)."""
    values: list[int] = []
    for token in text.split(","):
        stripped = token.strip()
        if not stripped:
            if text.strip():
                raise conversion_error(table, token, "Edm.Int32")
            continue
        if not _INT_TEXT_RE.match(stripped):
            raise conversion_error(table, stripped, "Edm.Int32")
        values.append(int(stripped))
    return values


# --- navigation properties -----------------------------------------------------------------------


def navigation_properties(table: Table) -> dict[str, tuple[Column, tuple[str, ...]]]:
    """Single-valued navigation property name -> (lookup column, tables it may point at)."""
    return {
        name: (column, targets)
        for column in table.columns
        if column.is_lookup
        for name, targets in column.navigation_properties().items()
    }


def _table_by_set(tables: Sequence[Table], entity_set: str) -> Table | None:
    return next((t for t in tables if t.entity_set_name == entity_set), None)


def parse_bind(
    table: Table, nav: str, value: Any, *, tables: Sequence[Table] = TABLES
) -> LookupRef | None:
    """Parse the value of `<nav>@odata.bind` for a navigation property of `table`.

    Accepts `/contacts(<guid>)`, `contacts(<guid>)`, an absolute URL, `/api/data/v9.2/...`, an
    alternate key (`/contacts(emailaddress1='a@b.c')`) and `$n` Content-ID references. `null`
    returns None (clear the lookup).
    """
    _, targets = navigation_properties(table)[nav]
    if value is None:
        return None
    if not isinstance(value, str):
        raise _node_error(table, nav, value) if isinstance(value, list | dict) else _syntax_error()
    text = value.strip()
    if text.startswith("$") and len(text) > 1 and "(" not in text and "/" not in text:
        return LookupRef(target="", id=None, key=None, content_id=text[1:])
    path = urlsplit(text).path if "://" in text else text
    match = _BIND_PATH_RE.match(unquote(path).lstrip("/"))
    if not match:
        raise _syntax_error()
    entity_set, segment = match.groups()
    target_table = _table_by_set(tables, entity_set)
    if target_table is None:
        # Best reading: the OData URI parser's answer for an unknown entity set.
        raise DataverseError(
            400, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{entity_set}'."
        )
    if target_table.logical_name not in targets:
        expected = f"{NAMESPACE}.{targets[0]}" if len(targets) == 1 else f"{NAMESPACE}.principal"
        raise _not_assignable_error(table, _type_name(target_table), expected)
    key = parse_key_segment(target_table, segment)
    if isinstance(key, str):
        return LookupRef(target=target_table.logical_name, id=key)
    return LookupRef(target=target_table.logical_name, id=None, key=key)


# --- payloads ------------------------------------------------------------------------------------


def _check_odata_type(table: Table, value: Any, tables: Sequence[Table]) -> None:
    """`@odata.type` must name this table's entity type (required by the *Multiple actions)."""
    name = value.lstrip("#") if isinstance(value, str) else _literal(value)
    if name == _type_name(table):
        return
    if any(name == _type_name(t) for t in tables):
        raise _not_assignable_error(table, name, _type_name(table))
    # Best reading: ODataLib's ValidationUtils_UnrecognizedTypeName.
    raise payload_error(
        table,
        f"Microsoft.OData.ODataException: A type named '{name}' could not be resolved by the "
        "model. When a model is available, each type name must resolve to a valid type.",
    )


def coerce_payload(
    table: Table,
    payload: Mapping[str, Any],
    *,
    operation: Literal["create", "update"],
    tables: Sequence[Table] = TABLES,
) -> CoercedPayload:
    """Validate a create/update body for `table` and convert it to storage values and binds.

    Raises DataverseError with Dataverse's status, code and message for the first problem found;
    OData-level problems (names, types) are reported before platform-level ones (lookups written
    as values, MaxLength, choice ranges), as the real service does.
    """
    navs = navigation_properties(table)
    structural = {c.logical_name: c for c in table.columns if not c.is_lookup}
    lookup_values = {c.read_name: c for c in table.columns if c.is_lookup}

    converted: list[tuple[Column, Any]] = []
    binds: list[tuple[Column, LookupRef | None]] = []
    entity_reference_write = False

    for key, value in payload.items():
        if key.startswith("@"):
            # Instance annotations (@odata.type, @odata.etag, @odata.id, @odata.context ...)
            if key == "@odata.type":
                _check_odata_type(table, value, tables)
            continue
        name, at, annotation = key.partition("@")
        if at:
            if annotation == "odata.bind":
                if name not in navs:
                    raise undeclared_navigation_error(table, name)
                column, _ = navs[name]
                binds.append((column, parse_bind(table, name, value, tables=tables)))
            elif not (
                name in payload or name in structural or name in lookup_values or name in navs
            ):
                # Property annotations are ignored, but only declared properties may appear
                # with annotations and no value.
                raise undeclared_navigation_error(table, name)
            continue
        if name in structural:
            column = structural[name]
            if value is None:
                if column.is_primary_id:
                    raise payload_error(
                        table,
                        f"Microsoft.OData.ODataException: A null value was found for the property "
                        f"named '{name}', which has the expected type 'Edm.Guid[Nullable=False]'. "
                        "The expected type 'Edm.Guid[Nullable=False]' does not allow null values.",
                    )
                converted.append((column, None))
            else:
                converted.append((column, _convert(table, column, value)))
        elif name in lookup_values:
            # `_x_value` is a declared Edm.Guid property: ODataLib converts it, then the
            # platform refuses it.
            if value is not None:
                _convert(table, Column(name, UNIQUEIDENTIFIER, name), value)
            entity_reference_write = True
        elif name in navs:
            if isinstance(value, dict | list):
                raise DataverseError(
                    501,
                    "",
                    f"Deep insert through '{name}' is not supported by the sandbox; "
                    "create the related record first and use @odata.bind.",
                )
            # Best reading: a primitive where ODataLib expects a nested resource.
            raise payload_error(
                table,
                "Microsoft.OData.ODataException: An unexpected 'PrimitiveValue' node was found "
                "when reading from the JSON reader. A 'StartObject' node was expected.",
            )
        else:
            raise invalid_property_error(table, name)

    if entity_reference_write:
        raise entity_reference_error()

    def allowed(column: Column) -> bool:
        return column.valid_for_create if operation == "create" else column.valid_for_update

    values: dict[str, Any] = {}
    for column, value in converted:
        if not allowed(column):
            continue  # the platform silently ignores read-only columns
        values[column.logical_name] = _platform_check(table, column, value)
    bound: dict[str, LookupRef | None] = {
        column.logical_name: ref for column, ref in binds if allowed(column)
    }
    return CoercedPayload(values=values, binds=bound)


def _utf16_length(text: str) -> int:
    """Length as .NET counts it (UTF-16 code units), which is what MaxLength limits."""
    return len(text.encode("utf-16-le")) // 2


def _platform_check(table: Table, column: Column, value: Any) -> Any:
    """MaxLength and choice-range checks; returns the storage value."""
    if value is None:
        return None
    if column.is_multiselect:
        options = _multiselect_values(table, column, value)
        valid = (
            {o.value for o in column.option_set.options}
            if isinstance(column.option_set, OptionSet)
            else set()
        )
        for option in options:
            if option not in valid:
                raise option_range_error(table, column, option)
        # Dataverse returns the selected values comma-joined without spaces, in value order.
        return ",".join(str(v) for v in sorted(set(options))) or None
    if column.attribute_type in CHOICE_TYPES and isinstance(column.option_set, OptionSet):
        if value not in {o.value for o in column.option_set.options}:
            raise option_range_error(table, column, value)
        return value
    limit = column.max_length
    if isinstance(value, str) and limit is not None and _utf16_length(value) > limit:
        raise max_length_error(table, column)
    return value


# --- URL key segments ----------------------------------------------------------------------------


def _split_key_parts(text: str) -> list[str]:
    """Split `a='x,y',b=2` on commas outside quoted literals."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted  # a doubled '' toggles twice, staying inside the literal
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted:
        raise _syntax_error()
    parts.append("".join(current))
    return parts


def _key_literal(text: str) -> tuple[str, Any]:
    """Read an OData URL literal as (kind, value).

    Kinds: 'string' (with '' escapes), GUID, integer, decimal, true/false, unquoted date/datetime.
    """
    literal = text.strip()
    if len(literal) >= 2 and literal[0] == literal[-1] == "'":
        body = literal[1:-1]
        if "'" in body.replace("''", ""):
            raise _syntax_error()
        return "string", body.replace("''", "'")
    if _GUID_RE.match(literal):
        return "guid", literal.lower()
    if literal in ("true", "false"):
        return "bool", literal == "true"
    if re.fullmatch(r"[+-]?\d+", literal):
        return "int", int(literal)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?[mMdD]?", literal):
        return "float", float(literal.rstrip("mMdD"))
    if _DATE_RE.match(literal) or _DATETIME_RE.match(literal):
        return "date", literal
    raise _syntax_error()


_KEY_KINDS = {
    "Edm.String": ("string",),
    "Edm.Guid": ("guid",),
    "Edm.Int32": ("int",),
    "Edm.Int64": ("int",),
    "Edm.Decimal": ("int", "float"),
    "Edm.Double": ("int", "float"),
    "Edm.Boolean": ("bool",),
    "Edm.Date": ("date",),
    "Edm.DateTimeOffset": ("date",),
}


def _key_value(table: Table, column: Column, kind: str, raw: Any) -> Any:
    """Check an alternate-key literal against its column type and return the storage value."""
    edm = "Edm.Guid" if column.is_lookup else _edm_type(column)
    if kind not in _KEY_KINDS.get(edm, ()):
        raise _syntax_error()
    if column.is_lookup:
        return raw
    try:
        return _convert(table, column, raw)
    except DataverseError:
        raise _syntax_error() from None


def parse_key_segment(table: Table, segment: str) -> dict[str, Any] | str:
    """Parse the parenthesised key of a record URL for `table`.

    `(guid)` and `(contactid=guid)` return the lowercase GUID; `(new_code='A''B')` and multi-part
    `(a='x',b=2)` return {column logical name: storage value} when the names match a declared
    alternate key (`Table.alternate_keys`), otherwise Dataverse's "The key in the request URI is not
    valid" error. Lookup key parts may be written `_x_value=guid` and are returned under the
    column's logical name. The segment must already be percent-decoded.
    """
    text = segment.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    text = text.strip()
    if not text:
        raise _syntax_error()
    if "=" not in text.split("'", 1)[0]:
        guid = normalise_guid(text) if _GUID_RE.match(text) else None
        if guid is None:
            raise _syntax_error()
        return guid
    pairs: dict[str, tuple[str, Any]] = {}
    for part in _split_key_parts(text):
        name, eq, raw = part.partition("=")
        name = name.strip()
        if not eq or not _KEY_NAME_RE.match(name):
            raise _syntax_error()
        if name in pairs:
            raise invalid_key_error(table)
        pairs[name] = _key_literal(raw)
    if list(pairs) == [table.primary_id]:
        kind, value = pairs[table.primary_id]
        if kind != "guid":
            raise _syntax_error()
        return str(value)
    columns: dict[str, Column] = {}
    for name in pairs:
        column = table.column(name)
        if column is None or (column.is_lookup and name != column.read_name):
            raise invalid_key_error(table)
        columns[name] = column
    names = frozenset(c.logical_name for c in columns.values())
    check_key_active(table, names)
    if len(names) != len(pairs) or names not in {frozenset(k) for k in table.alternate_keys}:
        raise invalid_key_error(table)
    return {
        columns[name].logical_name: _key_value(table, columns[name], *literal)
        for name, literal in pairs.items()
    }
