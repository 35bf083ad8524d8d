"""The Dataverse tables the sandbox serves, described as data.

Everything the emulator exposes (metadata endpoints, `$metadata`, validation, storage columns, the
seed generator) is derived from these definitions, so a new table or column is added here once.
Names, types and option values follow Microsoft's published `contact`/`account` reference; the
custom tables use the `new_` publisher prefix and option values starting at 100000000, as real
custom solutions do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# AttributeTypeCode values (AttributeMetadata.AttributeType) used by the sandbox.
STRING = "String"
MEMO = "Memo"
INTEGER = "Integer"
BIGINT = "BigInt"
DECIMAL = "Decimal"
DOUBLE = "Double"
MONEY = "Money"
BOOLEAN = "Boolean"
DATETIME = "DateTime"
LOOKUP = "Lookup"
CUSTOMER = "Customer"
OWNER = "Owner"
PICKLIST = "Picklist"
STATE = "State"
STATUS = "Status"
UNIQUEIDENTIFIER = "Uniqueidentifier"
VIRTUAL = "Virtual"

LOOKUP_TYPES = frozenset({LOOKUP, CUSTOMER, OWNER})
# Tables an Owner lookup may point at; their entity types derive from the abstract `principal`.
PRINCIPALS = ("systemuser", "team")
CHOICE_TYPES = frozenset({PICKLIST, STATE, STATUS})


@dataclass(frozen=True)
class Option:
    """One choice value with its English (1033) label."""

    value: int
    label: str
    state: int | None = None  # StatusAttributeMetadata options carry the statecode they belong to
    default_status: int | None = None  # StateAttributeMetadata: DefaultStatus (else value + 1)


@dataclass(frozen=True)
class OptionSet:
    """A local or global choice (option set)."""

    name: str
    options: tuple[Option, ...]
    is_global: bool = False
    option_set_type: str = "Picklist"  # Picklist | State | Status | Boolean

    def label_of(self, value: int) -> str | None:
        """Return the label of `value`, or None when it is not an option."""
        return next((o.label for o in self.options if o.value == value), None)


@dataclass(frozen=True)
class BooleanOptionSet:
    """The two-option set behind a Boolean column (TrueOption is Value 1, FalseOption Value 0)."""

    name: str
    true_label: str
    false_label: str
    is_global: bool = True


@dataclass(frozen=True)
class Column:
    """One attribute of a table, as AttributeMetadata describes it."""

    logical_name: str
    attribute_type: str
    display_name: str
    type_name: str = ""  # AttributeTypeName.Value; derived from attribute_type when empty
    max_length: int | None = None
    required_level: str = "None"  # None | SystemRequired | ApplicationRequired | Recommended
    valid_for_create: bool = True
    valid_for_update: bool = True
    valid_for_read: bool = True
    date_only: bool = False  # DateTime with DateTimeFormat DateOnly
    option_set: OptionSet | BooleanOptionSet | None = None
    targets: tuple[str, ...] = ()  # lookups: logical names of the tables the lookup may point to
    is_primary_id: bool = False
    is_primary_name: bool = False
    default: object = None
    precision: int | None = None  # Decimal/Money/Double
    regarding_of: str = ""  # an activity's `regardingobjectid`: the activity table's logical name
    schema_name: str = ""  # SchemaName as created (derived from the logical name when empty)

    @property
    def attribute_type_name(self) -> str:
        """AttributeTypeName.Value, e.g. StringType or MultiSelectPicklistType."""
        return self.type_name or f"{self.attribute_type}Type"

    @property
    def is_lookup(self) -> bool:
        """True for Lookup, Customer and Owner columns (read as `_<name>_value`)."""
        return self.attribute_type in LOOKUP_TYPES

    @property
    def is_multiselect(self) -> bool:
        """True for multi-select choices (AttributeType Virtual, MultiSelectPicklistType)."""
        return self.attribute_type_name == "MultiSelectPicklistType"

    @property
    def read_name(self) -> str:
        """The property name in Web API responses (`_x_value` for lookups)."""
        return f"_{self.logical_name}_value" if self.is_lookup else self.logical_name

    def navigation_properties(self) -> dict[str, tuple[str, ...]]:
        """Single-valued navigation properties of a lookup: name → tables it may point at.

        An Owner lookup has one, named like the column and typed `principal` (so
        `ownerid@odata.bind` takes `/systemusers(…)` or `/teams(…)`); other lookups with several
        targets (Customer) have one per target, `<column>_<target>`. An activity's "regarding"
        lookup has one per target even with a single target, named after the activity table too:
        `regardingobjectid_<target>_<activity>` (e.g. `regardingobjectid_contact_task`).
        """
        if self.regarding_of:
            return {f"{self.logical_name}_{t}_{self.regarding_of}": (t,) for t in self.targets}
        if self.attribute_type == OWNER or len(self.targets) == 1:
            return {self.logical_name: self.targets}
        return {f"{self.logical_name}_{t}": (t,) for t in self.targets}

    def navigation_property(self, target: str) -> str:
        """Return the navigation property pointing at `target` (`associatednavigationproperty`)."""
        return next(n for n, ts in self.navigation_properties().items() if target in ts)


KEY_PENDING = "Pending"
KEY_ACTIVE = "Active"
KEY_FAILED = "Failed"


@dataclass(frozen=True)
class KeyDefinition:
    """An alternate key created through the Web API (EntityKeyMetadata) and its index status.

    `ready_at` is the sandbox time at which the background index job finishes: until then the
    key is `Pending` (declared but unusable); then `Active`, or `Failed` when existing rows
    violate it.
    """

    schema_name: str
    attributes: tuple[str, ...]
    display_name: str = ""
    status: str = KEY_PENDING
    ready_at: float = 0.0

    @property
    def logical_name(self) -> str:
        """LogicalName: the schema name in lower case."""
        return self.schema_name.lower()


@dataclass(frozen=True)
class Table:
    """One Dataverse table (EntityMetadata)."""

    logical_name: str
    entity_set_name: str
    display_name: str
    primary_id: str
    primary_name: str
    columns: tuple[Column, ...]
    is_custom: bool = False
    is_activity: bool = False
    change_tracking: bool = True
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    object_type_code: int = 0
    supports_multiple: bool = True  # CreateMultiple/UpdateMultiple/UpsertMultiple available
    ownership: str = "UserOwned"  # OwnershipType; UserOwned tables have `ownerid`
    schema: str = ""  # SchemaName as created through the Web API (derived when empty)
    created: bool = False  # created through the Web API (persisted in the state dir)
    has_activities: bool | None = None  # HasActivities; None = every non-activity table
    key_definitions: tuple[KeyDefinition, ...] = ()  # keys created through the Web API
    _by_name: dict[str, Column] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Index columns by logical name and by Web API read name."""
        for column in self.columns:
            self._by_name[column.logical_name] = column
            self._by_name[column.read_name] = column

    @property
    def is_principal(self) -> bool:
        """True for systemuser and team (entity types deriving from `principal`)."""
        return self.logical_name in PRINCIPALS

    @property
    def schema_name(self) -> str:
        """SchemaName: as created, else the logical name with publisher-style capitalisation."""
        if self.schema:
            return self.schema
        if self.is_custom:
            prefix, _, rest = self.logical_name.partition("_")
            return f"{prefix}_{rest.capitalize()}"
        return self.logical_name.capitalize()

    def column(self, name: str) -> Column | None:
        """Find a column by logical name or read name (`_x_value`)."""
        return self._by_name.get(name)

    @property
    def keys(self) -> tuple[KeyDefinition, ...]:
        """Every alternate key: the seeded ones (always Active) and the created ones."""
        created = {k.attributes for k in self.key_definitions}
        seeded = tuple(
            KeyDefinition(f"{self.logical_name}_{'_'.join(key)}", key, status=KEY_ACTIVE)
            for key in self.alternate_keys
            if key not in created
        )
        return seeded + self.key_definitions

    @property
    def inactive_keys(self) -> tuple[tuple[str, ...], ...]:
        """Attribute sets of created keys that are not (yet) usable."""
        return tuple(k.attributes for k in self.key_definitions if k.status != KEY_ACTIVE)

    @property
    def allows_activities(self) -> bool:
        """HasActivities: activities can be regarding rows of this table."""
        if self.has_activities is not None:
            return self.has_activities
        return not self.is_activity


