"""Campaign email events → rows of the four custom activity tables (keyed on `acs_eventid`)."""

from __future__ import annotations

import datetime
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Mapping

NS = "Microsoft.Dynamics.CRM"


@dataclass(frozen=True)
class ActivityTable:
    """One activity table: logical name, entity set and the event columns only it has."""

    logical_name: str
    entity_set: str
    extra: tuple[tuple[str, str], ...] = ()  # (event field, column)

    @property
    def regarding(self) -> str:
        """The contact navigation property of the activity's `regardingobjectid`."""
        return f"regardingobjectid_contact_{self.logical_name}"

    @property
    def upsert_multiple(self) -> str:
        """Path of the table's `UpsertMultiple` action."""
        return f"{self.entity_set}/{NS}.UpsertMultiple"


#: event_type → its activity table ("Adobe Campaign Email Send / Open / URL Click / Bounce").
ACTIVITY_TABLES: dict[str, ActivityTable] = {
    "send": ActivityTable("acs_emailsend", "acs_emailsends"),
    "open": ActivityTable("acs_emailopen", "acs_emailopens"),
    "click": ActivityTable("acs_emailclick", "acs_emailclicks", (("url", "acs_trackingurl"),)),
    "bounce": ActivityTable(
        "acs_emailbounce",
        "acs_emailbounces",
        (("bounce_type", "acs_bouncetype"), ("bounce_reason", "acs_bouncereason")),
    ),
}
#: Event fields every activity table stores, and their columns.
COMMON_COLUMNS = (
    ("campaign_name", "acs_campaignname"),
    ("delivery_name", "acs_deliveryname"),
    ("mirror_page_url", "acs_mirrorpageurl"),
)


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
        "acs_eventdate": event_date(record.get("event_time")),
    }
    for field, column in (*COMMON_COLUMNS, *table.extra):
        target[column] = record.get(field)
    return target
