"""The v8 (XTK) view of the Campaign store: schemas, attributes, links, reconciliation keys.

The v8 instance is a second API over the same SQLite tables as the REST API:

- `nms:recipient` is the `profile` table with Classic attribute names (`@id` = the row id,
  `@email`, `@firstName`, `@lastName`, `@blackList…`, `@created`, `@lastModified`, …;
  `location` is a sub-element, `[location/@city]`). The CRM contact id is `@externalId` (the REST
  `externalId`, "External Resource ID", which Adobe's D365 integration fills with `contactid`).
  Numeric enumerations read and write their stored integer (`@gender` 0/1/2).
- `nms:service` is the `service` table; every custom REST resource `cusXxx` is `cus:xxx` with its
  field names as attribute names and its links as XTK links (`[profile/@externalId]`).
- `nms:delivery`, `nms:operation`, `nms:broadLogRcp`, `nms:trackingLogRcp` and `nms:trackingUrl`
  are the marketing tables the simulated sends fill (read-only here). `msg` (failure type,
  reason, text) of a delivery log and `url` (type, label, source) of a tracking log are read on
  the log's own row: the sandbox denormalises `nms:broadLogMsg` and `nms:trackingUrl` there.

REST links store the target's PKey; log tables store the target's row id (`target_column`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crm_sandbox.campaign.schema import (
    BOOLEAN,
    COLLECTION,
    DATE,
    DATETIME,
    DOUBLE,
    ENUM,
    INTEGER,
    ITEM,
    LINK,
    STRING,
    Enumeration,
    Field,
    Resource,
)

if TYPE_CHECKING:
    from crm_sandbox.campaign.datamodel import DataModel

_XTK_TYPES = {
    STRING: "string",
    BOOLEAN: "boolean",
    DATE: "date",
    DATETIME: "datetime",
    INTEGER: "long",
    DOUBLE: "double",
}
READ_ONLY = frozenset({"id", "created", "lastModified"})


@dataclass(frozen=True)
class Attr:
    """An XTK attribute: name (without `@`), SQL column, XTK type, sub-element group."""

    name: str
    column: str
    type: str
    label: str = ""
    length: int | None = None
    enum: Enumeration | None = None
    group: str | None = None  # `location`, `msg`, `url`: a sub-element on the same row
    field: Field | None = None  # the REST field behind it (writable attributes)


@dataclass(frozen=True)
class Link:
    """A link to another schema; `column` holds the target's `target_column` (pkey or id)."""

    name: str
    target: str
    column: str
    target_column: str
    label: str = ""


@dataclass(frozen=True)
class XtkSchema:
    """One queryable schema."""

    id: str
    label: str
    label_singular: str
    table: str
    attrs: tuple[Attr, ...]
    links: tuple[Link, ...] = ()
    key: tuple[str, ...] = ()  # attributes of the schema's reconciliation key (besides @id)
    resource: Resource | None = None  # set when writable through the store
    _attrs: dict[tuple[str | None, str], Attr] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        """Index the attributes by (group, name)."""
        self._attrs.update({(a.group, a.name): a for a in self.attrs})

    @property
    def element(self) -> str:
        """The root element name of its documents (`recipient` for `nms:recipient`)."""
        return self.id.split(":", 1)[1]

    def attr(self, name: str, group: str | None = None) -> Attr | None:
        """Return an attribute (of a sub-element when `group` is set)."""
        return self._attrs.get((group, name))

    def link(self, name: str) -> Link | None:
        """Return a link by name."""
        return next((link for link in self.links if link.name == name), None)

    @property
    def groups(self) -> tuple[str, ...]:
        """Sub-element names."""
        return tuple(dict.fromkeys(a.group for a in self.attrs if a.group))


def _enum_type(enum: Enumeration) -> str:
    return "string" if enum.basetype == "string" else enum.basetype