# --- option sets -------------------------------------------------------------------------------

STATE_ACTIVE_INACTIVE = (Option(0, "Active"), Option(1, "Inactive"))
STATUS_ACTIVE_INACTIVE = (Option(1, "Active", state=0), Option(2, "Inactive", state=1))

PRIORITY = OptionSet(
    "new_priority",
    (Option(100000000, "Low"), Option(100000001, "Medium"), Option(100000002, "High")),
    is_global=True,
)

OPT_OUTS: tuple[tuple[str, str, str, str], ...] = (
    # logical name, display name, true label, false label (Microsoft's contact reference)
    ("donotemail", "Do not allow Emails", "Do Not Allow", "Allow"),
    ("donotbulkemail", "Do not allow Bulk Emails", "Do Not Allow", "Allow"),
    ("donotphone", "Do not allow Phone Calls", "Do Not Allow", "Allow"),
    ("donotfax", "Do not allow Faxes", "Do Not Allow", "Allow"),
    ("donotpostalmail", "Do not allow Mails", "Do Not Allow", "Allow"),
    ("donotbulkpostalmail", "Do not allow Bulk Mails", "Yes", "No"),
    ("donotsendmm", "Send Marketing Materials", "Do Not Send", "Send"),
)


def _boolean(table: str, name: str, display: str, true: str, false: str, **kw: object) -> Column:
    return Column(
        name,
        BOOLEAN,
        display,
        option_set=BooleanOptionSet(f"{table}_{name}", true, false),
        **kw,  # type: ignore[arg-type]
    )


