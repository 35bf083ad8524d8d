"""Dynamics 365 columns → Campaign fields, typed as Adobe's CRM connector types them.

Adobe's Microsoft Dynamics connector documents what its wizard supports: "boolean, datetime,
decimal, float, double, integer, bigint, string"; "Money (as double)"; "memo, entityname,
primarykey, uniqueidentifier (as strings)"; "Status, picklist (we store the possible values in
enumerations), state (string)"; "owner (as string)"; "Lookup (only single entity reference
lookups)"; and not: customer, Regarding, PartyList, ManagedProperty, multi-select option sets.

| D365 AttributeType | v8 (`xtk:srcSchema`) | Standard (custom resource) |
|---|---|---|
| primary id (Uniqueidentifier) | key `cusCrmId`, string 36 | key `cusCrmId`, string 36 |
| String | string, its MaxLength | string, its MaxLength (≤ 4000) |
| Memo | memo | string, its MaxLength (≤ 4000) |
| EntityName | string 128 | string 128 |
| Uniqueidentifier | string 36 | string 36 |
| Boolean | boolean | boolean |
| DateTime | datetime (date if DateOnly) | datetime (date if DateOnly) |
| Integer | long | long |
| BigInt | int64 | double (Standard has no 64-bit integer) |
| Decimal, Double, Money | double | double |
| Picklist, Status | long + local enumeration | enumeration |
| State | string 64 (the state's label) | string 64 |
| Owner | string 36 (the owner's id) | string 36 |
| Lookup, one target | link: contact → nms:recipient, a selected table → its schema | link |

Everything else is listed as skipped with its reason: Customer, lookups with several targets
(Regarding), PartyList, ManagedProperty, multi-select choices, images, files, virtual columns,
lookups to a table that is not generated, derived helper columns (`AttributeOf`), unreadable
columns.

Names [design]: Campaign field = `cus` + the logical name without the publisher prefix, in
camel case (`address1_city` → `cusAddress1City`, `new_budget` → `cusBudget`), at most 30
characters; the same names on both backends, so one stream map serves both. Schema =
`cus:<table>` (`cus:salesorder`), resource `cus<Table>` (`cusSalesorder`). A link is named
after its lookup without its `id` suffix (`primarycontactid` → `primarycontact`); the record
carries the parent's CRM id as `<link>Id`. Enumeration values are named like the target's
`value_names: label` (the label's slug, `_<value>` on a clash), so its enumeration sync finds
them.
"""

from __future__ import annotations

import re
import typing as t
import unicodedata
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from target_adobe_campaign.wizard.d365 import D365Attribute, D365Table

KEY_FIELD = "cusCrmId"
KEY_LENGTH = 36
MAX_FIELD_NAME = 30  # Campaign Standard: "Use 30 characters maximum"
MAX_STANDARD_LENGTH = 4000
MAX_VALUE_NAME = 64
ENTITY_NAME_LENGTH = 128
STATE_LENGTH = 64
PROFILE_TABLE = "contact"  # D365 contacts are Campaign profiles (nms:recipient)
PROFILE_RESOURCE = "profile"
PROFILE_SCHEMA = "nms:recipient"

#: AttributeType → (XTK type, Standard type) of the plain scalar columns.
SCALARS: dict[str, tuple[str, str]] = {
    "String": ("string", "string"),
    "Memo": ("memo", "string"),
    "EntityName": ("string", "string"),
    "Uniqueidentifier": ("string", "string"),
    "Boolean": ("boolean", "boolean"),
    "DateTime": ("datetime", "datetime"),
    "Integer": ("long", "long"),
    "BigInt": ("int64", "double"),
    "Decimal": ("double", "double"),
    "Double": ("double", "double"),
    "Money": ("double", "double"),
    "Owner": ("string", "string"),
    "State": ("string", "string"),
}
ENUM_TYPES = frozenset({"Picklist", "Status"})
#: Why Adobe's connector (and so the wizard) leaves a type out.
UNSUPPORTED: dict[str, str] = {
    "Customer": "Customer lookup (account or contact): Adobe's connector does not support it",
    "PartyList": "PartyList: Adobe's connector does not support it",
    "ManagedProperty": "ManagedProperty: Adobe's connector does not support it",
    "CalendarRules": "CalendarRules: not a data column",
}
MULTISELECT = "MultiSelectPicklistType"