def _resource_attrs(
    resource: Resource, by_resource: dict[str, str]
) -> tuple[list[Attr], list[Link]]:
    attrs = [Attr("id", "id", "long", "Primary key")]
    links = []
    for f in resource.fields:
        if f.kind == COLLECTION or not f.stored:
            continue
        if f.kind == ITEM:
            attrs += [
                Attr(c.name, c.column, "string", c.label, c.length, group=f.name, field=c)
                for c in f.children
            ]
        elif f.kind == LINK:
            assert f.target is not None
            links.append(Link(f.name, by_resource[f.target], f.column, "pkey", f.label))
        elif f.kind == ENUM:
            assert f.enum is not None
            attrs.append(Attr(f.name, f.column, _enum_type(f.enum), f.label, enum=f.enum, field=f))
        else:
            attrs.append(Attr(f.name, f.column, _XTK_TYPES[f.kind], f.label, f.length, field=f))
    return attrs, links


def _log_schemas() -> list[XtkSchema]:
    def a(name: str, kind: str, column: str | None = None, group: str | None = None) -> Attr:
        return Attr(name, column or name, kind, name, group=group)

    operation = XtkSchema(
        "nms:operation",
        "Campaigns",
        "Campaign",
        "nmsOperation",
        (a("id", "long"), a("internalName", "string"), a("label", "string")),
        key=("internalName",),
    )
    delivery = XtkSchema(
        "nms:delivery",
        "Deliveries",
        "Delivery",
        "nmsDelivery",
        (
            a("id", "long"),
            a("internalName", "string"),
            a("label", "string"),
            a("messageType", "byte"),
            a("mirrorPageUrl", "string"),
            a("created", "datetime"),
            a("lastModified", "datetime"),
        ),
        (Link("operation", "nms:operation", "operation-id", "id"),),
        key=("internalName",),
    )
    broad_log = XtkSchema(
        "nms:broadLogRcp",
        "Recipient delivery logs",
        "Recipient delivery log",
        "broadLogRcp",
        (
            a("id", "long"),
            a("address", "string"),
            a("status", "byte"),
            a("eventDate", "datetime"),
            a("contactDate", "datetime"),
            a("lastModified", "datetime"),
            a("failureType", "byte", group="msg"),
            a("failureReason", "byte", group="msg"),
            a("text", "string", "message", group="msg"),
        ),
        (
            Link("delivery", "nms:delivery", "delivery-id", "id"),
            Link("recipient", "nms:recipient", "recipient-id", "id"),
        ),
    )
    tracking_log = XtkSchema(
        "nms:trackingLogRcp",
        "Recipient tracking logs",
        "Recipient tracking log",
        "trackingLogRcp",
        (
            a("id", "long"),
            a("logDate", "datetime"),
            a("sourceType", "string"),
            a("userAgent", "string"),
            a("trackedDevice", "string"),
            a("type", "byte", "urlType", group="url"),
            a("label", "string", "urlLabel", group="url"),
            a("source", "string", "urlSource", group="url"),
        ),
        (
            Link("broadLog", "nms:broadLogRcp", "broadLog-id", "id"),
            Link("delivery", "nms:delivery", "delivery-id", "id"),
            Link("recipient", "nms:recipient", "recipient-id", "id"),
        ),
    )
    tracking_url = XtkSchema(
        "nms:trackingUrl",
        "Tracking URLs",
        "Tracking URL",
        "trackingUrl",  # a view (see `querydef.TRACKING_URL_VIEW`)
        (a("id", "long"), a("type", "byte"), a("label", "string"), a("source", "string")),
        (Link("delivery", "nms:delivery", "delivery-id", "id"),),
    )
    return [operation, delivery, broad_log, tracking_log, tracking_url]


def schemas(model: DataModel) -> dict[str, XtkSchema]:
    """Every schema of the instance, by id, for the current data model."""
    by_resource = {r.name: r.schema for r in model.resources.values()}
    out: dict[str, XtkSchema] = {}
    for resource in model.resources.values():
        attrs, links = _resource_attrs(resource, by_resource)
        label = resource.xtk_label.rsplit(" (", 1)[0]
        if resource.schema == "nms:recipient":
            label = "Recipients"  # Classic's label (Campaign Standard says "Profiles")
        key = () if resource.schema == "nms:recipient" else (resource.key,) if resource.key else ()
        out[resource.schema] = XtkSchema(
            resource.schema,
            label,
            label[:-1] if label.endswith("s") else label,
            resource.name,
            tuple(attrs),
            tuple(links),
            key,
            resource,
        )
    for schema in _log_schemas():
        out[schema.id] = schema
    return out