def state_status(table: str) -> tuple[Column, Column]:
    return (
        Column(
            "statecode",
            STATE,
            "Status",
            required_level="SystemRequired",
            valid_for_create=False,
            option_set=OptionSet(
                f"{table}_statecode", STATE_ACTIVE_INACTIVE, option_set_type="State"
            ),
            default=0,
        ),
        Column(
            "statuscode",
            STATUS,
            "Status Reason",
            option_set=OptionSet(
                f"{table}_statuscode", STATUS_ACTIVE_INACTIVE, option_set_type="Status"
            ),
            default=1,
        ),
    )


def stamp_columns(table: str, primary_id: str) -> tuple[Column, ...]:
    return (
        Column(
            primary_id,
            UNIQUEIDENTIFIER,
            table.capitalize(),
            is_primary_id=True,
            required_level="SystemRequired",
            valid_for_update=False,
        ),
        Column("createdon", DATETIME, "Created On", valid_for_create=False, valid_for_update=False),
        Column(
            "modifiedon", DATETIME, "Modified On", valid_for_create=False, valid_for_update=False
        ),
        Column(
            "versionnumber",
            BIGINT,
            "Version Number",
            valid_for_create=False,
            valid_for_update=False,
        ),
    )


def system_columns(table: str, primary_id: str) -> tuple[Column, ...]:
    """Columns of every user-owned table: key, stamps, version, owner, status."""
    return (
        *stamp_columns(table, primary_id),
        Column("ownerid", OWNER, "Owner", targets=PRINCIPALS),
        *state_status(table),
    )


# --- tables ------------------------------------------------------------------------------------

