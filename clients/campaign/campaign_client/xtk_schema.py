"""Schemas: read them (`xtk:persist#GetEntityIfMoreRecent`), write and build source schemas.

Adobe's JS SDK loads a method's definition from its schema with GetEntityIfMoreRecent
(`pk` = `xtk:schema|nms:recipient`, an `md5` to skip an unchanged one, `mustExist`).

A custom table is a source schema (`xtk:srcSchema`) written with `xtk:session#Write` and then
built (`xtk:builder#BuildSchemaFromId`), as Adobe's schema article shows: `mappingType="sql"`,
one root element named after the schema with an automatic primary key, attributes, links
(`type="link"` elements, joined on the target's primary key) and local enumerations. The unique
key lists the fields a record is reconciled on (`_key` in writes). `SrcSchema` renders that
document deterministically, so a wizard's output is diff-friendly.
"""

from __future__ import annotations

import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from campaign_client.soap import Param
from campaign_client.xtk_write import WRITE_URN

if t.TYPE_CHECKING:
    from campaign_client.classic import EnumValue
    from campaign_client.soap_session import SoapSession

PERSIST_URN = "xtk:persist"
BUILDER_URN = "xtk:builder"
#: XTK field types a source schema's attributes may have.
XTK_TYPES = frozenset(
    {
        "string",
        "memo",
        "boolean",
        "byte",
        "short",
        "long",
        "int64",
        "float",
        "double",
        "date",
        "datetime",
        "datetimenotz",
        "time",
        "uuid",
    }
)


def get_entity_if_more_recent(
    session: SoapSession, pk: str, md5: str = "", *, must_exist: bool = False
) -> ET.Element | None:
    """Return the entity `pk` (`<type>|<id>`), or None if absent or not newer than `md5`."""
    params = [Param.string("pk", pk), Param.string("md5", md5)]
    params.append(Param.boolean("mustExist", must_exist))
    return session.call(PERSIST_URN, "GetEntityIfMoreRecent", params).element(0)


def get_schema(session: SoapSession, schema_id: str) -> ET.Element | None:
    """Return the compiled schema `schema_id` (e.g. `nms:recipient`), or None if absent."""
    return get_entity_if_more_recent(session, f"xtk:schema|{schema_id}")


@dataclass(frozen=True)
class SchemaAttribute:
    """A field: name, XTK type, label, length (strings) and local enumeration, if any."""

    name: str
    type: str
    label: str = ""
    length: int | None = None
    enum: str | None = None

    def __post_init__(self) -> None:
        """Refuse a type XTK does not have."""
        if self.type not in XTK_TYPES:
            msg = f"attribute '{self.name}': unknown XTK type '{self.type}'"
            raise ValueError(msg)


@dataclass(frozen=True)
class SchemaLink:
    """A link to another schema's record (`target`, e.g. `nms:recipient`)."""

    name: str
    target: str
    label: str = ""


@dataclass(frozen=True)
class SchemaEnumeration:
    """A local enumeration: its values' names, labels and stored values."""

    name: str
    basetype: str
    label: str = ""
    values: tuple[EnumValue, ...] = ()


@dataclass(frozen=True)
class SrcSchema:
    """A custom table's source schema (see the module docstring)."""

    namespace: str
    name: str
    label: str
    label_singular: str
    attributes: tuple[SchemaAttribute, ...]
    key: tuple[str, ...] = ()
    links: tuple[SchemaLink, ...] = ()
    enumerations: tuple[SchemaEnumeration, ...] = ()

    @property
    def id(self) -> str:
        """Return `namespace:name`."""
        return f"{self.namespace}:{self.name}"

    def to_element(self) -> ET.Element:
        """Return the `<srcSchema>` document to write."""
        root = ET.Element(
            "srcSchema",
            {
                "xtkschema": "xtk:srcSchema",
                "namespace": self.namespace,
                "name": self.name,
                "label": self.label,
                "labelSingular": self.label_singular,
                "mappingType": "sql",
            },
        )
        for enumeration in self.enumerations:
            holder = ET.SubElement(
                root,
                "enumeration",
                {"name": enumeration.name, "basetype": enumeration.basetype},
            )
            if enumeration.label:
                holder.set("label", enumeration.label)
            for value in enumeration.values:
                ET.SubElement(
                    holder,
                    "value",
                    {"name": value.name, "label": value.label, "value": value.value},
                )
        element = ET.SubElement(
            root, "element", {"name": self.name, "label": self.label, "autopk": "true"}
        )
        if self.key:
            key = ET.SubElement(element, "key", {"name": self.key[0]})
            for name in self.key:
                ET.SubElement(key, "keyfield", {"xpath": f"@{name}"})
        for attribute in self.attributes:
            node = ET.SubElement(
                element, "attribute", {"name": attribute.name, "type": attribute.type}
            )
            if attribute.label:
                node.set("label", attribute.label)
            if attribute.length is not None:
                node.set("length", str(attribute.length))
            if attribute.enum:
                node.set("enum", attribute.enum)
        for link in self.links:
            node = ET.SubElement(
                element, "element", {"name": link.name, "type": "link", "target": link.target}
            )
            if link.label:
                node.set("label", link.label)
        return root


def write_src_schema(session: SoapSession, schema: SrcSchema) -> None:
    """Create or replace a source schema (`xtk:session#Write`); build it next."""
    session.call(WRITE_URN, "Write", [Param.document("doc", schema.to_element())])


def build_schema(session: SoapSession, schema_id: str) -> None:
    """Build (compile) schema `schema_id` from its source schema, making its table usable."""
    session.call(BUILDER_URN, "BuildSchemaFromId", [Param.string("schemaId", schema_id)])
