"""Campaign opt-out flags → Dynamics 365 contact `donot*` values: which side wins, what changes.

Pure functions (no I/O), so every mode and timestamp case is tested without a server.

`opt_out_sync` modes: `disabled` and `d365_to_campaign` write nothing here; `campaign_to_d365`
makes Dynamics 365 agree with Campaign; `bidirectional` applies Adobe's rule per flag: if
Campaign's change time of the flag (`<flag>LastModified`) is more recent than the contact's
`modifiedon`, Campaign's value prevails; otherwise (D365 more recent, equal, or Campaign's time
unknown) opt-out = True wins.
"""

from __future__ import annotations

import datetime
import re
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The reverse of the D365 → Campaign default (reference §8.2): Campaign field → contact fields.
DEFAULT_OPT_OUT_MAPPING: dict[str, list[str]] = {
    "blackListEmail": ["donotbulkemail", "donotemail"],
    "blackListPhone": ["donotphone"],
    "blackListFax": ["donotfax"],
    "blackListPostalMail": ["donotpostalmail"],
}
OPT_OUT_SYNC_MODES = ("disabled", "d365_to_campaign", "campaign_to_d365", "bidirectional")
#: Standalone, this target serves the Campaign → Dynamics 365 direction.
DEFAULT_OPT_OUT_SYNC = "campaign_to_d365"
#: The modes in which this target writes contacts' opt-out columns.
WRITING_MODES = frozenset({"campaign_to_d365", "bidirectional"})
#: The contact's record-level change time (Td), read with the opt-out columns.
MODIFIED_ON = "modifiedon"
#: `<flag>LastModified`: Campaign's change time of one flag (Tc), in tap-adobe-campaign's
#: `opt_outs` records (the SFTP export); absent from `profiles` records.
CHANGE_TIME_SUFFIX = "LastModified"
#: `opt_outs` records: `<file>:<row>`, ordered like the exports (file names sort by run time).
EXPORT_POSITION = "export_position"

_GUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    """Return True for a GUID in its usual 8-4-4-4-12 form (what `contactid` holds)."""
    return bool(_GUID.match(value))


def contact_fields(mapping: Mapping[str, Sequence[str]]) -> list[str]:
    """Return the contact columns the mapping writes, sorted and without repeats."""
    return sorted({field for fields in mapping.values() for field in fields})


def parse_time(value: t.Any) -> datetime.datetime | None:
    """Return an aware UTC datetime, or None when unknown (null, empty or unreadable).

    Reads ISO 8601 (the tap's date-times, Dataverse's `2024-01-31T12:00:00Z`) and Campaign's
    `2024-01-31 12:00:00.123Z`; a time without an offset is UTC.
    """
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def campaign_is_newer(change_time: t.Any, modified_on: t.Any) -> bool:
    """Whether Campaign's change of a flag (Tc) is known and later than the contact's (Td).

    Compared to the second: Dataverse keeps `modifiedon` to the second, so a Campaign change in
    the same second counts as equal (and equal means True wins). An unknown Td is not "older".
    """
    campaign = parse_time(change_time)
    d365 = parse_time(modified_on)
    if campaign is None or d365 is None:
        return False
    return campaign.replace(microsecond=0) > d365.replace(microsecond=0)


def resolve(
    mode: str, campaign: bool, d365: bool, change_time: t.Any = None, modified_on: t.Any = None
) -> bool:
    """Return the value a flag should have once synced, from its Campaign and D365 values.

    `campaign_to_d365`: Campaign's. `bidirectional`: Campaign's if its change is more recent
    (`campaign_is_newer`), else True if either is. Modes that do not write D365: D365's.
    """
    if campaign == d365 or mode not in WRITING_MODES:
        return d365
    if mode == "campaign_to_d365" or campaign_is_newer(change_time, modified_on):
        return campaign
    return True


def changes(
    record: Mapping[str, t.Any],
    mapping: Mapping[str, Sequence[str]],
    current: Mapping[str, t.Any],
    mode: str = DEFAULT_OPT_OUT_SYNC,
) -> dict[str, bool]:
    """Return the contact values to write for one Campaign record (empty: nothing to write).

    `current` is the contact as read (its mapped columns and, for `bidirectional`,
    `modifiedon`). A flag's D365 value is the OR of its columns, which is how the D365 →
    Campaign mapping derives it (blackListEmail = donotbulkemail or donotemail), so a flag that
    agrees writes nothing and a round trip makes no write. A flag resolved to another value
    (`resolve`) sets all its columns to it, except that a column another true flag maps onto
    stays true (an opt-out is never cleared by a sibling flag). Flags absent from the record
    (or null) leave their columns alone.
    """
    if mode not in WRITING_MODES:
        return {}
    modified_on = current.get(MODIFIED_ON)
    d365 = {name: any(current.get(c) is True for c in columns) for name, columns in mapping.items()}
    resolved = {
        name: resolve(
            mode,
            bool(record[name]),
            d365[name],
            record.get(name + CHANGE_TIME_SUFFIX),
            modified_on,
        )
        for name in mapping
        if record.get(name) is not None
    }
    kept_true = {c for name, columns in mapping.items() if resolved.get(name) for c in columns}
    out: dict[str, bool] = {}
    for name, value in resolved.items():
        if value == d365[name]:
            continue
        for column in mapping[name]:
            column_value = value or column in kept_true
            if current.get(column) is not column_value:
                out[column] = column_value
    return out


def supersedes(record: Mapping[str, t.Any], previous: Mapping[str, t.Any]) -> bool:
    """Whether `record` replaces `previous` (same contact, same batch).

    Export rows (`opt_outs`): the later export position wins, whatever the arrival order (a
    profile changed on two days is in two files). Otherwise the later record in the stream.
    """
    position = record.get(EXPORT_POSITION)
    previous_position = previous.get(EXPORT_POSITION)
    if position and previous_position:
        return str(position) >= str(previous_position)
    return True