CONTACT = Table(
    "contact",
    "contacts",
    "Contact",
    primary_id="contactid",
    primary_name="fullname",
    object_type_code=2,
    columns=(
        *system_columns("contact", "contactid"),
        Column("firstname", STRING, "First Name", max_length=50, required_level="Recommended"),
        Column(
            "lastname", STRING, "Last Name", max_length=50, required_level="ApplicationRequired"
        ),
        Column(
            "fullname",
            STRING,
            "Full Name",
            max_length=160,
            is_primary_name=True,
            valid_for_create=False,
            valid_for_update=False,
        ),
        Column("emailaddress1", STRING, "Email", max_length=100),
        Column("telephone1", STRING, "Business Phone", max_length=50),
        Column("jobtitle", STRING, "Job Title", max_length=100),
        Column("address1_city", STRING, "Address 1: City", max_length=80),
        Column("description", MEMO, "Description", max_length=2000),
        Column("birthdate", DATETIME, "Birthday", date_only=True),
        Column(
            "gendercode",
            PICKLIST,
            "Gender",
            option_set=OptionSet("contact_gendercode", (Option(1, "Male"), Option(2, "Female"))),
        ),
        Column("annualincome", MONEY, "Annual Income", precision=2),
        Column("numberofchildren", INTEGER, "No. of Children"),
        Column("parentcustomerid", CUSTOMER, "Company Name", targets=("account", "contact")),
        *(_boolean("contact", n, d, t, f, default=False) for n, d, t, f in OPT_OUTS),
        _boolean(
            "contact", "followemail", "Follow Email Activity", "Allow", "Do Not Allow", default=True
        ),
    ),
)

ACCOUNT = Table(
    "account",
    "accounts",
    "Account",
    primary_id="accountid",
    primary_name="name",
    object_type_code=1,
    columns=(
        *system_columns("account", "accountid"),
        Column(
            "name",
            STRING,
            "Account Name",
            max_length=160,
            required_level="ApplicationRequired",
            is_primary_name=True,
        ),
        Column("accountnumber", STRING, "Account Number", max_length=20),
        Column("emailaddress1", STRING, "Email", max_length=100),
        Column("revenue", MONEY, "Annual Revenue", precision=2),
        Column("numberofemployees", INTEGER, "Number of Employees"),
        Column(
            "industrycode",
            PICKLIST,
            "Industry",
            option_set=OptionSet(
                "account_industrycode",
                (
                    Option(1, "Accounting"),
                    Option(7, "Consulting"),
                    Option(19, "Retail"),
                    Option(33, "Software"),
                ),
            ),
        ),
        Column("primarycontactid", LOOKUP, "Primary Contact", targets=("contact",)),
    ),
)

PROJECT = Table(
    "new_project",
    "new_projects",
    "Project",
    primary_id="new_projectid",
    primary_name="new_name",
    is_custom=True,
    object_type_code=10010,
    alternate_keys=(("new_code",),),
    columns=(
        *system_columns("new_project", "new_projectid"),
        Column(
            "new_name",
            STRING,
            "Name",
            max_length=100,
            required_level="ApplicationRequired",
            is_primary_name=True,
        ),
        Column("new_code", STRING, "Code", max_length=20),
        Column("new_contactid", LOOKUP, "Contact", targets=("contact",)),
        Column(
            "new_stage",
            PICKLIST,
            "Stage",
            option_set=OptionSet(
                "new_project_new_stage",
                (
                    Option(100000000, "Planned"),
                    Option(100000001, "Running"),
                    Option(100000002, "Done"),
                ),
            ),
        ),
        Column(
            "new_channels",
            VIRTUAL,
            "Channels",
            type_name="MultiSelectPicklistType",
            option_set=OptionSet(
                "new_project_new_channels",
                (
                    Option(100000000, "Email"),
                    Option(100000001, "SMS"),
                    Option(100000002, "Phone"),
                    Option(100000003, "Post"),
                ),
            ),
        ),
        Column("new_priority", PICKLIST, "Priority", option_set=PRIORITY),
        Column("new_budget", DECIMAL, "Budget", precision=2),
        Column("new_startdate", DATETIME, "Start Date", date_only=True),
    ),
)

