"""The seeded Campaign data model: the profile resource and the tenant's custom resources.

Field names, types, lengths and enumerations of `profile` follow Adobe's data model
(`nms:recipient`); `cus*` fields and the `cusProject` / `cusProjectTask` resources are this
tenant's extension, visible only under `profileAndServicesExt`. Resources published at run time
and the stored enumerations live in the database (`datamodel`, `enumerations`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

STRING = "string"
BOOLEAN = "boolean"
DATE = "date"
DATETIME = "datetime"
INTEGER = "long"
DOUBLE = "double"
ENUM = "enumeration"
LINK = "link"
ITEM = "item"
COLLECTION = "collection"  # a link to records of another collection (`subscriptions.href`)


@dataclass(frozen=True)
class EnumValue:
    """One value: label (UI), name (on the wire) and stored value; disabled ones stay readable."""

    label: str
    name: str
    value: int | str
    enabled: bool = True


@dataclass(frozen=True)
class Enumeration:
    """An enumeration (`xtk:enum`), written and read by value name.

    `id` is its name, e.g. `nms:recipient:gender`; `basetype` "byte" stores integers, "string"
    the values' texts.
    """

    id: str
    values: tuple[EnumValue, ...]
    label: str = ""
    basetype: str = "byte"

    @property
    def numeric(self) -> bool:
        """Whether stored values are integers."""
        return self.basetype != "string"

    @cached_property
    def by_name(self) -> dict[str, int | str]:
        """Stored value of each writable (enabled) name."""
        return {v.name: v.value for v in self.values if v.enabled}

    @cached_property
    def by_value(self) -> dict[int | str, str]:
        """Name of each stored value."""
        return {v.value: v.name for v in self.values}


@dataclass(frozen=True)
class Field:
    """A resource field (or a sub-field of an `item` such as `location`)."""

    name: str
    label: str
    kind: str
    length: int | None = None
    enum: Enumeration | None = None
    default: int | str | None = None  # stored value when a POST leaves the field out
    read_only: bool = False
    mandatory: bool = False
    sortable: bool = False
    data_policy: str = "none"
    ext_only: bool = False
    stored: bool = True  # False: computed on read (`age`)
    target: str | None = None  # resource a link points to
    children: tuple[Field, ...] = ()  # sub-fields of an item
    prefix: str = ""  # storage column prefix of item sub-fields

    @property
    def column(self) -> str:
        """SQLite column."""
        return f"{self.prefix}{self.name}"


FILTER_OPERATORS = ("=", ">=", "<=", ">", "<")


@dataclass(frozen=True)
class Filter:
    """A filter usable as a URL segment (`/profile/byEmail?email=…`).

    Its condition is `<field> <operator> <first parameter>` (`byText` searches instead), like
    the one-rule conditions a tenant defines in a resource's "Filter definition" tab.
    """

    name: str
    label: str
    params: tuple[str, ...]
    field: str  # field compared, or searched by `byText`
    ext_only: bool = False
    custom: bool = False  # defined in the tenant's "Filter definition" tab
    operator: str = "="

    def __post_init__(self) -> None:
        """Refuse operators the SQL layer does not know."""
        if self.operator not in FILTER_OPERATORS:
            raise ValueError(f"unknown filter operator {self.operator!r}")


@dataclass(frozen=True)
class Resource:
    """A REST resource backed by one SQLite table."""

    name: str
    label: str
    help: str
    schema: str
    xtk_label: str  # as Campaign names the schema in XTK messages
    code: int  # resource byte inside PKeys
    fields: tuple[Field, ...]
    filters: tuple[Filter, ...]
    key: str | None = None  # identification (custom) key field
    custom: bool = False  # a custom resource: only under profileAndServicesExt
    opt_outs: tuple[str, ...] = ()  # booleans whose change time is kept per attribute
    _by_name: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)
    # record builders per endpoint (`records.builder`): a changed model makes new Resources
    _builders: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Index the fields by name."""
        self._by_name.update({f.name: f for f in self.fields})

    def lookup(self, name: str) -> Field | None:
        """Return a top-level field by API name."""
        return self._by_name.get(name)

    def visible(self, ext: bool) -> tuple[Field, ...]:
        """Fields visible on the plain (`ext=False`) or the Ext endpoint."""
        return self.fields if ext else tuple(f for f in self.fields if not f.ext_only)

    def filter(self, name: str, ext: bool) -> Filter | None:
        """Return a filter by URL segment name."""
        found = next((f for f in self.filters if f.name == name), None)
        return None if found is None or (found.ext_only and not ext) else found


def _enum(
    enum_id: str, label: str, *values: tuple[str, str, int | str], basetype: str = "byte"
) -> Enumeration:
    return Enumeration(enum_id, tuple(EnumValue(*v) for v in values), label, basetype)


