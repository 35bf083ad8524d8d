"""`nms:recipient` as its compiled schema describes it: the attributes a profile record takes.

Read once at discovery (`xtk:persist#GetEntityIfMoreRecent`, as Adobe's SDK loads a schema).
The profile schema is then built as on Campaign Standard (`streams.profile_schema`) from
field descriptions in the REST metadata's shape, so both backends declare the same fields.

Values come as XTK writes them: booleans and numbers as digits, enumerations as their stored
value (`@gender` 1), date-times as `YYYY-MM-DD HH:MM:SS.mmmZ`. Records carry what the REST API
shows: enumeration value names (`male`), booleans, numbers, ISO 8601 date-times, and null for
empty values.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from campaign_client.dates import from_campaign_datetime
from campaign_client.querydef import value_at
from campaign_client.soap import local_name
from campaign_client.xtk_schema import get_schema

if t.TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from campaign_client.soap_session import SoapSession

RECIPIENT = "nms:recipient"
#: XTK type → (REST metadata `type`, `resType`), as `campaign_client.metadata` reads them.
_FIELD_TYPES: dict[str, tuple[str, str]] = {
    "string": ("string", ""),
    "memo": ("memo", ""),
    "boolean": ("boolean", ""),
    "date": ("date", ""),
    "datetime": ("datetime", ""),
    "datetimenotz": ("datetime", ""),
    "byte": ("number", "byte"),
    "short": ("number", "short"),
    "long": ("number", "long"),
    "int64": ("number", "int64"),
    "float": ("number", "float"),
    "double": ("number", "double"),
}
_INTEGERS = frozenset({"byte", "short", "long", "int64"})
_DECIMALS = frozenset({"float", "double"})


class SchemaNotFoundError(LookupError):
    """The instance has no such schema (`GetEntityIfMoreRecent` answered nothing)."""


@dataclass(frozen=True)
class Attribute:
    """One attribute of the schema's root element: XTK type, label, local enumeration."""

    name: str
    type: str
    label: str = ""
    #: Stored value → value name, for an attribute with a local enumeration (`enum=`).
    names: dict[str, str] = field(default_factory=dict)

    def field(self) -> dict[str, str]:
        """Describe it as a REST metadata field (enumerations as their value names: strings)."""
        if self.names:
            return {"type": "enumeration", "resType": "string", "label": self.label}
        kind, stored = _FIELD_TYPES.get(self.type, ("string", ""))
        return {"type": kind, "resType": stored, "label": self.label}

    def value(self, text: str | None) -> t.Any:
        """Return the record value of the attribute's XTK text (None for an empty value)."""
        if text is None or text == "":
            return None
        if self.names:
            return self.names.get(text, text)
        if self.type == "boolean":
            return text.strip().lower() in {"1", "true"}
        if self.type in _INTEGERS:
            return int(text)
        if self.type in _DECIMALS:
            return float(text)
        if self.type in {"datetime", "datetimenotz"}:
            moment = from_campaign_datetime(text)
            return moment.isoformat() if moment else None
        return text


def _enumerations(schema: ET.Element) -> dict[str, dict[str, str]]:
    return {
        str(enum.get("name")): {
            str(value.get("value")): str(value.get("name"))
            for value in enum
            if local_name(value.tag) == "value"
        }
        for enum in schema
        if local_name(enum.tag) == "enumeration"
    }


@dataclass(frozen=True)
class RecipientSchema:
    """The attributes of `nms:recipient`'s root element (not those of `location` and such)."""

    attributes: dict[str, Attribute]

    @classmethod
    def parse(cls, schema: ET.Element) -> RecipientSchema:
        """Read a compiled schema (`<schema><enumeration/>…<element name=…>`)."""
        name = schema.get("name")
        root = next(
            (e for e in schema if local_name(e.tag) == "element" and e.get("name") == name),
            None,
        )
        enums = _enumerations(schema)
        attributes = {}
        for node in root if root is not None else ():
            if local_name(node.tag) != "attribute" or not node.get("name"):
                continue
            attribute = Attribute(
                str(node.get("name")),
                str(node.get("type") or "string"),
                str(node.get("label") or ""),
                enums.get(str(node.get("enum") or ""), {}),
            )
            attributes[attribute.name] = attribute
        return cls(attributes)

    @classmethod
    def read(cls, session: SoapSession) -> RecipientSchema:
        """Load `nms:recipient` from the instance (one call)."""
        schema = get_schema(session, RECIPIENT)
        if schema is None:
            msg = f"the instance answered no schema {RECIPIENT}"
            raise SchemaNotFoundError(msg)
        return cls.parse(schema)

    def fields(self) -> dict[str, dict[str, str]]:
        """Every attribute as a REST metadata field, for `streams.profile_schema`."""
        return {name: attribute.field() for name, attribute in self.attributes.items()}

    def values(self, row: ET.Element, names: t.Iterable[str]) -> dict[str, t.Any]:
        """Return the record values of attributes `names` (each `@name`) in a queryDef row."""
        return {
            name: self.attributes[name].value(value_at(row, f"@{name}"))
            for name in names
            if name in self.attributes
        }