class MappingError(ValueError):
    """The selection cannot be mapped (e.g. two columns give the same Campaign name)."""


@dataclass(frozen=True)
class EnumValue:
    """One value of a generated enumeration."""

    name: str
    label: str
    value: int


@dataclass(frozen=True)
class FieldPlan:
    """A Campaign field made from one D365 column."""

    column: str  # D365 logical name
    d365_type: str
    name: str  # the Campaign field (both backends)
    xtk_type: str
    standard_type: str
    label: str
    length: int | None = None  # v8 strings
    standard_length: int | None = None  # Standard strings
    enum_values: tuple[EnumValue, ...] = ()  # Picklist / Status
    states: tuple[tuple[int, str], ...] = ()  # State: value → label, written as the label
    source: str = ""  # the record property the tap emits (`_x_value` for lookups)
    note: str = ""

    @property
    def is_enum(self) -> bool:
        """A field holding an enumeration value."""
        return bool(self.enum_values) or self.standard_type == "enumeration"


@dataclass(frozen=True)
class LinkPlan:
    """A Campaign link made from a single-table lookup."""

    column: str
    name: str  # the Campaign link
    label: str
    target_table: str  # D365 table it points at
    target_resource: str  # Standard: `profile` or `cus<Table>`
    target_schema: str  # v8: `nms:recipient` or `cus:<table>`
    parent_stream: str  # the stream whose records are the parents
    carrier: str  # the record field holding the parent's CRM id

    @property
    def source(self) -> str:
        """The record property the tap emits for the lookup."""
        return f"_{self.column}_value"


@dataclass(frozen=True)
class Skipped:
    """A column the wizard does not map, and why."""

    column: str
    d365_type: str
    reason: str


@dataclass(frozen=True)
class TablePlan:
    """Everything generated for one table."""

    table: str  # D365 logical name
    stream: str  # tap-dynamics365's stream (the logical name)
    schema_name: str  # `salesorder` of `cus:salesorder`
    label: str
    label_singular: str
    primary_id: str
    key_label: str
    fields: tuple[FieldPlan, ...]
    links: tuple[LinkPlan, ...]
    skipped: tuple[Skipped, ...] = field(default=())

    @property
    def schema_id(self) -> str:
        """The v8 schema, e.g. `cus:salesorder`."""
        return f"cus:{self.schema_name}"

    @property
    def resource(self) -> str:
        """The Standard custom resource, e.g. `cusSalesorder`."""
        return resource_name(self.schema_name)

    def enumeration(self, field_plan: FieldPlan) -> str:
        """Return the enumeration's full name, e.g. `cus:account:cusIndustrycode`."""
        return f"{self.schema_id}:{field_plan.name}"


def _strip_prefix(name: str, table: D365Table) -> str:
    """Drop a custom table's publisher prefix (`new_budget` of `new_project` → `budget`)."""
    if table.is_custom and "_" in table.logical_name:
        prefix = table.logical_name.split("_", 1)[0] + "_"
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