GENDER = _enum(
    "nms:recipient:gender",
    "Gender",
    ("Unspecified", "unknown", 0),
    ("Male", "male", 1),
    ("Female", "female", 2),
)
EMAIL_FORMAT = _enum(
    "nms:recipient:emailFormat",
    "Email format",
    ("Unknown", "unknown", 0),
    ("Text", "text", 1),
    ("HTML", "html", 2),
)
TIME_ZONE = _enum(
    "nms:recipient:timeZone",
    "Time zone",
    ("Default", "none", "none"),
    ("(GMT) Coordinated Universal Time", "UTC", "UTC"),
    ("(GMT+00:00) Dublin, Edinburgh, Lisbon, London", "Europe_London", "Europe/London"),
    ("(GMT+01:00) Brussels, Copenhagen, Madrid, Paris", "Europe_Paris", "Europe/Paris"),
    (
        "(GMT+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
        "Europe_Berlin",
        "Europe/Berlin",
    ),
    ("(GMT-05:00) Eastern Time (US & Canada)", "America_New_York", "America/New_York"),
    ("(GMT-08:00) Pacific Time (US & Canada)", "America_Los_Angeles", "America/Los_Angeles"),
    ("(GMT+09:00) Osaka, Sapporo, Tokyo", "Asia_Tokyo", "Asia/Tokyo"),
    basetype="string",
)
MESSAGE_TYPE = _enum("nms:service:messageType", "Channel", ("Email", "email", 0), ("SMS", "sms", 1))
SERVICE_MODE = _enum("nms:service:mode", "Mode", ("Newsletter", "newsletter", 0))
STAGE = _enum(
    "cus:project:cusStage",
    "Stage",
    ("Planned", "planned", 0),
    ("Running", "running", 1),
    ("Done", "done", 2),
)

OPT_OUTS = (
    "blackList",
    "blackListEmail",
    "blackListFax",
    "blackListMobile",
    "blackListPhone",
    "blackListPostalMail",
    "blackListPushnotification",
    "ccpaOptOut",
)
_OPT_OUT_LABELS = {
    "blackList": "No longer contact (by any channel)",
    "blackListEmail": "No longer contact by email",
    "blackListFax": "No longer contact by fax",
    "blackListMobile": "No longer contact by SMS",
    "blackListPhone": "No longer contact by phone",
    "blackListPostalMail": "No longer contact by direct mail",
    "blackListPushnotification": "No longer contact by push notification",
    "ccpaOptOut": "CCPA opt-out (no sale of personal information)",
}


def _location() -> Field:
    subs = (
        ("address1", "Address line 1", 80),
        ("address2", "Address line 2", 80),
        ("address3", "Address line 3", 80),
        ("address4", "Address line 4", 80),
        ("city", "City", 50),
        ("zipCode", "Zip code", 20),
        ("stateCode", "State", 16),
        ("countryCode", "Country code", 2),
    )
    children = tuple(
        Field(n, label, STRING, length, prefix="location_") for n, label, length in subs
    )
    return Field("location", "Location", ITEM, children=children)


def _subscriptions() -> Field:
    return Field("subscriptions", "Subscriptions", COLLECTION, read_only=True, stored=False)


PROFILE = Resource(
    name="profile",
    label="Profiles",
    help="Identified profiles",
    schema="nms:recipient",
    xtk_label="Profiles (nms:recipient)",
    code=1,
    key="externalId",
    opt_outs=OPT_OUTS,
    fields=(
        Field("age", "Age", INTEGER, read_only=True, stored=False),
        Field("birthDate", "Birth date", DATE, sortable=True),
        *(Field(name, label, BOOLEAN, default=0) for name, label in _OPT_OUT_LABELS.items()),
        Field("created", "Created", DATETIME, read_only=True, sortable=True),
        Field("domain", "Email domain", STRING, 255, read_only=True),
        Field("email", "Email", STRING, 128, sortable=True, data_policy="email"),
        Field("emailFormat", "Email format", ENUM, enum=EMAIL_FORMAT, default=0),
        Field("externalId", "External Resource ID", STRING, 100, sortable=True),
        Field("fax", "Fax", STRING, 32),
        Field("firstName", "First name", STRING, 30, sortable=True),
        Field("gender", "Gender", ENUM, enum=GENDER, default=0),
        Field("lastModified", "Last modified", DATETIME, read_only=True, sortable=True),
        Field("lastName", "Last name", STRING, 50, sortable=True),
        _location(),
        Field("middleName", "Middle name", STRING, 30),
        Field("mobilePhone", "Mobile phone", STRING, 32),
        Field("phone", "Phone", STRING, 32),
        Field("salutation", "Title", STRING, 20),
        _subscriptions(),
        Field("thumbnail", "Thumbnail", STRING, 255),
        Field("timeZone", "Time zone", ENUM, enum=TIME_ZONE, default="none"),
        Field("title", "Profile", STRING, 255),
        Field("cusCustomerSince", "Customer since", DATE, sortable=True, ext_only=True),
        Field("cusJobTitle", "Job title", STRING, 100, ext_only=True),
    ),
    filters=(
        Filter("byEmail", "By email", ("email",), "email"),
        Filter("byText", "By name or email", ("text", "filterType"), "email"),
        Filter(
            "byExternalId",
            "By external ID",
            ("externalId_parameter",),
            "externalId",
            ext_only=True,
            custom=True,
        ),
        Filter(  # this tenant's filter for incremental reads (no OOTB "modified since" exists)
            "byLastModified",
            "Modified since",
            ("lastModified_parameter",),
            "lastModified",
            ext_only=True,
            custom=True,
            operator=">=",
        ),
    ),
)