PROJECT_TASK = Table(
    "new_projecttask",
    "new_projecttasks",
    "Project Task",
    primary_id="new_projecttaskid",
    primary_name="new_name",
    is_custom=True,
    object_type_code=10011,
    columns=(
        *system_columns("new_projecttask", "new_projecttaskid"),
        Column(
            "new_name",
            STRING,
            "Name",
            max_length=100,
            required_level="ApplicationRequired",
            is_primary_name=True,
        ),
        Column("new_projectid", LOOKUP, "Project", targets=("new_project",)),
        Column("new_hours", DOUBLE, "Hours", precision=2),
        Column("new_priority", PICKLIST, "Priority", option_set=PRIORITY),
    ),
)

# The purchases table: Dynamics 365 Sales' Order (`salesorder`), with the columns of Microsoft's
# SalesOrder reference that need no other Sales table (no price list, currency or order lines:
# the amounts are plain Money columns). `customerid` is the polymorphic Customer lookup (account
# or contact); `accountid` and `contactid` are its read-only single-table projections, as in
# Dynamics 365 (the seed fills the one matching the customer's table).
SALESORDER_STATES = (
    Option(0, "Active", default_status=1),
    Option(1, "Submitted", default_status=3),
    Option(2, "Canceled", default_status=4),
    Option(3, "Fulfilled", default_status=100001),
    Option(4, "Invoiced", default_status=100003),
)
SALESORDER_STATUSES = (
    Option(1, "New", state=0),
    Option(2, "Pending", state=0),
    Option(3, "In Progress", state=1),
    Option(4, "No Money", state=2),
    Option(100001, "Complete", state=3),
    Option(100002, "Partial", state=3),
    Option(100003, "Invoiced", state=4),
)


def _money(name: str, display: str, *, create: bool = True) -> Column:
    return Column(name, MONEY, display, precision=2, valid_for_create=create)


SALESORDER = Table(
    "salesorder",
    "salesorders",
    "Order",
    primary_id="salesorderid",
    primary_name="name",
    object_type_code=1088,
    columns=(
        *stamp_columns("salesorder", "salesorderid"),
        Column("ownerid", OWNER, "Owner", targets=PRINCIPALS),
        Column(
            "statecode",
            STATE,
            "Status",
            required_level="SystemRequired",
            valid_for_create=False,
            option_set=OptionSet(
                "salesorder_statecode", SALESORDER_STATES, option_set_type="State"
            ),
            default=0,
        ),
        Column(
            "statuscode",
            STATUS,
            "Status Reason",
            option_set=OptionSet(
                "salesorder_statuscode", SALESORDER_STATUSES, option_set_type="Status"
            ),
            default=1,
        ),
        Column(
            "name",
            STRING,
            "Name",
            max_length=300,
            required_level="ApplicationRequired",
            is_primary_name=True,
        ),
        Column(
            "ordernumber",
            STRING,
            "Order ID",
            max_length=100,
            required_level="SystemRequired",
            valid_for_update=False,
        ),
        Column(
            "customerid",
            CUSTOMER,
            "Customer",
            targets=("account", "contact"),
            required_level="ApplicationRequired",
        ),
        Column(
            "accountid",
            LOOKUP,
            "Account",
            targets=("account",),
            valid_for_create=False,
            valid_for_update=False,
        ),
        Column(
            "contactid",
            LOOKUP,
            "Contact",
            targets=("contact",),
            valid_for_create=False,
            valid_for_update=False,
        ),
        Column("description", MEMO, "Description", max_length=2000),
        Column("emailaddress", STRING, "Email Address", max_length=100),
        _money("totalamount", "Total Amount", create=False),
        _money("totallineitemamount", "Total Detail Amount", create=False),
        _money("totaltax", "Total Tax", create=False),
        _money("discountamount", "Order Discount Amount"),
        _money("freightamount", "Freight Amount"),
        Column("discountpercentage", DECIMAL, "Order Discount (%)", precision=2),
        Column("exchangerate", DECIMAL, "Exchange Rate", precision=10, valid_for_create=False),
        Column("datefulfilled", DATETIME, "Date Fulfilled", date_only=True),
        Column("submitdate", DATETIME, "Date Submitted", date_only=True),
        Column("requestdeliveryby", DATETIME, "Requested Delivery Date", date_only=True),
        Column(
            "prioritycode",
            PICKLIST,
            "Priority",
            option_set=OptionSet("salesorder_prioritycode", (Option(1, "Default Value"),)),
        ),
        Column(
            "shippingmethodcode",
            PICKLIST,
            "Shipping Method",
            option_set=OptionSet(
                "salesorder_shippingmethodcode",
                (
                    Option(1, "Airborne"),
                    Option(2, "DHL"),
                    Option(3, "FedEx"),
                    Option(4, "UPS"),
                    Option(5, "Postal Mail"),
                    Option(6, "Full Load"),
                    Option(7, "Will Call"),
                ),
            ),
        ),
        Column(
            "paymenttermscode",
            PICKLIST,
            "Payment Terms",
            option_set=OptionSet(
                "salesorder_paymenttermscode",
                (
                    Option(1, "Net 30"),
                    Option(2, "2% 10, Net 30"),
                    Option(3, "Net 45"),
                    Option(4, "Net 60"),
                ),
            ),
        ),
        _boolean("salesorder", "willcall", "Ship To", "Will Call", "Address", default=False),
        _boolean(
            "salesorder",
            "ispricelocked",
            "Prices Locked",
            "Yes",
            "No",
            default=False,
            required_level="ApplicationRequired",
            valid_for_create=False,
        ),
    ),
)

