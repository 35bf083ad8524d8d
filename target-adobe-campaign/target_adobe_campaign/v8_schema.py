"""A Campaign v8 schema as the v8 backend needs it: attribute types, enumerations, links.

Read once per run with `xtk:persist#GetEntityIfMoreRecent`. It converts values both ways so
the planner compares and writes the same forms on both backends:

- read (`current`): queryDef text → the REST form the planner's bodies hold (booleans, numbers,
  enumeration value names, `YYYY-MM-DD HH:MM:SS.mmmZ` date-times);
- write (`xtk_value`): REST form → what an XTK attribute takes (ISO date-times as Adobe's SDK
  sends them, an enumeration's stored value for its name).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from campaign_client.dates import from_campaign_datetime, to_campaign_datetime, to_iso_datetime

if t.TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from campaign_client.xtk_write import Value

    from target_adobe_campaign.routing import Route

RECIPIENT = "nms:recipient"
INTEGER_TYPES = frozenset({"byte", "short", "long", "int64"})
DECIMAL_TYPES = frozenset({"float", "double"})


def schema_id(route: Route) -> str:
    """Return the route's schema: `profile` → `nms:recipient`, `cusProjectTask` → `cus:projectTask`.

    (Campaign Standard's custom resource `cusX` is the v8 custom schema `cus:x`.)
    """
    if route.resource == "profile":
        return RECIPIENT
    name = route.resource.removeprefix("cus")
    return f"cus:{name[:1].lower()}{name[1:]}"


def xpath(name: str) -> str:
    """Return the XPath of an attribute (`externalId` → `@externalId`)."""
    return f"@{name}"


@dataclass(frozen=True)
class Attribute:
    """An attribute: its XTK type and, for a local enumeration, name ↔ stored value."""

    name: str
    type: str
    names: dict[str, str] = field(default_factory=dict)  # stored value → value name
    stored: dict[str, str] = field(default_factory=dict)  # value name → stored value


@dataclass(frozen=True)
class SchemaInfo:
    """The attributes and links of one schema's root element."""

    id: str
    attributes: dict[str, Attribute]
    links: frozenset[str]

    @classmethod
    def parse(cls, schema: str, element: ET.Element) -> SchemaInfo:
        """Read a compiled schema (`<schema>` with `<enumeration>`s and its root `<element>`)."""
        enums = {
            e.get("name", ""): {v.get("value", ""): v.get("name", "") for v in e.iter("value")}
            for e in element.findall("enumeration")
        }
        root_name = schema.rpartition(":")[2]
        root = next((e for e in element.findall("element") if e.get("name") == root_name), None)
        attributes: dict[str, Attribute] = {}
        links: set[str] = set()
        for child in root if root is not None else ():
            name = child.get("name", "")
            if child.tag == "attribute":
                names = enums.get(child.get("enum") or "", {})
                attributes[name] = Attribute(
                    name,
                    child.get("type", "string"),
                    names,
                    {value_name: stored for stored, value_name in names.items()},
                )
            elif child.tag == "element" and child.get("type") == "link":
                links.add(name)
        return cls(schema, attributes, frozenset(links))

    def current(self, name: str, text: str | None) -> t.Any:
        """Return a queryDef value in the planner's (REST) form."""
        attribute = self.attributes.get(name)
        if text is None or attribute is None:
            return text
        if attribute.names:
            if text not in attribute.names and text in ("", "0"):
                return None  # an unset enumerated attribute reads as 0 (long) or "" (string)
            return attribute.names.get(text, text)
        if attribute.type == "boolean":
            return text.strip().lower() in {"1", "true"}
        try:
            if attribute.type in INTEGER_TYPES:
                return int(text) if text else None
            if attribute.type in DECIMAL_TYPES:
                return float(text) if text else None
            if attribute.type == "datetime":
                moment = from_campaign_datetime(text)
                return to_campaign_datetime(moment) if moment else None
        except ValueError:
            return text
        return text

    def xtk_value(self, name: str, value: t.Any) -> Value:
        """Return a body value as the attribute is written."""
        attribute = self.attributes.get(name)
        if attribute is None or value is None:
            return t.cast("Value", value)
        if attribute.stored and str(value) in attribute.stored:
            return attribute.stored[str(value)]
        if attribute.type == "datetime" and isinstance(value, str):
            try:
                moment = from_campaign_datetime(value)
            except ValueError:
                return value
            return to_iso_datetime(moment) if moment else value
        return t.cast("Value", value)