# Services (newsletters) a profile subscribes to, Adobe's `nms:service`; `name` is its unique
# internal name (`SVC1`…). Subscriptions are reached through `subscriptions.href`
# (`subscriptions.py`).
SERVICE = Resource(
    name="service",
    label="Services",
    help="Subscription services",
    schema="nms:service",
    xtk_label="Services (nms:service)",
    code=4,
    key="name",
    fields=(
        Field("builtIn", "Built-in", BOOLEAN, read_only=True, default=0),
        Field("created", "Created", DATETIME, read_only=True, sortable=True),
        Field("label", "Label", STRING, 128, mandatory=True, sortable=True),
        Field("lastModified", "Last modified", DATETIME, read_only=True, sortable=True),
        Field("limitedDuration", "Limited duration", BOOLEAN, default=0),
        Field("messageType", "Channel", ENUM, enum=MESSAGE_TYPE, default=0),
        Field("mode", "Mode", ENUM, enum=SERVICE_MODE, default=0),
        Field("name", "ID", STRING, 64, sortable=True),
        Field("start", "Start", DATE, sortable=True),
        Field(
            "subScenarioEventType",
            "Event type",
            STRING,
            64,
            read_only=True,
            default="subscriptionEvent",
        ),
        _subscriptions(),
        Field("targetResource", "Target resource", STRING, 64, read_only=True, default="profile"),
    ),
    filters=(),
)

PROJECT = Resource(
    name="cusProject",
    label="Projects",
    help="Projects synchronized from the CRM",
    schema="cus:project",
    xtk_label="Projects (cus:project)",
    code=2,
    key="cusCrmId",
    custom=True,
    fields=(
        Field("created", "Created", DATETIME, read_only=True, sortable=True),
        Field("cusBudget", "Budget", DOUBLE),
        Field("cusCode", "Code", STRING, 20, sortable=True),
        Field("cusCrmId", "CRM ID", STRING, 36, mandatory=True, sortable=True),
        Field("cusName", "Name", STRING, 100, mandatory=True, sortable=True),
        Field("cusStage", "Stage", ENUM, enum=STAGE, default=0),
        Field("cusStartDate", "Start date", DATE, sortable=True),
        Field("lastModified", "Last modified", DATETIME, read_only=True, sortable=True),
        Field("profile", "Profile", LINK, target="profile"),
    ),
    filters=(Filter("byCrmId", "By CRM ID", ("cusCrmId_parameter",), "cusCrmId", custom=True),),
)

PROJECT_TASK = Resource(  # second level: tasks of a project (a link to cusProject)
    name="cusProjectTask",
    label="Project tasks",
    help="Project tasks synchronized from the CRM",
    schema="cus:projectTask",
    xtk_label="Project tasks (cus:projectTask)",
    code=3,
    key="cusCrmId",
    custom=True,
    fields=(
        Field("created", "Created", DATETIME, read_only=True, sortable=True),
        Field("cusCrmId", "CRM ID", STRING, 36, mandatory=True, sortable=True),
        Field("cusDueDate", "Due date", DATE, sortable=True),
        Field("cusEffort", "Effort (hours)", DOUBLE),
        Field("cusName", "Name", STRING, 100, mandatory=True, sortable=True),
        Field("cusPriority", "Priority", INTEGER),
        Field("lastModified", "Last modified", DATETIME, read_only=True, sortable=True),
        Field("project", "Project", LINK, target="cusProject"),
    ),
    filters=(Filter("byCrmId", "By CRM ID", ("cusCrmId_parameter",), "cusCrmId", custom=True),),
)

# The seeded data model; `datamodel.DataModel` adds what the tenant publishes at run time.
RESOURCES: dict[str, Resource] = {r.name: r for r in (PROFILE, SERVICE, PROJECT, PROJECT_TASK)}
ENUMERATIONS: tuple[Enumeration, ...] = (
    GENDER,
    EMAIL_FORMAT,
    TIME_ZONE,
    MESSAGE_TYPE,
    SERVICE_MODE,
    STAGE,
)


def storage_fields(resource: Resource) -> list[Field]:
    """Return stored scalar fields in column order (item sub-fields flattened)."""
    out: list[Field] = []
    for f in resource.fields:
        if f.kind == ITEM:
            out += f.children
        elif f.stored:
            out.append(f)
    return out