# Entity set name is not logical name + "s", and the table has no change tracking:
# clients must read EntitySetName from metadata and fall back to `modifiedon` polling.
CATEGORY = Table(
    "new_category",
    "new_categories",
    "Category",
    primary_id="new_categoryid",
    primary_name="new_name",
    is_custom=True,
    change_tracking=False,
    supports_multiple=False,
    object_type_code=10012,
    columns=(
        *system_columns("new_category", "new_categoryid"),
        Column(
            "new_name",
            STRING,
            "Name",
            max_length=100,
            required_level="ApplicationRequired",
            is_primary_name=True,
        ),
        Column("new_colour", STRING, "Colour", max_length=7),
    ),
)

# The owners: just enough of them for `ownerid` binds and WhoAmI's UserId to resolve. The only
# users are the application users of the registered apps (`applicationid` = client id).
SYSTEMUSER = Table(
    "systemuser",
    "systemusers",
    "User",
    primary_id="systemuserid",
    primary_name="fullname",
    object_type_code=8,
    ownership="BusinessOwned",
    supports_multiple=False,
    columns=(
        *stamp_columns("systemuser", "systemuserid"),
        Column(
            "fullname",
            STRING,
            "Full Name",
            max_length=200,
            is_primary_name=True,
            valid_for_create=False,
            valid_for_update=False,
        ),
        Column("applicationid", UNIQUEIDENTIFIER, "Application ID"),
    ),
)

TEAM = Table(
    "team",
    "teams",
    "Team",
    primary_id="teamid",
    primary_name="name",
    object_type_code=9,
    ownership="BusinessOwned",
    supports_multiple=False,
    columns=(
        *stamp_columns("team", "teamid"),
        Column(
            "name",
            STRING,
            "Team Name",
            max_length=160,
            required_level="ApplicationRequired",
            is_primary_name=True,
        ),
    ),
)

# Custom activity tables for the Campaign email events (the `acs_` publisher prefix is ours: the
# names of Adobe's AppSource solution are not published). Activities share `activityid` as their
# key, `subject` as their primary name and the Open/Completed/Canceled states.
ACTIVITY_STATES = (Option(0, "Open"), Option(1, "Completed"), Option(2, "Canceled"))
ACTIVITY_STATUSES = (
    Option(1, "Open", state=0),
    Option(2, "Completed", state=1),
    Option(3, "Canceled", state=2),
)