def _camel(name: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    return "".join(p[:1].upper() + p[1:] for p in parts)


def schema_name(table: D365Table) -> str:
    """`salesorder` → `salesorder`, `new_projecttask` → `projecttask` (lower camel case)."""
    camel = _camel(_strip_prefix(table.logical_name, table))
    return camel[:1].lower() + camel[1:]


def resource_name(schema: str) -> str:
    """`salesorder` → `cusSalesorder`."""
    return "cus" + schema[:1].upper() + schema[1:]


def field_name(column: str, table: D365Table) -> str:
    """`address1_city` → `cusAddress1City` (at most 30 characters)."""
    return ("cus" + _camel(_strip_prefix(column, table)))[:MAX_FIELD_NAME]


def link_name(column: str, table: D365Table) -> str:
    """`primarycontactid` → `primarycontact`, `new_projectid` → `project`."""
    stem = _strip_prefix(column, table)
    if stem.endswith("id") and len(stem) > 2:
        stem = stem[:-2]
    camel = _camel(stem)
    return camel[:1].lower() + camel[1:]


def slug(label: str) -> str:
    """Make a value name from a label: `Hot lead (web)` → `hot_lead_web` (the target's rule)."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:MAX_VALUE_NAME]


def enum_values(options: t.Iterable[tuple[int, str]]) -> tuple[EnumValue, ...]:
    """Name the options as the target's `value_names: label` does; ordered by value."""
    out: list[EnumValue] = []
    used: set[str] = set()
    for value, text in sorted(options):
        name = slug(text) or str(value)
        if name in used:
            name = f"{name[: MAX_VALUE_NAME - len(str(value)) - 1]}_{value}"
        used.add(name)
        out.append(EnumValue(name, text, value))
    return tuple(out)


def _skip_reason(attribute: D365Attribute) -> str | None:
    """Why a column is left out, before its type is looked at (None: it is a candidate)."""
    if attribute.attribute_of:
        return f"derived from {attribute.attribute_of} (AttributeOf)"
    if not attribute.readable:
        return "not readable (IsValidForRead false)"
    return None


def _unsupported(attribute: D365Attribute) -> str:
    kind = attribute.attribute_type
    if attribute.type_name == MULTISELECT:
        return (
            "multi-select choice: Adobe's connector does not support it "
            "(a Campaign enumeration holds one value)"
        )
    if kind in UNSUPPORTED:
        return UNSUPPORTED[kind]
    detail = f" ({attribute.type_name})" if attribute.type_name else ""
    return f"type {kind or '?'}{detail}: Adobe's connector has no mapping for it"


def map_scalar(attribute: D365Attribute, table: D365Table) -> FieldPlan | Skipped:
    """Map one non-lookup column (or an Owner) to a field, or say why it is skipped."""
    kind = attribute.attribute_type
    if kind in ENUM_TYPES and attribute.type_name != MULTISELECT:
        xtk_type, standard_type = "long", "enumeration"
    elif kind in SCALARS and attribute.type_name != MULTISELECT:
        xtk_type, standard_type = SCALARS[kind]
    else:
        return Skipped(attribute.logical_name, kind, _unsupported(attribute))
    length: int | None = None
    standard_length: int | None = None
    source = attribute.logical_name
    values: tuple[EnumValue, ...] = ()
    states: tuple[tuple[int, str], ...] = ()
    note = ""
    if kind in ENUM_TYPES:
        values = enum_values(attribute.options)
        note = f"{kind}: enumeration of its {len(attribute.options)} options"
    elif kind == "DateTime" and attribute.date_only:
        xtk_type = standard_type = "date"
        note = "DateOnly"
    elif kind in ("String", "Memo"):
        length = attribute.max_length or 255
        standard_length = min(length, MAX_STANDARD_LENGTH)
        if kind == "Memo":
            length = None
            note = "memo"
        if (attribute.max_length or 0) > MAX_STANDARD_LENGTH:
            note = f"Standard strings hold {MAX_STANDARD_LENGTH} characters at most"
    elif kind == "EntityName":
        length = standard_length = ENTITY_NAME_LENGTH
    elif kind == "Uniqueidentifier":
        length = standard_length = KEY_LENGTH
    elif kind == "Owner":
        length = standard_length = KEY_LENGTH
        source = f"_{attribute.logical_name}_value"
        note = "owner id (systemuser or team), as a string"
    elif kind == "State":
        length = standard_length = STATE_LENGTH
        states = tuple(sorted(attribute.options))
        note = "state label, as a string"
    elif kind == "BigInt":
        note = "Standard: double (exact up to 2^53)"
    elif kind == "Money":
        note = "Money as double"
    return FieldPlan(
        column=attribute.logical_name,
        d365_type=kind,
        name=field_name(attribute.logical_name, table),
        xtk_type=xtk_type,
        standard_type=standard_type,
        label=attribute.display_name or attribute.logical_name,
        length=length,
        standard_length=standard_length,
        enum_values=values,
        states=states,
        source=source,
        note=note,
    )


def map_lookup(
    attribute: D365Attribute, table: D365Table, selected: t.Mapping[str, str]
) -> LinkPlan | Skipped:
    """Map a single-table lookup to contact or to a selected table to a link.

    `selected`: D365 logical name → schema name of the tables generated in the same run.
    """
    kind = attribute.attribute_type
    if kind == "Customer":
        return Skipped(attribute.logical_name, kind, UNSUPPORTED["Customer"])
    if len(attribute.targets) != 1:
        targets = "/".join(attribute.targets) or "?"
        return Skipped(
            attribute.logical_name,
            kind,
            f"lookup to several tables ({targets}): Adobe's connector supports single "
            "entity reference lookups only",
        )
    (target,) = attribute.targets
    if target == PROFILE_TABLE:
        resource, schema = PROFILE_RESOURCE, PROFILE_SCHEMA
    elif target in selected:
        resource, schema = resource_name(selected[target]), f"cus:{selected[target]}"
    else:
        return Skipped(
            attribute.logical_name,
            kind,
            f"lookup to {target}, which is not generated: add {target} to --tables to link it",
        )
    name = link_name(attribute.logical_name, table)
    return LinkPlan(
        column=attribute.logical_name,
        name=name,
        label=attribute.display_name or attribute.logical_name,
        target_table=target,
        target_resource=resource,
        target_schema=schema,
        parent_stream=target,
        carrier=f"{name}Id",
    )


def plan_table(table: D365Table, selected: t.Mapping[str, str]) -> TablePlan:
    """Map every column of a table (see the module docstring)."""
    fields: list[FieldPlan] = []
    links: list[LinkPlan] = []
    skipped: list[Skipped] = []
    key_label = table.primary_id
    for attribute in table.attributes:
        reason = _skip_reason(attribute)
        if reason is not None:
            skipped.append(Skipped(attribute.logical_name, attribute.attribute_type, reason))
            continue
        if attribute.logical_name == table.primary_id:
            key_label = attribute.display_name or table.primary_id
            continue
        mapped: FieldPlan | LinkPlan | Skipped
        if attribute.attribute_type in ("Lookup", "Customer"):
            mapped = map_lookup(attribute, table, selected)
        else:
            mapped = map_scalar(attribute, table)
        if isinstance(mapped, Skipped):
            skipped.append(mapped)
        elif isinstance(mapped, LinkPlan):
            links.append(mapped)
        else:
            fields.append(mapped)
    _check_names(table, fields, links)
    return TablePlan(
        table=table.logical_name,
        stream=table.logical_name,
        schema_name=selected.get(table.logical_name) or schema_name(table),
        label=table.collection_name,
        label_singular=table.display_name,
        primary_id=table.primary_id,
        key_label=key_label,
        fields=tuple(fields),
        links=tuple(links),
        skipped=tuple(skipped),
    )


def _check_names(table: D365Table, fields: list[FieldPlan], links: list[LinkPlan]) -> None:
    seen: dict[str, str] = {KEY_FIELD: table.primary_id}
    for name, column in [(f.name, f.column) for f in fields] + [
        (n, c) for link in links for n, c in ((link.name, link.column), (link.carrier, link.column))
    ]:
        if name in seen and seen[name] != column:
            msg = (
                f"{table.logical_name}: columns {seen[name]} and {column} both give the "
                f"Campaign name '{name}'"
            )
            raise MappingError(msg)
        seen[name] = column


def plan_tables(tables: t.Sequence[D365Table]) -> list[TablePlan]:
    """Plan each table; lookups between them become links. Parents come first."""
    names = [t.logical_name for t in tables]
    if PROFILE_TABLE in names:
        msg = (
            f"'{PROFILE_TABLE}' is Campaign's profile table (nms:recipient), not a custom "
            "table; leave it out of --tables"
        )
        raise MappingError(msg)
    selected = {t.logical_name: schema_name(t) for t in tables}
    plans = [plan_table(table, selected) for table in tables]
    return order_parents_first(plans)


def order_parents_first(plans: list[TablePlan]) -> list[TablePlan]:
    """Tables a table links to come before it (a schema's link targets must exist); stable."""
    by_table = {p.table: p for p in plans}
    done: list[TablePlan] = []
    visiting: set[str] = set()

    def visit(plan: TablePlan) -> None:
        if plan in done or plan.table in visiting:
            return  # a cycle keeps the given order
        visiting.add(plan.table)
        for link in plan.links:
            parent = by_table.get(link.target_table)
            if parent is not None and parent is not plan:
                visit(parent)
        visiting.discard(plan.table)
        done.append(plan)

    for plan in plans:
        visit(plan)
    return done
