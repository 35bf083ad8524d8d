"""Campaign email events → rows of the four custom activity tables (keyed on `acs_eventid`)."""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import dataclass
from urllib.parse import quote

if t.TYPE_CHECKING:
    from collections.abc import Mapping

NS = "Microsoft.Dynamics.CRM"


@dataclass(frozen=True)
class Column:
    """One custom column of the activity tables: where its value comes from and its metadata."""

    logical_name: str
    display_name: str
    field: str | None  # the event field written into it (None: computed)
    kind: str = "String"  # AttributeType: String or DateTime
    max_length: int | None = None  # String columns
    url: bool = False  # String shown as a URL (FormatName Url)


#: The alternate key column: holds `event_id`.
EVENT_ID = Column("acs_eventid", "Event ID", "event_id", max_length=100)
EVENT_DATE = "acs_eventdate"
#: Columns every activity table has besides the activity's own (subject, regarding, owner…).
COMMON_COLUMNS: tuple[Column, ...] = (
    Column("acs_campaignname", "Campaign Name", "campaign_name", max_length=100),
    Column("acs_deliveryname", "Delivery Name", "delivery_name", max_length=100),
    Column("acs_mirrorpageurl", "Mirror Page URL", "mirror_page_url", max_length=2000, url=True),
)
SUBJECT_MAX_LENGTH = 400  # the activity's primary name column
KEY_NAME = "acs_eventid_key"


@dataclass(frozen=True)
class ActivityTable:
    """One activity table: names, display names and the event columns only it has."""

    logical_name: str
    entity_set: str
    display_name: str
    date_label: str  # display name of `acs_eventdate` ("Date Sent", …)
    extra: tuple[Column, ...] = ()

    @property
    def schema_name(self) -> str:
        """SchemaName for the metadata API (the logical name; custom prefixes stay lowercase)."""
        return self.logical_name

    @property
    def regarding(self) -> str:
        """The contact navigation property of the activity's `regardingobjectid`."""
        return f"regardingobjectid_contact_{self.logical_name}"

    @property
    def upsert_multiple(self) -> str:
        """Path of the table's `UpsertMultiple` action."""
        return f"{self.entity_set}/{NS}.UpsertMultiple"

    @property
    def columns(self) -> tuple[Column, ...]:
        """Every custom column: event id, the common ones, the event date and its own."""
        date = Column(EVENT_DATE, self.date_label, "event_time", kind="DateTime")
        return (EVENT_ID, *COMMON_COLUMNS, date, *self.extra)

    def key_path(self, event_id: str) -> str:
        """Return the row's URL on the `acs_eventid` key, relative to the service root."""
        literal = quote(key_literal(event_id), safe="'")
        return f"{self.entity_set}(acs_eventid={literal})"


#: event_type → its activity table ("Adobe Campaign Email Send / Open / URL Click / Bounce").
ACTIVITY_TABLES: dict[str, ActivityTable] = {
    "send": ActivityTable(
        "acs_emailsend", "acs_emailsends", "Adobe Campaign Email Send", "Date Sent"
    ),
    "open": ActivityTable(
        "acs_emailopen", "acs_emailopens", "Adobe Campaign Email Open", "Date Opened"
    ),
    "click": ActivityTable(
        "acs_emailclick",
        "acs_emailclicks",
        "Adobe Campaign Email URL Click",
        "Date Clicked",
        (Column("acs_trackingurl", "Tracking URL", "url", max_length=2000, url=True),),
    ),
    "bounce": ActivityTable(
        "acs_emailbounce",
        "acs_emailbounces",
        "Adobe Campaign Email Bounce",
        "Date Bounced",
        (
            Column("acs_bouncetype", "Bounce Type", "bounce_type", max_length=50),
            Column("acs_bouncereason", "Bounce Reason", "bounce_reason", max_length=200),
        ),
    ),
}


def subject(record: Mapping[str, t.Any]) -> str:
    """Return the activity's subject, as Adobe's integration composes it."""
    campaign = record.get("campaign_name") or ""
    delivery = record.get("delivery_name") or ""
    return f"Campaign Name: {campaign}; Delivery Name: {delivery}"


def event_date(value: t.Any) -> str | None:
    """Return an event time (ISO text or datetime; naive is UTC) as Dataverse UTC text."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime.datetime) else _parse(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


def key_literal(value: str) -> str:
    """Return an alternate-key string literal: quoted, single quotes doubled (OData rules)."""
    return "'" + value.replace("'", "''") + "'"


def activity_target(
    table: ActivityTable, record: Mapping[str, t.Any], contact_id: str
) -> dict[str, t.Any]:
    """Return the `UpsertMultiple` target of one event.

    Identified by `@odata.id` on the `acs_eventid` alternate key, which is not repeated in the
    body (the key in the URL wins on update and is copied in on create). `ownerid` is left to
    Dataverse: the calling application user owns the rows it creates.
    """
    event_id = str(record["event_id"])
    target: dict[str, t.Any] = {
        "@odata.type": f"{NS}.{table.logical_name}",
        "@odata.id": f"{table.entity_set}(acs_eventid={key_literal(event_id)})",
        "subject": subject(record),
        f"{table.regarding}@odata.bind": f"/contacts({contact_id})",
        EVENT_DATE: event_date(record.get("event_time")),
    }
    for column in (*COMMON_COLUMNS, *table.extra):
        target[column.logical_name] = record.get(t.cast("str", column.field))
    return target


def changeset_body(target: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Return the PATCH body of an `activity_target` (key in the URL, no annotations)."""
    return {k: v for k, v in target.items() if k not in {"@odata.type", "@odata.id"}}