def activity_columns(
    name: str, *, subject_length: int = 400, regarding: tuple[str, ...] = ("contact",)
) -> tuple[Column, ...]:
    """Columns every (custom) activity has: key, stamps, owner, state, subject, regarding."""
    return (
        *stamp_columns(name, "activityid"),
        Column("ownerid", OWNER, "Owner", targets=PRINCIPALS),
        Column(
            "statecode",
            STATE,
            "Activity Status",
            required_level="SystemRequired",
            valid_for_create=False,
            option_set=OptionSet(f"{name}_statecode", ACTIVITY_STATES, option_set_type="State"),
            default=0,
        ),
        Column(
            "statuscode",
            STATUS,
            "Status Reason",
            option_set=OptionSet(f"{name}_statuscode", ACTIVITY_STATUSES, option_set_type="Status"),
            default=1,
        ),
        Column(
            "subject",
            STRING,
            "Subject",
            max_length=subject_length,
            is_primary_name=True,
            schema_name="Subject",
        ),
        Column("regardingobjectid", LOOKUP, "Regarding", targets=regarding, regarding_of=name),
    )


def _activity(
    name: str, display: str, object_type_code: int, date_label: str, *extra: Column
) -> Table:
    """Describe a Campaign email event activity regarding a contact, keyed on `acs_eventid`."""
    return Table(
        name,
        f"{name}s",
        display,
        primary_id="activityid",
        primary_name="subject",
        is_custom=True,
        is_activity=True,
        object_type_code=object_type_code,
        alternate_keys=(("acs_eventid",),),
        columns=(
            *activity_columns(name),
            Column("acs_campaignname", STRING, "Campaign Name", max_length=100),
            Column("acs_deliveryname", STRING, "Delivery Name", max_length=100),
            Column("acs_eventdate", DATETIME, date_label),
            Column("acs_mirrorpageurl", STRING, "Mirror Page URL", max_length=2000),
            Column("acs_eventid", STRING, "Event ID", max_length=100),
            *extra,
        ),
    )


EMAIL_SEND = _activity("acs_emailsend", "Adobe Campaign Email Send", 10020, "Date Sent")
EMAIL_OPEN = _activity("acs_emailopen", "Adobe Campaign Email Open", 10021, "Date Opened")
EMAIL_CLICK = _activity(
    "acs_emailclick",
    "Adobe Campaign Email URL Click",
    10022,
    "Date Clicked",
    Column("acs_trackingurl", STRING, "Tracking URL", max_length=2000),
)
EMAIL_BOUNCE = _activity(
    "acs_emailbounce",
    "Adobe Campaign Email Bounce",
    10023,
    "Date Bounced",
    Column("acs_bouncetype", STRING, "Bounce Type", max_length=50),
    Column("acs_bouncereason", STRING, "Bounce Reason", max_length=200),
)
EMAIL_EVENT_TABLES = (EMAIL_SEND, EMAIL_OPEN, EMAIL_CLICK, EMAIL_BOUNCE)

TABLES: tuple[Table, ...] = (
    CONTACT,
    ACCOUNT,
    PROJECT,
    PROJECT_TASK,
    CATEGORY,
    SYSTEMUSER,
    TEAM,
    *EMAIL_EVENT_TABLES,
    SALESORDER,
)
GLOBAL_OPTION_SETS: tuple[OptionSet, ...] = (PRIORITY,)


def table_by_logical_name(name: str, tables: tuple[Table, ...] = TABLES) -> Table | None:
    """Find a table by its logical name (case-sensitive, as Dataverse is)."""
    return next((t for t in tables if t.logical_name == name), None)


def table_by_entity_set(name: str, tables: tuple[Table, ...] = TABLES) -> Table | None:
    """Find a table by its entity set name (case-sensitive, as Dataverse is)."""
    return next((t for t in tables if t.entity_set_name == name), None)
